"""KenLM's command-line builders (`lmplz`, `build_binary`): finding them and running them.

`pip install kenlm` gives only the query module; scripts/setup.sh builds the two programs from the kenlm sdist
and puts them beside the virtual environment's python. They are looked up there, then in ``$KENLM_BIN``, then
on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from asr.errors import InputError


def kenlm_program(name: str) -> Path:
    """The path of a KenLM program (`lmplz` or `build_binary`); `InputError` when it is not installed."""
    for folder in (Path(sys.executable).parent, os.environ.get("KENLM_BIN")):
        if folder and (Path(folder) / name).is_file():
            return Path(folder) / name
    found = shutil.which(name)
    if found is None:
        raise InputError(f"KenLM's {name} is not installed: run scripts/setup.sh (it builds lmplz and build_binary)")
    return Path(found)


def run_kenlm(name: str, args: list[str], stdin: Path | None = None, stdout: Path | None = None) -> str:
    """Runs a KenLM program; returns its stderr (its log); a failure raises `InputError` with its last words."""
    cmd = [str(kenlm_program(name)), *args]
    with (
        open(stdin, "rb") if stdin else open(os.devnull, "rb") as fin,
        open(stdout, "wb") if stdout else open(os.devnull, "wb") as fout,
    ):
        proc = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        last = [line for line in proc.stderr.splitlines() if line.strip()][-3:]
        raise InputError(f"{name} failed ({_exit(proc.returncode)}): {' | '.join(last)}")
    return proc.stderr


def _exit(code: int) -> str:
    """A program's exit status in words: a signal by its name (build_binary writing its memory-mapped trie on
    a full disk dies of SIGBUS, which said "exit -7")."""
    if code >= 0:
        return f"exit {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:  # a real-time signal has no name
        name = f"signal {-code}"
    full = ": a memory-mapped file could not be written; is the disk full?" if name == "SIGBUS" else ""
    return f"killed by {name}{full}"
