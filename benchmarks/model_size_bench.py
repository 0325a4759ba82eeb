"""What a bigger starting checkpoint costs on CPU: seconds per CTC training step of each `asr model init` size.

The starting checkpoint is fine-tuned for 10 minutes on 2 cores (recipes/synth/conf/train_cpu.yaml: the
convolutional feature encoder frozen, its output computed once per utterance by asr.train.feature_cache) and
made in a fixed time (recipes/synth/make_start_checkpoint.sh: all weights trained). For each size: one step of a
batch of 24 s of audio (6 x 4 s, the recipes' max_batch_seconds) with AdamW, timed over `--steps` steps after
two warm-up steps, in each setting (frozen encoder with and without the cache); and the steps each setting gets
in its budget. Ratios are against tiny in the same setting, measured in the same run.

Run: .venv/bin/python benchmarks/model_size_bench.py [--sizes tiny,small] [--steps 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import Wav2Vec2ForCTC

from asr.model.init import model_config
from asr.train.feature_cache import FeatureCache

BUDGET_MINUTES = {
    "fine-tune (encoder frozen, cached)": 10,
    "fine-tune (encoder frozen, computed)": 10,
    "checkpoint phase 2 (all weights)": 50,
}


def seconds_per_step(model: Wav2Vec2ForCTC, steps: int, cache: FeatureCache | None) -> float:
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
        model(**inputs, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,tiny-wide,small")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for size in args.sizes.split(","):
        for setting, minutes in BUDGET_MINUTES.items():
            model = Wav2Vec2ForCTC(model_config(size, vocab_size=80, pad_token_id=0))
            if "frozen" in setting:
                model.freeze_feature_encoder()
            step = seconds_per_step(model, args.steps, FeatureCache(model) if "cached" in setting else None)
            params = sum(p.numel() for p in model.parameters()) / 1e6
            rows.append({"size": size, "parameters_m": round(params, 2), "setting": setting,
                         "seconds_per_step": round(step, 3), "steps_in_budget": int(minutes * 60 / step)})  # fmt: skip
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'size':<9} {'params':>7}  {'setting':<38} {'s/step':>7} {'x tiny':>7} {'steps in budget':>16}")
    for row in rows:
        tiny = next(r for r in rows if r["size"] == "tiny" and r["setting"] == row["setting"])
        row["cost_vs_tiny"] = round(row["seconds_per_step"] / tiny["seconds_per_step"], 2)
        print(f"{row['size']:<9} {row['parameters_m']:>6.2f}M  {row['setting']:<38} {row['seconds_per_step']:>7.3f} "
              f"{row['cost_vs_tiny']:>7.2f} {row['steps_in_budget']:>16,}")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
