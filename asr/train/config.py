"""Training configuration: one dataclass, read from YAML, any key overridable as ``--key value``.

Defaults follow transformers' ``run_speech_recognition_ctc.py`` where they fit (SpecAugment
``mask_time_prob`` 0.05 and ``mask_time_length`` 10, dropouts 0, frozen feature encoder, max duration 20 s).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from asr.errors import InputError


@dataclass
class TrainConfig:
    """Every option of `asr train`; YAML keys and ``--flags`` use these names."""

    model: str = ""  # hub id or local folder of any AutoModelForCTC checkpoint
    processor: str = ""  # folder written by `asr vocab`
    train_manifest: str = ""
    dev_manifest: str = ""
    test_manifest: str = ""  # scored once at the end, with the final model
    output_dir: str = "exp/train"
    new_head: bool = False  # train a new CTC head when the model's vocabulary differs
    max_steps: int = 1000
    max_minutes: float = 0.0  # wall-clock budget; 0 = none
    seed: int = 0
    # optimisation
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    adam_epsilon: float = 1e-8
    lr_schedule: str = "linear"  # linear | tri_stage | constant
    # steps: the schedule spans max_steps; budget: it ends at max_steps or max_minutes, whichever comes first
    # (a wall-clock budget then gets its whole decay phase; the run is no longer reproducible step for step)
    schedule_by: str = "steps"
    warmup_steps: int = 500
    tri_stage_ratios: list[float] = field(default_factory=lambda: [0.1, 0.4, 0.5])
    tri_stage_final_scale: float = 0.05
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"  # auto | no | bf16 | fp16
    gradient_checkpointing: bool = False
    # model options written into its config
    freeze_feature_encoder: bool = True
    mask_time_prob: float = 0.05
    mask_time_length: int = 10
    mask_feature_prob: float = 0.0
    mask_feature_length: int = 10
    layerdrop: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    hidden_dropout: float = 0.0
    feat_proj_dropout: float = 0.0
    final_dropout: float = 0.0
    ctc_zero_infinity: bool = False
    # data
    max_batch_seconds: float = 120.0  # audio seconds per batch (per process), before padding
    max_batch_size: int = 64
    sortagrad: bool = False  # first epoch in order of length, shortest first
    max_duration: float = 20.0  # longest train utterance kept (seconds); dev is never filtered
    min_duration: float = 0.0
    cache_audio_hours: float = 2.0  # keep decoded train audio in memory when the split is at most this long
    num_workers: int = 0
    # evaluation, logging, checkpoints
    eval_steps: int = 200
    eval_batch_seconds: float = 240.0
    save_steps: int = 200
    save_total_limit: int = 2
    logging_steps: int = 10
    resume: str = "auto"  # auto: continue from output_dir's last checkpoint if any; true: must; false: must not
    sync_check: bool = False  # assert after every step that all processes hold the same weights

    @classmethod
    def load(cls, path: str | None, overrides: dict[str, str]) -> TrainConfig:
        """Defaults, then the YAML file, then the overrides (values parsed as YAML scalars)."""
        values: dict = {}
        if path:
            try:
                values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as err:
                raise InputError(f"{path}: cannot read the config: {err}") from None
            if not isinstance(values, dict):
                raise InputError(f"{path}: the config is not a mapping of keys to values")
        values |= {key: yaml.safe_load(value) for key, value in overrides.items()}
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InputError(f"unknown config key(s): {', '.join(unknown)}")
        config = cls(**{k: _coerce(known[k], v) for k, v in values.items()})
        for key, allowed in (("resume", ("auto", "true", "false")), ("schedule_by", ("steps", "budget"))):
            if getattr(config, key) not in allowed:
                raise InputError(f"config key {key}: expected {' or '.join(allowed)}, got {getattr(config, key)!r}")
        missing = [k for k in ("model", "processor", "train_manifest") if not getattr(config, k)]
        if missing:
            raise InputError(f"config: {', '.join(missing)} must be set")
        return config

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(f: dataclasses.Field, value: object) -> object:
    kind = {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type))
    if kind is None or value is None:
        return value
    if kind is str and isinstance(value, bool):  # YAML reads an unquoted true/false as a bool
        return str(value).lower()
    if kind is bool and not isinstance(value, bool):
        raise InputError(f"config key {f.name}: expected true or false, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InputError(f"config key {f.name}: expected {kind.__name__}, got {value!r}") from None
