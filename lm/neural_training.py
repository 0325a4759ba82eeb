"""Training a causal Transformer LM (`asr lm train`), resumable: a run that is stopped (Ctrl-C, a killed job)
goes on from ``<out>.checkpoint`` when the same command runs again, and ends where an uninterrupted run ends
(the same weights: the epoch's shuffle, the `<unk>` draws, dropout and AdamW state are restored). The
checkpoint is written every `CHECKPOINT_SECONDS`, at Ctrl-C (after the step under way) and when training ends
(a stop during the dev perplexity or the write goes on from there, training no step again), and removed when
the LM is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
import random
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from asr.errors import InputError, Terminated
from asr.folders import umask_modes, write_together, write_whole
from asr.text import Normalizer
from lm.folder import LM_SCHEMA_VERSION, check_out
from lm.neural import INFO_FILE, NeuralLM, scratch_lm
from lm.text import dropped_lines, sentences_of, text_sha256

CHECKPOINT_SECONDS = 300.0  # a killed run loses at most this much training
STATE_FILE = "state.pt"


@dataclass
class Progress:
    """Where a run is, besides its weights and optimiser: what a checkpoint holds."""

    steps: int = 0
    seen: int = 0  # sentences trained on
    seconds: float = 0.0  # of training, over every run that went on from a checkpoint
    epoch_rng: tuple | None = None  # the sentence order's random state at the current epoch's start
    batches: int = 0  # batches of the current epoch done


def unk_some(sentence: str, once: set[str], rng: random.Random) -> str:
    """The sentence with each word seen once in training replaced by ``<unk>`` half the time."""
    if not once:
        return sentence
    return " ".join("<unk>" if w in once and rng.random() < 0.5 else w for w in sentence.split())


def train_neural_lm(
    texts: list[Path],
    out: Path,
    normalize: Normalizer,
    dev: list[Path],
    max_minutes: float,
    from_model: str | None = None,
    seed: int = 0,
    batch_size: int = 32,
    max_steps: int = 0,
) -> dict:
    """Trains a causal LM on the normalised sentences of `texts` for `max_minutes`, or `max_steps` steps where
    they come first (0: no step limit; both count the runs it resumed); writes the model, its tokenizer and
    ``lm.json`` (with the dev perplexity) to `out`, whole or not at all; returns the lm.json content."""
    import torch

    dropped, dev_dropped, kept = Counter(), Counter(), Counter()
    megabytes = sum(p.stat().st_size for p in texts if p.is_file()) / 1e6
    # said first: about 20 s at 5M words before the bar, without a word
    print(f"asr lm train: reading and normalising {len(texts)} text file(s), {megabytes:.1f} MB", file=sys.stderr)
    sentences = sentences_of(texts, normalize, "--text", dropped, kept)
    dev_sentences = sentences_of(dev, normalize, "--dev", dev_dropped) if dev else []
    check_out(out, "transformer")  # before the training it would waste
    lm = NeuralLM.load(from_model) if from_model else scratch_lm(sentences, seed)
    optimizer = torch.optim.AdamW(lm.model.parameters(), lr=5e-5 if from_model else 2e-3)
    settings = {"text": _digest(sentences), "normalizer": normalize.id, "from": from_model, "seed": seed,
                "batch_size": batch_size}  # fmt: skip
    checkpoint = out.absolute().with_name(out.name + ".checkpoint")
    progress = _resume(checkpoint, settings, lm, optimizer)
    cut = sum(len(lm.tokens(s)) > lm.context for s in sentences)
    if cut:
        print(f"asr lm train: {cut} sentence(s) longer than the model's context ({lm.context} tokens) train on "
              "their start only", file=sys.stderr)  # fmt: skip
    once = {w for w, n in Counter(w for s in sentences for w in s.split()).items() if n == 1}
    order = Order(sentences, set() if from_model else once, seed, batch_size)
    lm.model.train()
    _train(lm, optimizer, order, progress, max_minutes, max_steps,
           lambda: _save(checkpoint, settings, lm, optimizer, progress))  # fmt: skip
    lm.model.eval()
    if dev:
        print(f"asr lm train: dev perplexity of {len(dev_sentences)} sentence(s)", file=sys.stderr)
    info = {"schema": LM_SCHEMA_VERSION, "kind": "transformer", "normalizer": normalize.id, "from": from_model,
            "seed": seed, "steps": progress.steps, "max_steps": max_steps, "max_minutes": max_minutes,
            "epochs": round(progress.seen / len(sentences), 2), "minutes": round(progress.seconds / 60, 2),
            "parameters": sum(p.numel() for p in lm.model.parameters()), "vocabulary": len(lm.tokenizer),
            "text": {"files": {str(p): kept[p] for p in texts}, "sentences": len(sentences),  # as an n-gram's
                     "sha256": text_sha256(sentences), "cut_to_context": cut,
                     "dropped_lines": dropped_lines(texts, dropped)},
            "dev": {"files": [str(p) for p in dev], "dropped_lines": dropped_lines(dev, dev_dropped),
                    **lm.perplexity(dev_sentences)} if dev else None}  # fmt: skip

    def write(folder: Path) -> dict:
        lm.model.save_pretrained(str(folder), safe_serialization=True)
        umask_modes(folder)
        lm.tokenizer.save_pretrained(str(folder))
        (folder / INFO_FILE).write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return info

    written = write_whole(out, write)
    shutil.rmtree(checkpoint, ignore_errors=True)
    return written


@dataclass(frozen=True)
class Order:
    """The training sentences, with what draws each epoch's order: words seen once, seed, batch size."""

    sentences: list[str]
    once: set[str]  # trained as <unk> half the time (none for a --from model's subword tokenizer)
    seed: int
    batch_size: int

    def epoch(self, rng: random.Random) -> list[str]:
        order = [unk_some(s, self.once, rng) for s in self.sentences]
        rng.shuffle(order)
        return order


