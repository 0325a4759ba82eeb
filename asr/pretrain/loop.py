"""The pretraining loop: `asr train`'s Trainer (accelerate, batching, budget, checkpoints, resume, logs) with
wav2vec 2.0's objective instead of CTC.

Each step masks spans of the feature frames (transformers' `_compute_mask_indices`, drawn from NumPy's
generator, which checkpoints save, so a resumed run draws the same masks), samples negatives among the masked
frames, and minimises the contrastive + weighted diversity loss per masked frame; the Gumbel temperature decays
with the step. The dev loss uses fixed masks (seed 0) so that its values compare across evaluations.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from asr.data.audio import TARGET_RATE
from asr.errors import InputError
from asr.inference import uses_attention_mask
from asr.pretrain.config import PretrainConfig
from asr.train.data import Example, Split, load_split
from asr.train.loop import EvalSet, Trainer, TrainError
from asr.train.modeling import model_config


def load_unlabeled(cfg: PretrainConfig) -> Split:
    """The train manifest's utterances (their transcripts unused), durations filtered as `asr train` does."""
    return load_split(cfg.train_manifest, None, None, cfg.min_duration, cfg.max_duration)


def load_pretraining_model(cfg: PretrainConfig):
    """`Wav2Vec2ForPreTraining` from a wav2vec2 folder or hub id, with the config's model options; the
    quantiser and projections are initialised where the checkpoint has none (a CTC or a new model)."""
    from transformers import Wav2Vec2ForPreTraining

    config = model_config(cfg)
    if config.model_type != "wav2vec2":
        raise InputError(f"model {cfg.model!r} is {config.model_type}; asr pretrain trains wav2vec2 models")
    config.update(cfg.model_options())
    model = Wav2Vec2ForPreTraining.from_pretrained(cfg.model, config=config)
    if cfg.freeze_feature_encoder:
        model.freeze_feature_encoder()
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


