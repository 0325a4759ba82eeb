"""The CTC training loop: accelerate for devices, processes and mixed precision; resumable to the bit.

Writes to ``output_dir``: ``checkpoint-<step>/`` (`asr.train.checkpoints`), ``best/`` (model + processor at the best
dev WER, or CER: metric_for_best_model), ``model/`` (the final model + processor: the best one when there was a dev
set, else the last; with ``adapters_only`` also ``adapter.<lang>.safetensors``), and the logs of `asr.train.runlog`.
Only the main process writes. A run finds its last checkpoint in ``output_dir`` and continues from it, ending with
the same weights as a run that was never interrupted. Dev and test are scored through `asr.inference`, the forward
pass that `asr decode` runs, so the logged dev scores are the ones `asr decode` reports on the saved model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr.data.check import ctc_frames, ctc_min_frames, encoder_layers
from asr.data.manifest import Utterance, read_utterances
from asr.decode.decoders import Labels, greedy
from asr.errors import InputError, writable_dir
from asr.folders import run_folder, umask_modes, unlinked, write_whole
from asr.inference import CTCInference, gloo_on_cpus, manifest_audio, raised_together
from asr.model.adapters import adapter_file, save_adapter, start_from_own_adapter
from asr.model.folder import ModelFolder
from asr.provenance import git_revision, versions
from asr.scoring.corpus import score_normalized
from asr.text import primary_metric
from asr.train import checkpoints
from asr.train.config import TrainConfig
from asr.train.data import (
    AudioStore,
    Example,
    at_speed,
    fastest_speed,
    length_grouped_batches,
    load_split,
    shard,
    speed_perturbed,
)
from asr.train.feature_cache import FeatureCache, can_cache
from asr.train.modeling import load_model
from asr.train.runlog import RunLog
from asr.train.schedule import Budget, lr_lambda
from asr.vocab.cli import PROCESSOR_FILES, REPORT

BEST_RECORD = "asr_best.json"  # in best/: the step and dev score of its weights
#: path keys a resume compares by the file they name, where the checkpoint recorded it: the same file spelled
#: otherwise (relative or absolute, from another working folder, through a link) is the same run's; the same
#: bytes elsewhere are not (a manifest's audio, a model's weights can differ: a moved exp is a change)
MOVABLE = ("train_manifest", "dev_manifest", "processor", "model")
MAX_EPOCHS_PASSED_OVER = 10  # speed perturbation drew fewer batches than processes so often: the set is too small

#: keys that choose which weights train: the optimizer's state of a checkpoint holds those of its run alone
TRAINED_SET_KEYS = ("freeze_feature_encoder", "adapters_only")
#: how a change in what a checkpoint's run read or ran on is named (the others: "<key> (content)")
_INPUT_LABELS = {"processes": "processes", "precision": "mixed_precision as resolved"}


def mixed_precision(setting: str) -> str:
    """The accelerator's precision for a config's `mixed_precision`: "auto" is bf16 where the hardware computes
    in it natively (a GPU with bf16; without a GPU, a CPU with AVX512-BF16 or AMX instructions), else "no".
    `accelerate config`'s and `accelerate launch --mixed_precision`'s are not read: a resumed run, launched
    otherwise, would change precision without its config changing."""
    if setting == "fp16" and not torch.cuda.is_available():
        raise InputError("mixed_precision fp16: no GPU here, and a CPU computes in fp16 only as float32 (it would "
                         "run in float32 and be recorded as fp16); use bf16, auto or no")  # fmt: skip
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if cpu_computes_bf16() else "no"


def cpu_computes_bf16() -> bool:
    """Whether the CPU has bf16 instructions (AVX512-BF16 or AMX). With them, bf16 autocast makes a tiny-wide
    fine-tuning step on 2 cores 0.65 as long as in float32 (benchmarks/model_size_bench.py); without them the
    CPU would emulate bf16, slower than float32."""
    capabilities = torch.cpu.get_capabilities()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


class TrainError(InputError):
    """Training cannot go on (a non-finite loss, say); the message names the step and the utterances."""


@dataclass
class LoopState:
    """What the loop needs to continue exactly where a checkpoint left it."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed: float = 0.0
    best_score: float | None = None  # the best dev score yet (of dev_metric)
    #: the dev score that chooses best/ (dev_wer, dev_cer; pretraining's dev_loss); None in the checkpoints of
    #: versions before it was recorded (they chose by their class's default: WER, pretraining's dev loss)
    dev_metric: str | None = None
    best_step: int = 0
    skipped_batches: int = 0
    infeasible_utterances: int = 0
    audio_seconds: float = 0.0  # audio trained on, by all processes
    batches_left_at_epoch_ends: int = 0  # by all processes: their shards' tails and the batches no process got
    short_steps: int = 0  # steps of fewer than gradient_accumulation_steps batches (a later epoch's few batches)
    history: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)  # every resume with changes: the step, what changed
    #: each figure's sum and count of finite values over the steps since the last log row
    unlogged: dict[str, list] = field(default_factory=dict)

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        """Takes a checkpoint's loop state; a `ValueError` names a field of another kind than this one's."""
        for key, value in state.items():
            key = {"best_wer": "best_score"}.get(key, key)  # its name in checkpoints of earlier versions
            now = getattr(self, key, None)
            kinds = (int, float) if isinstance(now, float) else type(now)  # a float field saved whole is an int
            if now is not None and (not isinstance(value, kinds) or isinstance(value, bool) != isinstance(now, bool)):
                raise ValueError(f"its loop field {key!r} is {value!r}")
            setattr(self, key, value)
        # an earlier version kept a NaN dev loss as the best (frozen there: no score is below NaN) and logged it
        self.best_score = finite_or_none({"best": self.best_score})["best"]
        self.history = [finite_or_none(row) for row in self.history]


@dataclass
class EvalSet:
    """A dev or test manifest, scored whole (never filtered), with its audio kept in memory."""

    manifest: Path
    utts: list[Utterance]
    audio: object  # Utterance -> samples, cached

    @classmethod
    def load(cls, manifest: str, rate: int, labeled: bool = True, check: bool = False) -> EvalSet:
        path = Path(manifest)
        utts = read_utterances(path, labeled)
        return cls(path, utts, functools.cache(manifest_audio(path.parent, rate, check)))


