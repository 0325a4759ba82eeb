"""The leaderboard table: a row per system, WER and CER per test set, non-comparable cells flagged; its bootstrap
intervals and paired tests."""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from asr.errors import InputError
from asr.leaderboard.collect import Run
from asr.leaderboard.significance import (
    MIN_UTTERANCES,
    RESAMPLES,
    bootstrap_interval,
    p_value_text,
    paired_bootstrap,
)
from asr.scoring.report import percent
from asr.text import written_without_spaces

SYSTEM_COLUMNS = ("model", "labeled", "lm", "decoder")
LEVELS = {"wer": "word", "cer": "char"}  # the score.json level of each rate
HEADERS = {"model": "model", "labeled": "labeled data", "lm": "LM", "decoder": "decoder"}
#: the columns of `paired_tests`' rows
PAIRED_HEADER = ("test set", "score", "best", "other", "best %", "other %", "p (other not worse)")


@dataclass
class Table:
    """Runs pivoted: systems (rows) x test sets (columns)."""

    runs: list[Run]
    systems: list[tuple] = field(init=False)
    test_sets: list[str] = field(init=False)
    cells: dict[tuple[tuple, str], Run] = field(init=False)
    flags: dict[tuple[tuple, str], str] = field(init=False)  # cells not comparable with their column
    notes: list[str] = field(init=False)  # names several columns share (told apart by content), sets tuned on
    settings: dict[str, tuple[str, str]] = field(init=False)  # test set -> (normaliser, scoring) of most rows
    #: test set -> the rate its intervals and paired tests are on: cer where the references are written without
    #: spaces between words (a Chinese or Thai "word" is a phrase), else wer
    metrics: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.systems = list(dict.fromkeys(r.system_key for r in self.runs))
        self.test_sets = sorted({r.test_set for r in self.runs})
        self.cells = {}
        for run in self.runs:
            key = (run.system_key, run.test_set)
            if key in self.cells:
                first = self.cells[key]
                scored = (f" (scored with {first.result.normalizer}, {first.result.scoring} and with "
                          f"{run.result.normalizer}, {run.result.scoring}: a row holds one)"
                          if first.comparability != run.comparability else "")  # fmt: skip
                raise InputError(f"two results for one system on {run.test_set}: {first.path} and {run.path}{scored}")
            self.cells[key] = run
        self.settings, self.flags = {}, {}
        self.metrics = {
            test_set: "cer" if written_without_spaces(row["ref"] for row in run.hypotheses) else "wer"
            for test_set, run in {r.test_set: r for r in self.runs}.items()
        }
        # a column told apart by content is comparable within itself (flagging it took its paired tests away)
        shared = sorted({r.result.test_set["name"] for r in self.runs if r.column != r.result.test_set["name"]})
        self.notes = [f"{name}: results under this name hold other utterances or audio; their columns are told "
                      f"apart by size and content id" for name in shared]  # fmt: skip
        self.notes += self._tuned_notes()
        for test_set in self.test_sets:
            runs = [r for r in self.runs if r.test_set == test_set]
            common = Counter(r.comparability for r in runs).most_common(1)[0][0]
            self.settings[test_set] = common
            for run in runs:
                if run.comparability != common:
                    norm, scoring = run.comparability
                    self.flags[(run.system_key, test_set)] = (
                        f"{test_set}: normaliser {norm}, scoring {scoring} (the column uses {common[0]}, {common[1]})"
                    )

    def _tuned_notes(self) -> list[str]:
        """A note per test set of the table that LM weights were tuned on, naming the rows so tuned where not
        every row marked tuned was (a row tuned on dev was blamed for another's tuning on test, or elsewhere)."""
        tuned_on: dict[str, set[tuple]] = {}  # test set -> the systems tuned on it
        for run in (r for r in self.runs if r.tuned_on_itself):
            tuned_on.setdefault(run.test_set, set()).add(run.system_key)
        every = {r.system_key for r in self.runs if r.result.tuning}  # the rows marked tuned
        notes = []
        for name in sorted(tuned_on):
            systems = [self.system_of(key) for key in sorted(tuned_on[name])]
            rows = ("the rows marked tuned" if tuned_on[name] == every
                    else "; ".join(f"{system['model']} {system['decoder']}" for system in systems))  # fmt: skip
            notes.append(f"{name}: the LM weights of {rows} were chosen on it, so their {name} figures are not "
                         "held out")  # fmt: skip
        return notes

    def system_of(self, key: tuple) -> dict[str, str]:
        return next(r.system for r in self.runs if r.system_key == key)

    @cached_property
    def too_small(self) -> dict[str, int]:
        """The test sets of fewer than `MIN_UTTERANCES` utterances (no intervals or paired tests), with their
        number."""
        sizes = {r.test_set: len(r.hypotheses) for r in self.runs}
        return {test_set: n for test_set, n in sizes.items() if n < MIN_UTTERANCES}

    @property
    def significance_notes(self) -> list[str]:
        """A note per test set too small for intervals and paired tests."""
        return [f"{test_set}: {n} utterance{'s' * (n != 1)}, fewer than {MIN_UTTERANCES}: no bootstrap intervals or "
                "paired tests" for test_set, n in sorted(self.too_small.items())]  # fmt: skip

    @cached_property
    def intervals(self) -> dict[tuple[tuple, str], tuple[float, float]]:
        """Each cell's 95% bootstrap interval on its test set's metric (`metrics`), but in sets `too_small`."""
        return {(system, test_set): bootstrap_interval(run.utterance_counts(LEVELS[self.metrics[test_set]]))
                for (system, test_set), run in self.cells.items() if test_set not in self.too_small}  # fmt: skip

    def comparable(self, test_set: str) -> list[Run]:
        """The runs of a column that are comparable with it (not flagged)."""
        return [r for (s, t), r in self.cells.items() if t == test_set and (s, t) not in self.flags]

    @cached_property
    def best(self) -> dict[str, Run]:
        """Per test set (but those `too_small`): the comparable run of the lowest WER (CER for text written
        without spaces between words), also where it is the only one (R88: a lone system was not the best)."""
        return {test_set: min(runs, key=lambda r: r.result.rate(self.metrics[test_set]))
                for test_set in self.test_sets if test_set not in self.too_small
                if (runs := self.comparable(test_set))}  # fmt: skip

    @cached_property
    def paired(self) -> list[dict]:
        """Per test set: its `best` against each other comparable run (a flagged row is neither the best nor
        tested): test_set, metric, best and other (runs), their rates and p_value."""
        out = []
        for test_set, best in self.best.items():
            runs, metric = self.comparable(test_set), self.metrics[test_set]
            for run in runs:
                if run is not best:
                    test = paired_bootstrap(*[r.utterance_counts(LEVELS[metric]) for r in (run, best)])
                    out.append({"test_set": test_set, "metric": metric, "best": best, "other": run, "runs": runs,
                                "best_rate": test["rate_b"], "other_rate": test["rate_a"],
                                "p_value": test["p_value"]})  # fmt: skip
        return out

    def significance(self, system: tuple, test_set: str) -> dict:
        """A cell's interval and paired test, for machines: the metric, its interval (fractions; None in a set
        `too_small`), whether it is its column's best, and the p-value of its test against the best (None where
        there is none: 0 where none of the `resamples` found it not worse, a p below 1 / resamples)."""
        test = next((t for t in self.paired if t["test_set"] == test_set and t["other"].system_key == system), None)
        best = test_set in self.best and self.best[test_set].system_key == system
        interval = self.intervals.get((system, test_set), (math.nan, math.nan))  # nan: no resample had words
        return {"metric": self.metrics[test_set], "interval": list(interval) if math.isfinite(interval[0]) else None,
                "best": best, "p_value": None if test is None else test["p_value"],
                "resamples": RESAMPLES}  # fmt: skip

    @property
    def paired_tests(self) -> list[list[str]]:
        """`paired` as the rows of a table (`PAIRED_HEADER`)."""
        return [[t["test_set"], t["metric"].upper(), system_label(t["best"], t["runs"]),
                 system_label(t["other"], t["runs"]), percent(t["best_rate"]), percent(t["other_rate"]),
                 p_value_text(t["p_value"])] for t in self.paired]  # fmt: skip


