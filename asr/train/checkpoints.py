"""Checkpoints in a run folder: ``checkpoint-<step>/``, listed, saved whole, rotated, resumed, in formats that
cannot run code.

A checkpoint holds ``model.safetensors`` (weights), ``optimizer.pt`` (tensors and numbers only: loaded with
``torch.load(weights_only=True)``), ``trainer_state.json`` (the loop state, the scheduler, the gradient
scaler, the config the run was started with and the SHA-256 of the two files before it) and per process
``rng_<rank>.json`` + ``rng_<rank>.safetensors`` (Python, NumPy and torch generator states). Nothing is
unpickled on resume, unlike accelerate's ``save_state`` (whose ``custom_checkpoint_*.pkl`` and
``random_states_*.pkl`` are loaded with ``weights_only=False``: a planted file would run code). A checkpoint is
written to ``checkpoint-<step>.partial``, flushed to the disk and renamed when whole, so neither a kill nor a
power loss leaves half a checkpoint; a ``.partial`` folder left by a kill is ignored and cleared by the next
save.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.errors import InputError, writing
from asr.folders import replace_folder, synced, umask_modes, unlinked

STATE_FILE = "trainer_state.json"
#: the files whose SHA-256 trainer_state.json records, compared on resume
CHECKED = ("model.safetensors", "optimizer.pt")


def checkpoints(output_dir: Path) -> list[Path]:
    """The whole checkpoints in `output_dir` (not ``*.partial`` ones), oldest step first."""
    found = [p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return sorted(found, key=_step)


def _step(checkpoint: Path) -> int:
    """The step of ``checkpoint-<step>``."""
    return int(checkpoint.name.split("-")[-1])


def last_checkpoint(output_dir: Path) -> Path | None:
    """The checkpoint with the highest step in `output_dir`, if any."""
    found = checkpoints(output_dir)
    return found[-1] if found else None


def to_resume(output_dir: Path, resume: str) -> Path | None:
    """The checkpoint a run continues from under ``resume`` auto (the last, if any), true (must) or false."""
    found = last_checkpoint(output_dir)
    if resume == "true" and found is None:
        raise InputError(f"resume=true but {output_dir} holds no checkpoint to resume from")
    if resume == "false" and found is not None:
        raise InputError(f"{output_dir} holds {found.name}: resume it (resume=auto) or use a new output_dir")
    return found


@dataclass
class TrainingState:
    """What a checkpoint restores besides the weights: the optimizer, the scheduler, the loop's own state (a
    JSON-able dict), the config the run was started with and what it read (`inputs`: digests of its manifests
    and vocabulary, its number of processes), which a resumed run compares."""

    model: object  # as prepared by accelerate
    optimizer: object
    scheduler: object
    loop: dict
    config: dict
    inputs: dict = field(default_factory=dict)


def save_checkpoint(acc, output_dir: Path, step: int, keep: int, state: TrainingState) -> None:
    """Saves the run's state (all processes take part) as checkpoint-<step>, keeping the last `keep` (0: all)."""
    import torch
    from safetensors.torch import save_file

    acc.wait_for_everyone()
    final = output_dir / f"checkpoint-{step}"
    partial = output_dir / f"{final.name}.partial"
    if acc.is_main_process:
        shutil.rmtree(unlinked(partial), ignore_errors=True)  # left by a run killed while saving
        partial.mkdir(parents=True)
    acc.wait_for_everyone()
    _save_rng(partial, acc.process_index)
    if acc.is_main_process:
        weights = {k: v.detach().cpu().contiguous() for k, v in acc.unwrap_model(state.model).state_dict().items()}
        scaler = acc.scaler.state_dict() if acc.scaler is not None else None
        trainer = {"loop": state.loop, "scheduler": state.scheduler.state_dict(), "scaler": scaler,
                   "config": state.config, "inputs": state.inputs}  # fmt: skip
        with _or_removed(partial):
            save_file(weights, str(partial / "model.safetensors"))
            umask_modes(partial)
            torch.save(state.optimizer.state_dict(), partial / "optimizer.pt")
            trainer["sha256"] = {name: _sha256(partial / name) for name in CHECKED}
            (partial / STATE_FILE).write_text(json.dumps(trainer, indent=1) + "\n", encoding="utf-8")
    acc.wait_for_everyone()
    if acc.is_main_process:
        with _or_removed(partial):  # every process's files written (R72: another's was being renamed into place)
            synced(partial)
        replace_folder(partial, unlinked(final))  # the end-of-run save can write a step saved already
        for path in checkpoints(output_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(unlinked(path), ignore_errors=True)
    acc.wait_for_everyone()


@contextlib.contextmanager
def _or_removed(partial: Path) -> Iterator[None]:
    """Removes the checkpoint folder being written where the body fails (a full disk: one line naming it, none of
    it left; the rerun resumes from the last)."""
    try:
        with writing(partial):
            yield
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def read_state(path: Path) -> dict:
    """A checkpoint's trainer state (``loop``, ``scheduler``, ``scaler`` and ``config``): read before anything
    is loaded, so that a run can compare configs first."""
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{path}: not a checkpoint this version can resume ({str(err).splitlines()[0]})") from None
    except ValueError as err:  # empty, zeros, cut short: a crash's
        raise _damaged(path, f"{STATE_FILE} is no JSON: {str(err).splitlines()[0]}") from None
    missing = [k for k in ("loop", "scheduler", "config") if not isinstance(state, dict) or k not in state]
    if missing:
        raise InputError(f"{path}: not a checkpoint this version can resume ({STATE_FILE} lacks {', '.join(missing)})")
    if not_objects := [k for k in ("loop", "scheduler", "config") if not isinstance(state[k], dict)]:
        raise InputError(f"{path}: not a checkpoint this version can resume (in {STATE_FILE}, "
                         f"{', '.join(not_objects)} not an object)")  # fmt: skip
    return state


def load_checkpoint(acc, path: Path, state: TrainingState) -> None:
    """Restores weights, optimizer, scheduler, scaler and this process's generators from `path`."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    trainer = read_state(path)
    recorded = trainer.get("sha256")  # none in a checkpoint of an earlier version
    for name, digest in recorded.items() if isinstance(recorded, dict) else ():
        if name in CHECKED and _sha256(path / name) != digest:
            raise _damaged(path, f"{name} is not the file saved: cut short, or zeros a crash left?")
    try:
        weights = load_file(str(path / "model.safetensors"))
        optimizer = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        rng = _read_rng(path, acc.process_index)
    except (OSError, ValueError, RuntimeError, KeyError, pickle.UnpicklingError, SafetensorError) as err:
        # SafetensorError: a truncated file; OSError: a generator file missing
        raise InputError(f"{path}: not a checkpoint this version can resume ({str(err).splitlines()[0]})") from None
    try:
        acc.unwrap_model(state.model).load_state_dict(weights)
        state.optimizer.load_state_dict(optimizer)
    except (ValueError, RuntimeError) as err:
        raise InputError(f"{path}: not a checkpoint of this model ({str(err).splitlines()[0]})") from None
    try:
        state.scheduler.load_state_dict(trainer["scheduler"])
    except (TypeError, ValueError, KeyError) as err:
        raise InputError(f"{path}: not a checkpoint this version can resume (its scheduler: {err})") from None
    _take_config(state)
    if acc.scaler is not None and trainer.get("scaler"):
        acc.scaler.load_state_dict(trainer["scaler"])
    if rng is not None:
        _set_rng(*rng)


def _sha256(path: Path) -> str | None:
    """The file's SHA-256 (None where it is missing): about 1 GB/s, seconds for a large model's checkpoint."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def _damaged(path: Path, why: str) -> InputError:
    """The error for the damaged checkpoint `path`, naming the one before it, which a run resumes from once
    `path` is removed (R70: a crash's zeros were blamed on the version, or resumed as a diverging run)."""
    earlier = [c for c in checkpoints(path.parent) if _step(c) < _step(path)]
    then = f"remove it to resume from {earlier[-1].name}" if earlier else "remove it to start the run afresh"
    return InputError(f"{path}: damaged ({why}); {then}")


def _take_config(state: TrainingState) -> None:
    """The run's learning rate and AdamW settings over those the optimizer and scheduler states brought back:
    a run resumed with changes trained on with the checkpoint's while run_info.json named the new ones (an
    unchanged run recomputes the same values)."""
    cfg, scheduler = state.config, state.scheduler
    scheduler.base_lrs = [cfg["learning_rate"] for _ in scheduler.base_lrs]
    groups = zip(state.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True)
    for group, base, schedule in groups:
        group.update(initial_lr=base, lr=base * schedule(scheduler.last_epoch), eps=cfg["adam_epsilon"],
                     betas=(cfg["adam_beta1"], cfg["adam_beta2"]), weight_decay=cfg["weight_decay"])  # fmt: skip


def _save_rng(folder: Path, rank: int) -> None:
    import torch
    from safetensors.torch import save_file

    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    numbers = {"python": [version, list(mt), gauss], "numpy": [kind, keys.tolist(), pos, has_gauss, cached]}
    (folder / f"rng_{rank}.json").write_text(json.dumps(numbers), encoding="utf-8")
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors |= {f"cuda_{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    save_file(tensors, str(folder / f"rng_{rank}.safetensors"))
    umask_modes(folder / f"rng_{rank}.safetensors")


def _read_rng(folder: Path, rank: int) -> tuple[dict, dict] | None:
    """This process's saved generator states (numbers, tensors); None where it did not save any (resumed with
    more processes than saved it: their generators start anew)."""
    from safetensors.torch import load_file

    numbers_file, tensors_file = folder / f"rng_{rank}.json", folder / f"rng_{rank}.safetensors"
    if not numbers_file.is_file():
        return None
    return json.loads(numbers_file.read_text(encoding="utf-8")), load_file(str(tensors_file))


def _set_rng(numbers: dict, tensors: dict) -> None:
    import torch

    version, mt, gauss = numbers["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = numbers["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda_")), key=lambda k: int(k[5:]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
