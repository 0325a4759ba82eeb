"""The benchmarks' shared test audio: a clean synthetic Spanish corpus (seed 11, no noise or reverberation,
voices unseen by the shipped models), made once per folder by `asr data synth`."""

from __future__ import annotations

from pathlib import Path

from asr_cli import run_asr


def clean_spanish(root: Path, hours: float, quiet: bool = False) -> Path:
    """The corpus's language folder `root`/es ({train,dev,test}.jsonl and audio): made, or found made with these
    settings (`asr data synth` resumes its own corpus, and refuses one of another --hours)."""
    run_asr("data", "synth", "--langs", "es", "--hours", str(hours), "--seed", "11", "--noise-prob", "0",
            "--reverb-prob", "0", "--out", str(root), quiet=quiet)  # fmt: skip
    return root / "es"
