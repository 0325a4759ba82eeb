"""Named, versioned text normalisers shared by training targets, LM text, references and hypotheses.

A normaliser is looked up by a spec (`get_normalizer`): a name (``none``, ``lower-nopunct`` or a language
code such as ``fi``), optionally pinned to a version (``fi@1``), optionally with characters to remove first,
as the transformers CTC example's ``chars_to_ignore`` (``fi+ignore=«»``). Its ``id`` is such a spec with the
version (``fi@1+ignore=«»``) and is recorded in every score, vocabulary and LM, so numbers made with
different text processing are never compared silently; `get_normalizer(id)` gives the same normaliser back.
A change to what a normaliser does bumps its version; the earlier version stays available by its id
(``lower-nopunct@1``) for the folders and scores made with it.

The language normalisers apply Unicode NFC, lower-case, drop format characters (zero-width joiners and the
like), turn punctuation and symbols (Unicode P* and S*) into spaces, and collapse whitespace. They keep
every letter, mark and digit: the language's own letters (ä ö å, ß, ñ, Devanagari matras, virama and nukta)
are never stripped. Per language: apostrophes inside words are kept in en, fr and it (``don't``,
``l'homme``) and removed elsewhere; Russian ё is written е, as most Russian text does; Turkish and
Azerbaijani lower-case İ to i and I to ı.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from asr.errors import InputError

_APOSTROPHES = "'\u2019\u02bc\u2018`\u00b4"
UNK_SYMBOL = "\u2047"  # ⁇: a hypothesis's unknown token (pyctcdecode's, and the greedy decoder's): part of its word


@dataclass(frozen=True)
class Normalizer:
    """A text normaliser: ``fn`` maps one transcript to its normalised form, after ``ignore`` is removed."""

    name: str
    version: int
    description: str
    fn: Callable[[str], str]
    ignore: str = ""
    _table: dict[int, None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def id(self) -> str:
        """``name@version``, plus ``+ignore=CHARS`` when characters are ignored."""
        return f"{self.name}@{self.version}" + (f"+ignore={self.ignore}" if self.ignore else "")

    def ignoring(self, chars: str) -> Normalizer:
        """The same normaliser that first removes each of `chars` (as transformers' ``chars_to_ignore``)."""
        chars = "".join(sorted(set(self.ignore + chars)))
        return replace(self, ignore=chars, _table=dict.fromkeys(map(ord, chars)))

    def __call__(self, text: str) -> str:
        return self.fn(text.translate(self._table) if self._table else text)


def _lower_nopunct(text: str, apostrophes: str, keep: str = "", drop_format: bool = False) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    chars = []
    for ch in text:
        if ch in apostrophes or (drop_format and unicodedata.category(ch) == "Cf"):
            continue
        chars.append(" " if unicodedata.category(ch).startswith("P") and ch not in keep else ch)
    return " ".join("".join(chars).split())


def _word_char(ch: str) -> bool:
    """A letter, mark or digit, or the unknown-token symbol: what an apostrophe between two of keeps a word."""
    return unicodedata.category(ch)[0] in "LMN" or ch == UNK_SYMBOL


def _language(
    text: str, keep_apostrophe: bool, char_map: dict[int, str], version: int = 2, case_map: dict[int, str] | None = None
) -> str:
    text = unicodedata.normalize("NFC", text).translate(case_map or {}).lower().translate(char_map)
    if version >= 2:  # format characters go first, so that they cannot split a word at an apostrophe
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    inner = _word_char if version >= 2 else str.isalpha  # v1: letters only (digits, matras, ⁇ split words)
    chars = []
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if ch in _APOSTROPHES:
            inside = 0 < i < len(text) - 1 and inner(text[i - 1]) and inner(text[i + 1])
            chars.append("'" if keep_apostrophe and inside else "" if inside else " ")
        elif category == "Cf":
            continue
        elif category[0] in "PS" and not (version >= 2 and ch == UNK_SYMBOL):
            chars.append(" ")
        else:
            chars.append(ch)
    return " ".join("".join(chars).split())


_LANGUAGES: dict[str, tuple[str, bool, dict[int, str]]] = {
    "en": ("English", True, {}),
    "fi": ("Finnish", False, {}),
    "de": ("German", False, {}),
    "es": ("Spanish", False, {}),
    "fr": ("French", True, {}),
    "it": ("Italian", True, {}),
    "ru": ("Russian", False, {ord("ё"): "е"}),
    "hi": ("Hindi", False, {}),
    "tr": ("Turkish", False, {}),
    "az": ("Azerbaijani", False, {}),
}

#: upper-case letters whose lower case is the language's own, mapped before lower-casing (İ is i, I is ı: the
#: language-blind lower case made İstanbul i + a combining dot, another word than istanbul)
_CASE_MAPS: dict[str, dict[int, str]] = {code: {ord("İ"): "i", ord("I"): "ı"} for code in ("tr", "az")}


def _language_normalizer(code: str, version: int = 2) -> Normalizer:
    language, keep_apostrophe, char_map = _LANGUAGES[code]
    apostrophes = "kept inside words" if keep_apostrophe else "removed"
    changes = (
        "; since @2 the unknown-token symbol ⁇ stays inside its word and an apostrophe between digits, marks or "
        "letters is inside a word (format characters dropped first)"
        if version >= 2
        else ""
    )
    return Normalizer(
        code,
        version,
        f"{language}: NFC, lower case, punctuation and symbols to spaces, apostrophes {apostrophes}"
        + (", ё written е" if char_map else "")
        + (", İ lower-cased i and I ı" if code in _CASE_MAPS else "")
        + changes,
        partial(
            _language,
            keep_apostrophe=keep_apostrophe,
            char_map=char_map,
            version=version,
            case_map=_CASE_MAPS.get(code),
        ),
    )


#: every normaliser by name, in its present version
NORMALIZERS: dict[str, Normalizer] = {
    n.name: n
    for n in (
        Normalizer("none", 1, "text as given", lambda text: text),
        Normalizer(
            "lower-nopunct",
            4,
            "Unicode NFC, lower case, apostrophes (' \u2019 \u02bc \u2018 ` \u00b4) and format characters (Unicode "
            "Cf: zero-width spaces and joiners, soft hyphens) removed, other punctuation (Unicode P*) but the "
            "unknown-token symbol \u2047 turned into spaces, whitespace collapsed",
            partial(_lower_nopunct, apostrophes=_APOSTROPHES, keep=UNK_SYMBOL, drop_format=True),
        ),
        *(_language_normalizer(code) for code in _LANGUAGES),
    )
}

#: earlier versions kept for the folders and scores that name them (the shipped checkpoints' processors
#: use lower-nopunct@1)
EARLIER_VERSIONS: dict[str, Normalizer] = {
    n.id: n
    for n in (
        Normalizer(
            "lower-nopunct",
            1,
            "as lower-nopunct@2, but \u2018 turned into a space and ` \u00b4 kept as letters",
            partial(_lower_nopunct, apostrophes=_APOSTROPHES[:3]),
        ),
        Normalizer(
            "lower-nopunct",
            2,
            "as lower-nopunct@3, but the unknown-token symbol \u2047 turned into a space (splitting its word)",
            partial(_lower_nopunct, apostrophes=_APOSTROPHES),
        ),
        Normalizer(
            "lower-nopunct",
            3,
            "as lower-nopunct@4, but format characters (zero-width spaces and joiners, soft hyphens) kept as letters",
            partial(_lower_nopunct, apostrophes=_APOSTROPHES, keep=UNK_SYMBOL),
        ),
        *(_language_normalizer(code, version=1) for code in _LANGUAGES if code not in _CASE_MAPS),
    )
}


#: a language code with an optional region or script (en, EN, en-US, hi_IN, sr-Latn, es-419); not en-nopunct
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}([-_]([A-Za-z]{2}|[A-Za-z]{4}|[0-9]{3}))?")


