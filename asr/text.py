"""Named, versioned text normalisers shared by training targets, LM text, references and hypotheses.

A normaliser is looked up by name (`get_normalizer`); its ``id`` (``name@version``) is recorded in every
score so that numbers made with different text processing are never compared silently. A change to
what a normaliser does bumps its version.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from asr.errors import InputError

# Apostrophes inside words are dropped rather than split on ("don't" -> "dont"), as LM text and
# character vocabularies expect one token for a contraction.
_APOSTROPHES = {"'", "\u2019", "\u02bc"}


@dataclass(frozen=True)
class Normalizer:
    """A text normaliser: ``fn`` maps one transcript to its normalised form."""

    name: str
    version: int
    description: str
    fn: Callable[[str], str]

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def __call__(self, text: str) -> str:
        return self.fn(text)


def _lower_nopunct(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    chars = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue
        chars.append(" " if unicodedata.category(ch).startswith("P") else ch)
    return " ".join("".join(chars).split())


NORMALIZERS: dict[str, Normalizer] = {
    n.name: n
    for n in (
        Normalizer("none", 1, "text as given", lambda text: text),
        Normalizer(
            "lower-nopunct",
            1,
            "Unicode NFC, lower case, apostrophes removed, other punctuation (Unicode P*) turned into "
            "spaces, whitespace collapsed",
            _lower_nopunct,
        ),
    )
}


def get_normalizer(name: str) -> Normalizer:
    """The normaliser registered under `name`; an `InputError` listing the known names otherwise."""
    try:
        return NORMALIZERS[name]
    except KeyError:
        raise InputError(f"unknown normalizer {name!r}; known: {', '.join(NORMALIZERS)}") from None
