"""Human-readable score reports: summary tables and sclite-style files.

Writes, per level, into a report folder:

- ``<level>.sys``: the summary table per speaker and in total, in percent and in counts (sclite .sys/.raw);
- ``<level>.pra``: every utterance's alignment, REF / HYP / Eval rows whose columns are padded by display
  width (so Devanagari, Finnish and CJK line up, where sclite pads by bytes);
- ``<level>.dtl``: totals, then confusion pairs, insertions, deletions, substitutions and falsely recognised
  tokens, each sorted by count (sclite .dtl);

plus ``score.json``. Tokens keep their case; errors are marked in the Eval row (sclite upper-cases them,
which hides case errors when scoring is case-sensitive).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

from wcwidth import wcswidth

from asr.errors import InputError
from asr.folders import part_path, removed_if_left_empty, write_together
from asr.progress import progress_bar
from asr.scoring.align import LEVELS, UNITS, Alignment, Level
from asr.scoring.corpus import CorpusScore, Totals

_UNIT_HEADER = {"word": "#Wrd", "char": "#Chr"}
_COLUMNS = ("Corr", "Sub", "Del", "Ins", "Err", "S.Err")


def display_width(text: str) -> int:
    """Terminal columns `text` takes (wide CJK = 2, combining marks = 0)."""
    if text.isascii() and text.isprintable():  # one column a character: wcswidth's per-character lookups were
        return len(text)  # most of a report's time (9 M calls at 10k utterances)
    width = wcswidth(text)
    return width if width >= 0 else len(text)


def pad(text: str, width: int) -> str:
    """Left-aligns `text` in `width` display columns."""
    return text + " " * max(0, width - display_width(text))


def _pct(part: int, whole: int, digits: int = 2) -> str:
    return f"{100 * part / whole:.{digits}f}" if whole else "undef"


def percent(rate: float, digits: int = 2) -> str:
    """`rate` in percent as the reports' tables print it from the counts (`_pct`: ``100 * E / N``): the rate read
    back as the fraction E/N it is (N up to 10^7), where ``100 * rate`` rounds another way at a tie (R77: 23/160
    was 14.37% in the headline and the leaderboard, 14.38 in the Sum row and the .dtl)."""
    exact = Fraction(rate).limit_denominator(10**7)
    return _pct(exact.numerator, exact.denominator, digits)


def _row_values(totals: Totals) -> list[tuple[int, int]]:
    c = totals.counts
    pairs = [(c.C, c.N), (c.S, c.N), (c.D, c.N), (c.I, c.N), (c.E, c.N)]
    return [*pairs, (totals.sentence_errors, totals.sentences)]


def _table(header: list[str], rows: list[list[str]], rule_before_last: bool = True) -> str:
    widths = [max(display_width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = pad(cells[0], widths[0])
        rest = [" " * (w - display_width(c)) + c for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "|" + "+".join("-" * (w + 2) for w in widths) + "|"
    body = [line(r) for r in rows]
    if rule_before_last and len(body) > 1:
        body.insert(len(body) - 1, rule)
    return "\n".join([line(header), rule, *body])


def summary_table(score: CorpusScore, level: Level, percent: bool = True) -> str:
    """Per-speaker and total table: #Snt #Wrd Corr Sub Del Ins Err S.Err, in percent or in counts."""
    header = ["SPKR", "#Snt", _UNIT_HEADER[level], *_COLUMNS]
    rows = []
    items = [*score.speaker_totals[level].items(), ("Sum", score.totals[level])]
    for name, totals in items:
        values = _row_values(totals)
        cells = [_pct(p, w) for p, w in values] if percent else [str(p) for p, _ in values]
        rows.append([name, str(totals.sentences), str(totals.counts.N), *cells])
    return _table(header, rows)


def _headline(score: CorpusScore, level: Level) -> str:
    counts = score.totals[level].counts
    name = "WER" if level == "word" else "CER"
    return f"{name} {_pct(counts.E, counts.N)}%" if counts.N else f"{name} undefined (no reference tokens)"