def get_normalizer(spec: str) -> Normalizer:
    """The normaliser for ``NAME[@VERSION][+ignore=CHARS]`` (NAME also a language code: ``EN``, ``en-US``); an
    `InputError` for an unknown one."""
    base, _, ignore = spec.partition("+ignore=")
    name, _, version = base.partition("@")
    if name not in NORMALIZERS and _LANGUAGE_CODE.fullmatch(name) and _subtag(name) in _LANGUAGES:
        name, base = _subtag(name), base.replace(name, _subtag(name), 1)  # as default_normalizer reads a code
    if name not in NORMALIZERS:
        raise InputError(f"unknown normalizer {name!r}; known: {', '.join(NORMALIZERS)}")
    normalizer = NORMALIZERS[name]
    if version and version != str(normalizer.version):
        normalizer = EARLIER_VERSIONS.get(base)
        if normalizer is None:
            known = [n.id for n in (NORMALIZERS[name], *EARLIER_VERSIONS.values()) if n.name == name]
            raise InputError(f"normalizer {base} asked for, but this version of asr has {', '.join(known)}")
    return normalizer.ignoring(ignore) if ignore else normalizer


def default_normalizer(lang: str) -> Normalizer:
    """The language's normaliser, or ``lower-nopunct`` for a language without one of its own; a code is read by
    its language subtag, in any case (``en-US``, ``EN``, ``hi_IN``: en and hi; they fell back before)."""
    subtag = _subtag(lang)
    return (NORMALIZERS.get(subtag) if subtag in _LANGUAGES else None) or NORMALIZERS["lower-nopunct"]


