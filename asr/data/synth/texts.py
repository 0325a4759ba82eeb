"""Sentences per language for the synthetic corpus, from license-clean text that Debian ships.

English, German, Russian, Spanish and Italian come from the fortune databases (packages fortunes-min,
fortunes, fortunes-de, fortunes-ru, fortunes-es, fortunes-it: entries separated by ``%`` lines), leaving out
the offensive collections and the topics listed in `_EXCLUDED`; Finnish and Hindi from `grammar`.
Sentences are cut at . ! ? and kept when they have 3 to 20 words, no digits (espeak-ng would read them as
number words that the transcript lacks) and no characters outside letters and light punctuation; every
rejected sentence is counted by reason. Letter art (`letter_art`) is left out later, by the corpus plan, so that
the order of the other sentences, and each seed's corpus, stay as they were.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

from asr.data.synth import grammar
from asr.errors import InputError

MAX_AUDIO_SHARE = 0.7  # at most this share of a language's sentences gets audio; the rest feeds the LM

FORTUNES = Path("/usr/share/games/fortunes")
_SOURCES = {
    "en": (FORTUNES, "fortunes-min / fortunes"),
    "de": (FORTUNES / "de", "fortunes-de"),
    "ru": (FORTUNES / "ru", "fortunes-ru"),
    "es": (FORTUNES / "es", "fortunes-es"),
    "it": (FORTUNES / "it", "fortunes-it"),
}
_GRAMMARS = {"fi": grammar.finnish, "hi": grammar.hindi}
LANGUAGES = tuple(sorted([*_SOURCES, *_GRAMMARS]))
_EXCLUDED = {
    "off", "ethnic", "men-women", "politics", "drugs", "sex", "flirt", "art", "ascii-art", "asciiart",
    "banner", "M$", "linux", "computers", "computer", "debian", "perl", "startrek", "zippy",
}  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PUNCTUATION = set(",.;:!?'’«»„“”\"-–—।")


def _fortune_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in ("", ".fortunes") and p.stem not in _EXCLUDED and not p.is_symlink()
    )


def _entries(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    entries = []
    for entry in re.split(r"\n%\n", text):
        lines = [line for line in entry.splitlines() if not re.match(r"^\s+--", line)]
        entries.append(" ".join(" ".join(lines).split()))
    return entries


def sentence_filter(sentence: str) -> str | None:
    """The reason a sentence is rejected, or None when it is kept."""
    words = sentence.split()
    if not 3 <= len(words) <= 20:
        return "not 3 to 20 words"
    if any(ch.isdigit() for ch in sentence):
        return "digits"
    if not all(ch.isspace() or ch in _PUNCTUATION or unicodedata.category(ch)[0] in "LM" for ch in sentence):
        return "other characters"
    if not any(ch.isalpha() for ch in sentence):
        return "no letters"
    if _mojibake(sentence):
        return "mojibake"
    return None


#: a letter four times in a row, or a word of one letter three times or more: letter art and stretched words
#: ("MMM MMM; M M :M' AMMMMMMV'", "thaaaaaaat's", "III"), which a voice spells out or reads as it likes (R86: an
#: ASCII-art picture of fortunes-it was 39 s of "emme emme ..." under a reference of 333 M's, most of a test split)
_LETTER_ART = re.compile(r"(\w)\1{3,}|(?<!\w)(\w)\2{2,}(?!\w)")


def letter_art(sentence: str) -> bool:
    """Whether `sentence` holds letter art or a stretched word (`_LETTER_ART`)."""
    return bool(_LETTER_ART.search(sentence))


def _mojibake(sentence: str) -> bool:
    """UTF-8 that was read as Latin-1 ("Â«" for "«"): a voice reads it as noise, and Festival as no audio."""
    try:
        return sentence.encode("latin-1").decode("utf-8") != sentence
    except UnicodeError:
        return False


def sentences(lang: str) -> tuple[list[str], Counter]:
    """Distinct kept sentences of `lang` in a fixed order, and the counts of rejected ones by reason."""
    if lang in _GRAMMARS:
        candidates = _GRAMMARS[lang]()
    elif lang in _SOURCES:
        folder, package = _SOURCES[lang]
        if not folder.is_dir():
            raise InputError(f"{folder}: not found; install Debian's {package} (scripts/setup.sh does)")
        candidates = [s for f in _fortune_files(folder) for e in _entries(f) for s in _SENTENCE_END.split(e)]
    else:
        raise InputError(f"no text source for language {lang!r}; available: {', '.join(LANGUAGES)}")
    kept: dict[str, None] = {}
    rejected: Counter = Counter()
    for sentence in candidates:
        reason = sentence_filter(sentence)
        if reason:
            rejected[reason] += 1
        elif sentence in kept:
            rejected["duplicate"] += 1
        else:
            kept[sentence] = None
    return list(kept), rejected
