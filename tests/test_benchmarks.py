"""The benchmarks' command lines: a bad number or name is argparse's one-line error before any set-up (a
benchmark ran a row under a label it did not measure, or failed with a traceback after minutes of work)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # as when a benchmark runs: its folder is on sys.path

from bench_args import among, folders_in, output_file, positive, positives  # noqa: E402


def test_numbers_and_names_are_checked():
    assert positive(int)("3") == 3 and positives()("0.5,2") == [0.5, 2.0] and among("fp32", "bf16")("bf16") == ["bf16"]
    for parse, text in ((positive(int), "0"), (positive(), "-5"), (positive(), "nan"), (positive(int), "1.5"),
                        (positive(), "inf"), (positives(), "30,0"), (among("fp32", "bf16"), "fp16")):  # fmt: skip
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_output_files_and_model_names_are_checked_before_the_measuring(tmp_path):
    """A --json naming a folder was an IsADirectoryError after the measuring; an unknown model name or size a
    traceback after the corpus was made."""
    assert output_file(str(tmp_path / "figures.json")) == tmp_path / "figures.json"
    assert folders_in(ROOT / "models")("synth-ctc-tiny") == ["synth-ctc-tiny"]
    for parse, text in ((output_file, str(tmp_path)), (output_file, str(tmp_path / "no" / "f.json")),
                        (folders_in(ROOT / "models"), "bogus")):  # fmt: skip
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_a_benchmark_refuses_a_bad_value_in_one_line():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "model_size_bench.py"), "--precisions", "fp16"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1].endswith("--precisions: fp16: expected fp32, bf16")
