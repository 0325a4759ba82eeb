"""The jiwer cost model against jiwer 4: identical per-utterance counts at word and character level."""

from __future__ import annotations

import jiwer
import pytest

from asr.scoring.align import align_ops, tokenize
from tests.conftest import random_pairs

_TYPES = {"equal": 0, "substitute": 1, "delete": 2, "insert": 3}


def _jiwer_counts(output) -> list[list[int]]:
    """[C, S, D, I] per sentence from jiwer's alignment chunks."""
    counts = []
    for chunks in output.alignments:
        c = [0, 0, 0, 0]
        for chunk in chunks:
            span = (
                chunk.hyp_end_idx - chunk.hyp_start_idx
                if chunk.type == "insert"
                else (chunk.ref_end_idx - chunk.ref_start_idx)
            )
            c[_TYPES[chunk.type]] += span
        counts.append(c)
    return counts


def _check_against_jiwer(refs: list[str], hyps: list[str], level: str) -> None:
    process = jiwer.process_words if level == "word" else jiwer.process_characters
    expected = _jiwer_counts(process(refs, hyps))
    ours = []
    for ref, hyp in zip(refs, hyps, strict=True):
        ops = align_ops(tokenize(ref, level, "jiwer"), tokenize(hyp, level, "jiwer"), "jiwer")
        ours.append([ops.count(op) for op in "CSDI"])
    assert ours == expected


@pytest.mark.parametrize("level", ["word", "char"])
def test_counts_equal_jiwer(level):
    triples = random_pairs(seed=4, count=3000)
    _check_against_jiwer([t[1] for t in triples], [t[2] for t in triples], level)


@pytest.mark.parametrize("level", ["word", "char"])
def test_counts_equal_jiwer_with_tabs_no_break_spaces_and_runs_of_whitespace(level):
    import random

    rng = random.Random(7)
    spaces = [" ", " ", " ", "\t", "\u00a0", "  ", " \t", "\u00a0\u00a0"]

    def respace(text: str) -> str:
        words = text.split()
        return rng.choice(["", " ", "\t"]) + "".join(w + rng.choice(spaces) for w in words).rstrip(" ")

    triples = random_pairs(seed=9, count=1500)
    _check_against_jiwer([respace(t[1]) or "x" for t in triples], [respace(t[2]) for t in triples], level)


def test_jiwer_mode_tokens_are_jiwers():
    assert tokenize("a\tb  c", "word", "jiwer") == ["a\tb", "c"]  # a lone tab is inside a word in jiwer
    assert tokenize(" a\u00a0b  c ", "char", "jiwer") == "a\u00a0b  c"
    assert tokenize(" a\u00a0b  c ", "char", "sclite") == "a\u00a0bc" and tokenize("a\tb", "word") == ["a", "b"]
