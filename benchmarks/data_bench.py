"""Data preparation throughput: synthetic corpus generation, and loading + resampling against datasets.map.

1. `asr data synth` (espeak-ng, augmentation, 16 kHz FLAC, checks) as a whole process: utterances/s.
2. Loading + resampling to 16 kHz of real 8 kHz recordings (the Asterisk English prompts, repeated to
   --copies x): the checks of `asr data prepare` (decode every sample with soundfile, resample with soxr, in one
   process per core) against a plain `datasets.Dataset.map` doing the same decode + resample (keeping the
   lengths, as the checks keep durations, and checked equal to theirs), in one process and in as many as ours,
   in one run.

Run: .venv/bin/python benchmarks/data_bench.py [--hours 0.1] [--copies 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import soundfile as sf
import soxr
from asr_cli import run_asr
from bench_args import positive

from asr.data.asterisk import load_prompts
from asr.data.check import check_processes, check_utterances
from asr.errors import InputError
from asr.text import get_normalizer


def _decode_resample(batch: dict) -> dict:
    """The checks' work on each file, keeping what they keep: the resampled length, not the samples (kept, the
    arrays made the peer write hundreds of MB of Arrow, which the checks never do)."""
    lengths = []
    for path in batch["audio"]:
        samples, rate = sf.read(path, dtype="float32")
        lengths.append(len(soxr.resample(samples, rate, 16000, quality="VHQ")))
    return {"samples": lengths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=positive(), default=0.1, help="hours of synthetic English")
    parser.add_argument(
        "--copies", type=positive(int), default=4, help="how many times the Asterisk prompts are loaded"
    )
    args = parser.parse_args()
    try:  # before any measuring (R71: after the synthesis, a missing sound package was a traceback)
        splits, _ = load_prompts("en")
    except InputError as err:
        raise SystemExit(f"data_bench: {err}") from None

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_asr("data", "synth", "--langs", "en", "--hours", str(args.hours), "--out", tmp)
        seconds = time.perf_counter() - start
        n = sum(1 for s in ("train", "dev", "test") for _ in (Path(tmp) / "en" / f"{s}.jsonl").open())
        print(f"asr data synth: {n} utterances ({args.hours} h) in {seconds:.1f} s = {n / seconds:.1f} utt/s")

    prompts = [u for us in splits.values() for u in us]
    utts = [replace(u, id=f"{u.id}-{copy}") for copy in range(args.copies) for u in prompts]

    start = time.perf_counter()
    result = check_utterances(utts, Path("/"), get_normalizer("en"), desc="asr checks")
    ours = time.perf_counter() - start
    audio_hours = sum(u.duration for u in result.usable) / 3600
    if len(result.usable) != len(utts):
        raise SystemExit(f"data_bench: {len(utts) - len(result.usable)} prompts failed the checks; the peer would "
                         "do more work than ours")  # fmt: skip
    ours_seconds = [u.duration for u in result.usable]  # in the order of `utts`, as the peer's rows

    import datasets

    datasets.disable_progress_bars()
    peers = {}
    processes = check_processes(len(utts))  # ours, which a restricted CPU set (taskset, SLURM) limits (R71)
    for procs in sorted({1, processes}):  # the peer as the example runs it, and with our processes
        with tempfile.TemporaryDirectory() as cache:
            ds = datasets.Dataset.from_dict({"audio": [u.audio for u in utts]})
            start = time.perf_counter()
            mapped = ds.map(_decode_resample, batched=True, batch_size=32, num_proc=procs if procs > 1 else None,
                            cache_file_name=f"{cache}/map.arrow")  # fmt: skip
            peers[procs] = time.perf_counter() - start
            # the same work, the same result (R71: not compared); the checks keep durations to 0.1 ms: a sample
            if any(abs(n / 16000 - s) > 1 / 16000 for n, s in zip(mapped["samples"], ours_seconds, strict=True)):
                raise SystemExit("data_bench: datasets.map resampled to other lengths than the checks measured")

    print(f"\nloading + resampling {len(utts)} real 8 kHz prompts ({audio_hours:.2f} h) to 16 kHz:")
    print(f"{f'asr data prepare checks ({processes} processes)':<44} {ours:7.2f} s {len(utts) / ours:8.1f} utt/s")
    for procs, peer in peers.items():
        label = f"datasets.map, num_proc {procs} (same work)"
        print(f"{label:<44} {peer:7.2f} s {len(utts) / peer:8.1f} utt/s   ours: {peer / ours:.2f}x as fast")


if __name__ == "__main__":
    main()
