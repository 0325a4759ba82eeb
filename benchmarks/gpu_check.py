"""GPU readiness in one run, for a machine with a CUDA GPU: prints a table (and writes it as JSON with --json).

1. Training throughput in bf16 of the wav2vec2-base architecture (randomly initialised, group norm):
   `asr train` against transformers' `Trainer` with the CTC example's collator (benchmarks/train_bench.py).
2. `asr decode` RTFx (greedy) on the GPU in float32 and bfloat16, network included (no logits cache).
3. Batch invariance on the GPU: the same manifest (the test utterances cut to one length, which a group-norm
   model needs to batch them) decoded in batches of up to `--batch-seconds` and one utterance at a time gives
   identical hypotheses, for a group-norm (base) and a stable-layer-norm (large, XLS-R) model.

Run: .venv/bin/python benchmarks/gpu_check.py [--steps 100] [--hours 0.5] [--data DIR] [--json gpu_check.json]
     (--data: English made beforehand by `asr data synth --langs en`, for a GPU machine without espeak-ng)
     .venv/bin/python benchmarks/gpu_check.py --smoke   # the tiny preset on the CPU: checks the script itself
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from asr_cli import run_asr
from bench_args import output_file, positive, synth_folder

# the benchmark beside this script (its folder is on sys.path when run)
from train_bench import DATA_HELP, compare, english_data


def decode(model: Path, manifest: Path, out: Path, batch_seconds: float, dtype: str = "float32") -> tuple[list, dict]:
    run_asr("decode", "--model", str(model), "--manifest", str(manifest), "--out", str(out), "--no-cache",
        "--batch-seconds", str(batch_seconds), "--dtype", dtype)  # fmt: skip
    hyps = [json.loads(line)["hyp"] for line in (out / "hyp.jsonl").read_text(encoding="utf-8").splitlines()]
    return hyps, json.loads((out / "results.json").read_text(encoding="utf-8"))


def one_length(manifest: Path, out: Path) -> Path:
    """`manifest`'s utterances as segments of one length (the shortest's, to 0.1 s), written to `out`: a
    group-norm model is batched only with utterances of its sample count, and no two synthetic ones had one
    (R71: the check compared batches of one with batches of one)."""
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    seconds = math.floor(min(row["duration"] for row in rows) * 10) / 10
    cut = [row | {"audio": str(manifest.parent / row["audio"]), "offset": 0.0, "duration": seconds} for row in rows]
    out.write_text("".join(json.dumps(row) + "\n" for row in cut), encoding="utf-8")
    return out


def largest_batch(model: Path, manifest: Path, batch_seconds: float) -> int:
    """The most utterances of `manifest` that `asr decode` puts in one batch of `model`'s."""
    from asr.data.manifest import read_manifest
    from asr.inference import CTCInference

    return max(map(len, CTCInference.load(str(model)).batches(read_manifest(manifest), batch_seconds)))


def decoding_checks(
    root: Path, size: str, hours: float, batch_seconds: float, gpu: bool, data: Path | None
) -> list[dict]:
    """RTFx per dtype and batch invariance per feature-encoder norm, on the synthetic English test split."""
    english = english_data(root / "data", hours, data) / "en"
    test = english / "test.jsonl"
    run_asr("vocab", "--train", str(english / "train.jsonl"), "--out", str(root / "proc"))
    segments = one_length(test, root / "segments.jsonl")
    rows = []
    for norm in ("group", "stable"):
        model = root / f"model_{norm}"
        proc = str(root / "proc")
        run_asr("model", "init", "--preset", size, "--norm", norm, "--processor", proc, "--out", str(model))
        batched, results = decode(model, segments, root / f"{norm}_batched", batch_seconds)
        alone, _ = decode(model, segments, root / f"{norm}_alone", 0.01)
        differing = sum(a != b for a, b in zip(batched, alone, strict=True))
        largest = largest_batch(model, segments, batch_seconds)
        rows.append({"check": f"batch invariance, {size} {norm} norm",
                     "value": f"{differing} of {len(alone)} differ, batches of {largest}",
                     "ok": differing == 0 and largest > 1, "device": results["timing"]["device"]})  # fmt: skip
        for dtype in ("float32", "bfloat16") if gpu or norm == "group" else ():
            _, timed = decode(model, test, root / f"{norm}_{dtype}", batch_seconds, dtype)
            t = timed["timing"]
            rows.append({"check": f"asr decode RTFx, {size} {norm} norm, {dtype}", "value": f"{t['rtfx']:.0f}",
                         "ok": True, "device": t["device"], "audio_seconds": t["audio_seconds"]})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=positive(int), default=100, help="training steps of each trainer")
    parser.add_argument("--hours", type=positive(), default=0.5, help="hours of synthetic English")
    parser.add_argument("--batch-seconds", type=positive(), default=200.0, help="audio seconds per batch")
    parser.add_argument("--data", type=synth_folder("train", "test"), help=DATA_HELP)
    parser.add_argument("--smoke", action="store_true", help="tiny preset, few steps, on the CPU")
    parser.add_argument("--json", type=output_file, help="also write the rows here")
    args = parser.parse_args()
    import torch

    gpu = torch.cuda.is_available() and not args.smoke
    if not gpu and not args.smoke:
        sys.exit("gpu_check: no CUDA GPU here (use --smoke to check the script on the CPU)")
    size = "tiny" if args.smoke else "base"
    steps, hours = (5, 0.02) if args.smoke else (args.steps, args.hours)
    train = compare(size, steps, hours, args.batch_seconds / 2, gpu, args.data)
    rows = [{"check": f"train audio s/s, {size}, {train['mixed_precision']}: asr train / Trainer",
             "value": f"{train['ours']:.0f} / {train['peer']:.0f} = {train['ratio']:.2f}x", "ok": train["ratio"] >= 1,
             "device": train["device"]}]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        rows += decoding_checks(Path(tmp), size, hours, args.batch_seconds, gpu, args.data)
    device = torch.cuda.get_device_name(0) if gpu else "CPU (smoke run)"
    width = max(len(r["check"]) for r in rows)
    print(f"GPU check on {device}\n")
    print(f"{'check':<{width}}  {'result':<28} ok")
    for r in rows:
        print(f"{r['check']:<{width}}  {r['value']:<28} {'yes' if r['ok'] else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