class Pretrainer(Trainer):
    """One pretraining run; `run()` trains and writes everything (as `Trainer` does)."""

    DEV_METRIC = "dev_loss"

    def __init__(self, cfg: PretrainConfig, command: str) -> None:
        from transformers import Wav2Vec2FeatureExtractor

        self._start(cfg, command)
        model = load_pretraining_model(cfg)
        self.attention_mask = uses_attention_mask(model.config)
        self.feature_extractor = Wav2Vec2FeatureExtractor(
            sampling_rate=TARGET_RATE, do_normalize=True, return_attention_mask=self.attention_mask
        )
        self.train = load_unlabeled(cfg)
        self.dev = EvalSet.load(cfg.dev_manifest, TARGET_RATE) if cfg.dev_manifest else None
        self.losses: list[dict] = []
        self._prepare(model, TARGET_RATE)

    def _masks(self, inputs: dict) -> dict:
        """Masked spans and sampled negatives for a batch, as the model's forward takes them."""
        from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

        model = self.acc.unwrap_model(self.model)
        batch, samples = inputs["input_values"].shape
        frames = int(model._get_feat_extract_output_lengths(samples))
        frame_mask = None
        if "attention_mask" in inputs:
            frame_mask = model._get_feature_vector_attention_mask(frames, inputs["attention_mask"]).cpu()
        masked = _compute_mask_indices((batch, frames), self.cfg.mask_time_prob, self.cfg.mask_time_length,
                                       attention_mask=frame_mask, min_masks=2)  # fmt: skip
        negatives = _sample_negative_indices((batch, frames), model.config.num_negatives, mask_time_indices=masked)
        device = self.acc.device
        return {"mask_time_indices": torch.tensor(masked, dtype=torch.bool, device=device),
                "sampled_negative_indices": torch.tensor(negatives, dtype=torch.long, device=device)}  # fmt: skip

    def _loss(self, inputs: dict) -> tuple[torch.Tensor, dict]:
        """Contrastive + weighted diversity loss per masked frame, and its parts: the contrastive loss per
        masked frame and the codebooks' perplexity (how many codewords are in use; near 1 is collapse)."""
        masks = self._masks(inputs)
        out = self.model(**inputs, **masks)
        frames = masks["mask_time_indices"].sum().clamp(min=1)
        parts = {"contrastive": float(out.contrastive_loss.detach() / frames),
                 "codevector_perplexity": float(out.codevector_perplexity.detach())}  # fmt: skip
        return out.loss / frames, parts

    def _micro_step(self, batch: list[Example], sync: bool) -> float:
        cfg = self.cfg
        temperature = max(cfg.max_gumbel_temperature * cfg.gumbel_temperature_decay**self.state.step,
                          cfg.min_gumbel_temperature)  # fmt: skip
        self.acc.unwrap_model(self.model).set_gumbel_temperature(temperature)
        context = nullcontext() if sync else self.acc.no_sync(self.model)
        with context, self.acc.autocast():
            loss, parts = self._loss(self._inputs(batch))
            loss = loss / cfg.gradient_accumulation_steps
        if not torch.isfinite(loss):
            raise TrainError(f"non-finite pretraining loss at step {self.state.step + 1} on "
                             f"utterances {', '.join(ex.id for ex in batch)}")  # fmt: skip
        self.acc.backward(loss)
        value = float(loss.detach()) * cfg.gradient_accumulation_steps
        self.losses.append({"loss": value, **parts})
        return value

    def _row(self, loss: float | None) -> dict:
        """The log row, with this process's last contrastive loss and codebook perplexity."""
        last = self.losses[-1] if self.losses else {}
        return super()._row(loss) | {k: last[k] for k in ("contrastive", "codevector_perplexity") if k in last}

    def evaluate(self, split: EvalSet, name: str = "dev") -> dict:
        """The mean loss per masked frame over the split, with fixed masks (this process's share, averaged)."""
        generator = np.random.get_state()
        np.random.seed(0)
        self.model.eval()
        utts = sorted(split.utts[self.acc.process_index :: self.acc.num_processes], key=lambda u: u.duration)
        losses = []
        with torch.no_grad():
            for k in range(0, len(utts), 8):
                losses.append(float(self._loss(self._features([split.audio(u) for u in utts[k : k + 8]]))[0]))
        np.random.set_state(generator)
        mean = torch.tensor(sum(losses) / max(len(losses), 1), device=self.acc.device)
        return {f"{name}_loss": float(self.acc.reduce(mean, "mean")), f"{name}_utterances": len(split.utts)}

    def _save_model(self, folder: str) -> None:
        if self.acc.is_main_process:
            self.acc.unwrap_model(self.model).save_pretrained(str(self.out / folder), safe_serialization=True)
            self.feature_extractor.save_pretrained(str(self.out / folder))

    def _codevectors(self) -> int:
        """How many codewords the quantiser has (groups x entries): the perplexity's ceiling."""
        config = self.acc.unwrap_model(self.model).config
        return config.num_codevector_groups * config.num_codevectors_per_group

    def _run_info(self, resumed: Path | None) -> dict:
        window = max(1, min(10, len(self.losses) // 2))
        first, last = self.losses[:window], self.losses[-window:]  # of this process's steps since it started
        return {
            **self._run_basics(resumed),
            **{f"first_{k}": _mean([x[k] for x in first]) for k in ("loss", "contrastive", "codevector_perplexity")},
            **{f"last_{k}": _mean([x[k] for x in last]) for k in ("loss", "contrastive", "codevector_perplexity")},
            "codevectors": self._codevectors(),
            "best_dev_loss": self.state.best_wer,
            "history": self.state.history,
        }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def pretrain(cfg: PretrainConfig, command: str) -> dict:
    """Pretrains with `cfg`; returns the run information (also written to run_info.json)."""
    return Pretrainer(cfg, command).run()
