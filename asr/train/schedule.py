"""The learning-rate schedule and the run's budget (max_steps, max_minutes)."""

from __future__ import annotations

import math
from collections.abc import Callable

from asr.errors import InputError
from asr.train.config import TrainConfig


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Learning-rate multiplier per optimizer step: linear warm-up then linear decay, tri-stage or constant."""
    total = max(cfg.max_steps, 1)

    def linear(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        return max(0.0, (total - step) / max(1, total - cfg.warmup_steps))

    def tri_stage(step: int) -> float:  # fairseq: warm-up, hold, exponential decay to final_scale
        warm, hold = (int(r * total) for r in cfg.tri_stage_ratios[:2])
        if step < warm:
            return 0.01 + 0.99 * step / max(1, warm)
        if step < warm + hold:
            return 1.0
        decay = (step - warm - hold) / max(1, total - warm - hold)
        return math.exp(math.log(cfg.tri_stage_final_scale) * min(1.0, decay))

    schedules = {"linear": linear, "tri_stage": tri_stage, "constant": lambda step: 1.0}
    if cfg.lr_schedule not in schedules:
        raise InputError(f"lr_schedule {cfg.lr_schedule!r}: expected one of {', '.join(schedules)}")
    return schedules[cfg.lr_schedule]


class Budget:
    """When the run stops (max_steps, or max_minutes of wall clock) and where the schedule stands."""

    def __init__(self, max_steps: int, max_minutes: float) -> None:
        self.max_steps, self.max_minutes = max_steps, max_minutes

    def time_up(self, elapsed: float) -> bool:
        return bool(self.max_minutes) and elapsed >= self.max_minutes * 60

    def minutes_left(self, elapsed: float) -> float:
        return max(0.0, self.max_minutes - elapsed / 60)

    def schedule_position(self, step: int, elapsed: float) -> int:
        """The schedule's step for the coming optimizer step under ``schedule_by: budget``: the share of
        max_steps or of max_minutes used, whichever is further, so that the schedule ends with the budget."""
        position = step + 1
        if self.max_minutes:
            position = max(position, int(self.max_steps * elapsed / (self.max_minutes * 60)))
        return position
