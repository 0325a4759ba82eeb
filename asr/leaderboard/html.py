"""The static leaderboard page: sortable tables, plots and per-run details in one index.html (no network)."""

from __future__ import annotations

import html
from pathlib import Path

from asr.leaderboard.collect import Run
from asr.leaderboard.details import run_details
from asr.leaderboard.significance import NO_TESTS, RESAMPLES, method_note
from asr.leaderboard.tables import LEVELS, PAIRED_HEADER, Table, bidi_shown, header, intervals_note, rows
from asr.progress import progress_bar
from asr.scoring.report import percent


def escape(text: str) -> str:
    """`text` as HTML text, its direction controls shown (`bidi_shown`)."""
    return html.escape(bidi_shown(text))


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
td:nth-child(-n+4), th:nth-child(-n+4) { text-align: left; }
th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
pre { background: #f7f7f7; padding: 6px; overflow-x: auto; font-size: 13px; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
details { margin: 0.6em 0; } summary { cursor: pointer; font-weight: 600; }
.flag { color: #b00; } .meta { color: #666; font-size: 13px; }
"""

SCRIPT = """
function rank(text) { return text === "-" ? 2 : (text.indexOf("\u2020") >= 0 ? 1 : 0); }
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      rows.sort(function (a, b) {
        var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
        var rx = rank(x), ry = rank(y);
        if (rx !== ry) return rx - ry;  // either way: comparable cells, then flagged ones, then missing ones
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? cmp : -cmp;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _table(head: list[str], body: list[list[str]], sortable: bool = True) -> str:
    cls = ' class="sortable"' if sortable else ""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table{cls}><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _run_section(number: int, run: Run, metric: str) -> str:
    """A run's details on its test set's metric (`Table.metrics`): per speaker, worst utterances, confusions."""
    d = run_details(run, LEVELS[metric])
    r = run.result
    unit = {"wer": ("#Wrd", "word"), "cer": ("#Chr", "character")}[metric]
    speakers = _table(["speaker", "#Snt", unit[0], "Sub", "Del", "Ins", f"{metric.upper()} %"],
                      [[s, str(t["sentences"]), str(t["N"]), str(t["S"]), str(t["D"]), str(t["I"]),
                        "-" if t["rate"] is None else f"{100 * t['rate']:.2f}"] for s, t in d.speakers])  # fmt: skip
    worst = "".join(
        f"<p class='meta'>{escape(utt)}: {errors} {unit[1]} errors</p><pre>REF:  {escape(rows_[0])}\n"
        f"HYP:  {escape(rows_[1])}\nEval: {escape(rows_[2])}</pre>"
        for utt, errors, rows_ in d.worst
    )
    confusions = _table(["reference", "hypothesis", "count"], [[a, b, str(n)] for a, b, n in d.confusions])
    meta = (f"normaliser {r.normalizer}, scoring {r.scoring}, RTFx {r.timing['rtfx']}, "
            f"git {r.git_revision}, {r.date}")  # fmt: skip
    return (
        f"<details><summary>#{number} {escape(run.system['decoder'])} · {escape(run.system['model'])} on "
        f"{escape(run.test_set)}: WER {percent(r.wer)}%, CER {percent(r.cer)}%</summary>"
        f"<p class='meta'>{escape(meta)}</p><pre>{escape(r.command)}</pre>"
        f"<h4>Per speaker</h4>{speakers}<h4>Worst utterances</h4>{worst or '<p>none</p>'}"
        f"<h4>Most frequent substitutions</h4>{confusions}</details>"
    )


def write_html(table: Table, runs: list[Run], plots: list[Path], out: Path, title: str,
               significance: bool = False) -> Path:  # fmt: skip
    """Writes OUT/index.html; the plots are referenced by their paths relative to OUT. With `significance`, the
    WER cells (CER for a set written without spaces between words) carry their bootstrap intervals and the paired
    tests follow the table, as in RESULTS.md."""
    notes = table.notes + (table.significance_notes if significance else [])
    flags = "".join(f"<li>{escape(text)}</li>" for text in notes)
    flags += "".join(f"<li class='flag'>† {escape(text)}</li>" for text in dict.fromkeys(table.flags.values()))
    images = "".join(f'<img src="{escape(str(p.relative_to(out)))}" alt="{escape(p.stem)}">' for p in plots)
    numbered = progress_bar(enumerate(runs, 1), total=len(runs), desc="runs' details", unit="run", delay=2)
    sections = "".join(_run_section(i, run, table.metrics[run.test_set]) for i, run in numbered)
    settings = ", ".join(f"{t}: {n}, {s}" for t, (n, s) in table.settings.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{escape(title)}</h1>
<h2>WER / CER (%)</h2>{_table(header(table), rows(table, significance))}
<p class="meta">{escape(intervals_note(table)) + ". " if significance else ""}Normaliser and scoring per test set: \
{escape(settings)}. Click a column to sort.</p>
{f"<ul>{flags}</ul>" if flags else ""}{_paired(table) if significance else ""}
<h2>Plots</h2>{images}
<h2>Runs</h2>{sections}
<script>{SCRIPT}</script></body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _paired(table: Table) -> str:
    heading = f"<h2>Paired bootstrap tests ({RESAMPLES} resamples of utterances)</h2>"
    if not table.paired_tests:
        return f"{heading}<p>{escape(NO_TESTS)}</p>"
    tests = _table(list(PAIRED_HEADER), table.paired_tests)
    return f'{heading}{tests}<p class="meta">{escape(method_note(len(table.paired_tests)))}</p>'
