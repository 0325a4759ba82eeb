"""Property tests of the alignment: valid paths, optimal costs, and sclite's tie-breaking.

The oracles are written here as plain, slow Python: the textbook DP for the optimal cost, and a direct
transcription of sclite's cell rule and backtrace (net_dp.c) for the exact path.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from asr.scoring._align import sclite_ops
from asr.scoring.align import Counts, align, align_ops
from asr.scoring.corpus import speaker_label, speaker_of

tokens = st.lists(st.sampled_from(["a", "b", "c", "ä", "क", "東"]), max_size=14)


def min_cost(ref, hyp, sub: int, gap: int) -> int:
    prev = [gap * j for j in range(len(hyp) + 1)]
    for i, r in enumerate(ref, 1):
        cur = [gap * i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j - 1] + (0 if r == h else sub), prev[j] + gap, cur[j - 1] + gap))
        prev = cur
    return prev[-1]


def sclite_reference(ref, hyp) -> str:
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    move = [[""] * (m + 1) for _ in range(n + 1)]
    for j in range(1, m + 1):
        cost[0][j], move[0][j] = 3 * j, "I"
    for i in range(1, n + 1):
        cost[i][0], move[i][0] = 3 * i, "D"
        for j in range(1, m + 1):
            sub = cost[i - 1][j - 1] + (0 if ref[i - 1] == hyp[j - 1] else 4)
            dele, ins = cost[i - 1][j] + 3, cost[i][j - 1] + 3
            if sub <= dele and sub <= ins:
                cost[i][j], move[i][j] = sub, "C" if ref[i - 1] == hyp[j - 1] else "S"
            elif dele < ins:
                cost[i][j], move[i][j] = dele, "D"
            else:
                cost[i][j], move[i][j] = ins, "I"
    ops, i, j = [], n, m
    while i or j:
        op = move[i][j]
        ops.append(op)
        i -= op != "I"
        j -= op != "D"
    return "".join(reversed(ops))


@settings(deadline=None)  # a correctness property: a loaded CI machine must not fail it on time
@given(tokens, tokens, st.sampled_from(["sclite", "jiwer"]))
def test_path_is_valid(ref, hyp, compat):
    a = align(ref, hyp, compat)
    assert len(ref) == a.counts.N
    assert len(hyp) == a.counts.C + a.counts.S + a.counts.I
    for op, r, h in a.steps():
        assert (op == "C") == (r is not None and r == h)
        assert (op == "S") == (r is not None and h is not None and r != h)


@given(tokens, tokens)
def test_sclite_path_has_minimal_weighted_cost_and_sclite_ties(ref, hyp):
    c = align(ref, hyp).counts
    assert min_cost(ref, hyp, sub=4, gap=3) == 4 * c.S + 3 * (c.D + c.I)
    assert align_ops(ref, hyp) == sclite_reference(ref, hyp)


@given(tokens, tokens)
def test_jiwer_errors_are_the_levenshtein_distance(ref, hyp):
    assert min_cost(ref, hyp, sub=1, gap=1) == align(ref, hyp, "jiwer").counts.E


@given(tokens, tokens)
def test_sclite_errors_are_never_fewer_than_levenshtein(ref, hyp):
    assert align(ref, hyp).counts.E >= align(ref, hyp, "jiwer").counts.E


@given(st.text(max_size=30), st.text(max_size=30))
def test_strings_align_by_code_point_like_lists(ref, hyp):
    assert align_ops(ref, hyp) == align_ops(list(ref), list(hyp))


@settings(max_examples=20, deadline=None)
@given(st.integers(300, 900), st.integers(0, 2**32 - 1))
def test_long_sequences_match_the_reference(n, seed):
    rng = random.Random(seed)
    ref = [rng.choice("abcd") for _ in range(n)]
    hyp = [t if rng.random() < 0.8 else rng.choice("abcde") for t in ref if rng.random() < 0.95]
    assert align_ops(ref, hyp) == sclite_reference(ref, hyp)


def test_counts_rate_is_undefined_without_reference_tokens():
    assert Counts(I=3).rate is None
    assert Counts(C=1, S=1, I=2).rate == 1.5
    assert (Counts(C=1) + Counts(D=1)).rate == 0.5


def test_speaker_is_the_prefix_before_the_first_separator():
    assert speaker_of("spka_004") == "spka"
    assert speaker_of("1272-128104-0000") == "1272"
    assert speaker_of("AlGore_2006-0000000-0001234") == "AlGore_2006"  # '-' first, as sclite -i rm
    assert speaker_of("utt7") == "utt7"
    assert speaker_of("a.b_c", ".") == "a"
    assert speaker_of("-a_b") == "" and speaker_label("-a_b", " ") == "-a_b"  # an STM speaker field is never empty


@settings(deadline=None)
@given(tokens, tokens, st.integers(1, 6))
def test_alignment_in_blocks_of_rows_is_the_same(ref, hyp, max_move_bytes):
    assert sclite_ops(ref, hyp, max_move_bytes) == sclite_ops(ref, hyp)


@settings(max_examples=10, deadline=None)
@given(st.integers(300, 900), st.integers(0, 2**32 - 1), st.integers(1, 200))
def test_long_sequences_in_blocks_match_the_reference(n, seed, max_move_bytes):
    rng = random.Random(seed)
    ref = [rng.choice("abcd") for _ in range(n)]
    hyp = [t if rng.random() < 0.8 else rng.choice("abcde") for t in ref if rng.random() < 0.95]
    assert sclite_ops(ref, hyp, max_move_bytes).decode() == sclite_reference(ref, hyp)


def test_a_long_pairs_progress_is_counted_as_its_rows_are_filled(monkeypatch):
    """R56: a 40,000-word pair at character level held `asr score`'s bar at 0% for a minute; the C alignment
    counts its rows (in blocks too) and the bar follows them while it runs."""
    from array import array

    from asr.scoring import corpus

    rng = random.Random(0)
    ref, hyp = ("".join(rng.choice("abc") for _ in range(10_000)) for _ in range(2))
    for budget in (1 << 28, 1 << 16):  # all rows kept, or in blocks (a first pass, then the backtrace's)
        progress = array("q", [0, 0])
        assert sclite_ops(ref, hyp, budget, progress) == sclite_ops(ref, hyp)
        assert progress[0] <= progress[1] == (10_000 if budget > 1 << 20 else 19_999)

    class Bar:
        disable, updates = False, []

        def update(self, n: int) -> None:
            self.updates.append(n)

    monkeypatch.setattr(corpus, "LONG_PAIR_CELLS", 1e7)
    monkeypatch.setattr(corpus, "FOLLOW_SECONDS", 0.01)
    bar = Bar()
    assert corpus._aligned(ref, hyp, "sclite", bar) == align(ref, hyp)
    assert sum(bar.updates) == 10_000 * 10_000 and len([n for n in bar.updates if n]) >= 3, bar.updates
