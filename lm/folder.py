"""An LM folder made by `asr lm build`: its files, its ``lm.json``, and the checks against a model.

``lm.arpa``, ``lm.bin`` (KenLM trie), ``unigrams.txt`` (the words, for the beam search), ``text.txt`` (the
normalised training text) and ``lm.json`` (what was built, from what, with which normaliser, its dev
perplexity; with a schema version). Decoding reads n-gram LMs only through this class (a Transformer LM folder
from `asr lm train` is `lm.neural`'s, with the same ``lm.json`` name).
"""

from __future__ import annotations

import json
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

from asr.errors import InputError
from asr.folders import check_not_current

LM_FILES = {"arpa": "lm.arpa", "binary": "lm.bin", "unigrams": "unigrams.txt", "info": "lm.json", "text": "text.txt"}
LM_SCHEMA_VERSION = 1
#: what a decode records of the LM it used
SUMMARY_KEYS = ("order", "options", "normalizer", "vocabulary", "ngrams", "text", "dev")


def read_info(folder: Path) -> dict:
    """The ``lm.json`` of an LM folder; `InputError` when the folder is not one."""
    path = Path(folder) / LM_FILES["info"]
    if not path.is_file():
        raise InputError(f"{folder}: not an LM folder (no {LM_FILES['info']}; make one with 'asr lm build')")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: unreadable ({err}); rebuild with 'asr lm build'") from None
    if not isinstance(info, dict) or not isinstance(info.get("normalizer"), str):
        raise InputError(f"{path}: not an lm.json written by 'asr lm build' (no normalizer)")
    return info


def _identity(path: Path) -> int | None:
    """The inode at `path` now (None where nothing is there: a folder between the two moves that replace it)."""
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def check_out(out: Path, kind: str) -> None:
    """Refuses an ``--out`` that cannot be replaced by an LM of `kind`: a file, the current folder (or one
    above it), a folder holding anything but such an LM."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file, not a folder")
    check_not_current(out)
    claim_out(out, kind)


def claim_out(out: Path, kind: str) -> None:
    """Refuses an ``--out`` that holds anything but an LM of `kind` ("ngram" or "transformer"): rebuilding
    replaces the folder, and another LM's lm.json would describe the wrong model."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    path = out / LM_FILES["info"]
    try:
        made = json.loads(path.read_text(encoding="utf-8")).get("kind", "ngram") if path.is_file() else None
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        made = None
    if made != kind:
        what = f"a {made} LM" if made else "files that are not an LM"
        raise InputError(f"--out {out} holds {what}; use another --out (it would be replaced)")


@dataclass(frozen=True)
class LMFolder:
    """A built LM folder: the binary model, its words and the normaliser of its text. The binary is held open
    from `load` on (`model_path`): an LM rebuilt into the folder during a decode (`asr lm build` replaces it
    whole) changed the n-gram under the words and lm.json read before, and between two tuning points."""

    folder: Path
    binary: Path
    unigrams: list[str]
    normalizer: str
    info: dict
    binary_fd: int

    @classmethod
    def load(cls, folder: Path) -> LMFolder:
        """The n-gram LM in `folder` (made by `asr lm build`); one line where it is not one or lacks a file."""
        folder = Path(folder)
        identity = _identity(folder)
        info = read_info(folder)
        if info.get("kind") == "transformer":  # `asr lm train`'s: a rescoring LM (--rescore), not a KenLM n-gram
            raise InputError(f"{folder}: a Transformer LM (asr lm train), not an n-gram; it rescores n-best lists "
                             "(asr decode --rescore), and the n-gram comes from 'asr lm build'")  # fmt: skip
        binary, words = folder / LM_FILES["binary"], folder / LM_FILES["unigrams"]
        for path in (binary, words):
            if not path.is_file():
                raise InputError(f"{folder}: {path.name} is missing (rebuild with 'asr lm build')")
        replaced = InputError(f"{folder}: replaced while it was read (an 'asr lm build' into it?); run again")
        try:
            fd = os.open(binary, os.O_RDONLY)
            try:
                unigrams = words.read_text(encoding="utf-8").split()
            except BaseException:
                os.close(fd)
                raise
        except FileNotFoundError:
            raise replaced from None
        lm = cls(folder, binary, unigrams, info["normalizer"], info, fd)
        weakref.finalize(lm, os.close, fd)
        if _identity(folder) != identity or _identity(binary) != os.fstat(fd).st_ino:
            raise replaced
        # without its words a binary LM decodes ~3x slower with only a warning: they are required here
        if not lm.unigrams:
            raise InputError(f"{words}: no words")
        lm.check_whole()
        return lm

    def check_whole(self) -> None:
        """Refuses words or a binary other than lm.json describes (R70: a unigrams.txt cut short, or another LM's
        lm.bin copied in, decoded to another WER under this LM's description)."""
        rebuild = "; rebuild the LM with 'asr lm build'"
        built = self.info.get("vocabulary")
        if built is not None and len(self.unigrams) != built:
            raise InputError(f"{self.folder / LM_FILES['unigrams']}: {len(self.unigrams)} words, lm.json says "
                             f"{built} (cut short or replaced?){rebuild}")  # fmt: skip
        size, held = (self.info.get("bytes") or {}).get("binary"), os.fstat(self.binary_fd).st_size
        if size is not None and held != size:
            raise InputError(f"{self.binary}: {held} bytes, lm.json says {size} (cut short or another LM's?){rebuild}")

    @property
    def model_path(self) -> str:
        """The binary as `load` found it, for KenLM to open (through /dev/fd where the system has it)."""
        return f"/dev/fd/{self.binary_fd}" if os.path.isdir("/dev/fd") else str(self.binary)

    def summary(self) -> dict:
        """What a decode records of the LM: its path and what it was built from."""
        return {"path": str(self.folder), **{k: self.info.get(k) for k in SUMMARY_KEYS}}

    def unspellable(self, alphabet: set[str]) -> list[str]:
        """The LM's words with a character outside `alphabet`: a model writing only those cannot reach them."""
        return [w for w in self.unigrams if not set(w) <= alphabet]

    def check_against(self, alphabet: set[str], normalizer: str) -> None:
        """Fails loudly where pyctcdecode only warns: more than 5% of the words the model cannot spell with
        `alphabet` (letter case!) or text normalised otherwise than the model's targets (`normalizer`) both wreck
        WER silently. Fewer unspellable words pass (the beam search never reaches them; `asr lm build` names them)."""
        if normalizer != self.normalizer:
            raise InputError(
                f"{self.folder}: LM text was normalised with {self.normalizer}, the model's targets with "
                f"{normalizer}; rebuild the LM with 'asr lm build --processor MODEL'"
            )
        bad = self.unspellable(alphabet)
        if len(bad) > 0.05 * len(self.unigrams):
            case = " (letter case differs from the model's)" if any(set(w.swapcase()) <= alphabet for w in bad) else ""
            raise InputError(
                f"{self.folder}: {len(bad)} of {len(self.unigrams)} LM words use characters the model cannot "
                f"write{case}, e.g. {', '.join(bad[:3])}"
            )
