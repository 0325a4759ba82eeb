"""Acoustic model inference: log-probabilities per utterance, batched without changing the result, cached.

Batches are grouped by length under an audio-seconds budget with attention masks, so that a batch's padding
never reaches a real frame. Models whose feature extractor takes no attention mask (wav2vec2-base and others
with group-normalised convolutions: the group norm spans the padding) are run on equal-length batches only,
which is what keeps their results independent of the batch size. The cache file of a (model, manifest) pair
lets LM sweeps and other decoders reuse the network's output.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.data.audio import load_audio
from asr.data.manifest import Utterance
from asr.errors import InputError

CACHE_VERSION = 1


@dataclass
class Posteriors:
    """Log-probabilities (frames x tokens) per utterance id, and the network seconds spent on each."""

    logprobs: dict[str, np.ndarray]
    am_seconds: dict[str, float]


class AcousticModel:
    """A CTC model and its processor, from a local folder or a hub id."""

    def __init__(self, model: str, device: str = "cpu", dtype: str = "float32") -> None:
        import torch
        from transformers import AutoModelForCTC, Wav2Vec2Processor

        try:
            self.processor = Wav2Vec2Processor.from_pretrained(model)
            self.model = AutoModelForCTC.from_pretrained(model, dtype=getattr(torch, dtype)).to(device).eval()
        except OSError as err:
            raise InputError(f"{model}: cannot load a CTC model and processor: {err}") from None
        self.name, self.device, self.dtype = model, device, dtype
        self.attention_mask = bool(self.processor.feature_extractor.return_attention_mask)
        self.rate = self.processor.feature_extractor.sampling_rate

    def fingerprint(self) -> str:
        """Identifies the weights: a local folder by its files' sizes and times, a hub id by itself."""
        folder = Path(self.name)
        files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
        stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        return json.dumps([str(folder.resolve()) if files else self.name, stats, self.dtype])

    def batches(self, utts: list[Utterance], batch_seconds: float) -> list[list[Utterance]]:
        """Longest first, padded length within `batch_seconds`; equal lengths only without attention masks."""
        ordered = sorted(utts, key=lambda u: (-u.duration, u.id))
        out: list[list[Utterance]] = []
        for utt in ordered:
            batch = out[-1] if out else None
            fits = batch is not None and batch[0].duration * (len(batch) + 1) <= batch_seconds
            if fits and (
                self.attention_mask or round(utt.duration * self.rate) == round(batch[0].duration * self.rate)
            ):
                batch.append(utt)
            else:
                out.append([utt])
        return out

    def run(self, utts: list[Utterance], base: Path) -> tuple[list[np.ndarray], float]:
        """Log-probabilities of one batch, each cut to its own frames; and the seconds it took."""
        import torch

        start = time.perf_counter()
        arrays = [
            load_audio(u.audio_path(base), self.rate, u.offset or 0.0, u.duration if u.offset is not None else None)
            for u in utts
        ]
        fe = self.processor.feature_extractor
        features = fe(arrays, sampling_rate=self.rate, padding=True, return_tensors="pt", return_attention_mask=True)
        inputs = {"input_values": features.input_values.to(self.device, getattr(torch, self.dtype))}
        if self.attention_mask:
            inputs["attention_mask"] = features.attention_mask.to(self.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1).cpu().numpy()
            frames = self.model._get_feat_extract_output_lengths(features.attention_mask.sum(-1)).tolist()
        return [logprobs[i, : int(n)] for i, n in enumerate(frames)], time.perf_counter() - start


def manifest_fingerprint(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def cache_path(cache_dir: Path, model: AcousticModel, manifest: Path) -> Path:
    key = hashlib.sha1(f"{CACHE_VERSION}|{model.fingerprint()}|{manifest_fingerprint(manifest)}".encode()).hexdigest()
    return cache_dir / f"{manifest.stem}.{key[:16]}.npz"


def save_cache(path: Path, post: Posteriors, meta: dict) -> None:
    """One .npz: concatenated log-probs with offsets, ids, network seconds, and metadata (written whole)."""
    ids = list(post.logprobs)
    lengths = np.array([len(post.logprobs[i]) for i in ids], dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.npz")
    np.savez(
        tmp,
        ids=np.array(ids),
        lengths=lengths,
        logprobs=np.concatenate([post.logprobs[i] for i in ids]),
        am_seconds=np.array([post.am_seconds[i] for i in ids]),
        meta=np.array(json.dumps(meta)),
    )
    tmp.replace(path)


def load_cache(path: Path) -> Posteriors:
    with np.load(path) as data:
        ids = [str(i) for i in data["ids"]]
        bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
        flat = data["logprobs"]
        logprobs = {i: flat[bounds[k] : bounds[k + 1]] for k, i in enumerate(ids)}
        return Posteriors(logprobs, dict(zip(ids, data["am_seconds"].tolist(), strict=True)))


def compute(model: AcousticModel, utts: list[Utterance], base: Path, batch_seconds: float, desc: str) -> Posteriors:
    """Log-probabilities of `utts` (this process's share); network time split over a batch by duration."""
    post = Posteriors({}, {})
    batches = model.batches(utts, batch_seconds)
    seconds_total = sum(u.duration for u in utts)
    with tqdm(total=round(seconds_total), desc=desc, unit="audio s") as bar:
        for batch in batches:
            outputs, seconds = model.run(batch, base)
            batch_audio = sum(u.duration for u in batch)
            for utt, logprobs in zip(batch, outputs, strict=True):
                post.logprobs[utt.id] = logprobs
                post.am_seconds[utt.id] = seconds * utt.duration / batch_audio
            bar.update(round(batch_audio))
    return post
