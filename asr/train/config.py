"""Training configuration: one dataclass, read from YAML, any key overridable as ``--key value``.

Each field carries its help text (``asr train --help`` lists them). Defaults follow transformers'
``run_speech_recognition_ctc.py`` where they fit (SpecAugment
``mask_time_prob`` 0.05 and ``mask_time_length`` 10, dropouts 0, frozen feature encoder, max duration 20 s).
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import yaml

from asr.data.audio import SPEED_RANGE
from asr.data.manifest import utf8_text
from asr.errors import InputError, is_number
from asr.inference import ZERO_BATCH_SECONDS_HELP


def option(default, help: str, model: bool = False, choices: tuple[str, ...] = ()):
    """A config field with its help text (shown by ``asr train --help``); `model` marks an option that is
    written into the model's config (dropouts, SpecAugment, ...); `choices` are the values a string may take."""
    factory = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(**factory, metadata={"help": help, "model": model, "choices": choices})


@dataclass
class TrainConfig:
    """Every option of `asr train`; YAML keys and ``--flags`` use these names."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("model", "processor", "train_manifest")
    UNUSED: ClassVar[frozenset[str]] = frozenset()  # keys a subclass's runs do not read (refused when set)

    model: str = option("", "hub id or local folder of any AutoModelForCTC checkpoint")
    processor: str = option("", "processor folder written by 'asr vocab'")
    train_manifest: str = option("", "the train split (JSONL manifest)")
    dev_manifest: str = option("", "scored every eval_steps (greedy WER/CER); chooses best/")
    test_manifest: str = option("", "scored once at the end, with the final model (best/ where there is a dev set)")
    output_dir: str = option("exp/train", "checkpoints, best/, model/, logs and run_info.json")
    new_head: bool = option(False, "train a new CTC head when the model's vocabulary differs")
    new_head_init: str = option(
        "carry", "new_head: carry (rows of the tokens the model's vocab.json shares, blank included, are copied; "
        "the rest start random) | random (every row random)", choices=("carry", "random"),
    )  # fmt: skip
    adapters_only: bool = option(
        False, "train only the adapter layers and the head of an MMS-style model (adapter_attn_dim); writes "
        "adapter.<adapter_lang>.safetensors beside the model"
    )  # fmt: skip
    adapter_lang: str = option("", "language name of the adapter file (default: the processor's language)")
    max_steps: int = option(1000, "optimizer steps")
    max_minutes: float = option(0.0, "wall-clock budget in minutes; 0 = none")
    seed: int = option(0, "seed of initialisation, batching and masking")
    # optimisation
    learning_rate: float = option(1e-4, "peak learning rate (AdamW)")
    weight_decay: float = option(0.0, "AdamW weight decay")
    adam_beta1: float = option(0.9, "AdamW beta1")
    adam_beta2: float = option(0.98, "AdamW beta2")
    adam_epsilon: float = option(1e-8, "AdamW epsilon")
    lr_schedule: str = option(
        "linear",
        "linear (warm-up, linear decay) | tri_stage (fairseq) | constant",
        choices=("linear", "tri_stage", "constant"),
    )
    schedule_by: str = option(
        "steps", "steps: the schedule spans max_steps; budget: it ends at max_steps or max_minutes, whichever "
        "comes first (a wall-clock budget gets its whole decay; the run is then not reproducible step for step)",
        choices=("steps", "budget"),
    )  # fmt: skip
    warmup_steps: int = option(500, "linear warm-up steps (linear schedule)")
    tri_stage_ratios: list[float] = option(  # noqa: RUF009 - option() makes a default_factory for lists
        [0.1, 0.4, 0.5], "tri_stage: shares of warm-up, hold and decay"
    )
    tri_stage_final_scale: float = option(0.05, "tri_stage: learning rate at the end, relative to the peak")
    gradient_accumulation_steps: int = option(1, "batches per optimizer step")
    max_grad_norm: float = option(1.0, "gradient clipping norm; 0 = none")
    mixed_precision: str = option(
        "auto",
        "auto (bf16 where the GPU has it or, without one, the CPU has AVX512-BF16/AMX; accelerate config's is "
        "not read) | no | bf16 | fp16",
        choices=("auto", "no", "bf16", "fp16"),
    )
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass (less memory)")
    freeze_feature_encoder: bool = option(True, "keep the convolutional feature encoder fixed")
    # model options written into its config
    mask_time_prob: float = option(0.05, "SpecAugment: share of frames masked in time", model=True)
    mask_time_length: int = option(10, "SpecAugment: frames per time mask", model=True)
    mask_feature_prob: float = option(0.0, "SpecAugment: share of feature channels masked", model=True)
    mask_feature_length: int = option(10, "SpecAugment: channels per feature mask", model=True)
    layerdrop: float = option(0.0, "probability of skipping a transformer layer", model=True)
    attention_dropout: float = option(0.0, "dropout of attention weights", model=True)
    activation_dropout: float = option(0.0, "dropout after the feed-forward activation", model=True)
    hidden_dropout: float = option(0.0, "dropout of hidden states", model=True)
    feat_proj_dropout: float = option(0.0, "dropout after the feature projection", model=True)
    final_dropout: float = option(0.0, "dropout before the CTC head", model=True)
    ctc_zero_infinity: bool = option(
        False, "give utterances CTC cannot align a zero loss (counted) instead of stopping", model=True
    )
    # data
    max_batch_seconds: float = option(120.0, "audio seconds per batch (per process), padded")
    max_batch_size: int = option(64, "utterances per batch at most")
    sortagrad: bool = option(False, "first epoch in order of length, shortest first")
    speed_perturb: list[float] = option(  # noqa: RUF009 - option() makes a default_factory for lists
        [], "speed perturbation: each epoch every train utterance plays at one of these factors, drawn per (seed, "
        "epoch, utterance), tempo and pitch together as Kaldi's and ESPnet's [0.9, 1.0, 1.1]; [] = none"
    )  # fmt: skip
    max_duration: float = option(20.0, "longest train utterance kept (seconds; 0 = no limit); dev is never filtered")
    min_duration: float = option(0.0, "shortest train utterance kept (seconds)")
    cache_audio_hours: float = option(
        4.0, "keep decoded train audio (and a frozen layer-norm feature encoder's output) in memory when the split "
        "is at most this long (counted once per speed of speed_perturb)"
    )  # fmt: skip
    # evaluation, logging, checkpoints
    eval_steps: int = option(200, "steps between dev scorings")
    metric_for_best_model: str = option(
        "auto", "the dev score that chooses best/, the other breaking ties: wer, cer, or auto: cer for a language "
        "written without spaces between words (zh ja th lo km my yue wuu bo: a 'word' there is a phrase), by the "
        "processor's language, else wer",
        choices=("auto", "wer", "cer"),
    )  # fmt: skip
    eval_batch_seconds: float = option(0.0, f"padded audio seconds per dev/test batch; {ZERO_BATCH_SECONDS_HELP}")
    save_steps: int = option(200, "steps between checkpoints")
    save_total_limit: int = option(2, "checkpoints kept (oldest removed first); 0 = all")
    logging_steps: int = option(10, "steps between log rows")
    resume_with_changes: bool = option(
        False, "resume although the config differs from the checkpoint's in keys that change the run (both are "
        "recorded in run_info.json)"
    )  # fmt: skip
    resume: str = option(
        "auto", "auto: continue from output_dir's last checkpoint if any; true: must; false: must not",
        choices=("auto", "true", "false"),
    )  # fmt: skip
    sync_check: bool = option(False, "assert after every step that all processes hold the same weights")

    @classmethod
    def used_fields(cls) -> list[dataclasses.Field]:
        """The fields a run of this config reads (the keys it accepts)."""
        return [f for f in fields(cls) if f.name not in cls.UNUSED]

    @classmethod
    def load(cls, path: str | None, overrides: dict[str, str | bool], required: bool = True) -> TrainConfig:
        """Defaults, then the YAML file, then the overrides (values parsed as YAML scalars); with `required`
        False, the keys every run sets (model, manifests) may be missing (a recipe checks its options)."""
        values: dict = {}
        if path:
            text = utf8_text(Path(path))  # a file not in UTF-8 is named with its line (it was a traceback)
            try:
                values = yaml.load(text, _UniqueKeys) or {}  # SafeLoader, with duplicate keys refused
            except yaml.YAMLError as err:
                raise InputError(f"{path}: cannot read the config: {' '.join(str(err).split())}") from None
            if not isinstance(values, dict):  # its repr shows what made it so (a non-breaking space after a colon)
                raise InputError(f"{path}: the config is not a mapping of keys to values (YAML reads it as the "
                                 f"{type(values).__name__} {str(values)[:60]!r})")  # fmt: skip
            if named := next((key for key in values if not isinstance(key, str)), None):  # `on:` is True
                raise InputError(f"{path}: the key {named!r} is no name (YAML reads an unquoted on, yes, null or "
                                 "number so); quote it")  # fmt: skip
        known = {f.name: f for f in cls.used_fields()}
        values |= {key: _override(known.get(key), key, value) for key, value in overrides.items()}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InputError(f"unknown config key(s): {', '.join(unknown)}")
        config = cls(**{k: _coerce(known[k], v) for k, v in values.items()})
        for f in fields(cls):
            allowed = f.metadata["choices"]
            if allowed and getattr(config, f.name) not in allowed:
                raise InputError(
                    f"config key {f.name}: expected {' or '.join(allowed)}, got {getattr(config, f.name)!r}"
                )
        missing = [k for k in cls.REQUIRED if not getattr(config, k)]
        if missing and required:
            raise InputError(f"config: {', '.join(missing)} must be set")
        config.check_values()
        return config

    def check_values(self) -> None:
        """One line for a value no run can use (a zero interval, a negative budget, a malformed list, a
        probability outside [0, 1], not a number)."""
        for f in fields(self):  # NaN passes every comparison below (and trained on without an error)
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"config key {f.name}: expected a finite number, got {value}")
        for key in ("mask_time_prob", "mask_feature_prob"):
            if not 0 <= getattr(self, key) <= 1:
                raise InputError(f"config key {key}: expected a probability from 0 to 1, got {getattr(self, key)}")
        for key in ("adam_beta1", "adam_beta2", "layerdrop", *(f.name for f in fields(self) if "dropout" in f.name)):
            if not 0 <= getattr(self, key) < 1:  # torch refuses 1 and above, after the model has loaded
                raise InputError(f"config key {key}: expected 0 or more and less than 1, got {getattr(self, key)}")
        if self.adam_epsilon <= 0:
            raise InputError(f"config key adam_epsilon: expected more than 0, got {self.adam_epsilon}")
        for key in ("max_steps", "eval_steps", "save_steps", "logging_steps", "gradient_accumulation_steps",
                    "max_batch_size", "mask_time_length", "mask_feature_length"):  # fmt: skip
            if getattr(self, key) < 1:
                raise InputError(f"config key {key}: expected at least 1, got {getattr(self, key)}")
        if not 0 < self.learning_rate <= MAX_LEARNING_RATE:  # 0 trained nothing, exit 0; 1e39 overflowed in AdamW
            raise InputError(f"config key learning_rate: expected more than 0 and at most {MAX_LEARNING_RATE:g}, got "
                             f"{self.learning_rate}")  # fmt: skip
        for key in ("max_minutes", "warmup_steps", "max_duration", "min_duration", "save_total_limit",
                    "eval_batch_seconds", "weight_decay", "max_grad_norm", "cache_audio_hours"):  # fmt: skip
            if getattr(self, key) < 0:
                raise InputError(f"config key {key}: expected 0 or more, got {getattr(self, key)}")
        if self.max_batch_seconds <= 0:
            raise InputError(f"config key max_batch_seconds: expected more than 0, got {self.max_batch_seconds}")
        if self.max_duration and self.min_duration > self.max_duration:  # no utterance kept, at training (R62)
            raise InputError(f"config key min_duration: {self.min_duration} is above max_duration "
                             f"{self.max_duration}: no train utterance would be kept")  # fmt: skip
        if not 0 < self.tri_stage_final_scale <= 1:
            raise InputError(f"config key tri_stage_final_scale: expected more than 0 and at most 1, got "
                             f"{self.tri_stage_final_scale}")  # fmt: skip
        ratios = self.tri_stage_ratios
        numbers = isinstance(ratios, list) and len(ratios) == 3 and all(is_number(r) and abs(r) <= 1e9 for r in ratios)
        if not numbers or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6:
            raise InputError(
                f"config key tri_stage_ratios: expected three shares of max_steps (warm-up, hold, decay) that sum "
                f"to 1, such as [0.1, 0.4, 0.5], got {reprlib.repr(ratios)}"  # a 400-digit number was printed whole
            )

        if not 0 <= self.seed < 2**32:  # torch and numpy take no other (a traceback after the model loaded)
            raise InputError(f"config key seed: expected 0 to 2**32 - 1, got {self.seed}")
        if not self.output_dir:  # "" trained into the current folder (and a fresh start there cleared its logs)
            raise InputError("config key output_dir: expected a folder, got an empty value")
        if self.adapter_lang and not re.fullmatch(r"[A-Za-z0-9_-]+", self.adapter_lang):  # a file name's part
            raise InputError(f"config key adapter_lang: expected letters, digits, '-' or '_' (a language code such "
                             f"as fin or cmn-script_simplified), got {self.adapter_lang!r}")  # fmt: skip
        if self.adapter_lang and not self.adapters_only:  # ignored without a word before
            raise InputError("config key adapter_lang goes with adapters_only (it names the adapter file it writes)")
        if self.adapters_only and not self.freeze_feature_encoder:  # R79: ignored, and recorded as false
            raise InputError("config key freeze_feature_encoder false goes against adapters_only (which trains the "
                             "adapters and the head alone)")  # fmt: skip
        if self.new_head_init != self.defaults()["new_head_init"] and not self.new_head:  # R34: ignored, recorded
            raise InputError(f"config key new_head_init {self.new_head_init} goes with new_head (it says how a new "
                             "head starts)")  # fmt: skip
        factors = self.speed_perturb
        low, high = SPEED_RANGE
        if not isinstance(factors, list) or not all(is_number(f) and low <= f <= high for f in factors):
            raise InputError(
                f"config key speed_perturb: expected a list of speed factors from {low:g} to {high:g}, such as "
                f"[0.9, 1.0, 1.1], "
                f"got {factors!r}"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def unused_by_schedule(self) -> list[str]:
        """The keys set away from their defaults that `lr_schedule` does not read (each reads its own)."""
        keys, defaults = ("warmup_steps", "tri_stage_ratios", "tri_stage_final_scale"), self.defaults()
        return [k for k in keys if k not in SCHEDULE_READS[self.lr_schedule] and getattr(self, k) != defaults[k]]

    def changes_from(self, saved: dict, free: set[str] = frozenset(), resuming: bool = True) -> dict[str, list]:
        """The keys, other than `free` and those a resumed run may change freely (`resuming`; else those that
        change nothing a finished run wrote), whose values differ from a checkpoint's or a run's config:
        {key: [saved, now]}."""
        now = self.to_dict()
        # a key an earlier version did not have ran as its default does (speed_perturb: None -> [] refused it)
        saved = {**{k: v for k, v in self.defaults().items() if k not in saved}, **saved}
        # on the clock's schedule the budget places every step in the warm-up, hold and decay
        free = ((FREE_ON_RESUME if resuming else FREE_WHEN_FINISHED) | free) - (
            {"max_minutes"} if now.get("schedule_by") == "budget" else set()
        )
        if resuming and saved.get("lr_schedule") == self.lr_schedule:  # what it does not read changes no step
            free |= set().union(*SCHEDULE_READS.values()) - SCHEDULE_READS[self.lr_schedule]
        keys = (set(now) | set(saved)) - free
        return {k: [saved.get(k), now.get(k)] for k in sorted(keys) if saved.get(k) != now.get(k)}

    def model_options(self) -> dict:
        """The options written into the model's config."""
        return {f.name: getattr(self, f.name) for f in self.used_fields() if f.metadata.get("model")}

    @classmethod
    def defaults(cls) -> dict:
        """Every key's default."""
        return {f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default for f in fields(cls)}

    @classmethod
    def help(cls) -> str:
        """Every key with its type, default and help text."""
        defaults = cls.defaults()
        lines = [f"  --{f.name} ({f.type}, default {defaults.get(f.name)!r})\n      {f.metadata['help']}"
                 for f in cls.used_fields()]  # fmt: skip
        return "\n".join(lines)


