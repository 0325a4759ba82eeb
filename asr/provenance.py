"""Where a result came from: the toolkit's git revision, the time, the command line, package versions."""

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


def versions() -> dict[str, str | None]:
    """Versions of Python and of the packages a result depends on (read from their metadata, not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for package in ("asr-toolkit", "torch", "transformers", "accelerate", "kenlm", "ctc-beam-decoder", "pyctcdecode"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def provenance(prog: str, argv: list[str]) -> dict:
    """git revision, UTC date, the command (as typed, quoted for a shell) and the package versions."""
    return {
        "git_revision": git_revision(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([*prog.split(), *argv]),
        "versions": versions(),
    }
