"""The benchmarks' shared test audio: a clean synthetic Spanish corpus (seed 11, no noise or reverberation,
voices unseen by the shipped models), made once per folder by `asr data synth`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def clean_spanish(root: Path, hours: float, quiet: bool = False) -> Path:
    """The corpus's language folder `root`/es ({train,dev,test}.jsonl and audio), made if it is not there."""
    data = root / "es"
    if not (data / "test.jsonl").exists():
        subprocess.run([sys.executable, "-m", "asr", "data", "synth", "--langs", "es", "--hours", str(hours),
                        "--seed", "11", "--noise-prob", "0", "--reverb-prob", "0", "--out", str(root)],
                       check=True, capture_output=quiet)  # fmt: skip
    return data
