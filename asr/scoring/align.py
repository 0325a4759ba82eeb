"""Levenshtein alignment of a reference and a hypothesis, with sclite's or jiwer's cost model.

Two cost models, selected by name (`COMPAT`):

- ``sclite`` (default): NIST sclite's dynamic programme (correct 0, substitution 4, deletion 3,
  insertion 3, sclite's tie-breaking), in the C extension ``_align``. Its counts equal sclite's.
- ``jiwer``: unit costs through rapidfuzz's ``Levenshtein.opcodes``, which is exactly what jiwer 4's
  ``process_words`` / ``process_characters`` call, so the counts equal jiwer's.

Tokens come from `tokenize`. sclite mode: words split at ASCII white space (a no-break space stays inside its
word, as in sclite), characters are Unicode code points without ASCII white space (as ``sclite -e utf-8 -c``).
jiwer mode does what jiwer 4's default transforms do, so that the counts equal jiwer's on any text: words after
collapsing runs of two or more whitespace characters to one space, stripping, and splitting on spaces only (a
lone tab or no-break space stays inside a word); characters of the stripped text, every space and tab counted.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz.distance import Levenshtein

from asr.scoring._align import sclite_ops

Compat = Literal["sclite", "jiwer"]
Level = Literal["word", "char"]
COMPAT: tuple[Compat, ...] = ("sclite", "jiwer")
LEVELS: tuple[Level, ...] = ("word", "char")

#: What one token is, per level and compatibility mode; every report states it.
UNITS: dict[tuple[str, str], str] = {
    ("word", "sclite"): "words split at ASCII white space (as sclite)",
    ("word", "jiwer"): "words split on spaces after runs of whitespace become one space (as jiwer)",
    ("char", "sclite"): "Unicode code points, ASCII white space not counted (as sclite -e utf-8 -c)",
    ("char", "jiwer"): "Unicode code points of the stripped text, whitespace counted (as jiwer)",
}

Tokens = str | Sequence[str]
_WHITESPACE_RUN = re.compile(r"\s\s+")
# sclite separates words at ASCII white space only: a no-break space (U+00A0), U+3000 or U+2028 is a character of
# its word, where Python's str.split() would break there
_SCLITE_SPACE = re.compile(r"[ \t\n\r\f\v]+")


def tokenize(text: str, level: Level, compat: Compat = "sclite") -> Tokens:
    """Splits `text` into the tokens that `level` and `compat` align (a str is a sequence of chars)."""
    if compat == "jiwer":  # jiwer's wer_default / cer_default transforms
        if level == "word":
            return [w for w in _WHITESPACE_RUN.sub(" ", text).strip().split(" ") if w]
        if level == "char":
            return text.strip()
    if level == "word":
        return [w for w in _SCLITE_SPACE.split(text) if w]
    if level == "char":
        return _SCLITE_SPACE.sub("", text)
    raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")


@dataclass(frozen=True, slots=True)
class Counts:
    """Correct, substitution, deletion and insertion counts of one or many alignments."""

    C: int = 0
    S: int = 0
    D: int = 0
    I: int = 0  # noqa: E741 - the name every ASR scorer uses

    @property
    def N(self) -> int:
        """Number of reference tokens."""
        return self.C + self.S + self.D

    @property
    def E(self) -> int:
        """Number of errors, S + D + I."""
        return self.S + self.D + self.I

    @property
    def rate(self) -> float | None:
        """Error rate E / N; None (undefined) when the reference is empty."""
        return self.E / self.N if self.N else None

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.C + other.C, self.S + other.S, self.D + other.D, self.I + other.I)

    def as_list(self) -> list[int]:
        """[C, S, D, I], the per-utterance layout of the JSON report."""
        return [self.C, self.S, self.D, self.I]

    @classmethod
    def from_ops(cls, ops: str) -> Counts:
        """Counts the letters of an operation string such as ``"CCSDI"``."""
        return cls(ops.count("C"), ops.count("S"), ops.count("D"), ops.count("I"))


@dataclass(frozen=True, slots=True)
class Alignment:
    """An alignment: the tokens of both sides, one operation letter (C, S, D, I) per step, the counts."""

    ref: Sequence[str]
    hyp: Sequence[str]
    ops: str
    counts: Counts

    def steps(self) -> list[tuple[str, str | None, str | None]]:
        """The operations in order as (op, ref token or None, hyp token or None)."""
        out: list[tuple[str, str | None, str | None]] = []
        i = j = 0
        for op in self.ops:
            ref_tok = self.ref[i] if op != "I" else None
            hyp_tok = self.hyp[j] if op != "D" else None
            i += op != "I"
            j += op != "D"
            out.append((op, ref_tok, hyp_tok))
        return out


_JIWER_OPS = {"equal": "C", "replace": "S", "delete": "D", "insert": "I"}


def _jiwer_ops(ref: Tokens, hyp: Tokens) -> str:
    parts = []
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(ref, hyp):
        parts.append(_JIWER_OPS[tag] * (j2 - j1 if tag == "insert" else i2 - i1))
    return "".join(parts)


def align_ops(ref: Tokens, hyp: Tokens, compat: Compat = "sclite", progress: array | None = None) -> str:
    """Aligns two token sequences; returns one letter per operation (C, S, D, I) in order. `progress`
    (``array("q", [0, 0])``, sclite's model) receives [rows filled, rows to fill] as the alignment runs."""
    if compat == "sclite":
        return sclite_ops(ref, hyp, progress=progress).decode("ascii")
    if compat == "jiwer":
        return _jiwer_ops(ref, hyp)
    raise ValueError(f"unknown compat {compat!r}; expected one of {', '.join(COMPAT)}")


def align(ref: Tokens, hyp: Tokens, compat: Compat = "sclite", progress: array | None = None) -> Alignment:
    """Aligns two token sequences (two str compare by character) with the named cost model (`progress`: as
    `align_ops`)."""
    ops = align_ops(ref, hyp, compat, progress)
    return Alignment(ref, hyp, ops, Counts.from_ops(ops))
