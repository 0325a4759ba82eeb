"""`asr lm build|ppl|attach`: n-gram LMs from text with KenLM, their perplexity, and models that decode with them."""

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
    p = sub.add_parser("ppl", help="perplexity and OOV rate of text under an LM folder")
    p.add_argument("--lm", type=Path, required=True)
    p.add_argument("--text", type=Path, nargs="+", required=True)
    _add_normalizer(p)
    a = sub.add_parser("attach", help="save a Wav2Vec2ProcessorWithLM beside a model")
    a.add_argument("--model", type=Path, required=True, help="a model folder (from 'asr train')")
    a.add_argument("--lm", type=Path, required=True, help="an LM folder (from 'asr lm build')")
    a.add_argument("--alpha", type=float, default=0.5, help="LM weight (take the tuned one from results.json)")
    a.add_argument("--beta", type=float, default=1.5, help="word insertion bonus")
    a.add_argument("--out", type=Path, help="write a copy of the model there (default: into the model folder)")
    return parser


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
    return 0


def _ppl(args: argparse.Namespace) -> int:
    from lm.build import LM_FILES, dev_perplexity, lm_info

    lm_info(args.lm)
    result = dev_perplexity(args.lm / LM_FILES["binary"], args.text, _normalizer(args))
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


def _attach(args: argparse.Namespace) -> int:
    from lm.attach import attach

    out = attach(args.model, args.lm, args.out or args.model, args.alpha, args.beta)
    print(f"{out}: processor with LM (alpha {args.alpha}, beta {args.beta})")
    return 0


def main(argv: list[str] | None = None, prog: str = "asr lm") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_reporting_errors(prog, lambda: {"build": _build, "ppl": _ppl, "attach": _attach}[args.action](args))
