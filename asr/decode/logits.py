"""The logits cache: the network's log-probabilities of a (model, manifest) pair in one ``.npz`` file, so that LM
sweeps and other decoders reuse them. The network itself runs in `asr.inference`.

The key covers the model's files, the manifest's bytes and the audio the manifest points to (each file's
resolved path, size and modification time), so a copy of a data folder with other audio, or audio remade in
place, is never decoded from a stale cache. A cache file that cannot be read (a truncated write from another
tool, a full disk) is recomputed, not trusted.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from asr.data.manifest import Utterance
from asr.errors import InputError
from asr.inference import Posteriors

CACHE_VERSION = 5  # 4: the network pass (seconds, processes, device) in the metadata; 5: its batch seconds


def model_fingerprint(name: str, dtype: str, adapter: str | None, chunk_seconds: float) -> str:
    """Identifies the network's output: the weights (a local folder by its files' sizes and times, a hub id by
    itself), the dtype, the adapter and the chunking of long recordings."""
    folder = Path(name)
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return json.dumps([str(folder.resolve()) if files else name, stats, dtype, adapter, chunk_seconds])


def data_fingerprint(manifest: Path, utts: list[Utterance]) -> str:
    """The manifest's bytes and, for every audio file it names, the resolved path, size and modification time."""
    digest = hashlib.sha1(manifest.read_bytes())
    for path in sorted({u.audio_path(manifest.parent).resolve() for u in utts}):
        try:
            stat = path.stat()
        except OSError:
            raise InputError(f"{manifest}: audio file {path} is missing") from None
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_path(cache_dir: Path, model_key: str, manifest: Path, utts: list[Utterance]) -> Path:
    """The cache file of a model (its `model_fingerprint`) on a manifest and the audio it names."""
    data = data_fingerprint(manifest, utts)
    key = hashlib.sha1(f"{CACHE_VERSION}|{model_key}|{data}".encode()).hexdigest()
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


def load_cache(path: Path) -> tuple[Posteriors, dict] | None:
    """The cached log-probabilities and the record of the network pass that made them (seconds, processes,
    device); None (with a warning) when the file cannot be read whole."""
    try:
        with np.load(path) as data:
            ids = [str(i) for i in data["ids"]]
            bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
            flat = data["logprobs"]
            if bounds[-1] != len(flat):
                raise ValueError("lengths do not add up")
            logprobs = {i: flat[bounds[k] : bounds[k + 1]] for k, i in enumerate(ids)}
            seconds = dict(zip(ids, data["am_seconds"].tolist(), strict=True))
            return Posteriors(logprobs, seconds), json.loads(str(data["meta"]))["network"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        print(f"asr decode: {path}: unreadable cache ({err}); computing it again", file=sys.stderr)
        return None
