"""Files NIST sclite scores by time: ``hyp.ctm`` (a word a line with its start and duration) and ``ref.stm``
(an utterance a line with its segment and normalised reference), so that
``sclite -r ref.stm stm -h hyp.ctm ctm -e utf-8 -s`` gives the word error counts `asr score` gives (``-s``: case
kept, as `asr score` keeps it; sclite folds case without it).

Each utterance is its own "file" (its id) on channel 1, times in seconds from the utterance's start. Words
are normalised one by one with the scoring normaliser (a word it splits shares the word's time span equally;
one it empties is left out), so the CTM holds exactly the words that are scored.
"""

from __future__ import annotations

from pathlib import Path

from asr.scoring.align import tokenize
from asr.scoring.corpus import speaker_label
from asr.text import Normalizer

CHANNEL = "1"


def ctm_lines(rows: list[dict], normalize: Normalizer) -> list[str]:
    """``<id> 1 <start> <duration> <word>`` for every normalised word, ordered by id and time."""
    lines = []
    for row in sorted(rows, key=lambda r: r["id"]):
        for word in row["words"]:
            parts = tokenize(normalize(word["word"]), "word")  # at ASCII white space, as sclite splits
            span = (word["end"] - word["start"]) / max(len(parts), 1)
            for k, part in enumerate(parts):
                lines.append(f"{row['id']} {CHANNEL} {word['start'] + k * span:.3f} {span:.3f} {part}")
    return lines


#: the STM label field (Hub-4's "overall" category): without one, sclite reads a reference's first word as the
#: label where it is one in angle brackets (<unk>, <noise>) and drops it from the scoring
LABEL = "<o>"


def stm_lines(rows: list[dict], normalize: Normalizer) -> list[str]:
    """``<id> 1 <speaker> 0 <duration> <o> <normalised reference>`` per utterance, ordered by id; the speaker as
    `asr decode`'s tables name it (`speaker_label`: an STM field cannot hold spaces)."""
    return [f"{r['id']} {CHANNEL} {speaker_label(r['id'], r['speaker'])} 0.000 {r['duration']:.3f} {LABEL} "
            f"{' '.join(tokenize(normalize(r['ref']), 'word'))}".rstrip()  # one line: a newline kept by `none`
            # split it; a no-break space stays inside its word, as `asr score` and sclite keep it
            for r in sorted(rows, key=lambda r: r["id"])]  # fmt: skip


#: characters sclite reads as syntax in STM and CTM text: optionally deletable words "(a)", alternatives
#: "{a / b}", the fragment and unknown-word marks, a comment ("a;b" is read "a") and an escape ("x\\y" is "xy")
SCLITE_SYNTAX = frozenset("(){}/@*;\\")
#: a reference segment holding this, in any case and anywhere in its text, is passed over by sclite (TED-LIUM's
#: transcripts hold it; R82: sclite scored 1 utterance of 2, without a word)
SCLITE_IGNORED = "ignore_time_segment_in_scoring"


def sclite_texts(out: Path, rows: list[dict], normalize: Normalizer) -> dict[Path, str]:
    """`out`'s hyp.ctm and ref.stm and their texts."""
    return {out / "hyp.ctm": "".join(line + "\n" for line in ctm_lines(rows, normalize)),
            out / "ref.stm": "".join(line + "\n" for line in stm_lines(rows, normalize))}  # fmt: skip


def sclite_syntax(rows: list[dict], normalize: Normalizer) -> int:
    """How many utterances hold characters sclite reads as syntax, or a reference `SCLITE_IGNORED` (with a
    normaliser that keeps them, such as none, sclite then scores otherwise than `asr score`)."""
    return sum(bool(SCLITE_SYNTAX & set(normalize(r["ref"]) + normalize(r["hyp"])))
               or SCLITE_IGNORED in normalize(r["ref"]).lower() for r in rows)  # fmt: skip
