"""What a bigger starting checkpoint costs on CPU: seconds per CTC training step of each `asr model init` size.

The starting checkpoint is fine-tuned for 10 minutes on 2 cores (recipes/synth/conf/train_cpu.yaml: all weights,
the convolutional feature encoder included; frozen, its output is computed once per utterance by
asr.train.feature_cache) and
made in a fixed time (recipes/synth/make_start_checkpoint.sh: all weights trained). For each size: one step of a
batch of 24 s of audio (6 x 4 s, the recipes' max_batch_seconds) with AdamW, timed over `--steps` steps after
two warm-up steps, in each setting (frozen encoder with and without the cache) and precision (fp32; bf16
autocast, which `asr train`'s `mixed_precision: auto` takes on a CPU with AVX512-BF16 or AMX); and the steps each
setting gets in its budget. Ratios are against tiny in the same setting and precision, and of bf16 against fp32,
measured in the same run.

Run: .venv/bin/python benchmarks/model_size_bench.py [--sizes tiny,small] [--precisions fp32,bf16] [--steps 8]
[--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from bench_args import among, output_file, positive
from transformers import Wav2Vec2ForCTC

from asr.model.init import SIZES, model_config
from asr.train.config import TrainConfig
from asr.train.feature_cache import FeatureCache
from asr.train.loop import cpu_computes_bf16

BUDGET_MINUTES = {
    "fine-tune (encoder frozen, cached)": 10,
    "fine-tune (encoder frozen, computed)": 10,
    "checkpoint phase 2 (all weights)": 50,
}


def seconds_per_step(model: Wav2Vec2ForCTC, steps: int, cache: FeatureCache | None, bf16: bool) -> float:
    """Seconds per step (the cache's rows are computed in the first warm-up step, as in a run's first epoch)."""
    audio, labels = torch.randn(6, 64_000), torch.randint(1, 80, (6, 40))
    inputs = {"input_values": audio, "attention_mask": torch.ones_like(audio, dtype=torch.long)}
    ids = [f"utt{i}" for i in range(len(audio))]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for step in range(steps + 2):
        if step == 2:
            start = time.perf_counter()
        if cache:
            cache.prepare(ids, inputs)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - start) / steps


def measure(size: str, setting: str, precision: str, minutes: int, steps: int) -> dict:
    """One row: a fresh model of `size` (the same draws for every row) trained in `setting` at `precision` (fp32
    or bf16), with the dropouts and masking an `asr train` run sets (R71: the config's own layerdrop skipped a
    random 15-18% of the layer passes, another share in each row)."""
    torch.manual_seed(0)
    config = model_config(size, vocab_size=80, pad_token_id=0)
    config.update(TrainConfig().model_options())
    model = Wav2Vec2ForCTC(config)
    if "frozen" in setting:
        model.freeze_feature_encoder()
    cache = FeatureCache(model) if "cached" in setting else None
    step = seconds_per_step(model, steps, cache, bf16=precision == "bf16")
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return {"size": size, "parameters_m": round(params, 2), "setting": setting, "precision": precision,
            "seconds_per_step": round(step, 3), "steps_in_budget": int(minutes * 60 / step)}  # fmt: skip


def cost_against(row: dict, rows: list[dict], size: str, precision: str) -> float | None:
    """`row`'s seconds per step over those of the row of `size` and `precision` (None where that was not
    measured: --sizes without tiny, --precisions without fp32)."""
    ref = next((r for r in rows if r["size"] == size and r["precision"] == precision), None)
    return None if ref is None else round(row["seconds_per_step"] / ref["seconds_per_step"], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=among(*SIZES), default="tiny,tiny-wide,small")
    parser.add_argument("--precisions", type=among("fp32", "bf16"), default="fp32,bf16")
    parser.add_argument("--steps", type=positive(int), default=8)
    parser.add_argument("--json", type=output_file, help="also write the figures here")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        for setting, minutes in BUDGET_MINUTES.items():
            for precision in args.precisions:
                rows.append(measure(size, setting, precision, minutes, args.steps))
    print(f"torch threads: {torch.get_num_threads()}; CPU bf16 instructions: {cpu_computes_bf16()}")
    print(f"{'size':<9} {'params':>7}  {'setting':<38} {'prec':<5} {'s/step':>7} {'x tiny':>7} {'x fp32':>7} "
          f"{'steps in budget':>16}")  # fmt: skip
    for row in rows:
        same = [r for r in rows if r["setting"] == row["setting"]]
        row["cost_vs_tiny"] = cost_against(row, same, size="tiny", precision=row["precision"])
        row["cost_vs_fp32"] = cost_against(row, same, size=row["size"], precision="fp32")
        costs = (row["cost_vs_tiny"], row["cost_vs_fp32"])
        ratios = " ".join(f"{'n/a' if c is None else f'{c:.2f}':>7}" for c in costs)
        print(f"{row['size']:<9} {row['parameters_m']:>6.2f}M  {row['setting']:<38} {row['precision']:<5} "
              f"{row['seconds_per_step']:>7.3f} {ratios} {row['steps_in_budget']:>16,}")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
