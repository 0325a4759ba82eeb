"""Bootstrap confidence intervals on error rates (WER, or CER from character counts; Bisani & Ney, 2004) and the
paired bootstrap test between two systems (Koehn, 2004, as the README says; Bisani & Ney's probability of
improvement is its complement), over utterances: the resampling unit is the utterance. This is not
sclite's sc_stats matched-pair test (MAPSSWE), which compares error counts over segments bounded by words both
systems got right, with a normal approximation: its p-values are not this test's."""

from __future__ import annotations

import numpy as np

from asr.errors import InputError

RESAMPLES = 1000
SEED = 0  # of every interval and test: a board made again prints the same figures
#: the fewest utterances a test set's intervals and paired tests are made on: over n utterances no exact test
#: gets below p = 2^-n (a sign test's least), while a bootstrap of a few utterances printed p < 0.001 and
#: intervals of width 0 (R85: one utterance gave [75.0, 75.0] and p < 0.001; five, where a sign test gives 0.031)
MIN_UTTERANCES = 10
_CHUNK_CELLS = 2_000_000  # utterance draws made at once (16 MB of indices): 1000 x n at once took 3 GB at 200k


def _resampled_sums(seed: int, *columns: np.ndarray) -> list[np.ndarray]:
    """Each column's sum over each of `RESAMPLES` resamples (with replacement) of its rows, drawn in chunks of
    resamples: the same draws as one (RESAMPLES, n) array, in bounded memory."""
    rng, n = np.random.default_rng(seed), len(columns[0])
    sums: list[list[np.ndarray]] = [[] for _ in columns]
    step = max(1, _CHUNK_CELLS // max(n, 1))
    for start in range(0, RESAMPLES, step):
        picks = rng.integers(0, n, size=(min(step, RESAMPLES - start), n))
        for out, column in zip(sums, columns, strict=True):
            out.append(column[picks].sum(axis=1))
    return [np.concatenate(parts) for parts in sums]


def _arrays(counts: dict[str, list[int]], ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Errors (S+D+I) and reference words (C+S+D) per utterance, in `ids` order."""
    rows = np.array([counts[i] for i in ids], dtype=np.int64).reshape(-1, 4)
    return rows[:, 1:].sum(axis=1), rows[:, :3].sum(axis=1)


def bootstrap_interval(counts: dict[str, list[int]], seed: int = SEED, level: float = 0.95) -> tuple[float, float]:
    """The `level` percentile interval of corpus WER over utterance resamples; a resample of empty references
    only has no WER (E / 0) and is left out (taken as E / 1 it made intervals above 100%)."""
    errors, totals = _resampled_sums(seed, *_arrays(counts, sorted(counts)))
    rates = errors[totals > 0] / totals[totals > 0]
    if not len(rates):
        return float("nan"), float("nan")
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def paired_bootstrap(a: dict[str, list[int]], b: dict[str, list[int]], seed: int = SEED) -> dict:
    """How often system `b` is not better than `a` over resamples of their common utterances (a p-value for
    "b is better than a" when b's error rate is lower; the rates of the counts given: words or characters)."""
    if set(a) != set(b):
        raise InputError(f"paired test on different utterances ({len(set(a) ^ set(b))} not in both)")
    ids = sorted(a)
    errors_a, words = _arrays(a, ids)
    errors_b, _ = _arrays(b, ids)
    sum_a, sum_b = _resampled_sums(seed, errors_a, errors_b)
    diff = sum_a - sum_b
    return {
        "utterances": len(ids),
        "rate_a": float(errors_a.sum() / max(words.sum(), 1)),
        "rate_b": float(errors_b.sum() / max(words.sum(), 1)),
        "p_value": float((diff <= 0).mean()),
    }


NO_TESTS = f"None: no test set of {MIN_UTTERANCES} utterances or more has two comparable systems."


def method_note(tests: int) -> str:
    """What the paired tests' table needs beside it to be read and made again (R85: the seed, the one side and
    the uncorrected tests were only in the README, not on the page that is published)."""
    several = f"; the {tests} tests are not corrected for their number" if tests > 1 else ""
    return (f"p: the share of {RESAMPLES} paired resamples of the utterances (seed {SEED}) in which the other system "
            f"is not worse than the best, one-sided towards the best, which is chosen on the same data (read p < "
            f"0.025 as a two-sided 5%){several}; < {1 / RESAMPLES:.3f}: in none of them. Test sets of fewer than "
            f"{MIN_UTTERANCES} utterances get no intervals or tests.")  # fmt: skip


def p_value_text(p: float) -> str:
    """A p-value as tables print it: one no resample reached is below 1 / RESAMPLES, not zero."""
    return f"< {1 / RESAMPLES:.3f}" if p == 0 else f"{p:.3f}"
