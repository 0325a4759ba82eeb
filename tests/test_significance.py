"""Bootstrap intervals and paired tests of the leaderboard on hand-made utterance counts (C, S, D, I)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asr.leaderboard import significance
from asr.leaderboard.significance import RESAMPLES, bootstrap_interval, p_value_text, paired_bootstrap


def test_resamples_of_empty_references_only_have_no_wer_and_are_left_out():
    """An empty reference with an insertion and ten correct words: a quarter of the resamples hold the empty one
    twice, which was E / 1 = 200% (the interval's top); a resample with the ten words has at most 10%."""
    low, high = bootstrap_interval({"empty": [0, 0, 0, 1], "ten": [10, 0, 0, 0]})
    assert 0 <= low <= high <= 0.1
    assert all(math.isnan(x) for x in bootstrap_interval({"empty": [0, 0, 0, 2]}))


def test_a_p_value_no_resample_reached_is_printed_as_a_bound():
    assert p_value_text(0.0) == f"< {1 / RESAMPLES:.3f}" == "< 0.001"
    assert p_value_text(0.0421) == "0.042"


def test_an_interval_is_rounded_outwards_around_its_rate():
    from asr.leaderboard.tables import interval_text

    assert interval_text(0.0625, 0.0625) == "[6.2, 6.3]"  # 6.25 [6.2, 6.2] left the rate out
    assert interval_text(0.253, 0.29) == "[25.3, 29.0]"  # exact tenths stay
    assert interval_text(math.nan, math.nan) == "[nan, nan]"


def test_the_paired_test_counts_substitutions_and_ties_as_not_better():
    """By hand: every utterance is one word, wrong (a substitution) in a and right in b, so every resample has
    b 20 errors better than a (p 0), none the other way round (p 1), and a against itself ties (p 1: a tie is
    "not better"). Found by a mutation review: swapped systems, a strict `<` and errors without S all passed."""
    wrong = {f"u{i}": [0, 1, 0, 0] for i in range(20)}
    right = {f"u{i}": [1, 0, 0, 0] for i in range(20)}
    assert paired_bootstrap(wrong, right) == {"utterances": 20, "rate_a": 1.0, "rate_b": 0.0, "p_value": 0.0}
    assert paired_bootstrap(right, wrong)["p_value"] == 1.0
    assert paired_bootstrap(wrong, wrong)["p_value"] == 1.0


def test_an_interval_of_identical_utterances_is_their_rate():
    """Ten words, one error (S, D or I) in each utterance: every resample's WER is 0.1."""
    for row in ([9, 1, 0, 0], [9, 0, 1, 0], [10, 0, 0, 1]):
        assert bootstrap_interval({f"u{i}": row for i in range(30)}) == pytest.approx((0.1, 0.1))


def test_resamples_drawn_in_chunks_are_the_draws_of_one_array(monkeypatch):
    """1000 resamples of n utterances were drawn as one 1000 x n array (3 GB at 200k utterances); drawn in
    chunks of resamples they must be the same draws, so every interval and p-value stays as published."""
    rng = np.random.default_rng(3)
    a = {f"u{i}": [int(v) for v in rng.integers(0, 6, 4)] for i in range(300)}
    b = {utt: [int(v) for v in rng.integers(0, 6, 4)] for utt in a}
    whole = bootstrap_interval(a), paired_bootstrap(a, b)
    monkeypatch.setattr(significance, "_CHUNK_CELLS", 7 * 300)  # 7 resamples a chunk, the last one shorter
    assert (bootstrap_interval(a), paired_bootstrap(a, b)) == whole