#: keys that do not change what a resumed run computes (where it writes, how often it reports, its wall clock)
# metric_for_best_model: the loop compares the metric it resolves to (auto and wer are one for English)
FREE_ON_RESUME = {
    "output_dir", "resume", "resume_with_changes", "max_minutes", "eval_steps", "eval_batch_seconds", "save_steps",
    "save_total_limit", "logging_steps", "sync_check", "test_manifest", "cache_audio_hours", "metric_for_best_model",
}  # fmt: skip
#: far above any run's (a diverging one is stopped at its first non-finite gradient), far below float32's limit
MAX_LEARNING_RATE = 1000.0
#: the keys each learning-rate schedule reads (a constant one none: a resume may go on for more steps)
SCHEDULE_READS = {"linear": {"warmup_steps", "max_steps"}, "constant": set(),
                  "tri_stage": {"tri_stage_ratios", "tri_stage_final_scale", "max_steps"}}  # fmt: skip
#: the keys a finished run's rerun may change, with no checkpoint to go on from: those of FREE_ON_RESUME that change
#: nothing it wrote (a longer budget or a test set were taken for this config's finished run, and no step taken)
FREE_WHEN_FINISHED = FREE_ON_RESUME - {"max_minutes", "eval_steps", "test_manifest", "metric_for_best_model"}


