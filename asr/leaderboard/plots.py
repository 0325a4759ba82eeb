"""The leaderboard's pictures (PNG): WER by decoder and LM, the LM weight sweep, dev CER against training
time, and RTFx. Each function returns the file it wrote, or None when the runs hold nothing to draw."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from asr.leaderboard.collect import Run
from asr.leaderboard.tables import Table


def _figure(figsize: tuple[float, float]):
    """A figure of its own, not pyplot's: a caller's pyplot backend and figures stay as they are."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def draw_all(table: Table, runs: list[Run], out: Path) -> list[Path]:
    """Every picture the runs hold something for, into `out`. Names from the results are drawn as written: a
    ``$`` in a test set or model name was read as matplotlib's math notation (a traceback, and no leaderboard)."""
    from asr.process_state import default_plot_style

    with default_plot_style():
        drawn = [wer_by_system(table, out), lm_sweep(runs, out), training_curves(runs, out), rtfx(table, out)]
    return [path for path in drawn if path is not None]


def _labels(systems: list[dict[str, str]], sep: str = "\n") -> list[str]:
    """Each system's model, LM and decoder, the model by what tells it from the others': the decoder without
    its beam and weights, which the table gives, except where that would read as another system's label (two
    systems of other LM weights were drawn as one label twice: R54)."""
    models = [system["model"] for system in systems]
    short = [_label(system, models, sep, whole=False) for system in systems]
    return [label if short.count(label) == 1 else _label(system, models, sep, whole=True)
            for system, label in zip(systems, short, strict=True)]  # fmt: skip


def _label(system: dict[str, str], models: list[str], sep: str, whole: bool) -> str:
    """Model, LM and decoder (`whole`, or less its beam and weights; with the settings that tell it from a
    system of the same label)."""
    decoder, bracket, variant = system["decoder"].partition(" [")
    decoder = (decoder if whole else decoder.split(" (")[0]) + bracket + variant
    return sep.join([_short(system["model"], models), system["lm"], decoder])


def _short(model: str, models: list[str]) -> str:
    """``exp/ls/train_1h`` among ``exp/ls/train_10min`` -> ``train_1h``: the path less the folders all share."""
    parts = [m.split("/") for m in models]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    return "/".join(model.split("/")[common:])


def _save(fig, path: Path) -> Path:
    with warnings.catch_warnings():  # tick labels too long for tight_layout (about 50 systems) were two lines of
        warnings.simplefilter("ignore", UserWarning)  # matplotlib's warning on stderr (R56); the box below takes
        fig.tight_layout()  # them in
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def wer_by_system(table: Table, out: Path) -> Path | None:
    """Grouped bars: one group per system, one bar per test set."""
    return _grouped_bars(table, lambda r: 100 * r.result.wer, "WER (%)", "WER by system", out / "wer_by_system.png")


def _grouped_bars(table: Table, value, ylabel: str, title: str, path: Path, log: bool = False) -> Path:
    """One group of bars per system (labelled by model, LM and decoder), one bar per test set."""
    fig = _figure((max(6.0, 1.6 * len(table.systems)), 4))
    ax = fig.subplots()
    width = 0.8 / max(len(table.test_sets), 1)
    drawn: list[float] = []
    for k, test_set in enumerate(table.test_sets):
        xs, ys, flagged = [], [], []
        for i, system in enumerate(table.systems):
            run = table.cells.get((system, test_set))
            if run is not None:
                xs.append(i + k * width)
                ys.append(value(run))
                flagged.append((system, test_set) in table.flags)
        bars = ax.bar(xs, ys, width, label=test_set)
        drawn += ys
        for bar, mark in zip(bars, flagged, strict=True):  # not comparable with its column, as the table marks it
            if mark:
                ax.annotate("†", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    labels = _labels([table.system_of(s) for s in table.systems])
    ax.set_xticks([i + width * (len(table.test_sets) - 1) / 2 for i in range(len(table.systems))], labels, fontsize=8)
    if log:
        from matplotlib.ticker import LogFormatter

        ax.set_yscale("log")
        if (bottom := log_bottom(drawn)) is not None:
            ax.set_ylim(bottom=bottom)
        # its own labels are math text ($\mathdefault{10^{1}}$), drawn raw where draw_all turns math off
        ax.yaxis.set_major_formatter(LogFormatter())
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title} (model, LM, decoder)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def log_bottom(values: list[float]) -> float | None:
    """Where the bars of a log axis start: the power of ten below the least positive value (autoscaled, a bar
    of 20.7 beside one of 20.9 was drawn almost empty: R54)."""
    lowest = min((v for v in values if 0 < v < math.inf), default=None)
    return None if lowest is None else 10.0 ** (math.ceil(math.log10(lowest)) - 1)


def lm_sweep(runs: list[Run], out: Path) -> Path | None:
    """Dev WER (the CER of a tuning that lowered CER) against the LM weight alpha, a line per insertion bonus
    beta, for every tuned run."""
    sweeps = {}  # one per system and dev set: the dev and test decodes of a recipe share their tuning
    for r in runs:
        if r.result.tuning:
            sweeps.setdefault((r.system_key, r.result.tuning["dev_manifest"]), r)
    tuned = list(sweeps.values())
    if not tuned:
        return None
    fig = _figure((5 * len(tuned), 3.6))
    axes = fig.subplots(1, len(tuned), squeeze=False)
    titles = _labels([run.system for run in tuned], sep=", ")
    for ax, run, title in zip(axes[0], tuned, titles, strict=True):
        best, metric = run.result.tuning["best"], run.result.tuning.get("metric", "wer")  # earlier decodes: WER
        points = [p for p in run.result.tuning["points"] if p.get("gamma") == best.get("gamma")]  # at the chosen γ
        for beta in sorted({p["beta"] for p in points}):
            line = sorted((p["alpha"], 100 * p[f"dev_{metric}"]) for p in points if p["beta"] == beta)
            ax.plot(*zip(*line, strict=True), marker="o", label=f"β={beta:g}")
        ax.plot([best["alpha"]], [100 * best[f"dev_{metric}"]], "k*", markersize=12, label="chosen")
        ax.set_xlabel("LM weight α")
        ax.set_ylabel(f"dev {metric.upper()} (%)")
        dev = run.result.tuning["dev_manifest"].split("/")[-1]
        ax.set_title(f"{title} on {dev}", fontsize=8, wrap=True)
        ax.legend(fontsize=7)
    return _save(fig, out / "lm_sweep.png")


def training_curves(runs: list[Run], out: Path) -> Path | None:
    """Dev CER against training minutes, one line per trained model."""
    curves = {}
    for run in runs:
        info = run.result.train_info
        if info.get("dev_curve"):
            curves[run.system["model"]] = info["dev_curve"]
    if not curves:
        return None
    fig = _figure((6, 3.6))
    ax = fig.subplots()
    for model, curve in curves.items():
        ax.plot([c[0] for c in curve], [100 * c[2] for c in curve], marker="o", label=model)
    ax.set_xlabel("training minutes")
    ax.set_ylabel("dev CER (%, greedy)")
    ax.set_title("Dev CER during training")
    ax.legend(fontsize=7)
    return _save(fig, out / "dev_cer_curve.png")


def rtfx(table: Table, out: Path) -> Path | None:
    """Audio seconds per second of network + decoding, per system and test set."""
    return _grouped_bars(table, lambda r: r.result.timing["rtfx"], "RTFx (audio s / s)",
                         "Speed: network + decoding", out / "rtfx.png", log=True)  # fmt: skip
