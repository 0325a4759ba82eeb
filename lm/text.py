"""LM training and evaluation text: plain text files (a sentence per line) or manifests (their transcripts),
normalised by the same normaliser as the acoustic model's training targets."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from asr.data.manifest import read_jsonl, read_manifest, refuse_control_characters, text_lines
from asr.errors import InputError
from asr.text import Normalizer

#: words KenLM reserves (lmplz stops on them in its text), and the Transformer LM's tokenizer has as tokens:
#: <pad> too (R91: the n-gram counted it as a word, the Transformer as out of vocabulary)
RESERVED_WORDS = ("<s>", "</s>", "<unk>", "<pad>")


class TextDigest:
    """The SHA-256 (its first 16 hex digits) of normalised sentences as the LM text holds them, one a line:
    what an n-gram's and a Transformer LM's lm.json record, so that one text gives both the same digest."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    def add(self, sentence: str) -> None:
        self._sha.update(sentence.encode("utf-8") + b"\n")

    def hexdigest(self) -> str:
        return self._sha.hexdigest()[:16]


def text_sha256(sentences: Iterable[str]) -> str:
    """`TextDigest` of `sentences`."""
    digest = TextDigest()
    for sentence in sentences:
        digest.add(sentence)
    return digest.hexdigest()


def is_manifest(path: Path) -> bool:
    """A JSONL manifest (``.jsonl``, or NeMo's ``.json``, in any case), whose transcripts are the text."""
    return path.suffix.lower() in (".jsonl", ".json")


def raw_lines(path: Path) -> Iterator[tuple[int | str, str]]:
    """(line number, sentence) for the lines of a text file, or (utterance id, transcript) for a manifest's."""
    if path.suffix.lower() == ".json":
        yield from _nemo_transcripts(path)
        return
    if is_manifest(path):
        yield from ((u.id, u.text) for u in read_manifest(path, durations=False))
        return
    if path.exists() and not path.is_file():  # a pipe, read once for every caller (R76: --dev read again: none)
        yield from _checked(text_lines(path), path)
        return
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is no part of the first word
            yield from _checked(enumerate(f, 1), path)
    except UnicodeDecodeError:  # its position is one in a read buffer, not in the file
        raise InputError(f"{path}:{_first_undecodable_line(path)}: not valid UTF-8 text") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read text: {err.strerror or err}") from None


def _checked(lines: Iterable[tuple[int, str]], path: Path) -> Iterator[tuple[int, str]]:
    """`lines`, a control character refused by its line (R70: a crash's zero bytes became a word of the LM)."""
    for number, line in lines:
        refuse_control_characters(line, f"{path}:{number}")
        yield number, line


def _nemo_transcripts(path: Path) -> Iterator[tuple[int | str, str]]:
    """(id, or else line number; transcript) of a NeMo manifest's lines (``audio_filepath``, ``duration``,
    ``text``: no id, so read_manifest refused them)."""
    for lineno, obj in read_jsonl(path):
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise InputError(f"{path}:{lineno}: a manifest line without a 'text' string")
        refuse_control_characters(obj["text"], f"{path}:{lineno}: 'text'")
        yield obj.get("id") or lineno, obj["text"]


def _first_undecodable_line(path: Path) -> int | str:
    """The number of the first line of `path` that is not UTF-8, its lines split as text mode splits them
    (``\n``, ``\r\n``, a lone ``\r``; latin-1 reads every byte), a line at a time: LM texts are large."""
    with open(path, encoding="latin-1", newline=None) as f:
        for number, line in enumerate(f, 1):
            try:
                line.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                return number
    return "?"


def sentences_of(
    paths: list[Path], normalize: Normalizer, option: str, dropped: Counter | None = None, kept: Counter | None = None
) -> list[str]:
    """The normalised sentences of `paths` (lines left out counted in `dropped`, as `normalized_sentences`, and
    the sentences of each file in `kept`); `InputError` naming `option` when they hold no words."""
    pairs = list(normalized_sentences(paths, normalize, dropped))
    if kept is not None:
        kept.update(path for path, _ in pairs)
    sentences = [s for _, s in pairs]
    if not sentences:
        raise InputError(f"{option} {' '.join(map(str, paths))}: no words after normalisation ({normalize.id})")
    return sentences


def normalized_sentences(
    paths: list[Path], normalize: Normalizer, dropped: Counter | None = None
) -> Iterator[tuple[Path, str]]:
    """(file, sentence) for every non-empty normalised sentence of the files, in order. A line that holds text
    but normalises to nothing (punctuation alone, another script) is left out and counted per file in
    `dropped`; blank lines are not counted."""
    for path in paths:
        for at, line in raw_lines(path):
            # whitespace collapsed: the normaliser `none` kept each line's newline, an empty sentence to KenLM
            if words := normalize(line).split():
                if reserved := [w for w in RESERVED_WORDS if w in words]:
                    where = f"{path}:{at}" if isinstance(at, int) else f"{path}: utterance {at}"
                    raise InputError(f"{where}: {reserved[0]!r} is a word language models reserve (lmplz or the "
                                     f"Transformer LM's tokenizer); remove it from the text, or normalise it "
                                     f"away")  # fmt: skip
                yield path, " ".join(words)
            elif dropped is not None and line.strip():
                dropped[path] += 1


def dropped_lines(paths: list[Path], dropped: Counter) -> dict[str, int]:
    """`dropped` as lm.json records it: every file, with the lines it lost to normalisation."""
    return {str(p): dropped[p] for p in paths}