class _UniqueKeys(yaml.SafeLoader):
    """`yaml.safe_load`'s loader that refuses a key given twice in one mapping (PyYAML keeps the last without a
    word: a learning rate set twice trained at the second; keys merged in with ``<<`` may be given again) and a
    whole number written with a leading zero (YAML 1.1's octal: max_steps: 010 trained 8 steps, where --max_steps
    010 is 10), and reads 1e-3 as a number in lists too (YAML 1.1 wants 1.0e-3: [1e-1, 4e-1, 5e-1] was refused
    as three strings)."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if re.fullmatch(r"[+-]?0[0-9_]+", node.value):
            raise yaml.constructor.ConstructorError(None, None, f"{node.value}: YAML reads a leading 0 as octal; "
                                                    "write the number without it", node.start_mark)  # fmt: skip
        self._refuse_other_bases(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        self._refuse_other_bases(node)
        return super().construct_yaml_float(node)

    @staticmethod
    def _refuse_other_bases(node: yaml.ScalarNode) -> None:
        """Refuses YAML 1.1's base 60 (max_minutes: 1:30 is 90) and hexadecimal or binary numbers (0x10 is 16), in
        a config file and in --key value alike (left by R79: taken without a word)."""
        if ":" in node.value or re.match(r"[+-]?0[xXbB]", node.value):
            raise yaml.constructor.ConstructorError(None, None, f"YAML 1.1 reads {node.value} as a number in another "
                                                    "base (1:30 is 90, 0x10 is 16): write it in decimal (text: "
                                                    "quote it)", node.start_mark)  # fmt: skip

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key, _ in node.value:
            if key.tag != "tag:yaml.org,2002:merge" and isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"the key {key.value!r} is given twice",
                                                            key.start_mark)  # fmt: skip
                seen.add(key.value)
        return super().construct_mapping(node, deep)


_UniqueKeys.add_constructor("tag:yaml.org,2002:int", _UniqueKeys.construct_yaml_int)
_UniqueKeys.add_constructor("tag:yaml.org,2002:float", _UniqueKeys.construct_yaml_float)
_UniqueKeys.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"), list("-+.0123456789")
)


def _override(f: dataclasses.Field | None, key: str, value: str | bool) -> object:
    """A ``--key value`` override: the text itself for a string key (YAML would read 'no' as false and '0x10'
    as 16), a number with leading zeros in decimal, else the value as a YAML scalar; a ``--key`` given without a
    value (True) is true, and refused for a key of text (R79: `--output_dir $EMPTY` trained into ./true)."""
    text = f is not None and str(f.type) == "str"
    if value is True and text and "true" in f.metadata["choices"]:  # --resume: a choice of auto, true, false
        return "true"
    if value is True and text:
        raise InputError(f"--{key}: expected a value after it (a --key given without one is true, for a true/false "
                         "key)")  # fmt: skip
    if value is True or text:
        return value
    if re.fullmatch(r"[+-]?0\d+", value):  # YAML 1.1 reads 010 as octal 8: on a command line, it means 10
        return int(value, 10)
    try:
        return yaml.load(value, _UniqueKeys)  # as the file's values: [1e-1, 4e-1, 5e-1] are numbers
    except yaml.constructor.ConstructorError as err:  # R89: a number in base 60 or 16 was "not a value"
        raise InputError(f"--{key} {value!r}: {err.problem}") from None
    except yaml.YAMLError:
        raise InputError(f"--{key} {value!r}: not a value") from None


_EXPECTED = {int: "a whole number", float: "a number", bool: "true or false"}


def _coerce(f: dataclasses.Field, value: object) -> object:
    kind = {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type))
    if kind is None:
        return value
    if value is None:  # `key:` or `key: null` in YAML, `--key null` or `--key ~`
        if kind is str:
            return ""  # unset, as a path key's default
        raise InputError(f"config key {f.name}: expected {_EXPECTED[kind]}, got null (an empty value)")
    if kind is str and isinstance(value, int | float) and not isinstance(value, bool):  # YAML's 0755 is 493
        raise InputError(f"config key {f.name}: YAML read an unquoted {value!r} as a number; quote it")
    if kind is str and isinstance(value, list | dict | set):  # output_dir: [a] trained into the folder "['a']"
        raise InputError(f"config key {f.name}: expected text, got the {type(value).__name__} {value!r}")
    if kind is str and isinstance(value, bool):  # YAML reads an unquoted true/false/no/yes as a bool
        if not f.metadata["choices"]:  # a name or a path: adapter_lang: no was the adapter "false"
            raise InputError(f"config key {f.name}: YAML read an unquoted word as {str(value).lower()}; quote it")
        return "no" if not value and "no" in f.metadata["choices"] else str(value).lower()
    # a number is not a flag (a --key given without a value means true), and an int is not truncated
    if (kind is bool and not isinstance(value, bool)) or (
        kind in (int, float) and (isinstance(value, bool) or (kind is int and isinstance(value, float)))
    ):
        flag = " (a --key given without a value is true, as is YAML's yes)" if value is True else ""
        raise InputError(f"config key {f.name}: expected {_EXPECTED[kind]}, got {value!r}{flag}")
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):  # an int of 400 digits is no float
        raise InputError(f"config key {f.name}: expected {kind.__name__}, got {str(value)[:40]!r}") from None
