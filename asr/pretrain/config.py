"""`asr pretrain` options: `asr train`'s (optimisation, budget, batching, checkpoints, accelerate) less the CTC
ones, with wav2vec 2.0's masking and quantiser settings.

Defaults follow transformers' ``run_wav2vec2_pretraining_no_trainer.py`` and the wav2vec 2.0 paper: spans of 10
frames masked with ``mask_time_prob`` 0.65 (transformers draws 0.65 x frames / 10 spans, which overlap: about
half the frames end up masked), 100 negatives, diversity loss weight 0.1, the Gumbel temperature decays from 2
to 0.5 by 0.999995 a step, and the feature encoder trains too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from asr.errors import InputError
from asr.train.config import TrainConfig, option


@dataclass
class PretrainConfig(TrainConfig):
    """Every option of `asr pretrain`; YAML keys and ``--flags`` use these names."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("model", "train_manifest")
    UNUSED: ClassVar[frozenset[str]] = frozenset({
        "processor", "test_manifest", "new_head", "new_head_init", "adapters_only", "adapter_lang", "ctc_zero_infinity",
        "final_dropout", "sortagrad", "metric_for_best_model",
    })  # fmt: skip

    model: str = option("", "a wav2vec2 folder or hub id (its encoder is kept; a quantiser is added if missing)")
    dev_manifest: str = option("", "unlabeled dev split: its loss per masked frame (contrastive + weighted "
                               "diversity) every eval_steps chooses best/")  # fmt: skip
    output_dir: str = option("exp/pretrain", "checkpoints, best/, model/, logs and run_info.json")
    learning_rate: float = option(5e-4, "peak learning rate (AdamW)")
    weight_decay: float = option(0.01, "AdamW weight decay")
    warmup_steps: int = option(100, "linear warm-up steps (linear schedule)")
    freeze_feature_encoder: bool = option(False, "keep the convolutional feature encoder fixed")
    mask_time_prob: float = option(0.65, "spans drawn: mask_time_prob x frames / mask_time_length (overlapping; "
                                   "0.65 with spans of 10 masks about half the frames)", model=True)  # fmt: skip
    mask_time_length: int = option(10, "frames per masked span", model=True)
    num_negatives: int = option(100, "distractors per masked frame in the contrastive loss", model=True)
    diversity_loss_weight: float = option(0.1, "weight of the codebook diversity loss", model=True)
    max_gumbel_temperature: float = option(2.0, "Gumbel softmax temperature at the start")
    min_gumbel_temperature: float = option(0.5, "Gumbel softmax temperature floor")
    gumbel_temperature_decay: float = option(0.999995, "temperature factor per step")

    def changes_from(self, saved: dict, free: set[str] = frozenset(), resuming: bool = True) -> dict[str, list]:
        """`asr train`'s, and eval_batch_seconds too: the dev loss's fixed masks depend on the batches, so a
        resumed run's dev losses would not compare with the earlier ones that chose best/."""
        changes = super().changes_from(saved, free, resuming)
        if saved.get("eval_batch_seconds") != self.eval_batch_seconds:
            changes["eval_batch_seconds"] = [saved.get("eval_batch_seconds"), self.eval_batch_seconds]
        return changes

    def check_values(self) -> None:
        """`asr train`'s checks, and one line for a masking, negatives or temperature setting no run can use."""
        super().check_values()
        checks = {
            "mask_time_prob": (0 < self.mask_time_prob <= 1, "more than 0 and at most 1"),
            "mask_time_length": (self.mask_time_length >= 1, "at least 1"),
            "num_negatives": (self.num_negatives >= 1, "at least 1"),
            "diversity_loss_weight": (self.diversity_loss_weight >= 0, "0 or more"),
            "min_gumbel_temperature": (0 < self.min_gumbel_temperature <= self.max_gumbel_temperature,
                                       "more than 0 and at most max_gumbel_temperature"),
            "gumbel_temperature_decay": (0 < self.gumbel_temperature_decay <= 1, "more than 0 and at most 1"),
        }  # fmt: skip
        for key, (ok, expected) in checks.items():
            if not ok:
                raise InputError(f"config key {key}: expected {expected}, got {getattr(self, key)!r}")
