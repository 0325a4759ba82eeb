"""Network speed of inference against its batch size: the CPU default of `--batch-seconds` (asr decode) and
`eval_batch_seconds` (asr train's dev evaluation).

Every row runs `CTCInference.log_probs`, the one inference path of `asr decode` and of training's dev evaluation,
in float32 over the same utterances (synthetic Spanish dev + test, clean speech, unseen voices), batched under
a padded-audio budget of B seconds; the peer is one utterance at a time through the same path (what
transformers' ASR pipeline does by default, batch_size 1; a review timed the pipeline itself on these
utterances: RTFx 110-117 against this row's 126, so the stand-in does not flatter the batches). Reported:
RTFx (audio seconds per network second; the best of `--repeats` passes), the speed-up over the peer, and the
largest difference of any log-probability from the peer's (batching must not change the output).

Run: .venv/bin/python benchmarks/batch_seconds_bench.py [--hours 0.3] [--batch-seconds 15,30,60,120,160,240]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_args import folders_in, positive, positives
from clean_spanish import clean_spanish

MODELS = Path(__file__).resolve().parent.parent / "models"


def utterances(root: Path, hours: float) -> tuple[list, object]:
    """The dev + test utterances of a clean synthetic Spanish corpus, and their audio (read once)."""
    from asr.data.manifest import read_manifest
    from asr.inference import manifest_audio

    data = clean_spanish(root, hours)
    utts = [u for split in ("dev", "test") for u in read_manifest(data / f"{split}.jsonl")]
    return utts, functools.cache(manifest_audio(data, 16000))


def cpu_name() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "a CPU")


def timed(inference, utts: list, audio, batch_seconds: float, repeats: int) -> tuple[float, dict]:
    """The best network seconds of `repeats` passes, and the log-probabilities."""
    best, post = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        post = inference.log_probs(utts, audio, batch_seconds)
        best = min(best, time.perf_counter() - start)
    return best, post.logprobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=positive(), default=0.3)
    parser.add_argument("--batch-seconds", type=positives(), default="15,30,60,120,160,240")
    parser.add_argument("--models", type=folders_in(MODELS), default="synth-ctc-tiny,synth-ctc-tiny-wide")
    parser.add_argument("--repeats", type=positive(int), default=2)
    args = parser.parse_args()
    import torch

    from asr.inference import CTCInference

    with tempfile.TemporaryDirectory() as tmp:
        utts, audio = utterances(Path(tmp), args.hours)
        seconds = sum(u.duration for u in utts)
        [audio(u) for u in utts]  # read before any timing
        print(f"{len(utts)} utterances, {seconds:.0f} s of audio (longest {max(u.duration for u in utts):.1f} s); "
              f"float32, {torch.get_num_threads()} threads of {cpu_name()}")  # fmt: skip
        print("| model | batch (padded audio s) | RTFx | speed-up over one at a time | max abs diff |")
        print("|---|---|---|---|---|")
        for name in args.models:
            inference = CTCInference.load(str(MODELS / name))
            inference.log_probs(utts[:4], audio, 60)  # warm-up
            ref_time, ref = timed(inference, utts, audio, 1e-9, args.repeats)  # batches of one
            print(f"| {name} | one at a time (peer) | {seconds / ref_time:.0f} | 1.00x | 0 |", flush=True)
            for batch in args.batch_seconds:
                took, out = timed(inference, utts, audio, batch, args.repeats)
                diff = max(float(np.abs(out[u.id] - ref[u.id]).max()) for u in utts)
                print(f"| {name} | {batch:g} | {seconds / took:.0f} | {ref_time / took:.2f}x | {diff:.1e} |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
