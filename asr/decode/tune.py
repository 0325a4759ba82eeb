"""LM weight (alpha) and word insertion bonus (beta) search on dev: coordinate descent over two grids.

Starting from the defaults, each round sweeps alpha with beta fixed, then beta with alpha fixed, until a round
changes nothing. The defaults are always evaluated, so the chosen point is never worse on dev than them; ties
go to lower CER, then to the point nearer the defaults. Every evaluated point is kept, for the sweep plot.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tqdm import tqdm

from asr.errors import InputError

MAX_ROUNDS = 3
ALPHA_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
BETA_GRID = (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def parse_grid(text: str) -> tuple[float, ...]:
    """``"0,0.5,1"`` or ``"0 0.5 1"`` -> (0.0, 0.5, 1.0); `InputError` for anything else."""
    try:
        grid = tuple(sorted({float(v) for v in text.replace(",", " ").split()}))
    except ValueError:
        grid = ()
    if not grid or not all(math.isfinite(v) for v in grid):
        raise InputError(f"grid {text!r}: expected numbers such as 0,0.5,1")
    return grid


def tune(
    evaluate: Callable[[float, float], tuple[float, float]],
    start: tuple[float, float],
    params: set[str],
    alpha_grid: tuple[float, ...] = ALPHA_GRID,
    beta_grid: tuple[float, ...] = BETA_GRID,
) -> dict:
    """Searches the `params` ("alpha", "beta") with `evaluate(alpha, beta) -> (wer, cer)` on dev."""
    points: dict[tuple[float, float], tuple[float, float]] = {}
    bar = tqdm(desc="tune alpha/beta on dev", unit="point")

    def key(point: tuple[float, float]) -> tuple:
        wer, cer = points[point]
        return (wer, cer, abs(point[0] - start[0]) + abs(point[1] - start[1]))

    def score(point: tuple[float, float]) -> tuple:
        if point not in points:
            points[point] = evaluate(*point)
            bar.update()
            bar.set_postfix(best=f"{min(points.values())[0]:.4f}")
        return key(point)

    best = start
    score(best)
    for _ in range(MAX_ROUNDS):
        before = best
        if "alpha" in params:
            best = min([(a, best[1]) for a in alpha_grid] + [best], key=score)
        if "beta" in params:
            best = min([(best[0], b) for b in beta_grid] + [best], key=score)
        if best == before:
            break
    bar.close()
    return {
        "params": sorted(params),
        "start": {"alpha": start[0], "beta": start[1]},
        "best": {"alpha": best[0], "beta": best[1], "dev_wer": points[best][0], "dev_cer": points[best][1]},
        "points": [{"alpha": a, "beta": b, "dev_wer": w, "dev_cer": c} for (a, b), (w, c) in sorted(points.items())],
    }
