"""Where a result came from: the toolkit's git revision, the time, the command line."""

from __future__ import annotations

import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path


def git_revision() -> str | None:
    """The checkout's commit (with ``-dirty`` for uncommitted changes); None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("-dirty" if dirty else "")


def provenance(prog: str, argv: list[str]) -> dict:
    """git revision, UTC date and the command (as typed, quoted for a shell)."""
    return {
        "git_revision": git_revision(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([*prog.split(), *argv]),
        "python": sys.version.split()[0],
    }
