"""Loaders that turn a user's corpus into utterances per split (durations are filled in by the checks).

Source specs:

- ``hf:NAME[:CONFIG]``: a Hugging Face dataset, from the hub (``hf:mozilla-foundation/common_voice_17_0:fi``)
  or a local folder (one written by ``save_to_disk``, or data files such as parquet). Audio is read with
  ``Audio(decode=False)``: embedded bytes are written as they are under ``audio/<split>/`` in the folder
  `load_source` is given (`asr data prepare` stages them and moves them into OUT with the manifests), files
  on disk are referenced.
- ``commonvoice:DIR``: a Common Voice release's language folder (``cv-corpus-*/fi``): ``train.tsv``,
  ``dev.tsv``, ``test.tsv`` (``--splits`` may name others, such as ``validated``) and ``clips/``.
- ``audiofolder:DIR``: ``metadata.csv`` / ``.jsonl`` / ``.parquet`` files with ``file_name`` (or
  ``audio_file_name``) and a text column (`TEXT_COLUMNS`, the first found); the split is the first folder below
  DIR whose name holds a split word, at any depth (``dev-clean``, ``corpus/test``), else ``train``.
- ``kaldi:DIR``: ``wav.scp`` (relative paths from the current folder, as Kaldi reads them), ``text``, optional
  ``utt2spk`` and ``segments``; one split.
- ``jsonl:FILE`` (or a path ending in .jsonl): a manifest; one split.

Split names: ``validation`` is written ``dev``; an audiofolder's split folders are read as datasets reads them
(``training``: train; ``val``, ``valid``: dev; ``testing``, ``eval``, ``evaluation``: test; a word of a folder's
name at any depth: ``dev-clean``, ``corpus/test``). A one-split
source takes its split from ``--split``, else from its folder or file name when that is a split name, else
``train``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from asr.data.audio import audio_info
from asr.data.manifest import (
    Utterance,
    read_jsonl,
    read_manifest,
    refuse_control_characters,
    split_key,
    text_lines,
    utf8_text,
)
from asr.errors import InputError
from asr.folders import files_under
from asr.hub import offline_without_network

SPLIT_NAMES = {"train": "train", "dev": "dev", "validation": "dev", "valid": "dev", "test": "test"}
#: split folders of an audiofolder, named as datasets' audiofolder names them (its SPLIT_KEYWORDS: val/eval were
#: train); only folders: a hub dataset's ``eval`` beside its ``test`` is another split
FOLDER_SPLITS = SPLIT_NAMES | {"training": "train", "val": "dev", "testing": "test", "eval": "test",
                               "evaluation": "test"}  # fmt: skip
_SPLIT_WORD = re.compile(rf"(?:^|[-._ 0-9])({'|'.join(FOLDER_SPLITS)})(?=[-._ 0-9]|$)")
#: the transcript's column, the first found: the original text before a corpus's normalised one (FLEURS's
#: raw_transcription before its lower-cased, unpunctuated transcription; VoxPopuli's raw_text)
TEXT_COLUMNS = ("sentence", "text", "raw_transcription", "raw_text", "transcription", "transcript", "normalized_text")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id", "spk_id")
METADATA_FILES = ("metadata.csv", "metadata.jsonl", "metadata.parquet")  # datasets' audiofolder reads these
FILE_COLUMNS = ("file_name", "audio_file_name")  # datasets: file_name, or the audio feature's <feature>_file_name
_UNSAFE_ID = re.compile(r"[\s()/\\]+")
_SPLIT = re.compile(r"\w[\w.-]*")


#: the options that only some kinds of source read
OPTION_KINDS = {"splits": ("hf", "commonvoice"), "audio_column": ("hf",), "text_column": ("hf", "audiofolder"),
                "speaker_column": ("hf", "audiofolder"), "id_column": ("hf", "audiofolder")}  # fmt: skip


@dataclass(frozen=True)
class SourceOptions:
    """Column names (None: the first of the usual ones that exists) and split choices."""

    splits: tuple[str, ...] | None = None  # None: train, validation and test, those the dataset has
    split: str | None = None
    audio_column: str | None = None  # None: audio
    text_column: str | None = None
    speaker_column: str | None = None
    id_column: str | None = None

    def check_for(self, kind: str) -> None:
        """`InputError` for an option given that a source of `kind` would ignore (columns of another kind)."""
        for name, kinds in OPTION_KINDS.items():
            if getattr(self, name) is not None and kind not in kinds:
                raise InputError(f"--{name.replace('_', '-')} goes with {' or '.join(kinds)} sources (the {kind}: "
                                 "source would ignore it)")  # fmt: skip

    def splits_named(self) -> bool:
        """Whether the splits were named (--split or --splits, even the default ones spelled out): a name not
        found is then an error, not skipped."""
        return bool(self.split) or self.splits is not None

    def asked(self) -> tuple[str, ...]:
        """The splits to load: --split, else --splits, else train, validation and test."""
        return (self.split,) if self.split else self.splits or ("train", "validation", "test")


def is_split_name(name: object) -> bool:
    """Whether `name` is a plain file name of letters, digits, '.', '_' or '-' (a split names OUT/<split>.jsonl and
    OUT/audio/<split>/: ``../x`` wrote outside --out)."""
    return isinstance(name, str) and _SPLIT.fullmatch(name) is not None


def split_name(name: str) -> str:
    """The usual name of a split (validation: dev); `InputError` for one that is not a plain file name
    (`is_split_name`)."""
    if not is_split_name(name):
        raise InputError(f"split {name!r}: expected a name of letters, digits, '.', '_' or '-' (train, dev, test)")
    return SPLIT_NAMES.get(name.lower(), name)


def one_split(path: Path, options: SourceOptions) -> str:
    """The split of a one-split source (a file, a Kaldi folder, an audiofolder without split folders): --split,
    else its name, else the last split word in its name as an audiofolder's folders are read (Kaldi's test_clean,
    train_dev, test_eval92: they went into train without a word), else train."""
    if options.split:
        return split_name(options.split)
    path = Path(os.path.normpath(path.absolute()))  # kaldi:. is its folder's name, as kaldi:../test_clean is
    if found := SPLIT_NAMES.get(path.stem.lower()) or SPLIT_NAMES.get(path.name.lower()):
        return found
    words = _SPLIT_WORD.findall(path.name.lower())
    return FOLDER_SPLITS[words[-1]] if words else "train"


def safe_id(text: str) -> str:
    """An utterance id without whitespace or parentheses (which trn and Kaldi files cannot hold) and without
    path separators or leading dots (ids name audio files: ``../../x`` must not write outside the corpus), nor a
    leading ``;`` (``;;`` starts a comment line in CTM and STM files)."""
    return _UNSAFE_ID.sub("-", text.strip()).lstrip(".-;") or "utt"


def transcript(value: object, where: str) -> str:
    """A row's transcript: missing or null is empty (filtered and counted by the checks); another type than a
    string is an error, never a transcript such as "None"."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}: the transcript is {value!r}, not text")
    refuse_control_characters(value, f"{where}: the transcript")
    return value


