"""`asr lm build|ppl|train`: n-gram LMs from text with KenLM, their perplexity, and causal Transformer LMs.

(`asr lm attach`, a model exported with its LM, is `asr.decode.export`: decoding depends on `lm`, never the
other way.)"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr.errors import InputError, run_reporting_errors
from asr.text import Normalizer, get_normalizer


def _add_normalizer(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--processor", type=Path, help="the acoustic model's processor or model folder: its normaliser")
    group.add_argument("--normalize", help="a normaliser name (as 'asr vocab --normalize')")


def _normalizer(args: argparse.Namespace) -> Normalizer:
    if args.normalize:
        return get_normalizer(args.normalize)
    from asr.text import TEXT_CONFIG, folder_normalizer

    if not (args.processor / TEXT_CONFIG).is_file():
        raise InputError(f"{args.processor}: no {TEXT_CONFIG}; give --normalize, or a folder made by 'asr vocab'")
    return folder_normalizer(args.processor)


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="build an ARPA + binary KenLM model from text files or manifests")
    b.add_argument("--text", type=Path, nargs="+", required=True, help="text files (a sentence a line) or .jsonl")
    b.add_argument("--order", type=int, default=4)
    b.add_argument("--out", type=Path, required=True, help="the LM folder to write")
    b.add_argument("--dev", type=Path, nargs="*", default=[], help="text or manifests for the dev perplexity")
    b.add_argument("--prune", default="", help="lmplz --prune count thresholds per order, e.g. 0,0,1")
    b.add_argument("--memory", default="1G", help="lmplz -S sorting memory (default 1G)")
    b.add_argument("--quantize", type=int, default=0, help="build_binary -q/-b bits (0: exact, default)")
    _add_normalizer(b)
    t = sub.add_parser("train", help="train a causal Transformer LM on the same normalised text (lm/neural.py)")
    t.add_argument("--text", type=Path, nargs="+", required=True, help="text files (a sentence a line) or .jsonl")
    t.add_argument("--out", type=Path, required=True, help="the LM folder to write")
    t.add_argument("--dev", type=Path, nargs="*", default=[], help="text or manifests for the dev perplexity")
    t.add_argument("--max-minutes", type=float, default=5.0, help="training time (default 5)")
    t.add_argument("--from", dest="from_model", help="fine-tune this causal LM (folder or hub id, e.g. gpt2)")
    t.add_argument("--seed", type=int, default=0)
    _add_normalizer(t)
    p = sub.add_parser("ppl", help="perplexity and OOV rate of text under an LM folder")
    p.add_argument("--lm", type=Path, required=True)
    p.add_argument("--text", type=Path, nargs="+", required=True)
    _add_normalizer(p)
    return parser


def _report_unspellable(out: Path, processor: Path) -> None:
    """Names the LM words the processor's characters cannot spell (the beam search can never reach them;
    `asr decode` refuses an LM with more than 5% of them)."""
    from lm.folder import LMFolder

    vocab = json.loads((processor / "vocab.json").read_text(encoding="utf-8"))
    lm = LMFolder.load(out)
    if bad := lm.unspellable({token for token in vocab if len(token) == 1}):
        print(f"  {len(bad)} of {len(lm.unigrams)} words use characters {processor}'s vocabulary lacks (the model "
              f"cannot write them), e.g. {', '.join(bad[:3])}")  # fmt: skip


def _build(args: argparse.Namespace) -> int:
    from lm.build import BuildOptions, build_lm, parse_prune

    options = BuildOptions(args.order, parse_prune(args.prune), args.memory, args.quantize)
    info = build_lm(args.text, args.out, _normalizer(args), options, args.dev)
    counts = " ".join(f"{n}-grams {c}" for n, c in info["ngrams"].items())
    print(f"{args.out}: order {info['order']}, {info['text']['sentences']} sentences, vocabulary {info['vocabulary']}")
    print(f"  {counts}; {info['build_seconds']} s")
    if info["dev"]:
        dev = info["dev"]
        print(f"  dev: perplexity {dev['perplexity']:.1f}, OOV rate {100 * dev['oov_rate']:.2f}%")
    if args.processor is not None and (args.processor / "vocab.json").is_file():
        _report_unspellable(args.out, args.processor)
    return 0


def _train(args: argparse.Namespace) -> int:
    from lm.neural import train_neural_lm

    if args.max_minutes <= 0:
        raise InputError(f"--max-minutes {args.max_minutes:g}: expected more than 0")
    info = train_neural_lm(args.text, args.out, _normalizer(args), args.dev, args.max_minutes, args.from_model,
                           args.seed)  # fmt: skip
    print(f"{args.out}: {info['parameters'] / 1e6:.2f} M parameters, {info['steps']} steps, {info['epochs']} epochs "
          f"on {info['text']['sentences']} sentences in {info['minutes']} min")  # fmt: skip
    if info["dev"]:
        print(
            f"  dev: perplexity per word {info['dev']['perplexity']:.1f}, OOV rate {100 * info['dev']['oov_rate']:.2f}%"
        )
    return 0


def _ppl(args: argparse.Namespace) -> int:
    from lm.build import dev_perplexity
    from lm.folder import LM_FILES, read_info

    read_info(args.lm)
    result = dev_perplexity(args.lm / LM_FILES["binary"], args.text, _normalizer(args))
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


def main(argv: list[str] | None = None, prog: str = "asr lm") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_reporting_errors(prog, lambda: {"build": _build, "ppl": _ppl, "train": _train}[args.action](args))
