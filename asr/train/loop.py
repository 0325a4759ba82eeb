"""The CTC training loop: accelerate for devices, processes and mixed precision; resumable to the bit.

Writes to ``output_dir``: ``checkpoint-<step>/`` (accelerate state: safetensors weights, optimizer,
scheduler, RNG states, the loop state), ``best/`` (model + processor at the best dev WER), ``model/`` (the
final model + processor: the best one when there was a dev set, else the last), ``train_log.csv`` and
``tensorboard/`` (loss, learning rate, dev WER/CER), ``learning_curve.png`` (dev CER against minutes),
``run_info.json`` (resolved config, command, processes,
figures). Only the main process writes. A run finds its last checkpoint in ``output_dir`` and continues from
it, ending with the same weights as a run that was never interrupted.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from asr.data.check import ctc_frames, ctc_min_frames
from asr.decode.decoders import Labels, greedy
from asr.errors import InputError
from asr.scoring.corpus import score_corpus
from asr.train.config import TrainConfig
from asr.train.data import AudioStore, Example, Split, length_grouped_batches, load_split, shard
from asr.train.plot import learning_curve
from asr.vocab import TEXT_CONFIG, folder_normalizer


class TrainError(InputError):
    """Training cannot go on (a non-finite loss, say); the message names the step and the utterances."""


@dataclass
class LoopState:
    """What the loop needs to continue exactly where a checkpoint left it."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed: float = 0.0
    best_wer: float | None = None
    best_step: int = 0
    last_eval_step: int = -1
    skipped_batches: int = 0
    infeasible_utterances: int = 0
    audio_seconds: float = 0.0  # audio trained on by this process
    history: list[dict] = field(default_factory=list)

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def lr_lambda(cfg: TrainConfig):
    """Learning-rate multiplier per optimizer step: linear warm-up then linear decay, tri-stage or constant."""
    total = max(cfg.max_steps, 1)

    def linear(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        return max(0.0, (total - step) / max(1, total - cfg.warmup_steps))

    def tri_stage(step: int) -> float:  # fairseq: warm-up, hold, exponential decay to final_scale
        warm, hold = (int(r * total) for r in cfg.tri_stage_ratios[:2])
        if step < warm:
            return 0.01 + 0.99 * step / max(1, warm)
        if step < warm + hold:
            return 1.0
        decay = (step - warm - hold) / max(1, total - warm - hold)
        return math.exp(math.log(cfg.tri_stage_final_scale) * min(1.0, decay))

    schedules = {"linear": linear, "tri_stage": tri_stage, "constant": lambda step: 1.0}
    if cfg.lr_schedule not in schedules:
        raise InputError(f"lr_schedule {cfg.lr_schedule!r}: expected one of {', '.join(schedules)}")
    return schedules[cfg.lr_schedule]


def load_model(cfg: TrainConfig, processor):
    """The CTC model with its head sized to the processor's vocabulary and the config's training options."""
    from transformers import AutoConfig, AutoModelForCTC

    tokenizer = processor.tokenizer
    try:
        config = AutoConfig.from_pretrained(cfg.model)
    except OSError as err:
        raise InputError(f"model {cfg.model!r}: {str(err).splitlines()[0]}") from None
    vocab_size = len(tokenizer)
    has_head = getattr(config, "vocab_size", None) is not None and Path(cfg.model, "vocab.json").exists()
    if has_head and not cfg.new_head:
        own = json.loads(Path(cfg.model, "vocab.json").read_text(encoding="utf-8"))
        mine = tokenizer.get_vocab()
        if config.vocab_size != vocab_size or any(mine.get(token) != i for token, i in own.items()):
            raise InputError(
                f"the vocabulary of {cfg.processor} ({vocab_size} tokens) does not match the CTC head of {cfg.model} "
                f"({config.vocab_size} outputs, its own vocab.json); set new_head=true to train a new head"
            )
    config.update(
        {
            "vocab_size": vocab_size,
            "pad_token_id": tokenizer.pad_token_id,
            "ctc_loss_reduction": "mean",
            "ctc_zero_infinity": cfg.ctc_zero_infinity,
            "mask_time_prob": cfg.mask_time_prob,
            "mask_time_length": cfg.mask_time_length,
            "mask_feature_prob": cfg.mask_feature_prob,
            "mask_feature_length": cfg.mask_feature_length,
            "layerdrop": cfg.layerdrop,
            "attention_dropout": cfg.attention_dropout,
            "activation_dropout": cfg.activation_dropout,
            "hidden_dropout": cfg.hidden_dropout,
            "feat_proj_dropout": cfg.feat_proj_dropout,
            "final_dropout": cfg.final_dropout,
        }
    )
    model = AutoModelForCTC.from_pretrained(cfg.model, config=config, ignore_mismatched_sizes=cfg.new_head)
    if cfg.freeze_feature_encoder:
        model.freeze_feature_encoder()
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def checkpoints(output_dir: Path) -> list[Path]:
    """The whole checkpoints in `output_dir` (not ``*.partial`` ones), oldest step first."""
    found = [p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def last_checkpoint(output_dir: Path) -> Path | None:
    """The checkpoint with the highest step in `output_dir`, if any."""
    found = checkpoints(output_dir)
    return found[-1] if found else None


class Trainer:
    """One training run; `run()` trains and writes everything."""

    def __init__(self, cfg: TrainConfig, command: str) -> None:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed
        from transformers import AutoProcessor

        self.cfg, self.command = cfg, command
        self.out = Path(cfg.output_dir)
        handlers = [DistributedDataParallelKwargs(find_unused_parameters=cfg.layerdrop > 0)]
        # on a machine without GPUs, `accelerate launch --multi_gpu` starts the processes but accelerate 1.15
        # would leave each alone (DistributedType.NO): asking for the CPU makes them one gloo group
        cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.acc = Accelerator(mixed_precision=self._precision(), kwargs_handlers=handlers, cpu=cpu)
        set_seed(cfg.seed)
        try:
            self.processor = AutoProcessor.from_pretrained(cfg.processor)
        except OSError as err:
            raise InputError(f"processor {cfg.processor!r}: {str(err).splitlines()[0]}") from None
        self.normalize = folder_normalizer(Path(cfg.processor))
        self.labels = Labels.from_tokenizer(self.processor.tokenizer)
        self.train = load_split(
            cfg.train_manifest, self.processor.tokenizer, self.normalize, cfg.min_duration, cfg.max_duration
        )
        # dev and test are never filtered by duration: they are always scored whole
        tokenizer = self.processor.tokenizer
        self.dev = load_split(cfg.dev_manifest, tokenizer, self.normalize) if cfg.dev_manifest else None
        self.test = load_split(cfg.test_manifest, tokenizer, self.normalize) if cfg.test_manifest else None
        model = load_model(cfg, self.processor)
        self.attention_mask = getattr(model.config, "feat_extract_norm", "layer") == "layer"
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_epsilon,
            weight_decay=cfg.weight_decay,
        )  # fmt: skip
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.state = LoopState()
        self.acc.register_for_checkpointing(self.scheduler, self.state)
        train_hours = sum(ex.duration for ex in self.train.examples) / 3600
        self.audio = AudioStore(self.processor.feature_extractor.sampling_rate, train_hours <= cfg.cache_audio_hours)
        self.dev_audio = AudioStore(self.processor.feature_extractor.sampling_rate, True)

    def _precision(self) -> str:
        if self.cfg.mixed_precision != "auto":
            return self.cfg.mixed_precision
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"

    # batches ---------------------------------------------------------------------------------------------
    def _inputs(self, examples: list[Example], store: AudioStore) -> tuple[dict, torch.Tensor]:
        """The padded batch for the model, and each example's number of samples."""
        fe = self.processor.feature_extractor
        arrays = [store.get(ex) for ex in examples]
        features = fe(arrays, sampling_rate=fe.sampling_rate, padding=True, return_tensors="pt",
                      return_attention_mask=True)  # fmt: skip
        inputs = {"input_values": features.input_values.to(self.acc.device)}
        if self.attention_mask:
            inputs["attention_mask"] = features.attention_mask.to(self.acc.device)
        return inputs, features.attention_mask.sum(-1)

    def _labels(self, examples: list[Example]) -> torch.Tensor:
        width = max(len(ex.labels) for ex in examples)
        labels = torch.full((len(examples), width), -100, dtype=torch.long)
        for row, ex in enumerate(examples):
            labels[row, : len(ex.labels)] = torch.tensor(ex.labels)
        return labels.to(self.acc.device)

    def _epoch_batches(self, epoch: int) -> list[list[Example]]:
        exs = self.train.examples
        batches = length_grouped_batches(
            [ex.duration for ex in exs],
            self.cfg.max_batch_seconds,
            self.cfg.max_batch_size,
            self.cfg.seed,
            epoch,
            shortest_first=self.cfg.sortagrad and epoch == 0,
        )
        mine = shard(batches, self.acc.process_index, self.acc.num_processes)
        if len(mine) < self.cfg.gradient_accumulation_steps:
            raise InputError(
                f"{self.cfg.train_manifest}: {len(batches)} batches an epoch are too few for "
                f"{self.acc.num_processes} process(es) x gradient_accumulation_steps "
                f"{self.cfg.gradient_accumulation_steps}; lower max_batch_seconds"
            )
        return [[exs[i] for i in batch] for batch in mine]

    # steps -----------------------------------------------------------------------------------------------
    def _infeasible(self, batch: list[Example]) -> list[Example]:
        """Utterances whose labels (plus a blank between repeats) outnumber the model's frames: CTC cannot
        align them and their loss is infinite."""
        config = self.acc.unwrap_model(self.model).config
        conv = list(zip(config.conv_kernel, config.conv_stride, strict=True))
        rate = self.processor.feature_extractor.sampling_rate
        return [ex for ex in batch if ctc_min_frames(ex.labels) > ctc_frames(round(ex.duration * rate), conv)]

    def _micro_step(self, batch: list[Example], sync: bool) -> float:
        infeasible = self._infeasible(batch)
        if infeasible and not self.cfg.ctc_zero_infinity:
            raise TrainError(
                f"utterance(s) {', '.join(ex.id for ex in infeasible)} at step {self.state.step + 1} have more "
                f"labels than frames, so the CTC loss is infinite; set ctc_zero_infinity=true to skip them (counted)"
            )
        self.state.infeasible_utterances += len(infeasible)  # zero_infinity gives them a zero loss
        context = nullcontext() if sync else self.acc.no_sync(self.model)
        with context, self.acc.autocast():
            out = self.model(**self._inputs(batch, self.audio)[0], labels=self._labels(batch))
            loss = out.loss / self.cfg.gradient_accumulation_steps
        if not torch.isfinite(loss):
            ids = ", ".join(ex.id for ex in batch)
            if not self.cfg.ctc_zero_infinity:
                raise TrainError(
                    f"non-finite loss at step {self.state.step + 1} on utterances {ids}; set ctc_zero_infinity=true "
                    f"to skip such batches"
                )
            return math.nan
        self.acc.backward(loss)
        return float(loss.detach()) * self.cfg.gradient_accumulation_steps

    def _optimizer_step(self, group: list[list[Example]]) -> float:
        self.model.train()
        losses = [self._micro_step(batch, i == len(group) - 1) for i, batch in enumerate(group)]
        if any(math.isnan(x) for x in losses):
            self.state.skipped_batches += 1
            self.optimizer.zero_grad()
            return math.nan
        if self.cfg.max_grad_norm > 0:
            self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        if self.cfg.schedule_by == "budget":
            self.scheduler.last_epoch = self._schedule_position() - 1  # LambdaLR.step() adds one
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
    @torch.no_grad()
    def evaluate(self, split: Split, name: str = "dev") -> dict:
        """Greedy WER/CER over a whole split (``<name>_wer``, ...), split over the processes and gathered."""
        from accelerate.utils import broadcast_object_list, gather_object

        self.model.eval()
        exs = split.examples[self.acc.process_index :: self.acc.num_processes]
        batches = length_grouped_batches([ex.duration for ex in exs], self.cfg.eval_batch_seconds, 64, 0, 0)
        hyps = []
        model = self.acc.unwrap_model(self.model)
        for batch in batches:
            batch_exs = [exs[i] for i in batch]
            inputs, samples = self._inputs(batch_exs, self.dev_audio)
            with self.acc.autocast():
                logits = self.model(**inputs).logits.float().cpu().numpy()
            frames = model._get_feat_extract_output_lengths(samples).tolist()
            # each row cut to its own frames: the outputs at padded frames are not silence
            texts = [greedy(row[:n], self.labels) for row, n in zip(logits, frames, strict=True)]
            hyps += [(ex.id, ex.text, self.normalize(t)) for ex, t in zip(batch_exs, texts, strict=True)]
        gathered = gather_object(hyps)
        result = [None]
        if self.acc.is_main_process:
            score = score_corpus(sorted(gathered))
            totals = score.totals
            result = [{f"{name}_wer": totals["word"].counts.rate, f"{name}_cer": totals["char"].counts.rate,
                       f"{name}_utterances": len(gathered)}]  # fmt: skip
        broadcast_object_list(result)
        return result[0]

    # writing ---------------------------------------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        self.acc.wait_for_everyone()
        final = self.out / f"checkpoint-{self.state.step}"
        partial = self.out / f"{final.name}.partial"  # renamed when whole: a kill never leaves half a checkpoint
        if self.acc.is_main_process:
            shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving
        self.acc.wait_for_everyone()
        self.acc.save_state(str(partial))
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
            old = checkpoints(self.out)
            for path in old[: -self.cfg.save_total_limit] if self.cfg.save_total_limit > 0 else []:
                shutil.rmtree(path, ignore_errors=True)

    def _save_model(self, folder: str) -> None:
        if self.acc.is_main_process:
            self.acc.unwrap_model(self.model).save_pretrained(str(self.out / folder), safe_serialization=True)
            self.processor.save_pretrained(str(self.out / folder))
            text_config = Path(self.cfg.processor, TEXT_CONFIG)
            if text_config.exists():
                shutil.copy(text_config, self.out / folder)

    def _log(self, row: dict) -> None:
        self.state.history.append(row)
        if not self.acc.is_main_process:
            return
        path = self.out / "train_log.csv"
        columns = ["step", "epoch", "minutes", "loss", "lr", "dev_wer", "dev_cer", "dev_utterances"]
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, columns)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in columns})
        if self.tensorboard is not None:
            for key in ("loss", "lr", "dev_wer", "dev_cer"):
                if row.get(key) is not None:
                    self.tensorboard.add_scalar(key, row[key], row["step"])

    def _open_tensorboard(self):
        if not self.acc.is_main_process:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.out / "tensorboard"))

    # the run ---------------------------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        if self.acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
        self.acc.wait_for_everyone()
        resumed = self._checkpoint_to_resume()
        if resumed:
            self.acc.load_state(str(resumed))
        self.tensorboard = self._open_tensorboard()
        start = time.monotonic() - self.state.elapsed
        progress = self._progress(resumed)
        while self.state.step < cfg.max_steps:
            batches = self._epoch_batches(self.state.epoch)
            k = cfg.gradient_accumulation_steps
            while self.state.batch_in_epoch + k <= len(batches) and self.state.step < cfg.max_steps:
                group = batches[self.state.batch_in_epoch : self.state.batch_in_epoch + k]
                loss = self._optimizer_step(group)
                self.state.audio_seconds += sum(ex.duration for batch in group for ex in batch)
                self.state.batch_in_epoch += k
                self.state.step += 1
                self.state.elapsed = self._shared_elapsed(time.monotonic() - start)
                self._after_step(loss, progress)
                if self._time_up():
                    break
            if self._time_up():
                break
            if self.state.batch_in_epoch + k > len(batches):
                self.state.epoch += 1
                self.state.batch_in_epoch = 0
        progress.close()
        if self.state.last_eval_step != self.state.step:
            self._evaluate_and_log(loss=None)
        if self.state.step % cfg.save_steps:
            self._save_checkpoint()
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
        return bool(self.cfg.max_minutes) and self.state.elapsed >= self.cfg.max_minutes * 60

    def _schedule_position(self) -> int:
        """Where the learning-rate schedule stands for the coming step: with ``schedule_by: budget`` the share
        of max_steps or of max_minutes used, whichever is further, so that the schedule ends with the budget."""
        step = self.state.step + 1
        if self.cfg.max_minutes:
            step = max(step, int(self.cfg.max_steps * self.state.elapsed / (self.cfg.max_minutes * 60)))
        return step

    def _checkpoint_to_resume(self) -> Path | None:
        found = last_checkpoint(self.out)
        if self.cfg.resume == "true" and found is None:
            raise InputError(f"resume=true but {self.out} holds no checkpoint to resume from")
        if self.cfg.resume == "false" and found is not None:
            raise InputError(f"{self.out} holds {found.name}: resume it (resume=auto) or use a new output_dir")
        return found

    def _progress(self, resumed: Path | None):
        from tqdm import tqdm

        desc = f"train (from {resumed.name})" if resumed else "train"
        if self.cfg.max_minutes:  # the bar counts steps; the run may end earlier, at the budget
            desc += f", at most {self.cfg.max_minutes:g} min"
        return tqdm(total=self.cfg.max_steps, initial=self.state.step, desc=desc, unit="step",
                    disable=not self.acc.is_main_process)  # fmt: skip

    def _after_step(self, loss: float, progress) -> None:
        cfg, step = self.cfg, self.state.step
        progress.update(1)
        postfix = {} if math.isnan(loss) else {"loss": f"{loss:.3f}"}
        if cfg.max_minutes:
            postfix["left"] = f"{max(0.0, cfg.max_minutes - self.state.elapsed / 60):.1f} min"
        progress.set_postfix(postfix)
        if self.dev is not None and step % cfg.eval_steps == 0:
            self._evaluate_and_log(loss)
        elif step % cfg.logging_steps == 0:
            self._log(self._row(loss))
        if step % cfg.save_steps == 0:
            self._save_checkpoint()

    def _row(self, loss: float | None) -> dict:
        mean_loss = None
        if loss is not None and not math.isnan(loss):
            mean_loss = float(self.acc.reduce(torch.tensor(loss, device=self.acc.device), "mean"))
        return {
            "step": self.state.step, "epoch": self.state.epoch, "minutes": round(self.state.elapsed / 60, 3),
            "loss": mean_loss, "lr": self.scheduler.get_last_lr()[0],
        }  # fmt: skip

    def _evaluate_and_log(self, loss: float | None) -> None:
        row = self._row(loss)
        self.state.last_eval_step = self.state.step
        if self.dev is not None:
            row |= self.evaluate(self.dev)
            wer = row["dev_wer"]
            if wer is not None and (self.state.best_wer is None or wer < self.state.best_wer):
                self.state.best_wer, self.state.best_step = wer, self.state.step
                self._save_model("best")
        self._log(row)

    def _test(self) -> dict:
        """Greedy test WER/CER of the final model (the best on dev, loaded back, when there is one)."""
        if self.test is None:
            return {}
        if self.dev is not None and (self.out / "best" / "model.safetensors").exists():
            from safetensors.torch import load_file

            best = load_file(str(self.out / "best" / "model.safetensors"), device=str(self.acc.device))
            self.acc.unwrap_model(self.model).load_state_dict(best)
        return self.evaluate(self.test, "test")

    def _finish(self, resumed: Path | None) -> dict:
        self.acc.wait_for_everyone()
        final = self.out / "model"
        if self.acc.is_main_process:
            if self.dev is not None and (self.out / "best").exists():
                shutil.rmtree(final, ignore_errors=True)
                shutil.copytree(self.out / "best", final)
            else:
                self._save_model("model")
        test = self._test()
        info = {
            "command": self.command,
            "config": self.cfg.to_dict(),
            "num_processes": self.acc.num_processes,
            "distributed_type": str(self.acc.distributed_type),
            "mixed_precision": self.acc.mixed_precision,
            "device": str(self.acc.device),
            "steps": self.state.step,
            "epochs": self.state.epoch,
            "minutes": round(self.state.elapsed / 60, 3),
            "resumed_from": resumed.name if resumed else None,
            "best_dev_wer": self.state.best_wer,
            "best_step": self.state.best_step,
            "final_model": "best" if self.dev is not None else "last",
            **test,
            "skipped_batches": self.state.skipped_batches,
            "infeasible_utterances": self.state.infeasible_utterances,
            "audio_seconds_per_second": round(
                self.state.audio_seconds * self.acc.num_processes / max(self.state.elapsed, 1e-9), 2
            ),
            "train_utterances": len(self.train.examples),
            "train_filtered": self.train.filtered,
            "train_hours": round(sum(ex.duration for ex in self.train.examples) / 3600, 4),
            "history": self.state.history,
        }
        if self.acc.is_main_process:
            (final / "run_info.json").write_text(json.dumps(info, indent=1) + "\n")
            (self.out / "run_info.json").write_text(json.dumps(info, indent=1) + "\n")
            title = f"{self.cfg.model} on {self.cfg.train_manifest}"
            learning_curve(self.state.history, self.out / "learning_curve.png", title)
            if self.tensorboard is not None:
                self.tensorboard.close()
        self.acc.wait_for_everyone()
        self.acc.end_training()
        return info


def train(cfg: TrainConfig, command: str) -> dict:
    """Trains with `cfg`; returns the run information (also written to run_info.json)."""
    return Trainer(cfg, command).run()
