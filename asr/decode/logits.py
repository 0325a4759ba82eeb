"""The logits cache: the network's log-probabilities of a (model, manifest) pair in one ``.npz`` file, so that LM
sweeps and other decoders reuse them. The network itself runs in `asr.inference`.

The key covers the model's weights as read (their hash) and its configs, the manifest's bytes and the audio
the manifest points to (each file's resolved path, size, times and inode), so another model under the
same name, a copy of a data folder with other audio, or audio remade in place, is never decoded from a stale
cache. A cache file that cannot be read (a truncated write from another tool, a full disk) is recomputed, not
trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from asr.data.manifest import Utterance
from asr.errors import InputError
from asr.folders import locked_alone, name_start
from asr.inference import CTCInference, Posteriors

CACHE_VERSION = 8  # 4: the network pass (seconds, processes, device) in the metadata; 5: its batch seconds; 6:
# the model by its weights' hash and configs (a hub id was itself, a folder its files' sizes and times); 7: the
# batching below float32; 8: the batching on a GPU, and each audio file's inode and change time


def model_fingerprint(
    model: CTCInference,
    dtype: str,
    adapter: str | None,
    chunk_seconds: float,
    batching: tuple[float, int] | None = None,
) -> str:
    """Identifies the network's output: the weights as read (`CTCInference.weights`: a hub id that now names
    other weights, or a folder whose weights were replaced, is another model), the model's and its feature
    extractor's configs, the dtype, the adapter and the chunking of long recordings; below float32 and on a GPU
    also the `batching` (batch seconds, processes), on which its outputs depend there (float32's on a CPU: within
    1e-6; on an H200, 5 of 120 greedy hypotheses of a random base model changed: README, gpu_check.py)."""
    config = {k: v for k, v in model.model.config.to_dict().items() if k not in ("_name_or_path", "dtype")}
    features = model.processor.feature_extractor.to_dict()
    batched = batching if dtype != "float32" or model.device.type != "cpu" else None
    return json.dumps(
        [model.weights, config, features, dtype, adapter, chunk_seconds, batched], sort_keys=True, default=str
    )


def data_fingerprint(manifest: Path, utts: list[Utterance]) -> str:
    """The manifest's bytes and, for every audio file it names, the resolved path, size, modification and change
    times and inode (a file rewritten within the same timestamp tick, or replaced by another, is another file)."""
    digest = hashlib.sha1(manifest.read_bytes())
    for path in sorted({u.audio_path(manifest.parent).resolve() for u in utts}):
        try:
            stat = path.stat()
        except OSError:
            raise InputError(f"{manifest}: audio file {path} is missing") from None
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}\n".encode())
    return digest.hexdigest()


def cache_path(cache_dir: Path, model_key: str, manifest: Path, utts: list[Utterance]) -> Path:
    """The cache file of a model (its `model_fingerprint`) on a manifest and the audio it names; named by the
    manifest's name, its first 100 bytes (R80: a long one passed the file system's limit, and no decode ran)."""
    data = data_fingerprint(manifest, utts)
    key = hashlib.sha1(f"{CACHE_VERSION}|{model_key}|{data}".encode()).hexdigest()
    return cache_dir / f"{name_start(manifest.stem)}.{key[:16]}.npz"


def save_cache(path: Path, post: Posteriors, meta: dict) -> None:
    """One .npz: concatenated log-probs with offsets, ids, network seconds, and metadata (written whole). A cache
    that cannot be written (a full disk) is a warning, and no file: the decode goes on without it (it failed,
    losing the network pass, and left its partial file filling the disk)."""
    ids = list(post.logprobs)
    lengths = np.array([len(post.logprobs[i]) for i in ids], dtype=np.int64)
    tmp = path.with_suffix(".partial.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _held_alone(tmp) as f:
            if f is None:  # another decode writes the same entry (same key: the same logits) now
                return
            np.savez(
                f,
                ids=np.array(ids),
                lengths=lengths,
                logprobs=np.concatenate([post.logprobs[i] for i in ids]),
                am_seconds=np.array([post.am_seconds[i] for i in ids]),
                meta=np.array(json.dumps(meta)),
            )
            f.flush()
            tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        print(f"warning: {path}: logits cache not written ({err.strerror or err}); decoding without it",
              file=sys.stderr)  # fmt: skip
    except BaseException:  # a stop mid-write left the part, as large as the entry, until a decode of its key
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _held_alone(tmp: Path) -> Iterator[BinaryIO | None]:
    """`tmp` opened empty for writing under an exclusive lock, or None where another process holds it: two
    decodes sharing a cache wrote one partial file at once, and one moved in the other's half-written file."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
    with os.fdopen(fd, "wb") as f:
        held = locked_alone(fd, tmp)  # False also for a file the holder has moved in and left
        if held:
            f.truncate(0)
        yield f if held else None


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