def _train(lm, optimizer, order: Order, progress: Progress, max_minutes: float, max_steps: int, save) -> None:
    """The training loop, from `progress` on; `save` writes a checkpoint (every CHECKPOINT_SECONDS, at the end,
    and at a Ctrl-C, after the step it came in: saved in the middle of one, the rerun drew other dropout masks or made
    an optimiser step twice)."""
    from asr.progress import progress_bar

    rng, size = random.Random(order.seed), order.batch_size
    if progress.epoch_rng is not None:
        rng.setstate(progress.epoch_rng)
    start, saved = time.monotonic() - progress.seconds, time.monotonic()

    def done() -> bool:
        progress.seconds = time.monotonic() - start
        return progress.seconds >= max_minutes * 60 or 0 < max_steps <= progress.steps

    total = round(max_minutes * 60)
    bar = progress_bar(total=total, initial=round(progress.seconds), desc="train LM", unit="s")
    with _stopped_between_steps() as stopped, bar:
        while not done():
            progress.epoch_rng = rng.getstate()
            sentences = order.epoch(rng)
            for k in range(progress.batches * size, len(sentences), size):
                ids, labels = lm.batch(sentences[k : k + size])
                loss = lm.model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                progress.steps, progress.batches = progress.steps + 1, progress.batches + 1
                progress.seen += len(sentences[k : k + size])
                # drawn by update, at most every LOG_INTERVAL into a log (a redraw each step: R44)
                bar.set_postfix(loss=f"{loss.item():.3f}", epoch=f"{progress.seen / len(sentences):.1f}", refresh=False)
                bar.update(min(round(time.monotonic() - start), bar.total) - bar.n)
                if stopped:
                    done()  # the seconds trained, to the last step
                    save()
                    raise _stop(stopped[0])
                if done():
                    save()
                    return
                if time.monotonic() - saved >= CHECKPOINT_SECONDS:
                    save()
                    saved = time.monotonic()
            progress.batches = 0


@contextlib.contextmanager
def _stopped_between_steps() -> Iterator[list[int]]:
    """A list that a first Ctrl-C or SIGTERM fills with its signal (the loop stops after its step, see `_stop`); a
    second stops at once (the last checkpoint stays). A SIGTERM (a scheduler's or `kill`'s stop) stopped at once
    and lost the training since the last checkpoint (R35). Outside the main thread, where no handler can be set,
    they stop at once."""
    pending: list[int] = []

    def handler(signum, frame) -> None:
        if pending:
            raise _stop(signum)
        pending.append(signum)

    stops = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = [signal.signal(signum, handler) for signum in stops]
    except ValueError:  # not the main thread
        yield pending
        return
    try:
        yield pending
    finally:
        for signum, before in zip(stops, previous, strict=True):
            signal.signal(signum, before)


def _stop(signum: int) -> KeyboardInterrupt:
    """What a stop by `signum` raises: `Terminated` for SIGTERM (exit 143), else KeyboardInterrupt (130)."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _digest(sentences: list[str]) -> str:
    """A digest of the training sentences: a checkpoint goes on only with the text it was trained on."""
    return hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()[:16]


def _save(checkpoint: Path, settings: dict, lm: NeuralLM, optimizer, progress: Progress) -> None:
    """Writes the checkpoint (a file renamed into place: a kill while writing leaves the last one; a full disk
    one line naming it, and no part left filling the disk)."""
    import torch

    checkpoint.mkdir(parents=True, exist_ok=True)
    state = {"settings": settings, "progress": asdict(progress), "model": lm.model.state_dict(),
             "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}  # fmt: skip
    write_together({checkpoint / STATE_FILE: lambda part: torch.save(state, part)})


def _resume(checkpoint: Path, settings: dict, lm: NeuralLM, optimizer) -> Progress:
    """The progress of an earlier run of these settings, its weights and optimiser loaded; a fresh one where
    there is no checkpoint; `InputError` for a checkpoint of other settings."""
    import torch

    path = checkpoint / STATE_FILE
    if not path.is_file():
        return Progress()
    try:
        state = torch.load(path, weights_only=True)  # tensors and plain values: a planted file runs no code
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        # the error's own text: torch's advice to load with weights_only=False, over many lines
        raise InputError(f"{path}: not a readable checkpoint of asr lm train ({type(err).__name__}); remove it to "
                         "start afresh") from None  # fmt: skip
    if state.get("settings") != settings:
        differ = ", ".join(k for k in settings if state.get("settings", {}).get(k) != settings[k])
        raise InputError(f"{checkpoint}: the checkpoint of a stopped run with other settings ({differ}); run it with "
                         "the same ones to go on, or remove it to start afresh")  # fmt: skip
    lm.model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    progress = Progress(**state["progress"])
    print(f"asr lm train: going on from {checkpoint} at step {progress.steps} ({progress.seconds / 60:.1f} min "
          "trained)", file=sys.stderr)  # fmt: skip
    return progress
