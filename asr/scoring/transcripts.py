"""Reading transcript files: Kaldi text, TSV, sclite trn and JSONL, detected or named.

Formats (one utterance a line; blank lines are skipped, trn lines starting with ``;;`` are comments):

- ``kaldi``: ``<id> <words...>``
- ``tsv``: ``<id>\\t<text>``
- ``trn``: ``<words...> (<id>)``, the id as sclite reads it (``(spk b-004)`` too: a file of such lines without the
  ``.trn`` suffix, which Kaldi text ending in a phrase in brackets would also be, is asked about)
- ``jsonl``: ``{"id": ..., "hyp": ...}``, ``{"id": ..., "ref": ..., "hyp": ...}`` or a manifest line
  ``{"id": ..., "text": ...}``; a reference is read from ``ref`` (else ``text``), a hypothesis from ``hyp``.

Every problem raises `InputError` naming the file and the line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from asr.data.manifest import ASCII_SPACE, loads_text, split_key, text_lines
from asr.errors import InputError
from asr.scoring.corpus import speaker_label

Format = Literal["kaldi", "tsv", "trn", "jsonl"]
FORMATS: tuple[Format, ...] = ("kaldi", "tsv", "trn", "jsonl")
Role = Literal["ref", "hyp"]

_TRN_ID = re.compile(r"\(([^()]*)\)\s*$")  # sclite's ids may hold spaces: (spk b-004) (R57)
_SPACED_ID = re.compile(r"\([^()]*\s[^()]*\)\s*$")  # or is it Kaldi text ending in a phrase in brackets? (R61)
_SUFFIXES = {".trn": "trn", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
_SNIFF_LINES = 50
# first-column names of a TSV header line: such a line was scored as an utterance
_HEADER_IDS = {"id", "utt", "uttid", "utt_id", "utterance", "utterance_id", "key", "path", "file", "filename",
               "file_name", "audio"}  # fmt: skip


def _numbers(fields: list[str]) -> bool:
    try:
        return all(float(f) >= 0 for f in fields)
    except ValueError:
        return False


def _timed(sample: list[str]) -> str | None:
    """ "STM" or "CTM" where every sampled line has an STM's or a CTM's fields, else None."""
    rows = [line.split() for line in sample]
    if rows and all(len(r) >= 5 and _numbers(r[3:5]) for r in rows):  # file channel speaker begin end words...
        return "STM"
    if rows and all(5 <= len(r) <= 6 and _numbers(r[2:4]) for r in rows):  # file channel begin duration word [conf]
        return "CTM"
    return None


def _refuse_timed(path: Path, kind: str) -> None:
    raise InputError(
        f"{path}: a {kind} file, scored by time: 'sclite -r ref.stm stm -h hyp.ctm ctm -e utf-8 -s'. asr score reads "
        "transcripts by utterance (kaldi, tsv, trn, jsonl; asr decode's hyp.jsonl holds ref and hyp); a Kaldi "
        "text of numbers: --format kaldi"
    )


def detect_format(path: Path, lines: list[tuple[int, str]] | None = None) -> Format:
    """Guesses the format from the file suffix, else from the first lines (read when not given); `InputError`
    for an STM or CTM file, which would read as Kaldi text (their times and speakers scored as words)."""
    suffix = path.suffix.lower()
    if suffix in (".stm", ".ctm"):
        _refuse_timed(path, suffix[1:].upper())
    if suffix in _SUFFIXES:  # known without reading the file
        return _SUFFIXES[suffix]
    lines = text_lines(path) if lines is None else lines
    sample = [line for _, line in lines[:_SNIFF_LINES] if not line.startswith(";;")]
    if kind := _timed(sample):
        _refuse_timed(path, kind)
    if not sample:
        return "kaldi"
    if all(line.lstrip().startswith("{") for line in sample):
        return "jsonl"
    if all(_TRN_ID.search(line) for line in sample):
        if spaced := next((line for line in sample if _SPACED_ID.search(line)), None):
            rename = "" if str(path) == "-" else " (or name the file .trn)"  # standard input has no name (R63)
            raise InputError(f"{path}: its lines end in (...), one with a space inside ({spaced.strip()[-40:]!r}): trn "
                             "ids (sclite reads (spk b-004)) or Kaldi text ending in words in brackets? give "
                             f"--format trn or --format kaldi{rename}")  # fmt: skip
        return "trn"
    if all("\t" in line for line in sample):
        return "tsv"
    return "kaldi"


def _parse_tsv(line: str) -> tuple[str, str]:
    if "\t" not in line:
        raise ValueError("no tab between the id and the text")
    utt_id, text = line.split("\t", 1)
    if not utt_id.strip():
        raise ValueError("empty id")
    if "\t" in text:  # a third column (a duration, a path) would be scored as words
        raise ValueError("more than two tab-separated columns (expected id<TAB>text)")
    return utt_id.strip(), text


def _parse_trn(line: str) -> tuple[str, str]:
    match = _TRN_ID.search(line)
    if not match or not match.group(1).strip():
        raise ValueError("no '(id)' at the end of the trn line")
    return match.group(1), line[: match.start()].strip(ASCII_SPACE)


def _json_parser(role: Role):
    keys = ("ref", "text") if role == "ref" else ("hyp",)

    def parse(line: str) -> tuple[str, str]:
        try:
            obj = loads_text(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"invalid JSON ({err.msg})") from None
        if not isinstance(obj, dict) or "id" not in obj:
            raise ValueError("not a JSON object with an 'id'")
        if not isinstance(obj["id"], str) or not obj["id"].strip():  # as a manifest's: null was scored as "None"
            raise ValueError(f"'id' is {json.dumps(obj['id'])}, expected a non-empty string")
        key = next((k for k in keys if k in obj), None)
        if key is None:
            raise ValueError(f"no {' or '.join(repr(k) for k in keys)} field")
        if not isinstance(obj[key], str):
            raise ValueError(f"field {key!r} is not a string")
        return obj["id"], obj[key]

    return parse


def read_transcripts(path: str | Path, role: Role = "hyp", fmt: Format | None = None) -> dict[str, str]:
    """Reads a transcript file into {utterance id: text}, in file order.

    Args:
        path: the file.
        role: which JSONL field is read ("ref": ``ref`` or ``text``; "hyp": ``hyp``).
        fmt: one of `FORMATS`; detected from the suffix or the content when None.

    Raises:
        InputError: unreadable or undecodable file, malformed line, or duplicate id.
    """
    path = Path(path)
    lines = text_lines(path)
    fmt = fmt or detect_format(path, lines)
    parse = {"kaldi": split_key, "tsv": _parse_tsv, "trn": _parse_trn}.get(fmt) or _json_parser(role)
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, line in lines:
        if fmt == "trn" and line.startswith(";;"):
            continue
        try:
            utt_id, text = parse(line)
        except ValueError as err:
            raise InputError(f"{path}:{lineno}: {err} ({fmt} format)") from None
        if fmt == "tsv" and not out and utt_id.lower() in _HEADER_IDS:
            raise InputError(f"{path}:{lineno}: a header line ({line.strip()!r}); tsv transcripts have none: delete it")
        if utt_id in out:
            raise InputError(f"{path}:{lineno}: duplicate utterance id '{utt_id}' (first on line {first_line[utt_id]})")
        out[utt_id] = text
        first_line[utt_id] = lineno
    return out


def read_speakers(path: str | Path) -> dict[str, str]:
    """{utterance id: speaker} of a JSONL file's lines that name one (a manifest's or asr decode's hyp.jsonl
    ``speaker``): scored by it, as the decode scored them, rather than by an id's prefix."""
    speakers = {}
    for _, line in text_lines(Path(path)):
        obj = loads_text(line)
        if isinstance(obj, dict) and isinstance(obj.get("speaker"), str) and obj["speaker"].strip() and "id" in obj:
            speakers[str(obj["id"])] = speaker_label(str(obj["id"]), obj["speaker"])  # as the decode labels it
    return speakers