def check_unique_ids(
    utts: list[Utterance], raw: list[str], where: str, fix: str = "give --id-column a column with unique ids"
) -> None:
    """Refuses ids that became one after cleaning (``a b`` and ``a-b``): they would share an audio file."""
    seen: dict[str, str] = {}
    for utt, original in zip(utts, raw, strict=True):
        if utt.id in seen:
            raise InputError(f"{where}: ids {seen[utt.id]!r} and {original!r} both become {utt.id!r}; {fix}")
        seen[utt.id] = original


def note_rewritten_ids(ids: list[tuple[str, str]], where: str) -> None:
    """Says which of a corpus's own ids (Kaldi's, an id column's; pairs of the id and the utterance's) `safe_id`
    changed: the corpus's text, and any scoring against it, use them."""
    if rewritten := [(old, new) for old, new in ids if safe_id(old) != old]:
        examples = ", ".join(f"{old!r} -> {new!r}" for old, new in rewritten[:3])
        print(f"note: {where}: {len(rewritten)} utterance id(s) rewritten (whitespace, parentheses, path separators "
              f"or a leading '.', '-' or ';' cannot be in an id): {examples}", file=sys.stderr)  # fmt: skip


def speaker_prefixed(speaker: str, utt_id: str) -> str:
    """``speaker_id``, so that scoring groups by speaker; ids already starting with the speaker and a separator
    are kept (``19-198-0000`` of 19; ``198-0001`` of 19 is ``19_198-0001``, not another speaker's)."""
    if not speaker or utt_id == speaker or (utt_id.startswith(speaker) and utt_id[len(speaker)] in "_-"):
        return safe_id(utt_id)
    return safe_id(f"{speaker}_{utt_id}")


