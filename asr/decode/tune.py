"""Decoding weight search on dev: coordinate descent over a grid per weight.

The weights are the n-gram's weight (alpha), the word insertion bonus (beta) and, when n-best lists are rescored,
the neural LM's weight (gamma). Starting from the defaults, each round sweeps every tuned weight in turn (alpha,
beta, gamma) with the others fixed, until a round changes nothing (at most MAX_ROUNDS rounds). The defaults are
always evaluated, so the chosen point is never worse on dev than them. The score lowered is WER, or CER for a
language written without spaces between words (`asr.text.primary_metric`); ties go to the other score, then to
the point nearer the defaults. Every evaluated point is kept, for the sweep plot.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from asr.errors import InputError, is_number
from asr.progress import progress_bar

MAX_ROUNDS = 3
WEIGHTS = ("alpha", "beta", "gamma")
ALPHA_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
BETA_GRID = (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
GAMMA_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)
#: the largest weight taken (in size): --alpha 1e308 turned every beam score infinite, and the search's order
#: arbitrary (no error); useful weights are below 10
MAX_WEIGHT = 1000.0
WEIGHT_RANGE = f"a number from -{MAX_WEIGHT:g} to {MAX_WEIGHT:g}"


def usable_weight(value: object) -> bool:
    """A number within ±`MAX_WEIGHT` (not NaN, an infinity or another type)."""
    return is_number(value) and abs(value) <= MAX_WEIGHT


def parse_grid(text: str, option: str = "grid") -> tuple[float, ...]:
    """``"0,0.5,1"`` or ``"0 0.5 1"`` -> (0.0, 0.5, 1.0); `InputError` naming `option` for anything else."""
    try:
        grid = tuple(sorted({float(v) for v in text.replace(",", " ").split()}))
    except ValueError:
        grid = ()
    if not grid or not all(usable_weight(v) for v in grid):
        raise InputError(f"{option} {text!r}: expected numbers from -{MAX_WEIGHT:g} to {MAX_WEIGHT:g} such as 0,0.5,1")
    return grid


def tune(
    evaluate: Callable[[dict[str, float]], tuple[float, float]],
    start: dict[str, float],
    params: set[str],
    grids: dict[str, tuple[float, ...]],
    on: str = "dev",
    metric: str = "wer",
) -> dict:
    """Searches the `params` (some of `WEIGHTS`) from `start` (every weight's default) with
    `evaluate(weights) -> (wer, cer)` on dev (`on` names it), lowering `metric` (wer or cer); returns the
    tuning record (the metric, start, best, every point)."""
    names = list(start)
    points: dict[tuple[float, ...], tuple[float, float]] = {}  # (wer, cer)
    first = ("wer", "cer").index(metric)
    # the search's points, at most (the bar's end): one weight's line is searched once (a second round finds it
    # all scored)
    rounds = MAX_ROUNDS if len(params) > 1 else 1
    most = 1 + rounds * sum(len(grids[n]) for n in params)
    tuned = ",".join(n for n in WEIGHTS if n in params)
    bar = progress_bar(total=most, desc=f"tune {tuned} on {on} (at most {most} points)", unit="point")
    origin = tuple(start.values())

    def score(point: tuple[float, ...]) -> tuple:
        if point not in points:
            points[point] = evaluate(dict(zip(names, point, strict=True)))
            best_rate = min(s[first] for s in points.values())
            bar.set_postfix({f"best {metric.upper()}": f"{100 * best_rate:.2f}%"}, refresh=False)
            bar.update()
        rates = points[point]
        return rates[first], rates[1 - first], sum(abs(a - b) for a, b in zip(point, origin, strict=True))

    best = origin
    with bar:  # closed before a stop's line is printed (it was drawn again after it)
        score(best)
        for _ in range(MAX_ROUNDS):
            before = best
            for name in (n for n in WEIGHTS if n in params):
                k = names.index(name)
                best = min([(*best[:k], v, *best[k + 1 :]) for v in grids[name]] + [best], key=score)
            if best == before:
                break
        bar.total = bar.n  # the search ended: the bar at 100%

    def record(point: tuple[float, ...]) -> dict:
        return {**dict(zip(names, point, strict=True)), "dev_wer": points[point][0], "dev_cer": points[point][1]}

    if len(points) > 1 and len(set(points.values())) == 1:  # no point told apart: "tuned" chose nothing
        print(f"note: all {len(points)} weight settings tried on {on} scored alike (WER {100 * points[best][0]:.2f}%, "
              f"CER {100 * points[best][1]:.2f}%): the weights stay at the defaults, which {on} does not tell "
              "apart from the others", file=sys.stderr)  # fmt: skip
    else:
        _note_edges(dict(zip(names, best, strict=True)), params, grids)
    return {
        "params": sorted(params),
        "metric": metric,
        "start": dict(start),
        "best": record(best),
        "points": [record(p) for p in sorted(points)],
    }


def _note_edges(best: dict[str, float], params: set[str], grids: dict[str, tuple[float, ...]]) -> None:
    """Says which tuned weights ended at an end of their grid, or beyond it (the starting value, outside a grid
    given), where the best may lie further."""
    for name in (n for n in WEIGHTS if n in params):
        value, grid = best[name], grids[name]
        if value > max(grid) or value < min(grid):
            side, values = "above" if value > max(grid) else "below", ", ".join(f"{g:g}" for g in grid)
            print(f"note: {name} {value:g}, the starting value, is {side} its grid ({values}) and was not beaten: "
                  f"--{name}-grid can search beyond it", file=sys.stderr)  # fmt: skip
        elif len(grid) > 1 and value in (min(grid), max(grid)):
            edge = "largest" if value == max(grid) else "smallest"
            print(f"note: {name} {value:g} is the {edge} of its grid: --{name}-grid can search beyond it",
                  file=sys.stderr)  # fmt: skip