def intervals_note(table: Table) -> str:
    """What the table's bootstrap intervals are on: WER, and CER for the sets written without spaces."""
    by_cer = [t for t in table.test_sets if table.metrics[t] == "cer"]
    if not by_cer:
        return "95% bootstrap intervals on WER"
    if len(by_cer) == len(table.test_sets):
        return "95% bootstrap intervals on CER (text written without spaces between words)"
    return f"95% bootstrap intervals on WER, on CER for {', '.join(by_cer)} (written without spaces)"


def system_label(run: Run, column: list[Run]) -> str:
    """The run's decoder, with its model and LM where another run of the column has the same decoder."""
    decoder = run.system["decoder"]
    if sum(r.system["decoder"] == decoder for r in column) == 1:
        return decoder
    return f"{decoder} ({run.system['model']}, LM {run.system['lm']})"


def interval_text(low: float, high: float) -> str:
    """An interval of rates in percent to one decimal, rounded outwards: it never leaves out the rate shown to
    two decimals beside it (6.25 [6.2, 6.2] before)."""
    if math.isfinite(low) and math.isfinite(high):  # nan: no resample with reference words
        low, high = math.floor(round(1000 * low, 6)) / 10, math.ceil(round(1000 * high, 6)) / 10
    return f"[{low:.1f}, {high:.1f}]"


