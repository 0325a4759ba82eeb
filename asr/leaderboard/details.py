"""Per-run details for the HTML page: per-speaker totals, the worst utterances with their alignments, and the
most frequent word confusions, recomputed with `asr.scoring` from the run's hyp.jsonl."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from asr.leaderboard.collect import Run
from asr.scoring.align import align, tokenize
from asr.scoring.report import alignment_rows
from asr.text import get_normalizer

WORST = 8
CONFUSIONS = 10


@dataclass
class RunDetails:
    speakers: list[tuple[str, dict]]  # speaker -> totals of the level (N, S, D, I, E, rate, sentences)
    worst: list[tuple[str, int, tuple[str, str, str]]]  # id, errors, (REF, HYP, Eval) rows
    confusions: list[tuple[str, str, int]]  # reference token, hypothesis token, count


def run_details(run: Run, level: str = "word") -> RunDetails:
    """The details on `level`: "char" for a test set whose metric is CER (R85: a Chinese set's speakers were all
    at WER 100%, its worst utterances ranked by phrases and its confusions whole phrases)."""
    report = run.score_report
    speakers = [(spk, levels[level]) for spk, levels in report["speakers"].items()]
    normalize = get_normalizer(run.result.normalizer)
    compat = run.result.scoring
    alignments = {}
    confusions: Counter = Counter()
    for row in run.hypotheses:
        ref, hyp = tokenize(normalize(row["ref"]), level, compat), tokenize(normalize(row["hyp"]), level, compat)
        alignment = align(ref, hyp, compat)
        alignments[row["id"]] = alignment
        confusions.update((r, h) for op, r, h in alignment.steps() if op == "S")
    ranked = sorted(alignments.items(), key=lambda kv: (-kv[1].counts.E, kv[0]))[:WORST]
    worst = [(utt, a.counts.E, alignment_rows(a)) for utt, a in ranked if a.counts.E > 0]
    return RunDetails(speakers, worst, [(r, h, n) for (r, h), n in confusions.most_common(CONFUSIONS)])
