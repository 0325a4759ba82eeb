"""`asr model init`: a randomly initialised wav2vec2-family CTC model, written as a local checkpoint."""

from __future__ import annotations

import argparse
import sys

from asr.errors import run_reporting_errors
from asr.model.init import FAMILIES, NORMS, SIZES, init_model
from asr.options import ArgumentParser, folder_path, model_name


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("init", help="write a randomly initialised CTC model")
    p.add_argument("--preset", choices=list(SIZES), default="tiny", help=f"size: {', '.join(SIZES)}")
    p.add_argument("--family", choices=list(FAMILIES), default="wav2vec2", help="the architecture")
    norm_help = (
        "feature encoder: group (base models, no attention masks), layer, or stable (layer norm and a "
        "pre-norm transformer, as large/XLS-R/MMS); default stable for the tiny sizes and small, group for base; "
        "data2vec-audio has layer only"
    )
    p.add_argument("--norm", choices=list(NORMS), help=norm_help)
    p.add_argument("--adapter-dim", type=int, default=0, help="add MMS-style adapter layers of this size")
    p.add_argument("--out", required=True, type=folder_path, help="the model folder to write")
    p.add_argument("--processor", type=folder_path, help="size the CTC head to this processor's vocabulary and copy it")
    p.add_argument("--seed", type=int, default=0, help="of the random initialisation")
    p.add_argument(
        "--encoder-from",
        type=model_name,
        help="copy the convolutional feature encoder of this checkpoint (a folder or hub id)",
    )
    return parser


def main(argv: list[str] | None = None, prog: str = "asr model") -> int:
    args = build_parser(prog).parse_args(argv)

    def run() -> int:
        shape = (args.family, args.norm, args.adapter_dim, args.encoder_from)
        count = init_model(args.preset, args.out, args.processor, args.seed, *shape)
        print(f"{args.preset} {args.family} CTC model, {count / 1e6:.2f} M parameters, written to {args.out}")
        return 0

    return run_reporting_errors(f"{prog} {args.action}", run)


if __name__ == "__main__":
    sys.exit(main())