def _cell(table: Table, system: tuple, test_set: str, metric: str, intervals: bool) -> str:
    run = table.cells.get((system, test_set))
    if run is None:
        return "-"
    text = percent(run.result.rate(metric))
    if intervals and metric == table.metrics[test_set] and (system, test_set) in table.intervals:
        text += " " + interval_text(*table.intervals[system, test_set])
    return text + (" †" if (system, test_set) in table.flags else "")


def header(table: Table) -> list[str]:
    return [HEADERS[c] for c in SYSTEM_COLUMNS] + [f"{t} {m}" for t in table.test_sets for m in ("WER", "CER")]


def rows(table: Table, intervals: bool = False) -> list[list[str]]:
    out = []
    for system in table.systems:
        names = table.system_of(system)
        values = [_cell(table, system, t, m, intervals) for t in table.test_sets for m in ("wer", "cer")]
        out.append([names[c] for c in SYSTEM_COLUMNS] + values)
    return out


# a < that starts no tag ("< 0.001") stays as it is, as do a word's inner _ (train_10min) and an & of no entity;
# R80: links ([x](url): its "](" escaped; an interval's [1, 2] stays), emphasis (__b__), strikethrough (~~s~~),
# entities (&amp;) and (`markdown_item`) a leading # (a heading in a list item) were read as Markdown
_MARKDOWN = re.compile(r"[\\|*`~]|\](?=[(\[:])|(?<![^\W_])_|_(?![^\W_])|&(?=#?\w+;)|<(?=[A-Za-z/!?])|\r\n?|\n")
_ESCAPED = {"<": "&lt;", "&": "&amp;", "\n": "&#10;", "\r": "&#10;", "\r\n": "&#10;"}  # a line break ended a row
#: the controls of the direction of text: an override left open reversed what followed it ("84.00%" read
#: "%00.48"); shown as their code points
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def bidi_shown(text: str) -> str:
    """`text` with its bidirectional controls written as ``\\u202e`` (R80)."""
    return _BIDI.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def markdown_text(text: str) -> str:
    """`text` with what Markdown would read in it (a model or test set named with ``|``, ``*``, ``<b>``, ``[a](b)``,
    a trailing backslash, a line break: a folder's name may hold one) escaped, and its direction controls shown."""
    return _MARKDOWN.sub(lambda m: _ESCAPED.get(m[0], "\\" + m[0]), bidi_shown(text))