def _pick(columns: list[str], wanted: str | None, usual: tuple[str, ...], what: str, where: str) -> str | None:
    if wanted:
        if wanted not in columns:
            raise InputError(f"{where}: no {what} column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    return next((c for c in usual if c in columns), None)


def parse_source(spec: str) -> tuple[str, str]:
    """(kind, rest) of a source spec; a bare ``FILE.jsonl`` is ``jsonl:FILE.jsonl``."""
    kind, sep, rest = spec.partition(":")
    if not sep and spec.endswith(".jsonl"):
        kind, rest = "jsonl", spec
    if kind not in _LOADERS or not rest:
        raise InputError(f"source {spec!r}: expected hf:NAME[:CONFIG], commonvoice:DIR, audiofolder:DIR, kaldi:DIR "
                         "or jsonl:FILE")  # fmt: skip
    return kind, rest


def canonical_source(spec: str) -> str:
    """`spec` as KIND:REST, a file or folder's path made absolute (a bare FILE.jsonl is jsonl:FILE.jsonl, and
    jsonl:/abs/FILE.jsonl the same file: one source, written several ways)."""
    try:
        kind, rest = parse_source(spec)
    except InputError:
        return spec
    local = kind != "hf" or Path(rest).is_dir()  # hf: a hub id, or a dataset saved to disk
    return f"{kind}:{Path(rest).resolve() if local else rest}"


def load_source(spec: str, lang: str, audio_dir: Path, options: SourceOptions) -> dict[str, list[Utterance]]:
    """Utterances per split of the corpus named by `spec` (see the module docstring); audio embedded in it is
    written under `audio_dir`, and its paths are relative to it."""
    kind, rest = parse_source(spec)
    splits = _LOADERS[kind](rest, lang, audio_dir, options)
    for split, utts in splits.items():  # R88: a Common Voice client_id, a file name or a Kaldi id holding one
        for utt in utts:  # was prepared into a manifest that every later command refused
            where = f"{spec}: the {split} utterance {json.dumps(utt.id)}"
            refuse_control_characters(utt.id, where, name=True)
            refuse_control_characters(utt.speaker, f"{where}: its speaker", name=True)
    return splits


def _load_jsonl(rest: str, lang: str, audio_dir: Path, options: SourceOptions) -> dict[str, list[Utterance]]:
    path = Path(rest)
    base = path.parent.resolve()
    utts = [
        Utterance(u.id, str(u.audio_path(base)), u.duration, u.text, u.speaker, u.lang or lang, u.offset)
        for u in read_manifest(path, durations=False)
    ]
    return {one_split(path, options): utts}


def _read_table(path: Path, transcripts: bool = False) -> dict[str, str]:
    """A Kaldi two-column file: ``key value...`` per line (`transcripts`: the values are, and are checked)."""
    table: dict[str, str] = {}
    for lineno, line in text_lines(path):
        key, value = split_key(line)  # at ASCII white space, as Kaldi and asr score split
        if key in table:
            raise InputError(f"{path}:{lineno}: duplicate id '{key}'")
        table[key] = transcript(value, f"{path}:{lineno}") if transcripts else value
    return table


def _load_kaldi(rest: str, lang: str, audio_dir: Path, options: SourceOptions) -> dict[str, list[Utterance]]:
    data = Path(rest)
    wav_scp = _read_table(data / "wav.scp")
    texts = _read_table(data / "text", transcripts=True)
    utt2spk = _read_table(data / "utt2spk") if (data / "utt2spk").exists() else {}
    segments = _read_table(data / "segments") if (data / "segments").exists() else {}
    for rec_id, value in wav_scp.items():
        if value.endswith("|"):
            raise InputError(f"{data / 'wav.scp'}: recording '{rec_id}' is a command pipe; convert it to a file")
    utts = []
    channels_of = functools.cache(_channels)  # a recording's header read once, however many segments name it
    # an utterance with no line in `text` (but a recording or a segment) has an empty transcript, which the
    # checks count and list, instead of leaving it out unseen
    untexted = [u for u in (segments or wav_scp) if u not in texts]
    if untexted:
        print(f"note: {data / 'text'}: {len(untexted)} utterance(s) of {'segments' if segments else 'wav.scp'} have "
              f"no line here, e.g. '{untexted[0]}': kept with empty transcripts, which the checks filter and "
              "list", file=sys.stderr)  # fmt: skip
    listed = list(dict.fromkeys([*texts, *untexted]))
    for utt_id in listed:
        text = texts.get(utt_id, "")
        offset = duration = None
        rec_id = utt_id
        channel = None
        if segments:
            if utt_id not in segments:
                raise InputError(f"{data / 'segments'}: no segment for utterance '{utt_id}' of {data / 'text'}")
            offset, duration, rec_id, channel = _segment(segments[utt_id], utt_id, data / "segments")
        if rec_id not in wav_scp:
            raise InputError(f"{data / 'wav.scp'}: no recording '{rec_id}' for utterance '{utt_id}'")
        audio = Path(wav_scp[rec_id]).absolute()  # a relative path from the current folder, as Kaldi reads it
        if channel is not None:
            _check_channel(channels_of(audio), audio, channel, utt_id, data / "segments")
        speaker = utt2spk.get(utt_id, "")
        refuse_control_characters(speaker, f"{data / 'utt2spk'}: the speaker of '{utt_id}'", name=True)
        utts.append(Utterance(speaker_prefixed(speaker, utt_id), str(audio), duration or 0.0, text, speaker, lang,
                              offset))  # fmt: skip
    check_unique_ids(utts, listed, str(data), "start each utterance id with its speaker, as Kaldi asks")
    _note_unread(data, listed, utt2spk, wav_scp, segments)
    note_rewritten_ids(list(zip(listed, (utt.id for utt in utts), strict=True)), str(data / "text"))
    return {one_split(data, options): utts}


def _note_unread(data: Path, listed: list[str], utt2spk: dict, wav_scp: dict, segments: dict) -> None:
    """Says what of a Kaldi folder no utterance reads (R78: a speaker's utterance named only in utt2spk, and a
    recording no segment cuts, were left out unseen: a segments file cut short looked whole)."""
    kept = set(listed)
    if unread := [u for u in utt2spk if u not in kept]:
        print(f"note: {data / 'utt2spk'}: {len(unread)} utterance(s) with no line in text or "
              f"{'segments' if segments else 'wav.scp'} are left out, e.g. '{unread[0]}'", file=sys.stderr)  # fmt: skip
    cut = {segments[u].split(maxsplit=1)[0] for u in listed} if segments else wav_scp.keys()  # every one, without
    if unread := [r for r in wav_scp if r not in cut]:
        print(f"note: {data / 'wav.scp'}: {len(unread)} recording(s) that no segment names are left out, e.g. "
              f"'{unread[0]}'", file=sys.stderr)  # fmt: skip


def _segment(value: str, utt_id: str, path: Path) -> tuple[float, float, str, int | None]:
    """(offset, duration, recording, channel) of a Kaldi ``segments`` line ``<utt> <recording> <start> <end>
    [<channel>]``, as Kaldi's extract-segments reads it: an end of -1 is the recording's end (an infinite duration
    here, measured by the checks), the channel counts from 0."""
    fields = value.split()
    try:
        if len(fields) not in (3, 4):
            raise ValueError
        start, end = float(fields[1]), float(fields[2])
        channel = int(fields[3]) if len(fields) == 4 else None
    except ValueError:
        raise InputError(
            f"{path}: segment of '{utt_id}' is {value!r}, expected: recording start end [channel]"
        ) from None
    if channel is not None and channel < 0:
        raise InputError(f"{path}: segment of '{utt_id}' takes channel {channel}; channels count from 0")
    if end == -1 and start >= 0:
        return start, math.inf, fields[0], channel
    if not 0 <= start < end:
        raise InputError(f"{path}: segment of '{utt_id}' ends at {end} s, not after its start {start} s")
    return start, end - start, fields[0], channel


def _channels(audio: Path) -> int | None:
    """The channels of a recording; None where it is no file (a FIFO would block: R78) or cannot be read (the checks
    count it)."""
    if not audio.is_file():
        return None
    try:
        return audio_info(audio).channels
    except (RuntimeError, OSError):
        return None


def _check_channel(channels: int | None, audio: Path, channel: int, utt_id: str, path: Path) -> None:
    """A segment of one channel of a recording of `channels` is refused where it has several: manifests hold a
    file's channels averaged (Kaldi's extract-segments reads the one named). Channel 0 of a mono file is the file."""
    if channels is not None and channel >= channels:
        raise InputError(f"{path}: segment of '{utt_id}' takes channel {channel} of {audio}, which has {channels} "
                         "(channels count from 0)")  # fmt: skip
    if channels is not None and channels > 1:
        raise InputError(f"{path}: segment of '{utt_id}' takes channel {channel} of {audio} ({channels} channel(s)); "
                         "a manifest holds a file's channels averaged: write each channel to a file of its own "
                         f"(sox {audio.name} OUT.wav remix {channel + 1}) and name those in wav.scp")  # fmt: skip


def _metadata_rows(path: Path) -> list[tuple[str, object]]:
    """(``FILE:LINE``, row) of a metadata.csv or metadata.jsonl; (``FILE row N``, row) of a metadata.parquet."""
    if path.suffix == ".csv":
        return _table_rows(path, {}, "quote a transcript with commas")
    if path.suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet

        try:
            rows = pyarrow.parquet.read_table(path).to_pylist()
        except (pyarrow.ArrowException, OSError) as err:
            raise InputError(f"{path}: not a Parquet table ({err})") from None
        return [(f"{path} row {number}", row) for number, row in enumerate(rows, 1)]
    return [(f"{path}:{lineno}", row) for lineno, row in read_jsonl(path)]


def _table_rows(path: Path, dialect: dict, hint: str) -> list[tuple[str, dict[str, str]]]:
    """(``FILE:LINE``, row) of a CSV or TSV file with a header; a row with more fields than the header is an
    error naming its line (csv drops the rest under the key None: ``1.wav,yes, I said no`` read "yes"), as are a
    quote left open and a field spanning lines (an open quote took the next rows into one transcript, exit 0)."""
    # strict: a quoted field must close before its delimiter (`"quoted" word`, an open quote at the end)
    reader = csv.DictReader(io.StringIO(utf8_text(path), newline=""), strict=True, **dialect)
    rows, start = [], 2  # the line the next row starts on
    try:
        for row in reader:  # fewer fields than the header: the missing ones are empty, filtered and counted
            if None in row:
                raise InputError(f"{path}:{reader.line_num}: {len(reader.fieldnames) + len(row[None])} fields, "
                                 f"the header has {len(reader.fieldnames)} ({hint})")  # fmt: skip
            if any("\n" in v or "\r" in v for v in row.values() if isinstance(v, str)):
                raise InputError(f"{path}:{start}: a field spans lines {start} to {reader.line_num} (a quote left "
                                 "open?); a transcript is one line")  # fmt: skip
            rows.append((f"{path}:{reader.line_num}", row))
            start = reader.line_num + 1
    except csv.Error as err:
        raise InputError(f"{path}:{start}: cannot read the row from this line on: {err}") from None
    return rows


def _load_audiofolder(rest: str, lang: str, audio_dir: Path, options: SourceOptions) -> dict[str, list[Utterance]]:
    root = Path(rest)
    files = files_under(root)
    metadata = [p for p in files if p.name in METADATA_FILES]
    if not metadata:
        raise InputError(f"{root}: no {', '.join(METADATA_FILES)}")
    splits: dict[str, list[Utterance]] = {}
    raw: dict[str, list[str]] = {}  # per split, each utterance's file under the root (for check_unique_ids)
    listed: dict[Path, str] = {}  # each audio file's row (FILE:LINE)
    given: list[tuple[str, str]] = []  # the id column's ids and the utterances'
    folders: dict[str, set[Path]] = {}  # each split's folders
    for meta in metadata:
        located = _metadata_rows(meta)
        if bad := next((where for where, row in located if not isinstance(row, dict)), None):
            raise InputError(f"{bad}: not an object with file_name and text")
        columns = list(dict.fromkeys(key for _, row in located for key in row))  # a JSONL row may add keys
        found = f"its columns: {', '.join(map(repr, columns))}"
        file_col = next((c for c in FILE_COLUMNS if c in columns), FILE_COLUMNS[0])
        if located and file_col not in columns:
            raise InputError(f"{meta}: no 'file_name' or 'audio_file_name' column ({found})")
        text_col = _pick(columns, options.text_column, TEXT_COLUMNS, "text", str(meta))
        if located and text_col is None:
            raise InputError(f"{meta}: no text column (one of {', '.join(TEXT_COLUMNS)}; {found})")
        spk_col = _pick(columns, options.speaker_column, SPEAKER_COLUMNS, "speaker", str(meta))
        id_col = _pick(columns, options.id_column, ("id",), "id", str(meta))
        for where, row in located:
            file_name = row.get(file_col)
            if not isinstance(file_name, str) or not file_name:
                raise InputError(f"{where}: no {file_col}")
            # '..' is resolved by name, links are not followed: a link in the folder to audio kept elsewhere is
            # the folder's file, a file_name climbing out of it is refused
            audio = Path(os.path.normpath((meta.parent / file_name).absolute()))
            top = Path(os.path.normpath(root.absolute()))
            if not audio.is_relative_to(top) or audio == top:
                raise InputError(f"{where}: {file_name} lies outside {root}")
            if audio in listed:  # one recording twice (two ids, or one id said to be two files' collision)
                raise InputError(f"{where}: {file_name} is listed again (first at {listed[audio]}); one row "
                                 "per audio file")  # fmt: skip
            listed[audio] = where
            under = audio.relative_to(top).parts
            level, split = _folder_split(under[:-1]) or (0, one_split(root, options))
            if level and options.split:  # it was ignored without a word
                raise InputError(f"--split {options.split}: {root} has split folders ({Path(*under[:level])}), which "
                                 "name their splits; give a folder without them")  # fmt: skip
            folders.setdefault(split, set()).add(Path(*under[:level]))
            speaker = _cell(row, spk_col, where)
            # without an id column, the file's path under the split's folder (s1/1.wav and s2/1.wav: s1-1 and
            # s2-1, from one metadata file or one in each folder)
            name = "-".join(Path(*under[level:]).with_suffix("").parts).lstrip(".-")
            given_id = _cell(row, id_col, where)
            utt_id = speaker_prefixed(speaker, given_id or name)
            if given_id:
                given.append((given_id, utt_id))
            text = transcript(row.get(text_col), where)
            splits.setdefault(split, []).append(Utterance(utt_id, str(audio), 0.0, text, speaker, lang))
            raw.setdefault(split, []).append(str(Path(*under)))
    _check_pooled(root, folders)
    for split, utts in splits.items():  # x.wav beside x.flac were one id: one of them dropped as a duplicate
        check_unique_ids(utts, raw[split], f"{root} ({split})")
    note_rewritten_ids(given, str(root))
    if unlisted := _unlisted_audio(files, {u.audio for utts in splits.values() for u in utts}):
        print(f"note: {root}: {len(unlisted)} audio file(s) that no metadata row names are left out (as datasets' "
              f"audiofolder leaves them), e.g. {unlisted[0]}", file=sys.stderr)  # fmt: skip
    return splits


def _check_pooled(root: Path, folders: dict[str, set[Path]]) -> None:
    """Refuses a dev or test split of several folders (R78: LibriSpeech's test-clean and test-other were one test
    set, scored as neither, without a word); says which folders a train split pools (train-clean-100 and
    train-clean-360: LibriSpeech's 460 h, as datasets pools them)."""
    for split, found in sorted(folders.items()):
        names = ", ".join(sorted(map(str, found)))
        if len(found) > 1 and split != "train":
            raise InputError(f"audiofolder:{root}: the folders {names} are all split {split}, and would be scored as "
                             f"one; prepare each on its own, its rows in a metadata file inside it (audiofolder:"
                             f"{root / min(found)} is then split {split} by its name)")  # fmt: skip
        if len(found) > 1:
            print(f"note: audiofolder:{root}: split {split} pools the folders {names}", file=sys.stderr)


def _cell(row: dict, column: str | None, where: str) -> str:
    """A metadata row's speaker or id as text ("" where it has none): a JSONL row's 0 is "0" (it was no speaker),
    a list is refused."""
    return _label(row.get(column), column, where) if column else ""


def _folder_split(folders: tuple[str, ...]) -> tuple[int, str] | None:
    """The depth below the split's folder and the split, from the first of a file's `folders` (under the
    audiofolder's root) whose name holds a split word bounded as datasets bounds it (by ``-._ 0-9``, at any
    depth: ``dev-clean``, ``train-clean-100``, ``corpus/test``); None where none does. Only whole names were
    read, at the top: a LibriSpeech-style folder's dev and test utterances went into train, without a word."""
    for depth, name in enumerate(folders, 1):
        if found := _SPLIT_WORD.search(name.lower()):
            return depth, FOLDER_SPLITS[found.group(1)]
    return None


def _unlisted_audio(files: list[Path], listed: set[str]) -> list[Path]:
    """The audio `files` (by suffix: what libsndfile reads, and opus) not in `listed`."""
    import soundfile

    suffixes = {f".{ext.lower()}" for ext in soundfile.available_formats()} | {".opus"}
    audio = (p for p in files if p.suffix.lower() in suffixes and p.is_file())
    return [p for p in audio if os.path.normpath(p.absolute()) not in listed]


def _load_commonvoice(rest: str, lang: str, audio_dir: Path, options: SourceOptions) -> dict[str, list[Utterance]]:
    root = Path(rest)
    splits: dict[str, list[Utterance]] = {}
    for asked in options.asked():
        split = split_name(asked)
        tsv = root / f"{split}.tsv"
        utts = _commonvoice_split(tsv, lang) if tsv.is_file() else []
        if utts:
            splits[split] = utts
        elif options.splits_named():  # small languages ship header-only dev and test files
            raise InputError(f"commonvoice:{rest}: no utterances in {tsv.name} for split {asked}")
    if not splits:
        raise InputError(f"commonvoice:{rest}: none of {', '.join(f'{split_name(s)}.tsv' for s in options.asked())}")
    return splits


def _commonvoice_split(tsv: Path, lang: str) -> list[Utterance]:
    """The utterances of a Common Voice TSV (client_id, path, sentence; audio in ``clips/`` beside it), read as
    the hub's loader read it: tab-separated, no quoting. A row of fewer fields than the header has no sentence
    (an empty transcript, filtered and counted) or no clip (refused)."""
    located = _table_rows(tsv, {"delimiter": "\t", "quoting": csv.QUOTE_NONE}, "a tab in a field")
    if located and (missing := {"client_id", "path", "sentence"} - set(located[0][1])):
        raise InputError(f"{tsv}: no column {', '.join(sorted(missing))} (Common Voice's: client_id, path, sentence)")
    clips, utts = (tsv.parent / "clips").absolute(), []
    for where, row in located:
        if not row["path"]:  # a short row: None (it was a TypeError traceback)
            raise InputError(f"{where}: no path (the clip's file name)")
        speaker = row["client_id"] or ""
        utt_id = speaker_prefixed(speaker, Path(row["path"]).stem)
        utts.append(Utterance(utt_id, str(clips / row["path"]), 0.0, transcript(row["sentence"], where), speaker, lang))
    check_unique_ids(utts, [row["path"] for _, row in located], str(tsv))
    return utts


def _load_hf(rest: str, lang: str, audio_dir: Path, options: SourceOptions) -> dict[str, list[Utterance]]:
    local = Path(rest)
    if not local.is_dir():
        offline_without_network()  # before datasets reads HF_HUB_OFFLINE
    import datasets  # heavy: imported only for this source

    if local.is_dir() and ((local / "dataset_dict.json").exists() or (local / "state.json").exists()):
        try:
            loaded = datasets.load_from_disk(str(local))
        except (OSError, ValueError, IndexError, KeyError, TypeError) as err:  # a copy without its .arrow files...
            raise InputError(f"hf:{rest}: cannot load the saved dataset: {_load_error(err, local)}") from None
        parts = loaded if isinstance(loaded, datasets.DatasetDict) else {one_split(local, options): loaded}
        asked = {split_name(s) for s in options.asked()}
        wanted = {s: parts[s] for s in parts if split_name(s) in asked}  # --split, else --splits, as on the hub
        available = ", ".join(parts)
        if (missing := asked - {split_name(s) for s in wanted}) and options.splits_named():
            raise InputError(f"hf:{rest}: split(s) {', '.join(sorted(missing))} not found (available: {available})")
    else:
        name, _, config = rest.partition(":")
        wanted, available = {}, "see the dataset's card"
        own = [] if options.splits_named() else _default_splits(datasets, name, config)
        for split in own or options.asked():
            try:
                wanted[split] = datasets.load_dataset(name, config or None, split=split)
            except ValueError as err:  # an unknown split: refused where named, skipped among the default ones
                if "split" not in str(err).lower() or options.split or options.splits_named():
                    raise InputError(f"hf:{rest}: {err}") from None
            except _hub_errors(datasets) as err:
                said = f"{err} {err.__cause__ or ''}"  # a DatasetGenerationError's reason is its cause
                raise InputError(f"hf:{rest}: {' '.join(said.split())[:300]}") from None
    if not wanted:
        asked_for = ", ".join(options.asked())
        raise InputError(f"hf:{rest}: none of the splits {asked_for} found (available: {available})")
    names = [split_name(s) for s in wanted]
    if twice := sorted({n for n in names if names.count(n) > 1}):  # one would overwrite the other's manifest
        same = ", ".join(s for s in wanted if split_name(s) in twice)
        raise InputError(f"hf:{rest}: splits {same} are all {', '.join(twice)}; name the one to take with --split")
    return {split_name(s): _hf_split(ds, split_name(s), lang, audio_dir, options, rest) for s, ds in wanted.items()}


def _hub_errors(datasets) -> tuple[type[Exception], ...]:
    """What loading a hub or Parquet dataset raises for a reason a user can act on: no hub, no data (OSError,
    ConnectionError); a dataset with a loading script, which datasets 4+ no longer runs (RuntimeError); files that
    do not build a dataset, parquet splits of other columns (DatasetsError); a folder of audio files, which
    datasets builds only with torchcodec (ImportError: use audiofolder: for it); a card of malformed YAML."""
    return OSError, ConnectionError, RuntimeError, ImportError, datasets.exceptions.DatasetsError, yaml.YAMLError


def _default_splits(datasets, name: str, config: str) -> list[str]:
    """A hub or Parquet dataset's own splits that are train, dev and test by their usual names (MLS's ``dev``,
    which the default ``validation`` missed without a word); empty where none or the names cannot be had (then
    loading the default names says why)."""
    try:
        found = datasets.get_dataset_split_names(name, config or None)
    except (ValueError, *_hub_errors(datasets)):
        return []
    by_name: dict[str, str] = {}  # one a name: validation where there is dev or valid too (as the defaults took it)
    for split in found:
        usual = SPLIT_NAMES.get(split.lower())
        if usual and (usual not in by_name or split.lower() in ("train", "validation", "test")):
            by_name[usual] = split
    return list(by_name.values())


def _load_error(err: Exception, folder: Path) -> str:
    """What `datasets.load_from_disk` said of `folder`, where it says something a user can act on."""
    if isinstance(err, IndexError):  # datasets' own error for a split of no rows (filtered to nothing)
        return "a split of no rows (datasets cannot load one: save the dataset without it)"
    if isinstance(err, KeyError):
        listing = "dataset_dict.json" if (folder / "dataset_dict.json").exists() else "state.json"
        return f"its {listing} has no {err} (damaged, or half written)"
    return " ".join(str(err).split())[:200]


def _label(value: object, column: str, where: str) -> str:
    """A speaker or id value as text, "" for none (null, or the NaN of a pandas column with gaps); never the text
    of a list or a mapping ("['spk']"). An integral float is the integer that pandas made it of in a column with
    gaps (R78: speaker 103 was "103.0", and every unknown speaker one speaker "nan")."""
    if isinstance(value, list | tuple | dict):
        raise InputError(f"{where}: its {column} is {value!r}, not one value")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    refuse_control_characters(text, f"{where}: its {column}", name=True)  # R83: a manifest later commands refused
    return text


def _hf_split(ds, split: str, lang: str, audio_dir: Path, options: SourceOptions, name: str) -> list[Utterance]:
    import datasets

    where = f"hf:{name} split {split}"
    options = replace(options, audio_column=options.audio_column or "audio")
    columns = list(ds.column_names)
    if options.audio_column not in columns:
        raise InputError(f"{where}: no audio column {options.audio_column!r} (columns: {', '.join(columns)})")
    text_col = _pick(columns, options.text_column, TEXT_COLUMNS, "text", where)
    if text_col is None:
        raise InputError(f"{where}: no text column (one of {', '.join(TEXT_COLUMNS)}); give --text-column")
    spk_col = _pick(columns, options.speaker_column, SPEAKER_COLUMNS, "speaker", where)
    id_col = _pick(columns, options.id_column, ("id",), "id", where)
    try:
        ds = ds.cast_column(options.audio_column, datasets.Audio(decode=False))
    except ImportError:  # decoded arrays ({array, sampling_rate}): datasets re-encodes them with torchcodec
        raise InputError(f"{where}: the audio column {options.audio_column!r} holds decoded arrays; save the dataset "
                         "with audio files or encoded bytes (datasets.Audio(decode=False))") from None  # fmt: skip
    except (TypeError, ValueError, NotImplementedError):  # pyarrow's cast errors: numbers, lists, strings...
        kind = ds.features[options.audio_column]
        raise InputError(f"{where}: the column {options.audio_column!r} is not audio (its type: {kind}); "
                         "name the audio column with --audio-column") from None  # fmt: skip
    utts, raw_ids, embedded = [], [], {}
    for i, row in enumerate(ds):
        audio = row[options.audio_column] or {}
        source_path = audio.get("path") or ""
        speaker = _label(row[spk_col], spk_col, f"{where} row {i}") if spk_col else ""
        given_id = _label(row[id_col], id_col, f"{where} row {i}") if id_col else ""
        if id_col and not given_id:
            raise InputError(f"{where} row {i}: its id ({id_col}) is null or empty")
        raw_ids.append(given_id or Path(source_path).stem or f"{split}{i:07d}")
        utt_id = speaker_prefixed(speaker, raw_ids[-1])
        path = source_path
        if audio.get("bytes"):
            path = f"audio/{split}/{utt_id}{Path(source_path).suffix or '.wav'}"
            embedded[path] = i
        elif path:  # a relative path is read from the current folder, as datasets reads it (not from audio_dir)
            path = str(Path(path).absolute())
        utts.append(Utterance(utt_id, path, 0.0, transcript(row[text_col], f"{where} row {i}"), speaker, lang))
    check_unique_ids(utts, raw_ids, where)  # before anything is written
    if id_col:
        note_rewritten_ids(list(zip(raw_ids, (utt.id for utt in utts), strict=True)), where)
    for path, i in embedded.items():  # only now the audio: ids are safe names and unique
        target = audio_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ds[i][options.audio_column]["bytes"])
    return utts


_LOADERS = {"hf": _load_hf, "commonvoice": _load_commonvoice, "audiofolder": _load_audiofolder, "kaldi": _load_kaldi,
            "jsonl": _load_jsonl}  # fmt: skip
