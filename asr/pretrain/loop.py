"""The pretraining loop: `asr train`'s Trainer (accelerate, batching, budget, checkpoints, resume, logs) with
wav2vec 2.0's objective instead of CTC.

Each step masks spans of the feature frames (transformers' `_compute_mask_indices`, drawn from NumPy's
generator, which checkpoints save, so a resumed run draws the same masks), samples negatives among the masked
frames, and minimises the contrastive + weighted diversity loss per masked frame; the Gumbel temperature decays
with the step. Train utterances shorter than a masked span are left out and counted; a dev split with one is
refused. The dev loss uses fixed masks (batch i's drawn with seed i) so that its values compare across evaluations.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from asr.data.audio import TARGET_RATE, duration_tolerance
from asr.data.check import ctc_frames
from asr.data.manifest import Utterance
from asr.errors import InputError
from asr.folders import run_folder, umask_modes
from asr.inference import batch_seconds, uses_attention_mask
from asr.pretrain.config import PretrainConfig
from asr.train.data import Example, Split, fastest_speed, length_grouped_batches, load_split
from asr.train.loop import EvalSet, LoopState, Trainer, TrainError, accelerate_state_of_its_own
from asr.train.modeling import from_pretrained, model_config


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
    if config.add_adapter:  # its frames are the adapter's, fewer than the masks' (R74: a traceback at step 1)
        raise InputError(f"model {cfg.model!r} has an output adapter (add_adapter); asr pretrain trains models "
                         "without one")  # fmt: skip
    # the masks are applied only with SpecAugment on (R74: off in a model's config, the frames to identify were
    # seen and the loss halved in 30 steps)
    config.update(cfg.model_options() | {"apply_spec_augment": True})
    model = from_pretrained(Wav2Vec2ForPreTraining, cfg.model, config=config)
    if cfg.freeze_feature_encoder:
        model.freeze_feature_encoder()
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


WINDOW = 10  # steps averaged for run_info's first_* and last_* figures
FIGURES = ("loss", "contrastive", "codevector_perplexity")


@dataclass
class PretrainState(LoopState):
    """The loop state plus the figures of the run's first and last WINDOW steps, so that a resumed run reports
    what an uninterrupted one does."""

    first_steps: list[dict] = field(default_factory=list)
    last_steps: list[dict] = field(default_factory=list)

    def record(self, figures: dict) -> None:
        """Keeps one step's figures (call once per step, before the step count moves on)."""
        if len(self.first_steps) < WINDOW:
            self.first_steps.append(figures)
        self.last_steps = [*self.last_steps, figures][-WINDOW:]

    def summary(self) -> dict:
        """first_* and last_*: means over the first and last min(WINDOW, half the steps) steps (None: no steps)."""
        window = max(1, min(WINDOW, self.step // 2))
        first, last = self.first_steps[:window], self.last_steps[-window:]
        return {f"{which}_{k}": _mean([x[k] for x in rows]) for which, rows in (("first", first), ("last", last))
                for k in FIGURES}  # fmt: skip


class Pretrainer(Trainer):
    """One pretraining run; `run()` trains and writes everything (as `Trainer` does)."""

    dev_metric = "dev_loss"
    STATE = PretrainState
    BAR = "pretrain"
    CHECKS_DURATIONS = True  # masks are drawn from the stated durations (train and dev): shorter audio failed
    # masks and negatives drawn on the audio's frames only (R74: a group-norm model's fell in the zero padding
    # too, 12% of them on a synthetic corpus); `_loss` gives the mask to the models that take one
    PADDING_MASK = True

    def __init__(self, cfg: PretrainConfig, command: str) -> None:
        from transformers import Wav2Vec2FeatureExtractor

        self._start(cfg, command)
        model = load_pretraining_model(cfg)
        self.attention_mask = uses_attention_mask(model.config)
        self.feature_extractor = Wav2Vec2FeatureExtractor(
            sampling_rate=TARGET_RATE, do_normalize=True, return_attention_mask=self.attention_mask
        )
        self.conv = list(zip(model.config.conv_kernel, model.config.conv_stride, strict=True))
        self.min_frames = max(cfg.mask_time_length, 2)  # a whole span, and a negative besides each masked frame
        self.train = self._maskable(load_unlabeled(cfg))
        self.dev, self.test = None, None  # pretraining has no test score
        if cfg.dev_manifest:
            self.dev = EvalSet.load(cfg.dev_manifest, TARGET_RATE, labeled=False, check=self.CHECKS_DURATIONS)
            self._check_maskable(self.dev)
        self.micro_figures: list[dict] = []
        self._prepare(model, TARGET_RATE)
        self._check_feature_mask()  # R90: a traceback at the first step

    def _sure_frames(self, stated: float, speed: float = 1.0) -> int:
        """The feature frames that audio of `stated` seconds is sure to give played `speed` times as fast: its
        audio may be as much shorter than stated as a manifest's durations may be off (`duration_tolerance`)."""
        seconds = (stated - duration_tolerance(stated)) / speed
        return ctc_frames(max(round(seconds * TARGET_RATE), 0), self.conv)

    def _maskable(self, split: Split) -> Split:
        """The split without the utterances that may be shorter than a masked span at the fastest speed of
        speed_perturb (counted as "too short to mask")."""
        fastest = fastest_speed(self.cfg.speed_perturb)
        kept = [ex for ex in split.examples if self._sure_frames(ex.duration, fastest) >= self.min_frames]
        if not kept:
            raise InputError(f"{self.cfg.train_manifest}: no utterance is {self.min_frames} frames long, the "
                             f"shortest that mask_time_length {self.cfg.mask_time_length} can mask")  # fmt: skip
        short = len(split.examples) - len(kept)
        return Split(kept, split.filtered | ({"too short to mask": short} if short else {}))

    def _checked(self, utt: Utterance, samples: np.ndarray) -> np.ndarray:
        return samples  # read against its stated duration (CHECKS_DURATIONS); the shortest are refused above

    def _check_maskable(self, dev: EvalSet) -> None:
        """Refuses a dev split with an utterance too short to mask: the dev loss is over every utterance."""
        short = [u.id for u in dev.utts if self._sure_frames(u.duration) < self.min_frames]
        if short:
            raise InputError(
                f"{dev.manifest}: {len(short)} utterance(s) shorter than {self.min_frames} frames, the shortest that "
                f"mask_time_length {self.cfg.mask_time_length} can mask ({', '.join(short[:3])}); leave them out"
            )

    def _masks(self, inputs: dict) -> dict:
        """Masked spans and sampled negatives for a batch, as the model's forward takes them."""
        from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

        model = self.acc.unwrap_model(self.model)
        batch, samples = inputs["input_values"].shape
        frames = int(model._get_feat_extract_output_lengths(samples))
        frame_mask = model._get_feature_vector_attention_mask(frames, inputs["attention_mask"]).cpu()
        masked = _compute_mask_indices((batch, frames), self.cfg.mask_time_prob, self.cfg.mask_time_length,
                                       attention_mask=frame_mask, min_masks=2)  # fmt: skip
        negatives = _sample_negative_indices((batch, frames), model.config.num_negatives, mask_time_indices=masked)
        device = self.acc.device
        return {"mask_time_indices": torch.tensor(masked, dtype=torch.bool, device=device),
                "sampled_negative_indices": torch.tensor(negatives, dtype=torch.long, device=device)}  # fmt: skip

    def _loss(self, inputs: dict) -> tuple[torch.Tensor, int, dict]:
        """The contrastive + weighted diversity loss summed over the masked frames, their number, and per masked
        frame the contrastive loss and the codebooks' perplexity (summed over the codebook groups: about how many
        codewords are in use; near the number of groups is collapse)."""
        masks = self._masks(inputs)
        if not self.attention_mask:  # a group-norm model is trained on zero padding without a mask
            inputs = {key: value for key, value in inputs.items() if key != "attention_mask"}
        out = self.model(**inputs, **masks)
        frames = max(int(masks["mask_time_indices"].sum()), 1)
        parts = {"contrastive": float(out.contrastive_loss.detach()) / frames,
                 "codevector_perplexity": float(out.codevector_perplexity.detach())}  # fmt: skip
        return out.loss, frames, parts

    def _micro_step(self, batch: list[Example], sync: bool, parts: int) -> float:
        self.acc.unwrap_model(self.model).set_gumbel_temperature(self._gumbel_temperature(self.state.step))
        context = nullcontext() if sync else self.acc.no_sync(self.model)
        with context, self.acc.autocast():
            total, frames, figures = self._loss(self._inputs(batch))
            loss = total / frames / parts
        if where := self._non_finite_on(loss, batch):
            raise TrainError(f"non-finite pretraining loss at step {self.state.step + 1} on {where}")
        self.acc.backward(loss)
        value = float(loss.detach()) * parts
        self.micro_figures.append({"loss": value, **figures})
        return value

    def _optimizer_step(self, group: list[list[Example]]) -> float:
        """A step, with its figures (the means over its micro-batches and the processes) kept for the log and
        run_info."""
        self.micro_figures = []
        loss = super()._optimizer_step(group)
        mine = torch.tensor([_mean([x[k] for x in self.micro_figures]) for k in FIGURES], dtype=torch.float64,
                            device=self.acc.device)  # fmt: skip
        means = self.acc.reduce(mine, "mean") if self.acc.num_processes > 1 else mine
        self.state.record(dict(zip(FIGURES, means.tolist(), strict=True)))
        return loss

    def _gumbel_temperature(self, step: int) -> float:
        """The Gumbel softmax temperature of the step after `step` steps: decayed every step down to its floor
        (as in transformers' pretraining example)."""
        cfg = self.cfg
        return max(cfg.max_gumbel_temperature * cfg.gumbel_temperature_decay**step, cfg.min_gumbel_temperature)

    def _step_figures(self, loss: float) -> dict:
        """The step's loss, contrastive loss and codebook perplexity (kept by `_optimizer_step`)."""
        return self.state.last_steps[-1]

    def _row(self) -> dict:
        """The log row, with the contrastive loss and codebook perplexity (means since the last row, as the loss)
        and the Gumbel temperature (in run_info.json and TensorBoard; train_log.csv keeps the columns of earlier
        versions' runs)."""
        return super()._row() | {"gumbel_temperature": self._gumbel_temperature(self.state.step - 1)}

    def evaluate(self, split: EvalSet, name: str = "dev") -> dict:
        """The loss per masked frame over the whole split, in batches of eval_batch_seconds dealt out to the
        processes, with fixed masks (batch i's drawn with seed i): the values compare across evaluations, and
        across numbers of processes (a resumed run's best/ compares them)."""
        generator = np.random.get_state()
        self.model.eval()
        seconds = batch_seconds(self.cfg.eval_batch_seconds, self.acc.device.type)
        utts = split.utts
        batches = length_grouped_batches([u.duration for u in utts], seconds, len(utts) or 1, 0, 0, shortest_first=True)
        total, frames = 0.0, 0
        with torch.no_grad():
            for index in range(self.acc.process_index, len(batches), self.acc.num_processes):
                np.random.seed(index)
                loss, n, _ = self._loss(self._features([split.audio(utts[i]) for i in batches[index]]))
                total, frames = total + float(loss), frames + n
        np.random.set_state(generator)
        sums = self.acc.reduce(torch.tensor([total, frames], dtype=torch.float64, device=self.acc.device), "sum")
        return {f"{name}_loss": float(sums[0] / sums[1]), f"{name}_utterances": len(split.utts)}

    def _write_model(self, folder: Path) -> None:
        self.acc.unwrap_model(self.model).save_pretrained(str(folder), safe_serialization=True)
        self.feature_extractor.save_pretrained(str(folder))
        umask_modes(folder)

    def _codevectors(self) -> int:
        """How many codewords the quantiser has (groups x entries): the perplexity's ceiling."""
        config = self.acc.unwrap_model(self.model).config
        return config.num_codevector_groups * config.num_codevectors_per_group

    def _run_info(self, resumed: Path | None) -> dict:
        return {
            **self._run_basics(resumed),
            **self.state.summary(),
            "codevectors": self._codevectors(),
            "best_dev_loss": self.state.best_score,
            "history": self.state.history,
        }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def pretrain(cfg: PretrainConfig, command: str) -> dict:
    """Pretrains with `cfg`; returns the run information (also written to run_info.json)."""
    with run_folder(Path(cfg.output_dir)), accelerate_state_of_its_own():
        return Pretrainer(cfg, command).run()
