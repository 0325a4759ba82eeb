"""Shared test helpers: the real NIST sclite, and generated multilingual reference/hypothesis pairs."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCLITE = Path("/usr/lib/sctk/bin/sclite")


def pytest_configure(config: pytest.Config) -> None:
    """transformers binds its log handler to the sys.stderr of its first use: first used under a test's capsys,
    it wrote to that closed stream later ("--- Logging error ---" and a traceback in another test's stderr).

    Under pytest-xdist (scripts/test.sh) each worker, and every process its tests start, takes its share of the
    CPUs as torch threads: two workers of two threads each on 2 cores made the suite 13% slower than one worker,
    two of one thread 15% faster (measured)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // workers))
    from transformers.utils import logging as transformers_logging

    transformers_logging.get_logger("transformers")


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """accelerate keeps one precision per process and refuses another ("restart your runtime"); the tests run
    many `asr train` calls in one process, some in bf16 (test_architectures) and the rest at `auto`, which is
    float32 on a CPU without bf16 instructions. Each test starts from a fresh state, as accelerate's own test
    case does (AccelerateTestCase.tearDown)."""
    yield
    if "accelerate.state" in sys.modules:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


# Words in four scripts, few enough that generated pairs repeat words and create alignment ties.
# No trn syntax: no parentheses, braces, '@', ';', ':', '"' or trailing '*'.
VOCAB = {
    "en": ["yes", "no", "the", "cat", "a", "an", "on"],
    "fi": ["päivää", "hyvää", "öljy", "Öljy", "kiitos", "yö"],
    "ru": ["да", "нет", "привет", "мир", "Мир"],
    "hi": ["मैं", "घर", "जा", "रहा", "रही", "हूँ", "क्या"],
    "ja": ["東京", "日本", "です", "ラーメン"],
}


@pytest.fixture
def two_are_enough(monkeypatch) -> None:
    """Leaderboard intervals and paired tests on test sets of two utterances and more, as the tests' small
    decodes have (the board gives none below MIN_UTTERANCES: test_leaderboard's
    `test_a_set_of_a_few_utterances_gets_no_intervals_or_tests`)."""
    from asr.leaderboard import tables

    monkeypatch.setattr(tables, "MIN_UTTERANCES", 2)


@pytest.fixture
def group_umask():
    """Umask 002 (a shared group's) for the test; the modes every ``*.safetensors`` under a folder has."""
    import os

    old = os.umask(0o002)
    yield lambda root: {p.stat().st_mode & 0o777 for p in Path(root).rglob("*.safetensors")}
    os.umask(old)


def random_pair(rng: random.Random) -> tuple[str, str]:
    """A reference and a hypothesis: empty ones, repeated words, edits, or unrelated word strings."""
    langs = rng.sample(sorted(VOCAB), rng.choice([1, 1, 2]))
    words = [w for lang in langs for w in VOCAB[lang]]
    words = rng.sample(words, min(len(words), rng.choice([2, 3, 4, 8])))
    ref = [rng.choice(words) for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 13]))]
    style = rng.random()
    if style < 0.15:
        hyp = [rng.choice(words) for _ in range(rng.choice([0, 1, 3, 6, 10]))]
    else:
        hyp = []
        for word in ref:
            u = rng.random()
            if u < 0.15:
                hyp.append(rng.choice(words))
            elif u >= 0.25:
                hyp.append(word)
            if rng.random() < 0.1:
                hyp.append(rng.choice(words))
    return " ".join(ref), " ".join(hyp)


def random_pairs(seed: int, count: int) -> list[tuple[str, str, str]]:
    """(id, ref, hyp) triples with sclite-style ids (speaker_number)."""
    rng = random.Random(seed)
    return [(f"spk{i % 7}_{i:05d}", *random_pair(rng)) for i in range(count)]


def write_trn(path: Path, triples: list[tuple[str, str, str]], side: int) -> Path:
    path.write_text("".join(f"{t[side]} ({t[0]})\n" for t in triples), encoding="utf-8")
    return path


def sclite_alignments(tmp: Path, triples: list[tuple[str, str, str]], char: bool = False) -> dict[str, str]:
    """Runs the real sclite (case-sensitive, -e utf-8, -c for characters) and returns {id: ops}."""
    if not SCLITE.exists():
        pytest.fail(f"{SCLITE} not found: install Debian's sctk (scripts/setup.sh does)")
    ref = write_trn(tmp / "ref.trn", triples, 1)
    hyp = write_trn(tmp / "hyp.trn", triples, 2)
    name = "char" if char else "word"
    cmd = [str(SCLITE), "-r", str(ref), "trn", "-h", str(hyp), "trn", "-i", "rm", "-s", "-e", "utf-8"]
    cmd += ["-c"] if char else []
    subprocess.run([*cmd, "-o", "sgml", "-O", str(tmp), "-n", name], check=True, capture_output=True)
    sgml = (tmp / f"{name}.sgml").read_text(encoding="utf-8")
    paths = re.findall(r'<PATH id="\(([^)]*)\)"[^>]*>\n(.*?)\n</PATH>', sgml, flags=re.S)
    return {utt_id: "".join(item[0] for item in body.split(":") if item) for utt_id, body in paths}


def accelerate_launch(processes: int) -> list[str]:
    """`accelerate launch` for `processes` CPU processes on a free port (two launches on one machine, or one
    right after another, would collide on accelerate's default port)."""
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    accelerate = str(Path(sys.executable).parent / "accelerate")
    return [accelerate, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port)]  # fmt: skip
