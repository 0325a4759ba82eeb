"""Manifests: one utterance a JSON line, ``{"id", "audio", "duration", "text", "speaker", "lang"}``.

``audio`` is an absolute path or one relative to the manifest's folder; ``offset`` (seconds) is present
when the utterance is a segment of a longer file, and ``duration`` is then the segment's length. The text
is the original transcript: normalised text is computed where needed, never stored in its place.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import re
import stat
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TextIO

from asr.errors import InputError, is_number
from asr.folders import write_together


@dataclass(frozen=True)
class Utterance:
    """One manifest line."""

    id: str
    audio: str
    duration: float
    text: str
    speaker: str
    lang: str
    offset: float | None = None

    def audio_path(self, base: Path) -> Path:
        """The audio file, resolved against the manifest's folder."""
        path = Path(self.audio)
        return path if path.is_absolute() else base / path

    @property
    def segment_duration(self) -> float | None:
        """How much audio to read from the offset when the utterance is a segment of a file; else None."""
        return self.duration if self.offset is not None else None

    def to_json(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(fields, ensure_ascii=False)


_REQUIRED = ("id", "audio", "text")


def read_manifest(path: str | Path, durations: bool = True, labeled: bool = True) -> list[Utterance]:
    """Reads a manifest; `InputError` naming the file and line for anything malformed. With `durations`
    (training, decoding, subsets) every line must carry its duration; the checks (`asr data check|prepare`),
    which measure the audio, and text readers do without. Without `labeled` (pretraining) a line's text is not
    read (R74: a ``"text": null`` was refused in a manifest whose texts are unused): it is ""."""
    path = Path(path)
    return [_utterance(obj, f"{path}:{lineno}", durations, labeled) for lineno, obj in read_jsonl(path)]


def read_utterances(path: str | Path, labeled: bool = True) -> list[Utterance]:
    """A manifest to train or decode on: at least one utterance, each id once (outputs and audio are kept by id;
    a repeated id swapped audio or lost an utterance's score), every audio file there (a missing test file
    failed after the whole training)."""
    utts = read_manifest(path, labeled=labeled)
    if not utts:
        raise InputError(f"{path}: no utterances")
    if twice := [i for i, n in Counter(u.id for u in utts).items() if n > 1]:
        raise InputError(f"{path}: utterance id(s) {', '.join(twice[:3])} more than once")
    base = Path(path).parent
    if missing := next((u for u in utts if not u.audio_path(base).is_file()), None):  # not after hours of work
        raise InputError(f"{path}: utterance {missing.id}: audio file {missing.audio_path(base)} not found")
    return utts


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Writes one JSON object a line (UTF-8, characters as they are)."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def loads_text(line: str) -> object:
    """`json.loads` of a line whose strings must be text: a lone UTF-16 surrogate escape (``"\\ud83d"``, half an
    emoji cut by a JavaScript writer) is valid JSON but no character, and failed when written out as UTF-8; and
    whose objects hold each key once (`_once_each`)."""
    obj = json.loads(line, object_pairs_hook=_once_each)
    if "\\u" in line.lower():  # the only way a surrogate gets into a decoded line
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a lone UTF-16 surrogate escape (half of a character), not text") from None
    return obj


def _once_each(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object's pairs as a dict; ValueError for a key given twice (R70: the last "text" of a line holding
    two was silently the transcript)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        twice = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise ValueError(f"the key {twice!r} twice in one object (which value is meant?)")
    return obj


def utf8_text(path: Path, binary_hint: str = "") -> str:
    """A text file decoded as strict UTF-8 (a BOM, as Windows editors write, is dropped); `InputError` naming the
    line of a byte that is not UTF-8, with `binary_hint` where the file holds NUL bytes (no text but UTF-16 does),
    or naming UTF-16. The path `-` is standard input (read once, for every caller), as is any other pipe."""
    path = Path(path)
    try:
        data = _stdin_bytes() if str(path) == "-" else _file_bytes(path)
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Notepad's "Unicode"
        raise InputError(f"{path}: UTF-16 text (its byte-order mark); save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:  # its line, counted as text_lines splits them
        line = len(re.split(rb"\r\n|\r|\n", data[: err.start]))
        hint = binary_hint if b"\0" in data[:65536] else ""  # Latin-1 text is no audio file
        raise InputError(f"{path}:{line}: not valid UTF-8 (byte {data[err.start]:#04x}){hint}") from None


def _file_bytes(path: Path) -> bytes:
    """A file's bytes; a pipe's (``<(...)``, /dev/stdin, a FIFO) read once for every caller, as standard input is
    (R76: read again to guess its format or to score it, it gave nothing, WER 100%, or waited for ever)."""
    if path.is_file():
        return path.read_bytes()
    found = path.stat()
    key = (found.st_dev, found.st_ino)  # one pipe under two names (/dev/stdin, /dev/fd/0) is read once
    if key not in _STREAMS:
        if len(_STREAMS) >= 8:  # the oldest dropped: a caller's later pipe may take a closed one's number
            del _STREAMS[next(iter(_STREAMS))]
        _STREAMS[key] = path.read_bytes()
    return _STREAMS[key]


_STREAMS: dict[tuple[int, int], bytes] = {}


def same_stream(a: Path, b: Path) -> bool:
    """Whether `a` and `b` are one pipe (``-`` and /dev/stdin, or a FIFO named twice), which one reading empties."""
    try:
        ids = [os.fstat(0) if str(p) == "-" else p.stat() for p in (a, b)]
    except OSError:
        return False
    return not stat.S_ISREG(ids[0].st_mode) and (ids[0].st_dev, ids[0].st_ino) == (ids[1].st_dev, ids[1].st_ino)


def _stdin_bytes() -> bytes:
    if sys.stdin is None:  # started with it closed (`0<&-`): R69, a traceback
        raise InputError("-: cannot read: standard input is closed")
    return _read_once(sys.stdin)


@functools.lru_cache(maxsize=1)
def _read_once(stream: TextIO) -> bytes:
    """`stream`'s bytes, read once for every caller; a caller's next standard input is read anew (R68: a second
    `asr score REF -` in one process scored the first one's)."""
    buffer = getattr(stream, "buffer", None)  # none in a caller's text stream (io.StringIO)
    return buffer.read() if buffer is not None else stream.read().encode("utf-8")


def text_lines(path: Path, binary_hint: str = "") -> list[tuple[int, str]]:
    """(line number, line) for every non-blank line of a text file (`utf8_text`)."""
    text = utf8_text(path, binary_hint)
    # lines end with \n, \r\n or (classic Mac) a lone \r; str.splitlines() would also split on \x1c, \x85,
    # \u2028 inside a transcript
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    # R78: a file joined from files saved with one (cat) kept it invisible in a Kaldi key ('\ufeffu2', no match)
    if bom := next((n for n, line in lines if line.startswith("\ufeff")), None):
        raise InputError(f"{path}:{bom}: starts with a byte-order mark (U+FEFF), as a file joined from files saved "
                         "with one does; remove it")  # fmt: skip
    return lines


def read_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, value) of every non-blank line of a JSONL file; `InputError` naming the file and line."""
    # audio given for a manifest, most often
    hint = "; not a JSONL file? for audio files, write a manifest with asr data prepare --source audiofolder:DIR"
    for lineno, line in text_lines(path, hint):
        try:
            yield lineno, loads_text(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
        except ValueError as err:
            raise InputError(f"{path}:{lineno}: {err}") from None


def _utterance(obj: object, where: str, durations: bool, labeled: bool = True) -> Utterance:
    """One manifest line's utterance, its fields' types checked: a wrong type is an error, never a transcript
    such as "None" or "4711"."""
    if not labeled and isinstance(obj, dict):
        obj = obj | {"text": ""}
    missing = [k for k in _REQUIRED if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise InputError(f"{where}: manifest line without {', '.join(missing)}")
    for key in ("id", "audio", "text"):
        if not isinstance(obj[key], str) or (key != "text" and not obj[key].strip()):
            raise InputError(
                f"{where}: {key!r} is {json.dumps(obj[key])}, expected a non-empty string"
                if key != "text"
                else f"{where}: 'text' is {json.dumps(obj[key])}, expected a string"
            )
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in obj["id"]):  # an escape sequence printed raw
        raise InputError(f"{where}: 'id' is {json.dumps(obj['id'])}: ids cannot hold whitespace (Kaldi, trn, CTM "
                         "and STM files split on it) or control characters (a terminal runs them)")  # fmt: skip
    refuse_control_characters(obj["text"], f"{where}: 'text'")
    if obj["id"].startswith(";;"):
        raise InputError(f"{where}: 'id' is {json.dumps(obj['id'])}: ids cannot start with ';;' (a comment line "
                         "in CTM and STM files: sclite would pass the utterance over)")  # fmt: skip
    for key in ("speaker", "lang"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise InputError(f"{where}: {key!r} is {json.dumps(obj[key])}, expected a string")
    if any(unicodedata.category(c) == "Cc" for c in obj.get("speaker") or ""):  # R82: a NUL crashed sclite
        raise InputError(f"{where}: 'speaker' is {json.dumps(obj['speaker'])}: speakers cannot hold control "
                         "characters (ref.stm's speaker field: sclite, and a terminal, read them)")  # fmt: skip
    if durations and obj.get("duration") is None:
        raise InputError(f"{where}: no duration; 'asr data prepare jsonl:FILE' writes the manifest with measured ones")
    duration = _seconds(obj.get("duration", 0.0), "duration", where)
    if durations and not duration:  # hours, RTFx and batching are counted from it
        raise InputError(f"{where}: 'duration' is 0; 'asr data prepare jsonl:FILE' writes the manifest with measured "
                         "ones (and refuses empty audio)")  # fmt: skip
    offset = None if obj.get("offset") is None else _seconds(obj["offset"], "offset", where)
    if offset is not None and not duration:
        raise InputError(f"{where}: an 'offset' without a 'duration': a segment needs its length")
    return Utterance(obj["id"], obj["audio"], duration, obj["text"], obj.get("speaker") or "", obj.get("lang") or "",
                     offset)  # fmt: skip


#: the control characters (category Cc) that are no whitespace, as one pattern: found fast in a large LM text
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # category Cc, whitespace too


def refuse_control_characters(text: str, where: str, name: bool = False) -> None:
    """`InputError` where a transcript holds a control character that is no whitespace: no normaliser removes
    one, so it became an invisible token of the vocabulary, a target the model cannot hear. A `name` (a speaker,
    an id) may hold none, a tab neither, as the manifest reader refuses them (a source prepared a speaker with a
    tab into a manifest that every later command refused)."""
    if found := (_ANY_CONTROL if name else _CONTROL).search(text):
        control = found.group()
        hint = " (U+0080-U+009F: Windows-1252 text read as Latin-1?)" if 0x80 <= ord(control) <= 0x9F else ""
        hint = " (zero bytes: a file cut short by a crash?)" if control == "\0" else hint
        raise InputError(f"{where} holds the control character U+{ord(control):04X}{hint}; remove it or write "
                         "the character meant")  # fmt: skip


#: the whitespace that Kaldi's and sclite's files split and trim on (str.split() also split at a no-break space,
#: U+3000 or U+2028 inside a transcript and took them off its end, where sclite keeps them in its last word)
ASCII_SPACE = " \t\n\r\f\v"


def split_key(line: str) -> tuple[str, str]:
    """A ``key rest...`` line (Kaldi's text, wav.scp, ...) split at its first run of ASCII whitespace, both
    parts trimmed of it."""
    parts = re.split(f"[{ASCII_SPACE}]+", line.strip(ASCII_SPACE), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _seconds(value: object, key: str, where: str) -> float:
    if value is None:
        return 0.0
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: {key!r} is {json.dumps(value)}, expected a number of seconds >= 0")
    return float(value)


def manifest_text(utterances: list[Utterance]) -> str:
    """A manifest's lines, sorted by id."""
    return "".join(u.to_json() + "\n" for u in sorted(utterances, key=lambda u: u.id))


def write_manifest(path: str | Path, utterances: list[Utterance]) -> None:
    """Writes utterances sorted by id, whole or not at all (an interrupted write leaves the file as it was); one
    line where the path cannot be written (a folder, no permission)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_together({path: manifest_text(utterances)})
    except OSError as err:
        raise InputError(f"{path}: cannot write the manifest ({err.strerror or err})") from None


def absolute_audio(utts: list[Utterance], manifest: Path) -> list[Utterance]:
    """The utterances with audio paths made absolute, so that they stay valid in a manifest written elsewhere."""
    base = Path(manifest).parent.resolve()
    return [replace(u, audio=str(u.audio_path(base))) for u in utts]


def merge_manifests(manifests: list[Path]) -> list[Utterance]:
    """The utterances of several manifests (several languages, say), audio paths kept valid; a repeated id
    is an error naming the manifests, and so is no utterance at all (every command that reads one refuses it)."""
    merged: list[Utterance] = []
    seen: dict[str, Path] = {}
    files = [Path(m).resolve() for m in manifests]
    if twice := next((m for k, m in enumerate(manifests) if files[k] in files[:k]), None):
        raise InputError(f"{twice}: given twice (its utterances would be merged with themselves)")
    for manifest in manifests:
        utts = read_manifest(manifest)
        for utt in utts:
            if utt.id in seen:
                where = "more than once" if seen[utt.id] == manifest else f"is also in {seen[utt.id]}"
                raise InputError(f"{manifest}: utterance id '{utt.id}' {where}")
            seen[utt.id] = manifest
        merged += absolute_audio(utts, manifest)
    if not merged:
        raise InputError(f"{', '.join(map(str, manifests))}: no utterances")
    return merged


def subset_hours(manifest: Path, hours: float, seed: int) -> tuple[list[Utterance], float]:
    """A random subset of `hours` of audio (labeled subsets): utterances in a seeded random order until the
    hours are reached, so that with one seed a smaller subset is part of a larger one; and the manifest's
    total seconds."""
    if not 0 < hours < math.inf:
        raise InputError(f"--hours {hours}: expected a number of hours > 0")
    utts = merge_manifests([manifest])  # ids checked, audio paths absolute
    total = sum(u.duration for u in utts)
    if hours * 3600 > total:
        raise InputError(f"{manifest}: --hours {hours} asked for, it holds {total / 3600:.6g} h "
                         f"({total / 60:.2f} min)")  # fmt: skip
    order = list(utts)
    random.Random(seed).shuffle(order)
    kept, seconds = [], 0.0
    for utt in order:
        if seconds >= hours * 3600:
            break
        kept.append(utt)
        seconds += utt.duration
    return kept, total
