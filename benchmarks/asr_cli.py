"""Running `asr` commands from a benchmark: where one fails, its own error line and exit status (a
CalledProcessError traceback hid them)."""

from __future__ import annotations

import subprocess
import sys


def run_asr(*args: str, quiet: bool = True, via: tuple[str, ...] = ()) -> str:
    """``asr ARGS`` (run by the command `via`, where given), its output captured where `quiet`; its stdout.
    Exits with asr's error line where it fails."""
    proc = subprocess.run([*via, sys.executable, "-m", "asr", *args], capture_output=quiet, text=True)
    if proc.returncode:
        said = (proc.stderr or "").strip().splitlines()  # shown already where not quiet
        sys.exit(f"asr {' '.join(args[:2])} failed (exit {proc.returncode}){': ' + said[-1] if said else ''}")
    return proc.stdout or ""