def closing_line(score: CorpusScore) -> str:
    """The scores in one line, printed last (a table per speaker scrolled them out of sight)."""
    utterances = score.totals[score.levels[0]].sentences
    return ", ".join(_headline(score, level) for level in score.levels) + f" ({utterances} utterances)"


def level_summary(score: CorpusScore, level: Level) -> str:
    """A headline naming the level, unit, compat and normaliser, then the table in percent and in counts."""
    headline = _headline(score, level)
    return (
        f"{headline}  [{level} level: {UNITS[level, score.compat]}; compat {score.compat}; "
        f"normalizer {score.normalizer}]\n"
        f"{summary_table(score, level)}\n\nCounts:\n{summary_table(score, level, percent=False)}"
    )


def summary_text(score: CorpusScore) -> str:
    """The printed summary: `level_summary` of every level."""
    return "\n\n".join(level_summary(score, level) for level in score.levels)


def _shown(token: str | None) -> str | None:
    """A token as displayed: a lone combining mark (a Devanagari matra, say) on a dotted circle."""
    if token and display_width(token) == 0:
        return "\u25cc" + token
    return token


def alignment_rows(alignment: Alignment) -> tuple[str, str, str]:
    """REF, HYP and Eval rows of one alignment, columns padded to the widest token's display width."""
    refs, hyps, evals = [], [], []
    for op, ref_raw, hyp_raw in alignment.steps():
        ref_tok, hyp_tok = _shown(ref_raw), _shown(hyp_raw)
        width = max(display_width(ref_tok or ""), display_width(hyp_tok or ""), 1)
        refs.append(pad(ref_tok, width) if ref_tok is not None else "*" * width)
        hyps.append(pad(hyp_tok, width) if hyp_tok is not None else "*" * width)
        evals.append(pad("" if op == "C" else op, width))
    return " ".join(refs).rstrip(), " ".join(hyps).rstrip(), " ".join(evals).rstrip()


def pra_text(score: CorpusScore, level: Level) -> str:
    """Every utterance's alignment, grouped by speaker (sclite .pra)."""
    blocks = [f"Alignments, {level} level ({UNITS[level, score.compat]}), compat {score.compat}, "
              f"normalizer {score.normalizer}\n"]  # fmt: skip
    by_speaker: dict[str, list[str]] = {}
    unheard = set(score.missing_hyp)  # a list looked up per utterance: quadratic (160 s at 80k, half missing)
    for utt_id, spk in score.speakers.items():
        by_speaker.setdefault(spk, []).append(utt_id)
    for spk in sorted(by_speaker):
        blocks.append(f"Speaker: {spk}\n")
        for utt_id in by_speaker[spk]:
            alignment = score.alignments[level][utt_id]
            c = alignment.counts
            ref, hyp, evals = alignment_rows(alignment)
            missing = "  (no hypothesis: scored as empty)" if utt_id in unheard else ""
            blocks.append(
                f"id: ({utt_id}){missing}\nScores: (#C #S #D #I) {c.C} {c.S} {c.D} {c.I}\n"
                f"REF:  {ref}\nHYP:  {hyp}\nEval: {evals}\n"
            )
    return "\n".join(blocks)


def _ranked(title: str, counter: Counter, total: int) -> str:
    lines = [f"{title:<32} Total {total}", f"{'':<32} Distinct {len(counter)}", ""]
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    lines += [f"{rank:5}: {count:5}  ->  {item}" for rank, (item, count) in enumerate(ranked, 1)]
    return "\n".join(lines) + "\n"


