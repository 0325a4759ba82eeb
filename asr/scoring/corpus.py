"""Scoring a corpus: pairs references with hypotheses, aligns every utterance, sums the counts.

Corpus rate = sum(S + D + I) / sum(N) over utterances, per speaker and in total; an empty reference
adds its insertions and has an undefined (None) rate of its own, and a corpus with N = 0 has an
undefined rate.
"""

from __future__ import annotations

import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from asr.errors import InputError
from asr.progress import progress_bar
from asr.scoring.align import UNITS, Alignment, Compat, Counts, Level, align, tokenize


@dataclass(slots=True)
class Totals:
    """Counts summed over a set of utterances, with the number of sentences and of erroneous ones."""

    counts: Counts = field(default_factory=Counts)
    sentences: int = 0
    sentence_errors: int = 0

    def add(self, counts: Counts) -> None:
        self.counts += counts
        self.sentences += 1
        self.sentence_errors += counts.E > 0

    def to_json(self) -> dict:
        c = self.counts
        return {
            "N": c.N, "C": c.C, "S": c.S, "D": c.D, "I": c.I, "E": c.E, "rate": c.rate,
            "sentences": self.sentences, "sentence_errors": self.sentence_errors,
        }  # fmt: skip


def speaker_of(utt_id: str, separators: str = "-_") -> str:
    """The id's prefix before the first separator found, tried in order (sclite ``-i rm``: before the first
    ``-`` where the id has one, else before the first ``_``; empty for an id that starts with it); the whole id
    if none."""
    cut = next((i for i in (utt_id.find(s) for s in separators) if i >= 0), len(utt_id))
    return utt_id[:cut]


def speaker_label(utt_id: str, speaker: str) -> str:
    """A manifest utterance's speaker as one field (spaces joined by ``_``), else its id's prefix, else the id
    (an STM field cannot be empty)."""
    return "_".join(speaker.split()) or speaker_of(utt_id) or utt_id


@dataclass
class CorpusScore:
    """Alignments of every utterance at every level, with per-speaker and total counts."""

    compat: Compat
    normalizer: str
    levels: tuple[Level, ...]
    speakers: dict[str, str]  # utterance id -> speaker, in reference order
    alignments: dict[Level, dict[str, Alignment]]
    missing_hyp: list[str]
    totals: dict[Level, Totals] = field(init=False)
    speaker_totals: dict[Level, dict[str, Totals]] = field(init=False)  # speakers sorted

    def __post_init__(self) -> None:
        self.totals = {}
        self.speaker_totals = {}
        for level in self.levels:
            total, per = Totals(), {}
            for utt_id, alignment in self.alignments[level].items():
                total.add(alignment.counts)
                per.setdefault(self.speakers[utt_id], Totals()).add(alignment.counts)
            self.totals[level] = total
            self.speaker_totals[level] = dict(sorted(per.items()))

    def level_json(self, level: Level) -> dict:
        """A level's totals (N C S D I, rate, sentences) and its unit (what one token is)."""
        return self.totals[level].to_json() | {"unit": UNITS[level, self.compat]}

    def to_json(self) -> dict:
        """The JSON report: totals per level, per utterance [C, S, D, I], per speaker, and settings."""
        out: dict = {level: self.level_json(level) for level in self.levels}
        out["utterances"] = {
            utt_id: {level: self.alignments[level][utt_id].counts.as_list() for level in self.levels}
            for utt_id in self.speakers
        }
        out["speakers"] = {
            spk: {level: self.speaker_totals[level][spk].to_json() for level in self.levels}
            for spk in self.speaker_totals[self.levels[0]]
        }
        out["missing_hyp"] = self.missing_hyp
        out["compat"] = self.compat
        out["normalizer"] = self.normalizer
        return out


