"""The `asr` command: one subcommand per stage.

Each subcommand lives in its own module with a ``main(argv, prog) -> int``; only the chosen one is imported,
so that light commands such as ``asr score`` never pay for torch or transformers.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from asr import __version__
from asr.errors import stopped_reading

#: subcommand -> (module with main(argv, prog), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("asr.data.cli", "prepare manifests from a corpus, check them, build the built-in corpora"),
    "vocab": ("asr.vocab.cli", "character vocabulary from the train split, saved as a Wav2Vec2Processor"),
    "model": ("asr.model.cli", "write a randomly initialised wav2vec2-family CTC model of a preset size"),
    "train": ("asr.train.cli", "fine-tune a CTC model on manifests (one process or accelerate launch)"),
    "pretrain": ("asr.pretrain.cli", "self-supervised wav2vec 2.0 pretraining on unlabeled manifests"),
    "lm": ("lm.cli", "language models: KenLM n-grams (build, perplexity), Transformer LMs (train); attach one"),
    "decode": ("asr.decode.cli", "transcribe a manifest: greedy, beam, beam + KenLM (tuned on dev)"),
    "leaderboard": ("asr.leaderboard.cli", "tables, an HTML page and exports from asr decode results"),
    "score": (
        "asr.scoring.cli",
        "score hypotheses against references: WER/CER, sclite-exact alignment, reports",
    ),
}


#: (subcommand, action) -> module: actions served outside their subcommand's module
ACTIONS: dict[tuple[str, str], str] = {("lm", "attach"): "asr.decode.export"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asr",
        description="Fine-tune wav2vec2-family CTC models, decode them, and score WER/CER.",
        epilog="Run 'asr COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"asr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


#: a list of numbers whose first is negative (-35,-15, -.5,0,.5, -1e-1,0): argparse takes it for an option
#: unless it is one number
_NUMBER = r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
_NEGATIVE_LIST = re.compile(rf"-{_NUMBER}(,[-+]?{_NUMBER})+")


def joined_negative_lists(argv: list[str]) -> list[str]:
    """`--opt -35,-15` as `--opt=-35,-15`, the form argparse reads (it said "expected one argument" to the
    README's own `--level-dbfs -35,-15` and to `--beta-grid -1,0,2`, the default grid)."""
    out: list[str] = []
    for arg in argv:
        option = out[-1] if out else ""
        if _NEGATIVE_LIST.fullmatch(arg) and option.startswith("--") and "=" not in option and option != "--":
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """Dispatches to the subcommand's module; returns its exit status."""
    argv = joined_negative_lists(sys.argv[1:] if argv is None else argv)
    try:
        args, rest = _parser().parse_known_args(argv)
    except SystemExit as stop:  # argparse's --help and errors: a status for a caller in this process too
        return _status(stop)
    if sys.stdout is None:  # started with it closed (`>&-`): every table and figure went nowhere, exit 0
        print(f"asr {args.command}: error: standard output is closed; send it to a file or /dev/null", file=sys.stderr)
        return 2
    action = ACTIONS.get((args.command, rest[0])) if rest else None
    try:
        if action is not None:
            return importlib.import_module(action).main(rest[1:], prog=f"asr {args.command} {rest[0]}")
        module = importlib.import_module(COMMANDS[args.command][0])
        return module.main(rest, prog=f"asr {args.command}")
    except KeyboardInterrupt:  # while importing, or in a command's argument parsing
        print(f"asr {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `asr train --help | head -1`
        return stopped_reading()
    except SystemExit as stop:  # a command's argparse (--help, a bad option): returned to a notebook, not raised
        return _status(stop)


def _status(stop: SystemExit) -> int:
    """The exit status a `SystemExit` carries (argparse's 0 or 2)."""
    return stop.code if isinstance(stop.code, int) else int(stop.code is not None)


if __name__ == "__main__":
    sys.exit(main())
