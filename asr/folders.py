"""Replacing a folder whole: what readers of an output folder (LMs, best/, model/, checkpoints) never see
half-written."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def replace_folder(new: Path, out: Path) -> None:
    """Puts the complete folder `new` in the place of `out` (set aside under a fresh name first, then removed):
    at every moment `out` is the old folder or the new one."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{out.name}.old.", dir=out.parent))
        out.rename(old / out.name)  # a leftover OUT.old of an earlier run is never in the way, nor removed
        new.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(out)