def _subtag(code: str) -> str:
    """The language subtag of a code, in lower case: en of EN, en-US and en_US."""
    return code.lower().replace("_", "-").split("-")[0]


def manifest_normalizer(langs: list[str], spec: str | None, where: str) -> tuple[Normalizer, str]:
    """The normaliser for a manifest's text (`spec`, else its languages' one) and its language ("" for several).

    Raises:
        InputError: languages whose normalisers differ and no `spec` (one language's rules would be applied to
            another's text).
    """
    counts = Counter(langs)
    lang = next(iter(counts)) if len(counts) == 1 else ""
    if spec:
        return get_normalizer(spec), lang
    if len({default_normalizer(code).id for code in counts}) > 1:
        mix = ", ".join(f"{code or 'no lang'} ({n})" for code, n in counts.most_common())
        raise InputError(f"{where}: utterances of several languages whose normalisers differ ({mix}); name one "
                         "with --normalize")  # fmt: skip
    return default_normalizer(next(iter(counts), "")), lang


#: the file in a processor or model folder that names the normaliser (and language) of its text (an LM folder
#: records its normaliser in its ``lm.json``)
TEXT_CONFIG = "asr_text.json"


def read_text_config(folder: Path) -> dict:
    """A folder's ``asr_text.json`` ({"normalizer", "lang"}); empty without one."""
    path = Path(folder) / TEXT_CONFIG
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: unreadable ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("normalizer", ""), str):
        raise InputError(f"{path}: expected {{'normalizer': SPEC, 'lang': CODE}}")
    return config


def write_text_config(folder: Path, normalize: Normalizer, lang: str) -> None:
    """Writes the folder's ``asr_text.json``: `normalize`'s spec and the language `lang`."""
    config = {"normalizer": normalize.id, "lang": lang}
    (Path(folder) / TEXT_CONFIG).write_text(json.dumps(config, ensure_ascii=False) + "\n", encoding="utf-8")


def folder_normalizer(folder: Path) -> Normalizer:
    """The normaliser named by a processor or model folder's asr_text.json (``none`` without one)."""
    return get_normalizer(read_text_config(folder).get("normalizer", "none"))
