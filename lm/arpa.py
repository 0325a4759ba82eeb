"""ARPA files: n-gram counts, the unigram list, and the ``</s>`` unigram that pyctcdecode needs."""

from __future__ import annotations

import re
from pathlib import Path

SPECIAL = {"<s>", "</s>", "<unk>"}


def ngram_counts(path: Path) -> dict[int, int]:
    """The ``ngram N=count`` lines of the header."""
    counts = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if match := re.match(r"ngram (\d+)=(\d+)", line):
                counts[int(match.group(1))] = int(match.group(2))
            elif line.startswith("\\1-grams:"):
                break
    return counts


def unigram_entries(path: Path) -> list[str]:
    """Every word of the 1-gram section, special tokens included, in file order."""
    words, inside = [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("\\1-grams:"):
                inside = True
            elif line.startswith("\\2-grams:") or line.startswith("\\end\\"):
                break
            elif inside and line.strip():
                words.append(line.split("\t")[1].strip())
    return words


def unigrams(path: Path) -> list[str]:
    """The words of the model (no ``<s>``, ``</s>``, ``<unk>``), as pyctcdecode's `unigrams` wants them."""
    return [w for w in unigram_entries(path) if w not in SPECIAL]
