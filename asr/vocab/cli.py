"""`asr vocab --train MANIFEST --out DIR`: the character vocabulary of the train split, as a processor
(`asr.vocab.build`), with a report of the characters that other manifests use and it lacks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr.data.audio import TARGET_RATE
from asr.data.manifest import read_manifest
from asr.errors import InputError, run_reporting_errors, writable_dir
from asr.folders import check_not_current, removed_if_left_empty, write_whole
from asr.options import ArgumentParser, file_path, folder_path, normalizer_name
from asr.text import TEXT_CONFIG, manifest_normalizer
from asr.vocab.build import UNK, build_vocab, missing_chars, save_processor

REPORT = "vocab_report.json"


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, type=file_path, help="the train manifest")
    parser.add_argument("--out", required=True, type=folder_path, help="processor folder")
    parser.add_argument(
        "--check",
        nargs="*",
        action="extend",
        type=file_path,
        default=[],
        help="dev/test manifests to check for unseen characters",
    )
    parser.add_argument(
        "--normalize",
        type=normalizer_name,
        help="normaliser spec (default: the train manifest language's; needed for a mix of languages)",
    )
    parser.add_argument("--sampling-rate", type=int, default=TARGET_RATE, help="the feature extractor's rate in Hz")
    return parser


#: what a processor folder holds (transformers' names, of this version's and earlier ones' processors)
PROCESSOR_FILES = {
    "vocab.json", TEXT_CONFIG, REPORT, "added_tokens.json", "special_tokens_map.json", "tokenizer_config.json",
    "tokenizer.json", "preprocessor_config.json", "processor_config.json",
}  # fmt: skip


def _check_out(out: Path) -> None:
    """A processor is written whole, replacing an earlier one: --out must be empty or a processor folder (a model
    folder holds one too, and its weights would go with it), in a folder where it can be written."""
    check_not_current(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a folder")
    if out.is_dir() and (others := sorted(p.name for p in out.iterdir() if p.name not in PROCESSOR_FILES)):
        held = "a model" if {"config.json", "model.safetensors"} & set(others) else "files no processor holds"
        raise InputError(f"--out {out} holds {held} ({', '.join(others[:3])}); the processor folder is replaced "
                         "whole: use another --out")  # fmt: skip
    writable_dir(out, "--out")
    target = out.resolve() if out.is_symlink() else out.absolute()
    writable_dir(target.parent, "--out's folder")  # the new processor is made beside it, then moved in


def run(args: argparse.Namespace) -> int:
    utts = read_manifest(args.train, durations=False)
    if not utts:
        raise InputError(f"{args.train}: no utterances")
    normalize, lang = manifest_normalizer([u.lang for u in utts], args.normalize, str(args.train))
    if args.sampling_rate <= 0:
        raise InputError(f"--sampling-rate {args.sampling_rate}: expected samples per second, such as 16000")
    for manifest in args.check:  # read before anything is written
        read_manifest(manifest, durations=False)
    with removed_if_left_empty(args.out):  # a refusal leaves no folder it made
        _check_out(args.out)
        vocab = build_vocab([u.text for u in utts], normalize)
        report = {"normalizer": normalize.id, "size": len(vocab), "missing": {}}
        print(
            f"vocabulary: {len(vocab)} tokens from {len(utts)} train utterances ({normalize.id}):",
            " ".join(vocab),
        )
        for manifest in args.check:
            missing = missing_chars(manifest, vocab, normalize)
            report["missing"][str(manifest)] = missing
            listed = ", ".join(f"{c!r}: {n}" for c, n in missing.items()) or "none"
            print(f"{manifest}: characters not in the vocabulary (mapped to {UNK}): {listed}")

        def write(folder: Path) -> None:
            save_processor(folder, vocab, normalize, lang, args.sampling_rate)
            (folder / REPORT).write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

        write_whole(args.out, write)  # an interrupted rerun left a new vocab.json beside the old asr_text.json
    print(f"processor written to {args.out}")
    return 0


def main(argv: list[str] | None = None, prog: str = "asr vocab") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_reporting_errors(prog, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
