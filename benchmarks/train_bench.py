"""Training throughput (audio seconds per wall second): `asr train` against the transformers example's recipe.

Same model (a fresh `asr model init` preset), same utterances, same optimiser settings, same number of
optimizer steps, one run each on this machine:

- ours: `asr train` (batches grouped by length under an audio-seconds budget, decoded audio cached, and the
  frozen layer-norm feature encoder's output computed once per utterance);
- peer: transformers' `Trainer` with `run_speech_recognition_ctc.py`'s `DataCollatorCTCWithPadding` and no
  length grouping, on a dataset decoded beforehand with `map` as the example does (not timed), with the
  per-device batch size that holds the audio ours trained per step (ours caps a batch's padded length, longest
  x count, at --batch-seconds, so its batches hold less audio than that).

Throughput counts the real (unpadded) audio seconds of the batches trained on, over the training time.

Run: .venv/bin/python benchmarks/train_bench.py [--steps 60] [--preset tiny] [--hours 0.1] [--gpu]
(``--gpu``: both in bf16 on the GPU; benchmarks/gpu_check.py runs it with the base architecture.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from asr_cli import run_asr
from bench_args import positive, synth_folder

from asr.model.init import SIZES

DATA_HELP = "an `asr data synth --langs en` folder to use instead of synthesising (--hours is then its size)"


@dataclass
class DataCollatorCTCWithPadding:
    """As in transformers' examples/pytorch/speech-recognition/run_speech_recognition_ctc.py."""

    processor: object
    padding: bool | str = "longest"
    # audio seconds of each batch made; the dataloader makes one ahead of the step it trains, so the seconds
    # trained on are those of the first `steps` batches
    batch_seconds: list[float] = field(default_factory=list)

    def __call__(self, features: list[dict]) -> dict:
        input_features = [{"input_values": f["input_values"]} for f in features]
        label_features = [{"input_ids": f["labels"]} for f in features]
        self.batch_seconds.append(sum(len(f["input_values"]) for f in features) / 16000)
        batch = self.processor.pad(input_features, padding=self.padding, return_tensors="pt")
        labels_batch = self.processor.pad(labels=label_features, padding=self.padding, return_tensors="pt")
        batch["labels"] = labels_batch["input_ids"].masked_fill(labels_batch.attention_mask.ne(1), -100)
        return batch


def peer(
    model_dir: Path, manifest: Path, batch_size: int, steps: int, lr: float, out: Path, gpu: bool = False
) -> tuple[float, float]:
    import datasets
    from transformers import AutoConfig, AutoModelForCTC, AutoProcessor, Trainer, TrainingArguments

    from asr.data.audio import load_audio
    from asr.data.manifest import read_manifest
    from asr.text import folder_normalizer
    from asr.train.config import TrainConfig

    processor = AutoProcessor.from_pretrained(str(model_dir), trust_remote_code=False)
    normalize = folder_normalizer(model_dir)
    utts = read_manifest(manifest)
    ds = datasets.Dataset.from_dict({"audio": [str(u.audio_path(manifest.parent)) for u in utts],
                                     "text": [normalize(u.text) for u in utts]})  # fmt: skip

    def prepare(row: dict) -> dict:
        audio = load_audio(row["audio"])
        row["input_values"] = processor(audio, sampling_rate=16000).input_values[0]
        row["labels"] = processor(text=row["text"]).input_ids
        return row

    ds = ds.map(prepare, remove_columns=["audio", "text"])
    config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=False)
    config.update(TrainConfig().model_options())  # the dropouts and masking asr train's run sets: the same model
    model = AutoModelForCTC.from_pretrained(str(model_dir), config=config, trust_remote_code=False)
    model.freeze_feature_encoder()  # as the example does by default, and as asr train does
    collator = DataCollatorCTCWithPadding(processor)
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=lr,
        warmup_steps=10, adam_beta2=0.98, save_strategy="no", report_to=[], logging_steps=1000,
        train_sampling_strategy="random", dataloader_num_workers=0, disable_tqdm=True, use_cpu=not gpu, bf16=gpu,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, data_collator=collator, train_dataset=ds)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return sum(collator.batch_seconds[:steps]), seconds


def english_data(out: Path, hours: float, data: Path | None) -> Path:
    """The synthetic English folder: `data` where given (made beforehand, for a machine without espeak-ng), else
    `hours` of it synthesised into `out`."""
    if data is None:
        run_asr("data", "synth", "--langs", "en", "--hours", str(hours), "--out", str(out))
    return data or out


def compare(
    preset: str, steps: int, hours: float, batch_seconds: float, gpu: bool = False, data: Path | None = None
) -> dict:
    """Trains a fresh `preset` model with both for `steps` steps on `hours` of synthetic English (or `data`'s);
    returns both throughputs and the ratio."""
    lr = 1e-3
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = english_data(tmp / "data", hours, data) / "en" / "train.jsonl"
        run_asr("vocab", "--train", str(manifest), "--out", str(tmp / "proc"))
        run_asr("model", "init", "--preset", preset, "--processor", str(tmp / "proc"), "--out", str(tmp / "model"))
        run_asr("train", "--model", str(tmp / "model"), "--processor", str(tmp / "proc"), "--train_manifest",
            str(manifest), "--output_dir", str(tmp / "ours"), "--max_steps", str(steps), "--learning_rate",
            str(lr), "--warmup_steps", "10", "--max_batch_seconds", str(batch_seconds), "--save_steps",
            "100000", "--eval_steps", "100000", "--mixed_precision", "bf16" if gpu else "no")  # fmt: skip
        info = json.loads((tmp / "ours" / "run_info.json").read_text())
        # the peer's fixed batch holds the audio ours trained per step (ours caps the padded length, so its batches
        # hold less audio than batch_seconds)
        mean_duration = info["train_hours"] * 3600 / info["train_utterances"]
        batch_size = max(1, round(info["audio_hours_trained"] * 3600 / info["steps"] / mean_duration))
        audio, seconds = peer(tmp / "model", manifest, batch_size, steps, lr, tmp / "peer", gpu)
    ours, theirs = info["audio_seconds_per_second"], audio / seconds
    return {"preset": preset, "steps": steps, "train_hours": info["train_hours"], "device": info["device"],
            "mixed_precision": info["mixed_precision"], "ours": ours, "peer": theirs, "peer_batch_size": batch_size,
            "ratio": ours / theirs, "feature_encoder_cached": info["feature_encoder_cached"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=positive(int), default=60)
    parser.add_argument("--preset", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--hours", type=positive(), default=0.1, help="hours of synthetic English to train on")
    parser.add_argument("--batch-seconds", type=positive(), default=60.0)
    parser.add_argument("--gpu", action="store_true", help="train on the GPU in bf16 (both)")
    parser.add_argument("--data", type=synth_folder("train"), help=DATA_HELP)
    args = parser.parse_args()
    r = compare(args.preset, args.steps, args.hours, args.batch_seconds, args.gpu, args.data)
    print(f"{r['preset']} model, {r['steps']} optimizer steps, {r['train_hours']:.3f} h of train audio, "
          f"{r['device']}, {r['mixed_precision']}")  # fmt: skip
    ours_label = "asr train (length-grouped" + (", encoder output cached)" if r["feature_encoder_cached"] else ")")
    print(f"{ours_label:<48} {r['ours']:8.1f} audio s / s")
    peer_label = f"transformers Trainer, batch {r['peer_batch_size']}, no grouping"
    print(f"{peer_label:<48} {r['peer']:8.1f} audio s / s")
    print(f"ratio: {r['ratio']:.2f}x (target >= 1.3)")


if __name__ == "__main__":
    main()
