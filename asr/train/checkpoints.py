"""Checkpoints in a run folder: ``checkpoint-<step>/`` (accelerate state), listed, saved whole, rotated, resumed.

A checkpoint is written to ``checkpoint-<step>.partial`` and renamed when whole, so a kill never leaves half a
checkpoint; a ``.partial`` folder left by a kill is ignored and cleared by the next save.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from asr.errors import InputError


def checkpoints(output_dir: Path) -> list[Path]:
    """The whole checkpoints in `output_dir` (not ``*.partial`` ones), oldest step first."""
    found = [p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def last_checkpoint(output_dir: Path) -> Path | None:
    """The checkpoint with the highest step in `output_dir`, if any."""
    found = checkpoints(output_dir)
    return found[-1] if found else None


def to_resume(output_dir: Path, resume: str) -> Path | None:
    """The checkpoint a run continues from under ``resume`` auto (the last, if any), true (must) or false."""
    found = last_checkpoint(output_dir)
    if resume == "true" and found is None:
        raise InputError(f"resume=true but {output_dir} holds no checkpoint to resume from")
    if resume == "false" and found is not None:
        raise InputError(f"{output_dir} holds {found.name}: resume it (resume=auto) or use a new output_dir")
    return found


def save_checkpoint(acc, output_dir: Path, step: int, keep: int) -> None:
    """Saves accelerate's state (all processes take part) as checkpoint-<step>, keeping the last `keep`
    (0: all)."""
    acc.wait_for_everyone()
    final = output_dir / f"checkpoint-{step}"
    partial = output_dir / f"{final.name}.partial"
    if acc.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving
    acc.wait_for_everyone()
    acc.save_state(str(partial))
    acc.wait_for_everyone()
    if acc.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for path in checkpoints(output_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(path, ignore_errors=True)
