"""The commands' argument parser: argparse's, with each option's default in --help."""

from __future__ import annotations

import argparse
import re
from pathlib import Path


class _DefaultsShown(argparse.HelpFormatter):
    """Adds "(default: X)" to an option's help where the help does not speak of its default already and there is
    one to show (not a flag's False, an unset None or an empty value)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default  # compared by identity where 0 == False
        shown = not (default is None or default is False or default is argparse.SUPPRESS or default in ("", []))
        if not action.option_strings or "default" in text or not shown:
            return action.help
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class ArgumentParser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose --help shows the options' defaults (its subcommands' parsers too)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _DefaultsShown)
        super().__init__(*args, **kwargs)
        # a negative number in scientific notation is a value too: `--beta -1e-3` was refused as an option
        # (argparse's matcher knows -1 and -.5 only; Python 3.13's any -digit)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

    def given(self, argv: list[str]) -> frozenset[str]:
        """The options (by dest) that `argv` gives, at their defaults too, which parse_args does not tell apart:
        an option the command would ignore is refused however its value is spelled."""
        unset = object()  # argparse fills in a default only where the namespace lacks the name
        singles = [a.dest for a in self._actions if a.option_strings and a.nargs in (None, 0, "?")]
        args = self.parse_args(argv, argparse.Namespace(**dict.fromkeys(singles, unset)))
        return frozenset(dest for dest in singles if getattr(args, dest) is not unset)


def _given(text: str, what: str) -> str:
    """`text`, refused where empty (argparse's one line naming the option)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected {what}, got an empty value")
    return text


def file_name(text: str) -> str:
    """An option's file: an empty value is refused (``asr score --json ''`` wrote no report, exit 0; an input
    file's error named ".")."""
    return _given(text, "a file")


def file_path(text: str) -> Path:
    """`file_name` as a path (``Path("")`` is the current folder: an error named it ".")."""
    return Path(file_name(text))


def model_name(text: str) -> str:
    """An option's model, a folder or a hub id: an empty value is refused (the error named no model)."""
    return _given(text, "a model folder or hub id")


def language_code(text: str) -> str:
    """An option's language code: an empty value is refused (``asr decode --adapter ''`` loaded no adapter)."""
    return _given(text, "a language code")


def normalizer_name(text: str) -> str:
    """An option's normaliser: an empty value is refused (``asr score --normalize ''`` scored a decode's
    hypotheses with ``none``; ``asr lm build --normalize ''`` was a traceback)."""
    return _given(text, "a normaliser name")


def folder_path(text: str) -> Path:
    """An option's folder: an empty value is refused (``Path("")`` is the current folder, which a model was
    written into beside whatever it held)."""
    return Path(_given(text, "a folder"))