def pair_transcripts(
    refs: Mapping[str, str], hyps: Mapping[str, str], hyp_name: str = "hypothesis file"
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(id, ref, hyp) triples in reference order, and the ids that have no hypothesis (hyp "").

    Raises:
        InputError: a hypothesis id that is not in the references.
    """
    extra = next((utt_id for utt_id in hyps if utt_id not in refs), None)
    if extra is not None:
        raise InputError(f"{hyp_name}: utterance id '{extra}' is not in the references")
    missing = [utt_id for utt_id in refs if utt_id not in hyps]
    return [(utt_id, ref, hyps.get(utt_id, "")) for utt_id, ref in refs.items()], missing


PROGRESS_CELLS = 2e9  # about 5 s of alignment on one core: below it no bar is shown
LONG_PAIR_CELLS = 4e8  # about 1 s: the bar follows such a pair's rows as they are filled
FOLLOW_SECONDS = 1.0  # how often


def _aligned(ref: list[str] | str, hyp: list[str] | str, compat: Compat, bar) -> Alignment:
    """`align`, its cells counted on `bar`; a long pair's as its rows are filled (a 40,000-word pair at
    character level held the bar at 0% for a minute: R56), by a thread that reads the C alignment's progress
    while it runs without the GIL."""
    cells = max(len(ref), 1) * max(len(hyp), 1)
    if bar.disable or compat != "sclite" or cells < LONG_PAIR_CELLS:
        alignment = align(ref, hyp, compat)
        bar.update(cells)
        return alignment
    progress, done, shown = array("q", [0, 0]), threading.Event(), [0]

    def follow() -> None:
        while not done.wait(FOLLOW_SECONDS):
            if progress[1]:
                now = cells * min(progress[0], progress[1]) // progress[1]
                bar.update(now - shown[0])
                shown[0] = now

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        return align(ref, hyp, compat, progress)
    finally:
        done.set()
        follower.join()
        bar.update(cells - shown[0])


def score_corpus(
    triples: Iterable[tuple[str, str, str]],
    levels: Iterable[Level] = ("word", "char"),
    compat: Compat = "sclite",
    normalizer: str = "none@1",
    speaker_separators: str = "-_",
    missing_hyp: list[str] | None = None,
    speakers_of: Mapping[str, str] | None = None,
) -> CorpusScore:
    """Aligns every (id, reference, hypothesis) triple at each level (ids unique, else `InputError`); texts come
    already normalised. Speakers are `speakers_of[id]` where given, else the id's prefix (`speaker_of`).

    Alignment is quadratic in a pair's length (a 20,000-word pair at character level takes about half a
    minute): when the work adds up to more than a few seconds, a progress bar counts the aligned cells."""
    levels = tuple(levels)
    speakers: dict[str, str] = {}
    alignments: dict[Level, dict[str, Alignment]] = {level: {} for level in levels}
    triples = list(triples)
    counts = Counter(utt_id for utt_id, _, _ in triples)
    if repeated := [utt_id for utt_id, n in counts.items() if n > 1]:  # the last one was scored, the rest lost
        raise InputError(f"utterance id {repeated[0]!r} is given {counts[repeated[0]]} times; ids must be unique")
    pairs = [(utt_id, level, tokenize(ref, level, compat), tokenize(hyp, level, compat))
             for utt_id, ref, hyp in triples for level in levels]  # fmt: skip
    cells = sum(max(len(r), 1) * max(len(h), 1) for _, _, r, h in pairs)
    with progress_bar(
        total=cells, desc="aligning", unit="cell", unit_scale=True, disable=cells < PROGRESS_CELLS
    ) as bar:
        for utt_id, level, ref, hyp in pairs:
            speakers[utt_id] = (speakers_of or {}).get(utt_id) or speaker_of(utt_id, speaker_separators)
            alignments[level][utt_id] = _aligned(ref, hyp, compat, bar)
    return CorpusScore(compat, normalizer, levels, speakers, alignments, list(missing_hyp or []))


def score_normalized(
    triples: Iterable[tuple[str, str, str]],
    normalize: Callable[[str], str],
    speakers_of: Mapping[str, str] | None = None,
) -> CorpusScore:
    """Word and char score of raw (id, reference, hypothesis) triples, both sides normalised by `normalize`
    (an `asr.text.Normalizer`): what `asr decode` reports and training logs for dev and test."""
    normalized = ((i, normalize(ref), normalize(hyp)) for i, ref, hyp in triples)
    return score_corpus(normalized, normalizer=normalize.id, speakers_of=speakers_of)
