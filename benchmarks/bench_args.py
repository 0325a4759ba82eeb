"""argparse types for the benchmarks' numbers and lists: a bad value is argparse's one-line error, never a
traceback after minutes of set-up, nor a row measured on something other than its label says."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path


def positive(kind: type = float) -> Callable[[str], float]:
    """A number above zero, of `kind` (int or float)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a {kind.__name__}") from None
        if not 0 < value < math.inf:  # also refuses nan; inf ran longform_bench until memory ran out
            raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number more than 0")
        return value

    return parse


def positives(kind: type = float) -> Callable[[str], list]:
    """A comma-separated list of numbers above zero."""
    one = positive(kind)
    return lambda text: [one(part) for part in text.split(",")]


def among(*allowed: str) -> Callable[[str], list[str]]:
    """A comma-separated list of names, each one of `allowed`."""

    def parse(text: str) -> list[str]:
        names = text.split(",")
        if unknown := [n for n in names if n not in allowed]:
            raise argparse.ArgumentTypeError(f"{', '.join(unknown)}: expected {', '.join(allowed)}")
        return names

    return parse


def output_file(text: str) -> Path:
    """A file to write figures to, in a folder that exists: a wrong path is found before the measuring, not
    after it (a traceback, and nothing written)."""
    path = Path(text)
    if path.is_dir() or not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a file in an existing folder")
    return path


def folders_in(root: Path) -> Callable[[str], list[str]]:
    """A comma-separated list of names of folders in `root` (the shipped models)."""
    return lambda text: among(*sorted(p.name for p in root.iterdir() if p.is_dir()))(text)


def synth_folder(*splits: str) -> Callable[[str], Path]:
    """A folder made by `asr data synth --langs en`, with en/<split>.jsonl of each of `splits` in it."""

    def parse(text: str) -> Path:
        folder = Path(text)
        missing = [f"en/{s}.jsonl" for s in splits if not (folder / "en" / f"{s}.jsonl").is_file()]
        if missing:
            raise argparse.ArgumentTypeError(f"{text}: no {' or '.join(missing)} (made by asr data synth --langs en)")
        return folder

    return parse
