"""Bootstrap intervals and paired tests of the leaderboard on hand-made utterance counts (C, S, D, I)."""

from __future__ import annotations

import math

from asr.leaderboard.significance import RESAMPLES, bootstrap_interval, p_value_text


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
