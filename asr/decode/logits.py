"""The logits cache: the network's log-probabilities of a (model, manifest) pair in one ``.npz`` file, so that LM
sweeps and other decoders reuse them. The network itself runs in `asr.inference`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from asr.inference import Posteriors

CACHE_VERSION = 2


def model_fingerprint(name: str, dtype: str, adapter: str | None) -> str:
    """Identifies the weights: a local folder by its files' sizes and times, a hub id by itself."""
    folder = Path(name)
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return json.dumps([str(folder.resolve()) if files else name, stats, dtype, adapter])


def manifest_fingerprint(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def cache_path(cache_dir: Path, model_key: str, manifest: Path) -> Path:
    """The cache file of a model (its `model_fingerprint`) on a manifest."""
    key = hashlib.sha1(f"{CACHE_VERSION}|{model_key}|{manifest_fingerprint(manifest)}".encode()).hexdigest()
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