class Trainer:
    """One training run; `run()` trains and writes everything."""

    #: the dev score that chooses best/ (lower is better; LoopState.best_score holds it): the config's
    #: metric_for_best_model, set in __init__
    dev_metric = "dev_wer"
    STATE: type[LoopState] = LoopState  # what a checkpoint saves of the loop
    CHECKS_DURATIONS = False  # train audio read against its stated duration (CTC batches need no exact one)
    PADDING_MASK = False  # a batch's padding mask made for every model, not only those that take one
    runlog: RunLog | None = None  # made once the inputs are read
    BAR = "train"  # the progress bar's name
    _bar = None  # the progress bar, once the steps begin

    def __init__(self, cfg: TrainConfig, command: str) -> None:
        from transformers import AutoProcessor, Wav2Vec2Processor, Wav2Vec2ProcessorWithLM

        self._start(cfg, command)
        if Path(cfg.processor).is_dir() and not (Path(cfg.processor) / "vocab.json").is_file():  # a TypeError
            raise InputError(f"processor {cfg.processor!r}: not a processor folder (no vocab.json; asr vocab writes "
                             "one)")  # fmt: skip
        try:
            self.processor = AutoProcessor.from_pretrained(cfg.processor, trust_remote_code=False)
        except (OSError, ValueError) as err:
            raise InputError(f"processor {cfg.processor!r}: {str(err).splitlines()[0]}") from None
        if isinstance(self.processor, Wav2Vec2ProcessorWithLM):  # its LM's weights were tuned for the old model:
            # the trained model is saved without it (it was copied, half-exported), and attached to anew
            self.processor = Wav2Vec2Processor(self.processor.feature_extractor, self.processor.tokenizer)
        self.processor_folder = ModelFolder.of(cfg.processor)
        self.normalize = self.processor_folder.normalizer()
        metric = cfg.metric_for_best_model
        self.dev_metric = "dev_" + (primary_metric(self.processor_folder.language()) if metric == "auto" else metric)
        self.labels = Labels.from_tokenizer(self.processor.tokenizer)
        self.train = load_split(
            cfg.train_manifest, self.processor.tokenizer, self.normalize, cfg.min_duration, cfg.max_duration
        )
        rate = self.processor.feature_extractor.sampling_rate
        self.dev = EvalSet.load(cfg.dev_manifest, rate) if cfg.dev_manifest else None
        self.test = EvalSet.load(cfg.test_manifest, rate) if cfg.test_manifest else None
        for split in (s for s in (self.dev, self.test) if s):
            if not any(self.normalize(u.text) for u in split.utts):
                raise InputError(f"{split.manifest}: every transcript normalises to nothing: no word to score")
        model = load_model(cfg, self.processor)
        self.adapter_lang = self._adapter_lang() if cfg.adapters_only else None
        if self.adapter_lang and not cfg.new_head:
            self._start_from_own_adapter(model)
        # sets the processor's return_attention_mask to what the model needs, so the saved processor states it
        self.inference = CTCInference(model, self.processor)
        self.attention_mask = self.inference.attention_mask
        self.feature_extractor = self.processor.feature_extractor
        self._prepare(model, rate)
        self._drop_frameless()
        self._check_fastest_speed()

    def _start(self, cfg: TrainConfig, command: str) -> None:
        """The config, the output folder, the accelerator (devices, processes, precision) and the seed."""
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, GradientAccumulationPlugin, set_seed

        self.cfg, self.command = cfg, command
        self.out = Path(cfg.output_dir)
        self._check_output_dir()
        # a step may leave parameters out: layers dropped, or the masked-frame embedding that feature masking
        # makes and only time masking reads (R87: mask_time_prob 0 with mask_feature_prob > 0 was DDP's traceback)
        unused = cfg.layerdrop > 0 or (cfg.mask_time_prob == 0 and cfg.mask_feature_prob > 0)
        handlers = [DistributedDataParallelKwargs(find_unused_parameters=unused)]
        precision = mixed_precision(cfg.mixed_precision)
        # the loop accumulates gradients itself (gradient_accumulation_steps): accelerate's own count, which it
        # takes from ACCELERATE_GRADIENT_ACCUMULATION_STEPS over an argument, divided every loss by it (R87)
        accumulation = GradientAccumulationPlugin(num_steps=1)
        self.acc = Accelerator(mixed_precision=precision, kwargs_handlers=handlers, cpu=gloo_on_cpus(),
                               gradient_accumulation_plugin=accumulation)  # fmt: skip
        if self.acc.is_main_process:
            writable_dir(self.out, "output_dir")
        set_seed(cfg.seed)

    def _note_clock_warm_up(self, cfg: TrainConfig) -> None:
        """Says where a linear warm-up on the clock is under 1% of the budget: warmup_steps are a share of
        max_steps, and so of max_minutes (R90: 100 of a placeholder 100000 warmed up over 0.4 s of 6 minutes)."""
        share = cfg.warmup_steps / cfg.max_steps
        clock = cfg.schedule_by == "budget" and cfg.max_minutes and cfg.lr_schedule == "linear"
        if clock and 0 < share < 0.01 and self.acc.is_main_process:
            print(f"note: warmup_steps {cfg.warmup_steps} of max_steps {cfg.max_steps} under schedule_by budget: the "
                  f"warm-up is {100 * share:.2g}% of max_minutes ({share * cfg.max_minutes * 60:.3g} s) or of the "
                  f"steps, whichever comes first", file=sys.stderr)  # fmt: skip

    def _check_output_dir(self) -> None:
        """Refuses an output_dir that is the --model folder (its run_info.json was taken for the model's own) or
        holds it where the run writes (model/, best/, a checkpoint: the starting model was replaced), and one
        holding a finished run of another config without a checkpoint to compare (it was trained over afresh);
        one of this config without its checkpoints (removed to free the disk) is `finished_before` (its run_info)."""
        model = Path(self.cfg.model)
        if self.cfg.model and self.out.resolve() == model.resolve():  # "": pretraining from scratch
            raise InputError(f"output_dir {self.out} is the --model folder; write the run elsewhere")
        inside = bool(self.cfg.model) and model.exists() and model.resolve().is_relative_to(self.out.resolve())
        if inside and _written_by_runs(model.resolve().relative_to(self.out.resolve())):
            raise InputError(f"--model {model} lies in output_dir {self.out}, where the run writes over it; copy "
                             "it elsewhere, or write the run elsewhere")  # fmt: skip
        self.finished_before: dict | None = None
        if checkpoints.last_checkpoint(self.out) is None and (self.out / "run_info.json").is_file():
            info = self._check_finished_run(self.out / "run_info.json")
            self.finished_before = info if (self.out / "model").is_dir() else None

    def _check_finished_run(self, path: Path) -> dict:
        """The finished run of `path` (its run_info.json); refused unless it had this config."""
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            config = info["config"]
            # a path spelled otherwise (relative, through a link) that names the same file is the same input
            same = {k for k in MOVABLE if _same_file(config.get(k), getattr(self.cfg, k, ""))}
            changes = self.cfg.changes_from(config, free=same, resuming=False)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            changes = {"run_info.json": ["not readable", "this run"]}
        if changes:
            listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())
            raise InputError(f"output_dir {self.out} holds a finished run of another config ({listed}) and no "
                             "checkpoint; use a new output_dir, or remove it to train afresh")  # fmt: skip
        return info

    def _prepare(self, model, rate: int) -> None:
        """Optimizer, schedule and budget for `model` (prepared by the accelerator), the loop state and the
        train audio store."""
        cfg = self.cfg
        self.budget = Budget(cfg.max_steps, cfg.max_minutes)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_epsilon,
            weight_decay=cfg.weight_decay,
        )  # fmt: skip
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
        if (unused := cfg.unused_by_schedule()) and self.acc.is_main_process:  # R34: taken, recorded, unread
            print(f"note: {', '.join(f'{k} {getattr(cfg, k)}' for k in unused)}: not read by lr_schedule "
                  f"{cfg.lr_schedule}", file=sys.stderr)  # fmt: skip
        if cfg.lr_schedule == "linear" and cfg.warmup_steps > cfg.max_steps and self.acc.is_main_process:
            peak = cfg.max_steps / cfg.warmup_steps
            print(f"note: warmup_steps {cfg.warmup_steps} > max_steps {cfg.max_steps}: the learning rate rises to "
                  f"{100 * peak:.3g}% of learning_rate and never decays", file=sys.stderr)  # fmt: skip
        self._note_clock_warm_up(cfg)
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        # for mixed precision accelerate wraps the model's forward in autocast; the train step enters
        # `acc.autocast()` itself, so the wrapper is taken off (in place) and dev evaluation runs in float32, as
        # `asr decode` does: its logged scores stay the scores of the saved model
        self.acc.unwrap_model(self.model, keep_fp32_wrapper=False)
        self.state = self.STATE(dev_metric=self.dev_metric)
        self.step_lr = optimizer.param_groups[0]["lr"]  # the lr the first step takes (LambdaLR set it), logged
        train_hours = sum(ex.duration for ex in self.train.examples) / 3600
        renderings = len(set(cfg.speed_perturb) | {1.0})  # each speed's audio is kept beside the audio as read
        in_memory = train_hours * renderings <= cfg.cache_audio_hours
        self.audio = AudioStore(rate, in_memory, self.CHECKS_DURATIONS)
        self.feature_cache = FeatureCache(model) if in_memory and can_cache(model, self.attention_mask) else None

    def _drop_frameless(self) -> None:
        """Leaves out, counted as "shorter than one frame", the train utterances too short at the fastest speed of
        speed_perturb for the feature encoder to give one frame (with ctc_zero_infinity they were kept, and the
        convolution failed with a traceback at whichever step drew them)."""
        fastest = fastest_speed(self.cfg.speed_perturb)
        kept = [ex for ex in self.train.examples if self._frames(at_speed(ex, fastest)) > 0]
        if short := len(self.train.examples) - len(kept):
            if not kept:
                raise InputError(f"{self.cfg.train_manifest}: every utterance is shorter than one frame of the model")
            filtered = self.train.filtered | {"shorter than one frame": short}
            self.train = replace(self.train, examples=kept, filtered=filtered)

    def _check_fastest_speed(self) -> None:
        """Train utterances CTC cannot align at the fastest speed (1 without speed perturbation) are named before
        the first step: they stopped the run at whichever step first drew them (at that speed), every resume
        alike; and so is a time mask longer than the shortest utterance's frames (a ValueError from
        transformers' masking at whichever step drew it)."""
        cfg, fastest = self.cfg, fastest_speed(self.cfg.speed_perturb)
        examples = [at_speed(ex, fastest) for ex in self.train.examples]
        if not cfg.ctc_zero_infinity and (infeasible := self._infeasible(examples)):
            ids = ", ".join(ex.id for ex in infeasible[:5]) + (", ..." if len(infeasible) > 5 else "")
            where, advice = "", "set ctc_zero_infinity=true to skip them (counted)"
            if fastest != 1:  # leaving out a speed above 1 helps; below 1 the audio is already at its longest
                where = f" at speed {fastest:g} (speed_perturb)"
                advice = f"leave that speed out, or {advice}" if fastest > 1 else advice
            raise TrainError(f"{len(infeasible)} train utterance(s) ({ids}) have more labels than frames{where}, "
                             f"so the CTC loss would be infinite; {advice}")  # fmt: skip
        self._check_feature_mask()
        if cfg.mask_time_prob > 0 and cfg.mask_time_length > (shortest := min(map(self._frames, examples))):
            raise TrainError(f"mask_time_length {cfg.mask_time_length} is more than the {shortest} frames of the "
                             "shortest train utterance (min_duration leaves such utterances out)")  # fmt: skip

    def _check_feature_mask(self) -> None:
        """A feature mask wider than the model's channels is one line before the first step (transformers'
        ValueError at the first step drawing one)."""
        cfg, config = self.cfg, self.acc.unwrap_model(self.model).config
        if cfg.mask_feature_prob > 0 and cfg.mask_feature_length > config.hidden_size:
            raise TrainError(f"mask_feature_length {cfg.mask_feature_length} is more than the model's "
                             f"{config.hidden_size} channels")  # fmt: skip

    @functools.cached_property
    def _frame_rule(self) -> tuple[list[tuple[int, int]], int]:
        """The model's (kernel, stride) layers and the sampling rate: what an utterance's frames are (an output
        adapter's layers included: without them an add_adapter model's infeasible utterances passed the check)."""
        layers = encoder_layers(self.acc.unwrap_model(self.model).config)
        return layers, self.processor.feature_extractor.sampling_rate

    def _frames(self, ex: Example) -> int:
        """The model's output frames for `ex`."""
        conv, rate = self._frame_rule
        return ctc_frames(round(ex.duration * rate), conv)

    def _start_from_own_adapter(self, model) -> None:
        """Trains a language's adapter on from the model's file of it, and says which adapter it starts from."""
        own = start_from_own_adapter(model, self.cfg.model, self.adapter_lang)
        if self.acc.is_main_process:
            start = (f"its {adapter_file(self.adapter_lang)}" if own
                     else "the adapter built into its weights (it has no file of this language)")  # fmt: skip
            print(f"adapter {self.adapter_lang}: starts from {self.cfg.model}'s {start}", file=sys.stderr)

    def _adapter_lang(self) -> str:
        lang = self.cfg.adapter_lang or self.processor_folder.language()
        if not lang:
            raise InputError("adapters_only: set adapter_lang (the processor names no language)")
        return lang

    # batches ---------------------------------------------------------------------------------------------
    def _inputs(self, examples: list[Example]) -> dict:
        """The padded batch of train examples for the model."""
        inputs = self._features(raised_together(lambda: [self.audio.get(ex) for ex in examples], self.acc))
        if self.feature_cache:
            self.feature_cache.prepare([ex.key for ex in examples], inputs)
        return inputs

    def _features(self, arrays: list) -> dict:
        """A padded batch of audio arrays for the model (zero-padded without masks for group-norm models, as
        the transformers example trains them; with PADDING_MASK the mask is given for every model)."""
        fe = self.feature_extractor
        features = fe(arrays, sampling_rate=fe.sampling_rate, padding=True, return_tensors="pt",
                      return_attention_mask=True)  # fmt: skip
        inputs = {"input_values": features.input_values.to(self.acc.device)}
        if self.attention_mask or self.PADDING_MASK:
            inputs["attention_mask"] = features.attention_mask.to(self.acc.device)
        return inputs

    def _labels(self, examples: list[Example]) -> torch.Tensor:
        width = max(len(ex.labels) for ex in examples)
        labels = torch.full((len(examples), width), -100, dtype=torch.long)
        for row, ex in enumerate(examples):
            labels[row, : len(ex.labels)] = torch.tensor(ex.labels)
        return labels.to(self.acc.device)

    def _epoch_batches(self, epoch: int) -> tuple[list[list[Example]], int]:
        """This process's batches of an epoch, and how many of the epoch's batches no process gets (fewer than
        the processes: they wait for the next epoch's order). The first epoch must give each process
        gradient_accumulation_steps batches; a later one with fewer (speed perturbation drew shorter audio) is
        one step of them all (`_group_size`), and one with fewer batches than processes is passed over whole."""
        exs = speed_perturbed(self.train.examples, self.cfg.speed_perturb, self.cfg.seed, epoch)
        batches = length_grouped_batches(
            [ex.duration for ex in exs],
            self.cfg.max_batch_seconds,
            self.cfg.max_batch_size,
            self.cfg.seed,
            epoch,
            shortest_first=self.cfg.sortagrad and epoch == 0,
        )
        mine = shard(batches, self.acc.process_index, self.acc.num_processes)
        if epoch == 0 and len(mine) < self.cfg.gradient_accumulation_steps:
            raise InputError(
                f"{self.cfg.train_manifest}: {len(batches)} batches an epoch are too few for "
                f"{self.acc.num_processes} process(es) x gradient_accumulation_steps "
                f"{self.cfg.gradient_accumulation_steps}; lower max_batch_seconds"
            )
        return [[exs[i] for i in batch] for batch in mine], len(batches) % self.acc.num_processes

    # steps -----------------------------------------------------------------------------------------------
    def _infeasible(self, batch: list[Example]) -> list[Example]:
        """Utterances whose labels (plus a blank between repeats) outnumber the model's frames: CTC cannot
        align them and their loss is infinite."""
        return [ex for ex in batch if ctc_min_frames(ex.labels) > self._frames(ex)]

    def _micro_step(self, batch: list[Example], sync: bool, parts: int) -> float:
        """Forward and backward of one of the `parts` batches of an optimizer step; its loss."""
        infeasible = self._infeasible(batch)
        everywhere = int(self._sum_over_processes(len(infeasible)))  # every process decides alike (or deadlocks)
        if everywhere and not self.cfg.ctc_zero_infinity:
            ids = ", ".join(ex.id for ex in infeasible)
            named = f"utterance(s) {ids}" if ids else "utterance(s) of another process"
            raise TrainError(
                f"{named} at step {self.state.step + 1} have more labels than frames, so the CTC loss is infinite; "
                f"set ctc_zero_infinity=true to skip them (counted)"
            )
        self.state.infeasible_utterances += everywhere  # zero_infinity gives them a zero loss
        context = nullcontext() if sync else self.acc.no_sync(self.model)
        with context, self.acc.autocast():
            out = self.model(**self._inputs(batch), labels=self._labels(batch))
            loss = out.loss / parts
        if where := self._non_finite_on(loss, batch):
            # every label sequence fits its frames (checked above): the outputs themselves are not finite
            what = f"non-finite loss at step {self.state.step + 1} on {where}, whose labels fit their frames"
            if not self.cfg.ctc_zero_infinity:
                lr = self.optimizer.param_groups[0]["lr"]
                raise TrainError(f"{what}: the model's outputs diverged or overflowed; try a lower learning_rate "
                                 f"than {lr:g} (or ctc_zero_infinity=true skips such batches, counted)")  # fmt: skip
            if not where.startswith("another"):  # each process names its own
                tqdm.write(
                    f"{what}: the batch skipped (ctc_zero_infinity; counted in skipped_batches)", file=sys.stderr
                )
            return math.nan
        self.acc.backward(loss)
        return float(loss.detach()) * parts

    def _non_finite_on(self, loss: torch.Tensor, batch: list[Example]) -> str:
        """Where the loss is not finite on some process ("utterances ..." of this one, else "another process"),
        or "" where it is finite on all: decided by all processes at once, as one skipping its backward pass or
        raising alone leaves the others waiting in the gradient all-reduce."""
        finite = bool(torch.isfinite(loss))
        if not self._sum_over_processes(not finite):
            return ""
        return "another process" if finite else f"utterances {', '.join(ex.id for ex in batch)}"

    def _sum_over_processes(self, value: float) -> float:
        """`value` summed over the processes (one collective where there are several)."""
        if self.acc.num_processes == 1:
            return float(value)
        return float(self.acc.reduce(torch.tensor(float(value), dtype=torch.float64, device=self.acc.device), "sum"))

    def _optimizer_step(self, group: list[list[Example]]) -> float:
        self.model.train()
        losses = [self._micro_step(batch, i == len(group) - 1, len(group)) for i, batch in enumerate(group)]
        if len(group) < self.cfg.gradient_accumulation_steps:
            self.state.short_steps += 1
        if any(math.isnan(x) for x in losses):
            self.state.skipped_batches += 1
            self.optimizer.zero_grad()
            return math.nan
        self.step_lr = self.optimizer.param_groups[0]["lr"]  # the step's own: the scheduler moves on below
        limit = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else math.inf  # inf: the norm, unclipped
        norm = float(self.acc.clip_grad_norm_(self.model.parameters(), limit))
        if not math.isfinite(norm) and self.acc.scaler is None:  # fp16's scaler skips such steps itself
            # a finite loss with a NaN gradient: the step would turn every weight NaN (a diverged run then saved
            # an all-NaN model, exit 0)
            raise TrainError(
                f"non-finite gradient norm at step {self.state.step + 1} (the loss was finite): training diverged; "
                f"the weights were not changed (try a lower learning_rate than {self.step_lr:g})"
            )
        self.optimizer.step()
        if self.cfg.schedule_by == "budget":  # LambdaLR.step() adds one
            self.scheduler.last_epoch = self.budget.schedule_position(self.state.step, self.state.elapsed) - 1
        self.scheduler.step()
        self.optimizer.zero_grad()
        if self.cfg.sync_check:
            self._check_sync()
        return sum(losses) / len(losses)

    def _check_sync(self) -> None:
        checksum = torch.stack(
            [p.detach().double().sum() for p in self.acc.unwrap_model(self.model).parameters()]
        ).sum()
        sums = self.acc.gather(checksum.reshape(1).to(self.acc.device))
        if not torch.all(sums == sums[0]):
            raise TrainError(f"weights differ between processes after step {self.state.step + 1}: {sums.tolist()}")

    # evaluation ------------------------------------------------------------------------------------------
    def _share(self, split: EvalSet) -> list[Utterance]:
        """This process's utterances of an evaluation split."""
        return split.utts[self.acc.process_index :: self.acc.num_processes]

    def _read_checked(self, split: EvalSet, keep: bool = True) -> None:
        """This process's audio of `split`, read (and kept, with `keep`) and checked as evaluating it checks it
        (its stated durations, one frame's samples): one line naming the manifest before the first step, not at
        the first evaluation after eval_steps steps (the test set's: after the whole run), every retry alike."""
        read = split.audio if keep else split.audio.__wrapped__  # functools.cache's uncached function
        try:
            for utt in self._share(split):
                self._checked(utt, read(utt))
        except InputError as err:
            raise InputError(f"{split.manifest}: {err}") from None

    def _checked(self, utt: Utterance, samples: np.ndarray) -> np.ndarray:
        return self.inference.checked(utt, samples)

    def evaluate(self, split: EvalSet, name: str = "dev") -> dict:
        """Greedy WER/CER over a whole split (``<name>_wer``, ...), split over the processes and gathered;
        the forward pass and the scoring are `asr decode`'s."""
        from accelerate.utils import broadcast_object_list, gather_object

        utts = self._share(split)
        post = self.inference.log_probs(utts, split.audio, self.cfg.eval_batch_seconds)
        hyps = gather_object([(u.id, u.text, greedy(post.logprobs[u.id], self.labels)) for u in utts])
        result = [None]
        if self.acc.is_main_process:
            totals = score_normalized(sorted(hyps), self.normalize).totals
            result = [{f"{name}_wer": totals["word"].counts.rate, f"{name}_cer": totals["char"].counts.rate,
                       f"{name}_utterances": len(hyps)}]  # fmt: skip
        broadcast_object_list(result)
        return result[0]

    # writing ---------------------------------------------------------------------------------------------
    def _training_state(self) -> checkpoints.TrainingState:
        return checkpoints.TrainingState(
            self.model, self.optimizer, self.scheduler, self.state.state_dict(), self.cfg.to_dict(), self._what_was_read
        )

    @functools.cached_property
    def _what_was_read(self) -> dict:
        """What the run reads besides its config: digests of the manifests' bytes, the vocabulary's and the
        processor's and starting model's settings (a file remade in place under the same name is another run's
        data), the files its paths name (`MOVABLE`), its number of processes (the global batch and each one's
        shard), its precision as resolved (auto: the hardware's) and of CPU threads (a note only). The model's
        weights are the checkpoint's on resume."""
        cfg = self.cfg
        processor = getattr(cfg, "processor", "")  # pretraining has none
        files = {"train_manifest": cfg.train_manifest and [Path(cfg.train_manifest)],
                 "dev_manifest": cfg.dev_manifest and [Path(cfg.dev_manifest)],
                 "vocabulary": processor and [Path(processor) / "vocab.json"],
                 "processor": processor and [Path(processor) / n for n in sorted(PROCESSOR_FILES - {REPORT})
                                             if (Path(processor) / n).is_file()],
                 "model": cfg.model and [Path(cfg.model) / "config.json"]}  # fmt: skip
        digests = {k: _digest(paths) for k, paths in files.items() if paths and all(p.is_file() for p in paths)}
        named = {k: str(Path(v).resolve()) for k in MOVABLE if (v := getattr(cfg, k, "")) and Path(v).exists()}
        return digests | {"paths": named, "processes": self.acc.num_processes, "threads": torch.get_num_threads(),
                          "precision": self.acc.mixed_precision}  # fmt: skip

    def _save_checkpoint(self) -> None:
        checkpoints.save_checkpoint(
            self.acc, self.out, self.state.step, self.cfg.save_total_limit, self._training_state()
        )
        self._saved_loop = self.state.state_dict()

    def _resume(self, path: Path) -> None:
        """Restores the run from a checkpoint; refuses a config that changes the run unless told otherwise (before
        loading anything: another model's weights would not fit)."""
        saved = checkpoints.read_state(path)
        chosen_by = saved["loop"].get("dev_metric") or type(self).dev_metric
        if chosen_by != self.dev_metric:  # best_score and best/ are of the other score
            raise InputError(f"{path}: its best/ was chosen by {chosen_by}, where metric_for_best_model now gives "
                             f"{self.dev_metric}; resume with metric_for_best_model: {chosen_by[4:]}")  # fmt: skip
        inputs = saved.get("inputs") or {}  # checkpoints of earlier versions have none
        now = self._what_was_read
        named = inputs.get("paths") or {}
        same = {k for k in MOVABLE if k in named and named[k] == now["paths"].get(k)}  # spelled otherwise
        self.config_changes = self.cfg.changes_from(saved["config"], free=same)
        # R79: mixed_precision auto, resumed on a CPU without bf16, went on in float32 without a word
        self.config_changes |= {_INPUT_LABELS.get(k, f"{k} (content)"): [old, now.get(k)]
                                for k, old in inputs.items() if k not in ("paths", "threads")
                                and old != now.get(k)}  # fmt: skip
        self._note_other_threads(path, inputs.get("threads"))
        if self.config_changes and not self.cfg.resume_with_changes:
            listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in self.config_changes.items())
            raise InputError(
                f"{path} was saved by a run with another config ({listed}); resume with that config, use a new "
                f"output_dir, or set resume_with_changes=true"
            )
        if trained := [k for k in TRAINED_SET_KEYS if k in self.config_changes]:  # R79: "not a checkpoint of this
            old, new = self.config_changes[trained[0]]  # model" blamed the checkpoint, whose optimizer trained others
            raise InputError(f"{path} was saved by a run with {trained[0]}: {old}, and this one has {new}: another set "
                             f"of weights trains, which a resume cannot take, even with resume_with_changes; resume "
                             f"with {trained[0]}: {old}, or start in a new output_dir")  # fmt: skip
        checkpoints.load_checkpoint(self.acc, path, self._training_state())
        try:
            self.state.load_state_dict(saved["loop"])
        except ValueError as err:
            raise InputError(f"{path}: not a checkpoint this version can resume ({err})") from None
        if self.config_changes:  # kept in the checkpoints: a later resume or rerun no longer lost it
            self.state.changes.append({"step": self.state.step, "changes": self.config_changes})
        before = inputs.get("processes")
        if isinstance(before, int) and before != self.acc.num_processes:
            self._reposition(before)
        self._saved_loop = self.state.state_dict()
        self._adopt_newer_best()

    def _note_other_threads(self, path: Path, before: object) -> None:
        """Says that a run resumed on a CPU with another number of threads ends in other weights than the
        uninterrupted run (sums in another order: the last bits in float32, far more in bf16), not refused: the
        machine's cores are not the run's settings."""
        now = torch.get_num_threads()
        if isinstance(before, int) and before != now and self.acc.device.type == "cpu" and self.acc.is_main_process:
            print(f"note: {path} was saved by a run on {before} CPU threads, this one has {now}: its weights will "
                  "differ from an uninterrupted run's in their last bits (more in bf16); OMP_NUM_THREADS="
                  f"{before} resumes it to the bit", file=sys.stderr)  # fmt: skip

    def _adopt_newer_best(self) -> None:
        """A best/ written after the checkpoint (by the interrupted run, between an evaluation and its next
        checkpoint) is kept as the best so far: its weights are in no checkpoint, and the state's older best
        step named weights that best/ no longer holds."""
        record = self.out / "best" / BEST_RECORD
        if not record.is_file():
            return
        try:
            best = json.loads(record.read_text(encoding="utf-8"))
            step, score = best["step"], best[self.dev_metric]
        except (ValueError, KeyError, TypeError):
            best, step, score = None, None, None
        if not isinstance(step, int) or isinstance(step, bool) or not isinstance(score, int | float):
            raise InputError(f"{record}: not a record of the best model ({best!r}); remove best/ to resume")
        if step > self.state.step:
            self.state.best_step, self.state.best_score = step, score

    def _save_model(self, folder: str, record: dict | None = None) -> None:
        """The model in `folder` (with `record` as its asr_best.json), whole: written beside it, then swapped in,
        so that a kill never leaves best/ or model/ holding weights other than its record names."""
        if not self.acc.is_main_process:
            return

        def write(partial: Path) -> None:
            self._write_model(partial)
            if record is not None:
                (partial / BEST_RECORD).write_text(json.dumps(record) + "\n", encoding="utf-8")

        write_whole(unlinked(self.out / folder), write, "output_dir")

    def _write_model(self, folder: Path) -> None:
        model = self.acc.unwrap_model(self.model)
        model.save_pretrained(str(folder), safe_serialization=True)
        self.processor.save_pretrained(str(folder))
        if self.adapter_lang:
            save_adapter(model, folder, self.adapter_lang)
        umask_modes(folder)
        self.processor_folder.copy_text_config(folder)

    def _log(self, row: dict) -> None:
        self.state.history.append(row)
        self.runlog.write(row)

    def _reposition(self, before: int) -> None:
        """The position in the epoch of a run resumed with another number of processes: the epoch's global
        batches that the `before` processes had taken (each takes every before-th one) are passed over, and where
        they do not divide among the processes now, the few after them too, counted with the epoch ends'."""
        taken = self.state.batch_in_epoch * before
        self.state.batch_in_epoch = -(-taken // self.acc.num_processes)
        self.state.batches_left_at_epoch_ends += self.state.batch_in_epoch * self.acc.num_processes - taken

    # the run ---------------------------------------------------------------------------------------------
    def run(self) -> dict:
        """Trains (resuming from the last checkpoint where there is one); writes model/ and run_info.json."""
        try:
            return self._run()
        finally:  # its TensorBoard writer's thread, also where the run fails (the process may go on: a notebook)
            if self.runlog is not None:
                self.runlog.close()
            if self._bar is not None:  # closed before the stop's line is printed, not redrawn after it at exit
                self._bar.close()

    def _run(self) -> dict:
        cfg = self.cfg
        if self.finished_before:  # run again with its checkpoints removed: it was trained afresh, model/ replaced
            if self.acc.is_main_process:
                print(f"note: output_dir {self.out} holds this config's finished run (its checkpoints removed): no "
                      "step taken, model/ and run_info.json left as they are", file=sys.stderr)  # fmt: skip
            return self.finished_before
        if self.acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
        self.acc.wait_for_everyone()
        resumed = checkpoints.to_resume(self.out, cfg.resume)
        self.config_changes: dict = {}
        self._saved_loop: dict | None = None  # the loop state of the last checkpoint
        if resumed:
            self._resume(resumed)
        elif self.acc.is_main_process:  # an earlier run's best/ would be adopted by this run's resume, or kept
            shutil.rmtree(unlinked(self.out / "best"), ignore_errors=True)
        if self.dev:  # its audio read now (and kept), not at the first evaluation, up to eval_steps steps later
            raised_together(lambda: self._read_checked(self.dev), self.acc)
        if self.test:  # read now and again at the end: kept, it would hold memory through the whole run
            raised_together(lambda: self._read_checked(self.test, keep=False), self.acc)
        if self.state.epoch == 0:  # refused for too few batches before its log is begun, as below (R66)
            self._epoch_batches(0)
        # after the reads: a run refused for its audio left its TensorBoard log in an otherwise empty output_dir
        self.runlog = RunLog(self.out, self.acc.is_main_process, self.state.step if resumed else None)
        self._first_step = self.state.step
        start = time.monotonic() - self.state.elapsed
        progress = self._bar = self._progress(resumed)
        passed_over = 0  # epochs in a row with no batch for each process
        # entered at max_steps too: a run resumed from a checkpoint of its last step written before that step's
        # epoch end (the final save, which holds it, failed) books the epoch end as the run did
        while True:
            batches, unsharded = self._epoch_batches(self.state.epoch)
            passed_over = passed_over + 1 if not batches else 0
            if passed_over >= MAX_EPOCHS_PASSED_OVER:
                raise InputError(
                    f"{cfg.train_manifest}: {passed_over} epochs in a row had fewer batches than the "
                    f"{self.acc.num_processes} processes; lower max_batch_seconds"
                )
            k = min(cfg.gradient_accumulation_steps, len(batches))
            while k and self.state.batch_in_epoch + k <= len(batches) and self.state.step < cfg.max_steps:
                if self._time_up():  # a run resumed after its budget was spent takes no step
                    break
                group = batches[self.state.batch_in_epoch : self.state.batch_in_epoch + k]
                loss = self._optimizer_step(group)
                # every process's audio (each trains its own batches): the throughput is the run's
                self.state.audio_seconds += self._sum_over_processes(sum(ex.duration for b in group for ex in b))
                self.state.batch_in_epoch += k
                self.state.step += 1
                self.state.elapsed = self._shared_elapsed(time.monotonic() - start)
                self._after_step(loss, progress)
                if self._time_up():
                    break
            if self._time_up():
                break
            ended = not k or self.state.batch_in_epoch + k > len(batches)
            if ended and (self.state.step < cfg.max_steps or self.state.batch_in_epoch):  # not an epoch never begun
                # fewer than gradient_accumulation_steps batches left on each process (or none: fewer batches
                # than processes), and those no process got: they wait for the next epoch's order
                left = len(batches) - self.state.batch_in_epoch
                self.state.batches_left_at_epoch_ends += left * self.acc.num_processes + unsharded
                self.state.epoch += 1
                self.state.batch_in_epoch = 0
            if self.state.step >= cfg.max_steps:
                break
        progress.close()
        if self.state.state_dict() != self._saved_loop:  # the last checkpoint holds the final state (evaluation,
            self._save_checkpoint()  # epoch end): a rerun of the finished run resumes past it and reports the same
        return self._finish(resumed)

    def _shared_elapsed(self, elapsed: float) -> float:
        """The main process's elapsed seconds, on every process: they stop, and schedule, together."""
        if self.acc.num_processes == 1 or not self.cfg.max_minutes:
            return elapsed
        from accelerate.utils import broadcast_object_list

        shared = [elapsed]
        broadcast_object_list(shared)
        return shared[0]

    def _time_up(self) -> bool:
        return self.budget.time_up(self.state.elapsed)

    def _progress(self, resumed: Path | None):
        from asr.progress import progress_bar

        desc = f"{self.BAR} (from {resumed.name})" if resumed else self.BAR
        if self.cfg.max_minutes:  # the bar counts steps; the run may end earlier, at the budget
            desc += f", at most {self.cfg.max_minutes:g} min"
        return progress_bar(total=self.cfg.max_steps, initial=self.state.step, desc=desc, unit="step",
                    disable=not self.acc.is_main_process)  # fmt: skip

    def _after_step(self, loss: float, progress) -> None:
        cfg, step = self.cfg, self.state.step
        # the processes' mean, shown as logged (the bar showed process 0's own)
        loss = float(self.acc.reduce(torch.tensor(loss, device=self.acc.device), "mean"))
        progress.update(1)
        postfix = {} if math.isnan(loss) else {"loss": f"{loss:.3f}"}
        if cfg.max_minutes:
            left = self.budget.minutes_left(self.state.elapsed)
            postfix["left"] = f"{left:.1f} min"
            if not progress.disable and (rate := progress.format_dict["rate"]):  # the steps the budget has room
                progress.total = min(cfg.max_steps, step + round(60 * left * rate))  # for: the bar's ETA is its end
        progress.set_postfix(postfix, refresh=False)  # drawn with the step (a redraw each: a log's line grew)
        for key, value in self._step_figures(loss).items():
            total = self.state.unlogged.setdefault(key, [0.0, 0])
            if value is not None and math.isfinite(value):  # not a skipped step's
                total[0], total[1] = total[0] + value, total[1] + 1
        last = step >= cfg.max_steps or self._time_up()  # logged, and evaluated, whatever the intervals
        if self.dev is not None and (step % cfg.eval_steps == 0 or last):
            self._evaluate_and_log()
        elif step % cfg.logging_steps == 0 or last:
            self._log(self._row())
        if step % cfg.save_steps == 0:
            self._save_checkpoint()

    def _step_figures(self, loss: float) -> dict:
        """The figures of the step just taken whose loss (the processes' mean) is `loss` (NaN: skipped)."""
        return {"loss": loss}

    def _row(self) -> dict:
        """The log row of the step just taken: its figures are the means over the steps since the last row, as
        transformers' Trainer logs them (the last step's alone sampled one length bucket in `logging_steps`);
        None where every one of them was skipped."""
        means = {key: total / n if n else None for key, (total, n) in self.state.unlogged.items()}
        self.state.unlogged = {}
        return {
            "step": self.state.step, "epoch": self.state.epoch, "minutes": round(self.state.elapsed / 60, 3),
            "loss": means.pop("loss", None), "lr": self.step_lr, **means,
        }  # fmt: skip

    def _evaluate_and_log(self) -> None:
        """Logs the step's row with its dev scores, and saves the model as best/ where they are the best yet. A
        non-finite score (a pretraining dev loss) is logged as null and chooses nothing: a NaN chose best/ and
        froze it there (no score is below NaN), and run_info.json held NaN, which is not JSON."""
        row = self._row() | finite_or_none(self.evaluate(self.dev))
        if self._better(row):
            self.state.best_score, self.state.best_step = row[self.dev_metric], self.state.step
            scores = {k: row[k] for k in (self.dev_metric, _OTHER_SCORE.get(self.dev_metric)) if k in row}
            self._save_model("best", {"step": self.state.step, **scores})
        self._log(row)

    def _better(self, row: dict) -> bool:
        """A dev score below the best so far; an equal one with a lower other score (WER's CER, CER's WER:
        tuning breaks ties so too)."""
        score, best = row[self.dev_metric], self.state.best_score
        if score is None or best is None:
            return score is not None
        kept = next((r for r in self.state.history if r["step"] == self.state.best_step), {})
        tie = _OTHER_SCORE.get(self.dev_metric, "")
        return score < best or (score == best and row.get(tie, math.inf) < kept.get(tie, math.inf))

    def _test(self) -> dict:
        """Greedy test WER/CER of the final model (the best on dev, loaded back, when there is one: as `_finish`
        ships it, also where a run resumed without its dev set, R79)."""
        if self.test is None:
            return {}
        if self.state.best_step and (self.out / "best" / "model.safetensors").exists():
            from safetensors.torch import load_file

            best = load_file(str(self.out / "best" / "model.safetensors"))  # copied to the model's device: a
            # device of several CPU processes is "cpu:0", which safetensors refuses
            self.acc.unwrap_model(self.model).load_state_dict(best)
        return self.evaluate(self.test, "test")

    def _finish(self, resumed: Path | None) -> dict:
        """Writes model/ (best/ when there was a dev set, else the last weights) and run_info.json."""
        self.acc.wait_for_everyone()
        final = self.out / "model"
        recorded = self._current_record(final) if resumed else None
        if self.acc.is_main_process and recorded is None:
            if self.state.best_step and (self.out / "best").exists():
                copy = functools.partial(shutil.copytree, self.out / "best", dirs_exist_ok=True,
                                         ignore=shutil.ignore_patterns(BEST_RECORD))  # fmt: skip
                write_whole(unlinked(final), copy, "output_dir")
            else:
                self._save_model("model")
        # a finished run run again keeps the record of the run that trained it (rewritten, it named this code
        # and command, and a decode tuned on the model no longer matched it)
        info = recorded or self._run_info(resumed)
        test = self.cfg.test_manifest
        if recorded and test and recorded.get("config", {}).get("test_manifest") != test and self.acc.is_main_process:
            print(
                f"note: {self.out} holds a finished run, kept as it was: --test_manifest {test} is not scored "
                f"(asr decode --model {final} --manifest {test} scores it)",
                file=sys.stderr,
            )  # R63: silently
        self.runlog.finish(info, final, f"{self.cfg.model} on {self.cfg.train_manifest}")
        self.acc.wait_for_everyone()
        self._leave_process_group()
        return info

    def _leave_process_group(self) -> None:
        """Ends the run's process group, the DDP wrapper first. Freed last by the wrapper's reducer, torch's gloo
        group waits for its worker threads while holding the GIL, and a worker still freeing the Python tensors of
        a finished collective waits for the GIL: one process in a few hung at exit (pytorch/pytorch#56297).
        Freed by destroy_process_group instead, the group's destructor releases the GIL."""
        self.model = self.acc.unwrap_model(self.model)
        self.acc.free_memory()  # accelerate's own references to the wrapper, then a garbage collection
        self.acc.end_training()

    def _current_record(self, final: Path) -> dict | None:
        """model/'s run_info.json where model/ holds this run's final model already (a finished run run again,
        no step taken), else None. Such a model is left as it is, with what was added to it since (an LM attached
        in place by asr lm attach was deleted)."""
        try:
            info = json.loads((final / "run_info.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        written = (info.get("steps"), info.get("best_step")) if isinstance(info, dict) else None
        current = self.state.step == self._first_step and written == (self.state.step, self.state.best_step)
        return info if current else None

    def _run_basics(self, resumed: Path | None) -> dict:
        """What every run records: command, code, config, processes, steps, time, resumption, best step."""
        return {
            "command": self.command,
            "git_revision": git_revision(),  # the code that trained it (a leaderboard's revision is the decode's)
            "versions": versions(),
            "config": self.cfg.to_dict(),
            "num_processes": self.acc.num_processes,
            "distributed_type": str(self.acc.distributed_type),
            "mixed_precision": self.acc.mixed_precision,
            "device": str(self.acc.device),
            "steps": self.state.step,
            "epochs": self.state.epoch,
            "minutes": round(self.state.elapsed / 60, 3),
            "resumed_from": resumed.name if resumed else None,
            "resumed_with_changes": self.config_changes,
            "changes_by_step": self.state.changes,
            "best_step": self.state.best_step,
            "final_model": "best" if self.state.best_step else "last",
            "train_utterances": len(self.train.examples),
            "train_filtered": self.train.filtered,
            "train_unknown_characters": self.train.unknown_characters,
            "train_hours": sum(ex.duration for ex in self.train.examples) / 3600,  # printed rounded once
        }

    def _best_scores(self) -> dict:
        """The dev WER and CER of best/ (None without a dev set): its row of the history, else (a best/ written
        after the last checkpoint) its record."""
        row = next((r for r in self.state.history if r["step"] == self.state.best_step and "dev_wer" in r), None)
        if row is None and self.state.best_step:
            row = json.loads((self.out / "best" / BEST_RECORD).read_text(encoding="utf-8"))
        return {"best_dev_wer": (row or {}).get("dev_wer"), "best_dev_cer": (row or {}).get("dev_cer")}

    def _run_info(self, resumed: Path | None) -> dict:
        """run_info.json: the basics, dev and test scores, skipped work, throughput and the history."""
        return {
            **self._run_basics(resumed),
            "metric_for_best_model": self.dev_metric,
            **self._best_scores(),
            **self._test(),
            "skipped_batches": self.state.skipped_batches,
            "batches_left_at_epoch_ends": self.state.batches_left_at_epoch_ends,
            "short_steps": self.state.short_steps,
            "infeasible_utterances": self.state.infeasible_utterances,
            "adapter": self.adapter_lang,
            "feature_encoder_cached": self.feature_cache is not None,
            "audio_hours_trained": self.state.audio_seconds / 3600,
            "audio_seconds_per_second": round(self.state.audio_seconds / max(self.state.elapsed, 1e-9), 2),
            "history": self.state.history,
        }


#: the dev score that breaks a tie of the one choosing best/
_OTHER_SCORE = {"dev_wer": "dev_cer", "dev_cer": "dev_wer"}


def finite_or_none(row: dict) -> dict:
    """`row` with None for its NaN and infinite numbers (JSON has none)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def _digest(files: list[Path]) -> str:
    """The files' bytes, in order, hashed (one file: its own SHA-1, as checkpoints have recorded it)."""
    sha = hashlib.sha1()
    for path in files:
        sha.update(path.read_bytes())
    return sha.hexdigest()[:12]


def _same_file(a: object, b: object) -> bool:
    """Whether the paths `a` and `b` both name one existing file or folder."""
    try:
        return bool(a) and bool(b) and os.path.samefile(str(a), str(b))
    except OSError:
        return False


def _written_by_runs(inside: Path) -> bool:
    """Whether a path inside an output_dir lies in what a run writes there: model/, best/, its checkpoints."""
    top = inside.parts[0] if inside.parts else ""
    return top in ("model", "best") or top.startswith("checkpoint-")


def train(cfg: TrainConfig, command: str) -> dict:
    """Trains with `cfg`; returns the run information (also written to run_info.json)."""
    with run_folder(Path(cfg.output_dir)), accelerate_state_of_its_own():
        return Trainer(cfg, command).run()


@contextmanager
def accelerate_state_of_its_own() -> Iterator[None]:
    """accelerate keeps one precision per process and refuses another ("restart your runtime"): a run that set its
    state up resets it when it ends, so that a process (a notebook, a sweep script) can run another with other
    settings; a state set up before the run (a caller's own Accelerator) is left alone."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    # private: reset as accelerate's own tests reset it; a PartialState of the caller's own (a decode's) is kept
    ours, partial_ours = not AcceleratorState._shared_state, not PartialState._shared_state
    try:
        yield
    finally:
        if ours:
            AcceleratorState._reset_state(reset_partial_state=partial_ours)
            GradientState._reset_state()
