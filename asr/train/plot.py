"""The learning curve of a run: dev CER (and WER) against training minutes, or the dev loss of a pretraining
run, as a PNG."""

from __future__ import annotations

from pathlib import Path


def learning_curve(history: list[dict], path: Path, title: str) -> bool:
    """Plots the dev rows of `history` to `path`; False when there is nothing to plot."""
    rows = [r for r in history if r.get("dev_cer") is not None or r.get("dev_loss") is not None]
    if not rows:
        return False
    from asr.process_state import default_plot_style

    with default_plot_style():  # a $ in the title's paths is no math notation
        _draw(rows, path, title)
    return True


def _draw(rows: list[dict], path: Path, title: str) -> None:
    from matplotlib.figure import Figure  # not pyplot: a caller's backend and figures stay as they are

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    minutes = [r["minutes"] for r in rows]
    if rows[0].get("dev_cer") is not None:
        cer, wer = [100 * r["dev_cer"] for r in rows], [100 * r["dev_wer"] for r in rows]
        ax.plot(minutes, cer, marker="o", label="dev CER")
        ax.plot(minutes, wer, marker=".", linestyle="--", label="dev WER")
        ax.set_ylabel("error rate (%)")
        ax.set_ylim(0, max(105, *cer, *wer) + 5)  # insertions take early rates past 100%
    else:
        ax.plot(minutes, [r["dev_loss"] for r in rows], marker="o", label="dev loss (contrastive + diversity)")
        ax.set_ylabel("loss per masked frame")
    ax.set_xlabel("training minutes")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
