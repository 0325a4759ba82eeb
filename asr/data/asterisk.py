"""`asr data asterisk`: real recorded speech from Debian's Asterisk prompt packages.

``asterisk-core-sounds-<lang>`` holds the transcripts (``/usr/share/doc/.../core-sounds-<lang>.txt.gz``,
``name: text`` per line) and ``asterisk-core-sounds-<lang>-wav`` the 8 kHz studio recordings under
``/usr/share/asterisk/sounds/<lang>/`` (a link to the voice's folder, such as ``en_US_f_Allison``). One
professional speaker per language: the voice folder names the speaker. Entries are skipped, and counted by
reason (and listed in ``skipped.jsonl``), when they are not speech (``[beep]``, ``(10 seconds of silence)``),
have no recording, speak symbols or digits the text does not hold (``*``, ``#``, ``1``), or lost letters in the
transcript file (Italian ``pu? essere``, ``La conferenza ? piena``); recordings no entry names are counted too
(``no transcript``). Bracketed glosses and stage notes are removed from the text.
Prompts are split 80/10/10 into train/dev/test by a hash of their name, so the split of a prompt never changes;
a dev or test prompt with the words of a prompt of train, of dev (for test) or of its own split before it (one
sentence recorded under several names) is skipped.
Audio is referenced where it lies and resampled to 16 kHz on loading.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections import Counter
from pathlib import Path

from asr.data.manifest import Utterance, write_jsonl
from asr.data.prepare import check_and_write, claim_prepared, split_files
from asr.errors import InputError, writable_dir
from asr.folders import part_path, write_together
from asr.text import default_normalizer

LANGUAGES = ("en", "es", "fr", "it", "ru")
# speaker and licence per language, from /usr/share/doc/asterisk-core-sounds-<lang>/copyright
CREDITS = {
    "en": "Allison Smith (theivrvoice.com), CC-BY-SA-3.0",
    "es": "Allison Smith (theivrvoice.com), CC-BY-SA-3.0",
    "fr": "June Wallack, CC-BY-SA-3.0",
    "it": "Carlo Flora, CC-BY-3.0",
    "ru": "Maxim Topal (ivrvoice.ru), CC-BY-3.0",
}
SOUNDS = Path("/usr/share/asterisk/sounds")
DOCS = Path("/usr/share/doc")
_GLOSS = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>")


def split_of(name: str) -> str:
    """train, dev or test for a prompt name, 80/10/10 by a stable hash."""
    bucket = zlib.crc32(name.encode()) % 10
    return "dev" if bucket == 0 else "test" if bucket == 1 else "train"


_TONE = re.compile(r"\s*(\[[^\]]*\]|<[^>]*>|\([^)]*\)|un suono\b.*)\s*", re.IGNORECASE)  # it: "un suono beep"
# "pu? essere" lost "ò", "La conferenza ? piena" lost the word "è": a "?" inside a word, or before a lower-case
# one (a question ends before a capital, "continuer ? Écoutez")
_QUESTION_MARK = re.compile(r"(?:[^\W\d_]|(?<!\S))\?(?:(?P<joined>[^\W\d_])|\s+(?P<next>[^\W\d_]))")


def _lost_letter(text: str) -> bool:
    return any(m["joined"] or m["next"].islower() for m in _QUESTION_MARK.finditer(text))


def clean_text(text: str) -> tuple[str, str | None]:
    """The spoken text of a transcript entry, and the reason to skip it (None when usable)."""
    if _TONE.fullmatch(text):  # [silence], <beep ascending>, (beep), (10 seconds of silence): not words
        return "", "not speech"
    if "*" in text or "#" in text:
        return "", "symbols spoken as words"
    spoken = " ".join(_GLOSS.sub(" ", text).split())
    if any(ch.isdigit() for ch in spoken):  # "press 1" is spoken "one": its label would be the digit
        return "", "digits spoken as words"
    if _lost_letter(spoken):  # a letter the transcript file lost: the label would miss it
        return "", "letters lost in the transcript (?)"
    return spoken, None if spoken else "empty text"


def _repeats(lang: str, splits: dict[str, list[Utterance]], names: dict[str, str]) -> list[dict]:
    """Takes out of dev and test the prompts whose words a split before them or an earlier prompt of their own
    has (the same sentence recorded under several names: a repeat of training data, or a test prompt that the
    LM weights were tuned on in dev); returns them as skipped entries (`names`: id -> prompt name)."""
    normalize = default_normalizer(lang)
    voiced = {normalize(u.text): "train" for u in splits.get("train", [])}
    skipped = []
    for split in ("dev", "test"):
        kept = []
        for u in splits.get(split, []):
            if (text := normalize(u.text)) in voiced:
                skipped.append({"name": names[u.id], "reason": f"words of a {voiced[text]} prompt", "text": u.text})
            else:
                voiced[text] = split
                kept.append(u)
        splits[split] = kept
    return skipped


def _transcripts(lang: str) -> list[tuple[str, str]]:
    path = DOCS / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"
    if not path.exists():
        raise InputError(f"{path}: not found; install Debian's asterisk-core-sounds-{lang} (scripts/setup.sh does)")
    entries = []
    for line in gzip.decompress(path.read_bytes()).decode("utf-8-sig").splitlines():
        if line.strip() and not line.startswith(";") and ":" in line:
            name, _, text = line.partition(":")
            entries.append((name.strip(), text.strip()))
    return entries


def load_prompts(lang: str) -> tuple[dict[str, list[Utterance]], list[dict]]:
    """Utterances per split and the skipped entries (name, reason, text)."""
    if lang not in LANGUAGES:
        raise InputError(f"no Asterisk prompts for {lang!r}; available: {', '.join(LANGUAGES)}")
    folder = (SOUNDS / lang).resolve()
    if not folder.is_dir():
        raise InputError(f"{SOUNDS / lang}: not found; install asterisk-core-sounds-{lang}-wav (scripts/setup.sh does)")
    speaker = re.sub(r"[^a-z0-9]", "", folder.name.split("_")[-1].lower())
    wavs = {str(p.relative_to(folder).with_suffix("")).lower(): p for p in folder.rglob("*.wav")}
    splits: dict[str, list[Utterance]] = {}
    skipped: list[dict] = []
    names: dict[str, str] = {}  # utterance id -> prompt name
    seen: set[str] = set()
    entries = _transcripts(lang)
    listed = {name.lower() for name, _ in entries}
    for name, text in entries:
        spoken, reason = clean_text(text)
        wav = wavs.get(name.lower())
        if reason is None and wav is None:
            reason = "no recording"
        if reason is None and name.lower() in seen:
            reason = "duplicate name"
        if reason:
            skipped.append({"name": name, "reason": reason, "text": text})
            continue
        seen.add(name.lower())
        utt_id = f"{speaker}_{lang}-{name.replace('/', '-')}"
        names[utt_id] = name
        utterance = Utterance(utt_id, str(wav), 0.0, spoken, speaker, lang)
        splits.setdefault(split_of(name), []).append(utterance)
    return splits, skipped + _unlisted(wavs, listed) + _repeats(lang, splits, names)


def _unlisted(wavs: dict[str, Path], listed: set[str]) -> list[dict]:
    """The recordings that no transcript entry names (Spanish digits/10.wav, listed as a second digits/0), as
    skipped entries: left out, and counted."""
    return [{"name": name, "reason": "no transcript", "text": ""} for name in sorted(wavs.keys() - listed)]


SKIPPED_FILE = "skipped.jsonl"


def claim_folder(out_dir: Path, source: str) -> None:
    """Refuses an --out that holds another corpus (another language's prompts, a synthetic corpus, other files):
    writing there would mix them. A rerun of the same language rewrites its own files."""
    if not claim_prepared(out_dir, source) and out_dir.is_dir():  # no summary.json: whose files?
        own = {SKIPPED_FILE, "summary.json"}
        own |= {path.name for split in ("train", "dev", "test") for path in split_files(out_dir, split)}
        own |= {part_path(out_dir / name).name for name in own}  # a killed run's files not yet moved in
        if others := sorted(p.name for p in out_dir.iterdir() if p.name not in own):
            raise InputError(f"{out_dir} is not empty ({', '.join(others[:3])}) and was not made by "
                             "'asr data asterisk'; use another --out")  # fmt: skip
    writable_dir(out_dir, "--out")


def build(lang: str, out_dir: Path) -> dict:
    """Writes OUT/{train,dev,test}.jsonl, summary.json and skipped.jsonl (the entries skipped, with their
    reasons) for one language; returns the summary."""
    splits, skipped = load_prompts(lang)
    source = f"asterisk-core-sounds-{lang}"
    claim_folder(out_dir, source)
    write_together({out_dir / SKIPPED_FILE: lambda part: write_jsonl(part, skipped)})  # whole or not at all
    extra = {
        "source": source,
        "lang": lang,
        "credit": CREDITS[lang],
        "entries_skipped": dict(Counter(e["reason"] for e in skipped).most_common()),
    }
    return check_and_write(splits, out_dir, default_normalizer(lang), f"asterisk {lang}", extra)