def dtl_text(score: CorpusScore, level: Level) -> str:
    """Totals and error listings sorted by count (sclite .dtl)."""
    pairs: Counter = Counter()
    ins: Counter = Counter()
    dels: Counter = Counter()
    subs: Counter = Counter()
    false: Counter = Counter()
    for alignment in score.alignments[level].values():
        for op, ref_tok, hyp_tok in alignment.steps():
            if op == "S":
                pairs[f"{ref_tok} ==> {hyp_tok}"] += 1
                subs[ref_tok] += 1
                false[hyp_tok] += 1
            elif op == "I":
                ins[hyp_tok] += 1
            elif op == "D":
                dels[ref_tok] += 1
    t = score.totals[level]
    c = t.counts
    unit = "words" if level == "word" else "characters"
    head = (
        f"DETAILED REPORT, {level} level ({UNITS[level, score.compat]}), compat {score.compat}, "
        f"normalizer {score.normalizer}\n\n"
        f"Sentences                 {t.sentences}\n"
        f"  with errors             {_pct(t.sentence_errors, t.sentences)}% ({t.sentence_errors})\n\n"
        f"Percent Total Error     = {_pct(c.E, c.N)}% ({c.E})\n"
        f"Percent Correct         = {_pct(c.C, c.N)}% ({c.C})\n"
        f"Percent Substitution    = {_pct(c.S, c.N)}% ({c.S})\n"
        f"Percent Deletions       = {_pct(c.D, c.N)}% ({c.D})\n"
        f"Percent Insertions      = {_pct(c.I, c.N)}% ({c.I})\n\n"
        f"Ref. {unit:<20} ({c.N})\nHyp. {unit:<20} ({c.C + c.S + c.I})\n"
        f"Aligned {unit:<17} ({c.C + c.S + c.D + c.I})\n"
    )
    sections = [
        _ranked("CONFUSION PAIRS (ref ==> hyp)", pairs, c.S),
        _ranked("INSERTIONS", ins, c.I),
        _ranked("DELETIONS", dels, c.D),
        _ranked("SUBSTITUTIONS (ref side)", subs, c.S),
        _ranked("FALSELY RECOGNIZED (hyp side)", false, c.S),
    ]
    return "\n\n".join([head, *sections])


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def report_json(report: dict) -> str:
    """The JSON report, one line per top-level key and per entry of the per-utterance and per-speaker maps."""
    lines = []
    for key, value in report.items():
        if key in ("utterances", "speakers") and value:
            entries = ",\n".join(f"  {_compact(k)}: {_compact(v)}" for k, v in value.items())
            lines.append(f" {_compact(key)}: {{\n{entries}\n }}")
        else:
            lines.append(f" {_compact(key)}: {_compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


_REPORTS = {"sys": level_summary, "pra": pra_text, "dtl": dtl_text}  # a level's report files, by suffix


def report_files(out_dir: Path, levels: Iterable[str] = LEVELS, parts: bool = False) -> list[Path]:
    """The files `write_report_dir` writes: each level's .sys, .pra and .dtl, and score.json; with `parts`, the
    names they are first written under too."""
    paths = [*(out_dir / f"{level}.{suffix}" for level in levels for suffix in _REPORTS), out_dir / "score.json"]
    return [*paths, *map(part_path, paths)] if parts else paths


def report_texts(score: CorpusScore, out_dir: Path, score_json: dict) -> dict[Path, str]:
    """The files `write_report_dir` writes in `out_dir` (made here) and their texts; `InputError` for a folder
    in the place of one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = report_files(out_dir, score.levels)
    if folders := [str(path) for path in paths if path.is_dir()]:
        raise InputError(f"{folders[0]}: a folder where a report is written")
    kinds = [(level, suffix) for level in score.levels for suffix in _REPORTS]  # 100,000 utterances: 45 s (R56)
    texts = [_REPORTS[suffix](score, level) + "\n" for level, suffix in progress_bar(kinds, desc="reports", delay=2)]
    return dict(zip(paths, [*texts, report_json(score_json)], strict=True))


def remove_other_levels(out_dir: Path, levels: Iterable[str]) -> None:
    """Removes the reports of levels other than `levels` from `out_dir` (an earlier score's)."""
    for path in set(report_files(out_dir)) - set(report_files(out_dir, levels)):
        path.unlink(missing_ok=True)


def write_report_dir(score: CorpusScore, out_dir: Path, score_json: dict) -> list[Path]:
    """Writes the .sys, .pra and .dtl reports of every level and score.json together (`write_together`: a
    failed write leaves the earlier reports as they were, not a mix, and no folder it made); returns the paths."""
    with removed_if_left_empty(Path(out_dir)):  # a full disk left the empty folder (R51)
        texts = report_texts(score, out_dir, score_json)
        write_together(texts)
    remove_other_levels(out_dir, score.levels)
    return list(texts)