def markdown_item(text: str) -> str:
    """`markdown_text` for the start of a list item, where a leading ``#``, ``>``, ``- ``, ``+ `` or ``1. `` would
    start a heading, quote or list inside it (a table cell reads them as text)."""
    text = re.sub(r"^([#>]|[+-](?=\s|$))", r"\\\1", markdown_text(text))
    return re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", text)


def _fence(text: str, least: int) -> str:
    """Backticks one more than the longest run in `text`, at least `least` (CommonMark closes a code span or
    block only on a run as long as its opening one: a command holding ``` ended the block, the rest read as HTML)."""
    return "`" * max(least, 1 + max(map(len, re.findall("`+", text)), default=0))


def code_span(text: str) -> str:
    """`text` as inline code, whatever backticks it holds; a line break is shown as ``\\n`` (R80: a blank line, or
    a line of ``#`` or ``<img ...>`` after one, ended the span and was read as Markdown and HTML)."""
    text = bidi_shown(text).replace("\r", "\\r").replace("\n", "\\n")
    fence = _fence(text, 1)
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def code_block(text: str, indent: str = "") -> str:
    """`text` as a fenced code block (each line indented by `indent`, inside a list item), whatever it holds."""
    text = bidi_shown(str(text)).replace("\r\n", "\n").replace("\r", "\\r")  # R81: a lone \r ended a line too
    fence = _fence(text, 3)
    return "\n".join(f"{indent}{line}" for line in (fence, *text.split("\n"), fence))


def markdown_row(cells: list[str]) -> str:
    """A Markdown table row of escaped cells (`markdown_text`)."""
    return "| " + " | ".join(map(markdown_text, cells)) + " |"


def markdown_table(table: Table, intervals: bool = False) -> str:
    lines = [markdown_row(header(table)), "|" + "---|" * len(header(table))]
    lines += [markdown_row(row) for row in rows(table, intervals)]
    return "\n".join(lines)


def csv_text(table: Table, significance: bool = False) -> str:
    """One row per system; WER and CER in percent, unrounded beyond 4 decimals; with `significance`, each test
    set's interval on its metric and the p-value against its best ("best" for the best); flags in their own
    column."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    metrics = [f"{t} {m}" for t in table.test_sets for m in ("WER", "CER")]
    if significance:  # R85: only RESULTS.md and index.html had them
        metrics += [f"{t} {table.metrics[t].upper()} {c}" for t in table.test_sets for c in ("95% low", "95% high")]
        metrics += [f"{t} p (other not worse)" for t in table.test_sets]
    writer.writerow([*SYSTEM_COLUMNS, *metrics, "normalizer", "scoring", "git_revision", "flags"])
    for system in table.systems:
        names = table.system_of(system)
        runs = [r for (s, _), r in table.cells.items() if s == system]
        values = []
        for t in table.test_sets:
            run = table.cells.get((system, t))
            values += ["" if run is None else percent(run.result.rate(m), 4) for m in ("wer", "cer")]
        if significance:
            tests = [table.significance(system, t) if (system, t) in table.cells else None for t in table.test_sets]
            for test in tests:
                values += [percent(x, 4) for x in test["interval"]] if test and test["interval"] else ["", ""]
            values += [_p_cell(test) for test in tests]
        provenance = [
            ";".join(sorted({str(getattr(r.result, k)) for r in runs}))
            for k in ("normalizer", "scoring", "git_revision")
        ]
        flags = [v for (s, _), v in table.flags.items() if s == system]
        flags += [f"{r.test_set}: LM weights tuned on it" for r in runs if r.tuned_on_itself]
        writer.writerow([names[c] for c in SYSTEM_COLUMNS] + values + provenance + ["; ".join(flags)])
    return buf.getvalue()


def _p_cell(test: dict | None) -> str:
    """The CSV's p-value cell of a cell's `Table.significance` (None: no cell): the test's against the best,
    "best", or empty (no test)."""
    if test is None:
        return ""
    return "best" if test["best"] else "" if test["p_value"] is None else p_value_text(test["p_value"])
