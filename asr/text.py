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
are never stripped; since @4 (lower-nopunct@6) only a mark without its letter goes (one whose letter became a
space, an enclosing mark, a variation selector), and spellings that read alike are made one (`_UNIFIED`).
Per language: apostrophes inside words are kept in en, fr and it (``don't``, ``l'homme``) and removed
elsewhere; Russian ё is written е, as most Russian text does; Turkish and Azerbaijani lower-case İ to i and I
to ı.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from asr.errors import InputError

_APOSTROPHES = "'\u2019\u02bc\u2018`\u00b4"
_OKINA = "\u02bb"  # ʻ, Uzbek's and Hawaiian's: an apostrophe look-alike since lower-nopunct@6 and the languages' @4
UNK_SYMBOL = "\u2047"  # ⁇: a hypothesis's unknown token (pyctcdecode's, and the greedy decoder's): part of its word


@dataclass(frozen=True)
class Normalizer:
    """A text normaliser: ``fn`` maps one transcript to its normalised form, after ``ignore`` is removed."""

    name: str
    version: int
    description: str
    fn: Callable[[str], str]
    ignore: str = ""
    #: ignore compared canonically (text and `ignore` in NFC, an ignored mark also inside a precomposed letter);
    #: False for the versions made before, which removed the characters as typed
    canonical_ignore: bool = True
    _table: dict[int, None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def id(self) -> str:
        """``name@version``, plus ``+ignore=CHARS`` when characters are ignored."""
        return f"{self.name}@{self.version}" + (f"+ignore={self.ignore}" if self.ignore else "")

    def ignoring(self, chars: str) -> Normalizer:
        """The same normaliser that first removes each of `chars` (as transformers' ``chars_to_ignore``)."""
        if self.canonical_ignore:
            chars = unicodedata.normalize("NFC", chars)  # é typed e + U+0301 is one character, not e and a mark
            # a letter NFC writes with its mark apart (क़ U+0958, or typed क + ़): ignoring both removed every क
            if letter := next((d for d in _uncomposed() if d in chars), ""):
                raise InputError(f"+ignore={chars}: NFC writes {letter} as {' and '.join(letter)}, so every "
                                 f"{letter[0]} would go too; give {letter[1:]} alone to ignore the mark")  # fmt: skip
        # canonically: marks first, in canonical order (a letter before a mark in the id, a and U+0301, was one
        # letter, á, when the id was read back, and NFC reorders marks by their combining class)
        chars = "".join(sorted(set(self.ignore + chars), key=_id_order if self.canonical_ignore else None))
        if self.canonical_ignore and unicodedata.normalize("NFC", chars) != chars:  # letters composing (Hangul)
            raise InputError(f"+ignore={chars}: characters that compose into one; give the composed character")
        return replace(self, ignore=chars, _table=dict.fromkeys(map(ord, chars)))

    def __call__(self, text: str) -> str:
        if not self._table:
            return self.fn(text)
        if not self.canonical_ignore:
            return self.fn(text.translate(self._table))
        return self.fn(_without(unicodedata.normalize("NFC", text), self.ignore, self._table))


@functools.cache
def _uncomposed() -> tuple[str, ...]:
    """The NFC forms of the characters NFC writes as several (composition exclusions: क़ is क and ़, שׁ is ש and
    ׁ): one letter to a reader (R58, R61; any letter before any mark was too many: R63)."""
    return tuple(nfc for c in range(0x30000) if len(nfc := unicodedata.normalize("NFC", chr(c))) > 1)


def _id_order(ch: str) -> tuple[bool, int, str]:
    return unicodedata.category(ch)[0] != "M", unicodedata.combining(ch), ch


def _without(text: str, ignore: str, table: dict[int, None]) -> str:
    """NFC `text` without the characters of `ignore`; an ignored mark (harakat, nukta, an accent) goes from
    inside a precomposed letter too, so that a text typed composed or decomposed gives one result."""
    marks = {ch for ch in ignore if unicodedata.category(ch)[0] == "M"}
    if marks:
        decomposed = "".join(ch for ch in unicodedata.normalize("NFD", text) if ch not in marks)
        text = unicodedata.normalize("NFC", decomposed)
    return text.translate(table)


_ZWSP = "\u200b"  # a zero-width space: a word boundary in Thai, Lao, Khmer and Burmese text (since @5 and @3)
_HEBREW_MARKS = "\u05f3\u05f4"  # geresh and gershayim, inside words (ג׳ורג׳, צה״ל): removed as apostrophes
_HEBREW_QUOTE = re.compile('(?<=[\u05d0-\u05ea])"(?=[\u05d0-\u05ea])')  # " typed for gershayim (צה"ל)


def _canonical_lower(text: str, canonical: bool) -> str:
    """Lower-cased NFC `text`; `canonical` (the versions since lower-nopunct@5 and the languages' @3): the
    zero-width space a space and the lower case composed again (Ϊ́ lower-cased is ϊ and a separate accent, where
    ΐ typed is one letter)."""
    text = unicodedata.normalize("NFC", text).lower()
    return unicodedata.normalize("NFC", text.replace(_ZWSP, " ")) if canonical else text


#: removed wherever they are since lower-nopunct@6 and the languages' @4 (R58): variation selectors (an emoji's
#: presentation: ❤️ was ❤ and an invisible word of U+FE0F, and a label of the vocabulary) and the Armenian
#: emphasis, exclamation and question marks, written on a word's stressed vowel (ինչո՞ւ was two words)
_REMOVED = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef\u180b-\u180d\u180f\u055b\u055c\u055e]")  # +Mongolian's
#: Malayalam chillus in the older encoding (consonant, virama, zero-width joiner) as the atomic letters, before
#: format characters go (the dropped joiner made അവന്‍ "he" into അവന് "to him")
_CHILLUS = {"\u0d23\u0d4d\u200d": "\u0d7a", "\u0d28\u0d4d\u200d": "\u0d7b", "\u0d30\u0d4d\u200d": "\u0d7c",
            "\u0d32\u0d4d\u200d": "\u0d7d", "\u0d33\u0d4d\u200d": "\u0d7e", "\u0d15\u0d4d\u200d": "\u0d7f"}  # fmt: skip
_CHILLU = re.compile("|".join(_CHILLUS))
_INNER_DOT = re.compile(r"(?<=l)\u00b7(?=l)")  # Catalan's l·l (and ŀl): one word (한·미, Greek's · stay two)
_FINAL_SIGMA = re.compile(r"(?<=\w)\u03c3(?![\w\u2047])")  # σ ending a word (not before ⁇, inside it: R64)
_INNER_SIGMA = re.compile(r"\u03c2(?=[\w\u2047])")  # ς inside one (lower-casing ΑΣ⁇Α ended a word at ⁇)


def _unified(text: str) -> str:
    """Lower-cased NFC text with the spellings that read alike made one (lower-nopunct@6, the languages' @4):
    old-style chillus, `_REMOVED` characters, Catalan's ŀ and l·l."""
    if "\u200d" in text:
        text = _CHILLU.sub(lambda m: _CHILLUS[m[0]], text)
    text = _REMOVED.sub("", text).replace("\u0140", "l\u00b7")
    return _INNER_DOT.sub("", text) if "\u00b7" in text else text


def _unanchored_marks_dropped(text: str) -> str:
    """`text` without format characters, enclosing marks (a keycap's, a circle's) and the marks that follow a
    space, punctuation or a symbol (or begin it): what is left of a word is decided before its apostrophes are."""
    kept, anchored, category_of = [], False, unicodedata.category
    for ch in text:
        category = category_of(ch)
        if category[0] == "M":
            if category == "Me" or not anchored:
                continue
        elif category == "Cf":
            continue
        else:  # a kept mark leaves it anchored; one on an apostrophe is not (x '́'a was x 'a: R63)
            anchored = category[0] in "LN" or ch == UNK_SYMBOL
        kept.append(ch)
    return "".join(kept)


def _finished(text: str) -> str:
    """Normalised text from its characters (lower-nopunct@6, the languages' @4): a mark whose letter became a
    space goes with it, σ ending a word is ς (lower-casing saw ΟΔΟΣ.ΚΑΙ as one word), NFC again (a letter and
    its mark met where a character between them went: ا ـ ٓ), whitespace collapsed."""
    words = [_unmarked(w) if unicodedata.category(w[0])[0] == "M" else w for w in text.split()]
    text = unicodedata.normalize("NFC", " ".join(w for w in words if w))
    if "\u03c3" in text or "\u03c2" in text:
        text = _FINAL_SIGMA.sub("\u03c2", _INNER_SIGMA.sub("\u03c3", text))
    return text


def _unmarked(word: str) -> str:
    """`word` without the marks it starts with."""
    start = 0
    while start < len(word) and unicodedata.category(word[start])[0] == "M":
        start += 1
    return word[start:]


def _lower_nopunct(text: str, apostrophes: str, keep: str = "", drop_format: bool = False, version: int = 4) -> str:
    spaced = "PS" if version >= 5 else "P"  # symbols ($ + = emoji) too since @5, as the language normalisers
    if text.isascii():  # each character on its own: one table (an LM corpus's lines went at 2 MB/s, char by char)
        return " ".join(text.lower().translate(_ascii_table(apostrophes, keep, drop_format, spaced)).split())
    text = _canonical_lower(text, version >= 5)
    if version >= 5:
        text, apostrophes = _HEBREW_QUOTE.sub("", text), apostrophes + _HEBREW_MARKS
    if version >= 6:
        text = _unified(text)
    chars = "".join(_nopunct_char(ch, apostrophes, keep, drop_format, spaced, version) for ch in text)
    return _finished(chars) if version >= 6 else " ".join(chars.split())


def _nopunct_char(ch: str, apostrophes: str, keep: str, drop_format: bool, spaced: str, version: int = 4) -> str:
    """What lower-nopunct writes for one lower-cased character: nothing, a space or itself (an enclosing mark,
    a keycap's or a circle's, nothing since @6)."""
    category = unicodedata.category(ch)
    if ch in apostrophes or (drop_format and category == "Cf") or (version >= 6 and category == "Me"):
        return ""
    return " " if category[0] in spaced and ch not in keep else ch


@functools.cache
def _ascii_table(apostrophes: str, keep: str, drop_format: bool, spaced: str) -> dict[int, str]:
    return {c: _nopunct_char(chr(c), apostrophes, keep, drop_format, spaced) for c in range(128)}


def _word_char(ch: str) -> bool:
    """A letter, mark or digit, or the unknown-token symbol: what an apostrophe between two of keeps a word."""
    return unicodedata.category(ch)[0] in "LMN" or ch == UNK_SYMBOL


#: an ASCII apostrophe between two letters or digits (inside a word), or any other ASCII apostrophe
_ASCII_APOSTROPHE = re.compile(r"(?P<inside>(?<=[a-z0-9])['`](?=[a-z0-9]))|['`]")
#: ASCII punctuation and symbols but the apostrophes, turned into spaces by the language normalisers
_ASCII_SPACED = {c: " " for c in range(128) if unicodedata.category(chr(c))[0] in "PS" and chr(c) not in _APOSTROPHES}


def _language(
    text: str, keep_apostrophe: bool, char_map: dict[int, str], version: int = 3, case_map: dict[int, str] | None = None
) -> str:
    if version >= 2 and case_map is None and text.isascii():  # what the loop below does, in C (10x faster)
        kept = "'" if keep_apostrophe else ""
        text = _ASCII_APOSTROPHE.sub(lambda m: kept if m["inside"] else " ", text.lower().translate(_ASCII_SPACED))
        return " ".join(text.split())
    text = _canonical_lower(unicodedata.normalize("NFC", text).translate(case_map or {}), version >= 3)
    text = text.translate(char_map)
    apostrophes = _APOSTROPHES + _OKINA if version >= 4 else _APOSTROPHES
    if version >= 4:  # format characters go first, and enclosing marks and marks whose letter becomes a space
        # (they decided whether an apostrophe was inside a word, then went: x ́'a was x 'a, R60)
        text = _unanchored_marks_dropped(_unified(text))
    elif version >= 2:  # format characters go first, so that they cannot split a word at an apostrophe
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    inner = _word_char if version >= 2 else str.isalpha  # v1: letters only (digits, matras, ⁇ split words)
    if version >= 4:  # an apostrophe beside another is inside no word (‘ʼ: ʼ is a letter, and was kept)
        inner = functools.partial(_unless, inner, apostrophes)
    chars = []
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if ch in apostrophes:
            inside = 0 < i < len(text) - 1 and inner(text[i - 1]) and inner(text[i + 1])
            chars.append("'" if keep_apostrophe and inside else "" if inside else " ")
        elif category == "Cf":  # (v1)
            continue
        elif category[0] in "PS" and not (version >= 2 and ch == UNK_SYMBOL):
            chars.append(" ")
        else:
            chars.append(ch)
    return _finished("".join(chars)) if version >= 4 else " ".join("".join(chars).split())


def _unless(inner: Callable[[str], bool], apostrophes: str, ch: str) -> bool:
    return ch not in apostrophes and inner(ch)


#: code: language, apostrophes kept inside words, letters written otherwise (after lower-casing) and what that says
_LANGUAGES: dict[str, tuple[str, bool, dict[int, str], str]] = {
    "en": ("English", True, {}, ""),
    "fi": ("Finnish", False, {}, ""),
    "de": ("German", False, {}, ""),
    "es": ("Spanish", False, {}, ""),
    "fr": ("French", True, {}, ""),
    "it": ("Italian", True, {}, ""),
    "ru": ("Russian", False, {ord("ё"): "е"}, "ё written е"),
    "hi": ("Hindi", False, {}, ""),
    "tr": ("Turkish", False, {}, ""),
    "az": ("Azerbaijani", False, {}, ""),
    # tatweel (a letter by Unicode, a stretch of the line in writing) and the other language's forms of yeh and kaf
    "ar": ("Arabic", False, {ord("ـ"): "", ord("ی"): "ي", ord("ک"): "ك"}, "tatweel removed, Persian ی ک written ي ك"),
    "fa": ("Persian", False, {ord("ـ"): "", ord("ي"): "ی", ord("ى"): "ی", ord("ك"): "ک"},
           "tatweel removed, Arabic ي ى ك written ی ی ک"),
}  # fmt: skip

#: the version each language's normaliser started at (1 where not named)
_FIRST_VERSION = {"tr": 2, "az": 2, "ar": 3, "fa": 3}

#: upper-case letters whose lower case is the language's own, mapped before lower-casing (İ is i, I is ı: the
#: language-blind lower case made İstanbul i + a combining dot, another word than istanbul)
_CASE_MAPS: dict[str, dict[int, str]] = {code: {ord("İ"): "i", ord("I"): "ı"} for code in ("tr", "az")}


#: what lower-nopunct@6 and the languages' @4 changed (R58)
_UNIFIED = ("variation selectors, enclosing marks and Armenian in-word marks removed, a mark whose letter became a "
            "space with it, ʻ an apostrophe, old-style Malayalam chillus atomic, Catalan l·l and ŀl one word, σ "
            "ending a word ς, and the result NFC")  # fmt: skip

_LANGUAGE_CHANGES = {
    2: "; since @2 the unknown-token symbol ⁇ stays inside its word and an apostrophe between digits, marks or "
    "letters is inside a word (format characters dropped first)",
    3: "; since @3 ignored characters are compared canonically (an ignored mark goes from precomposed letters too), "
    "the zero-width space is a space and the lower case is composed again",
    4: "; since @4 " + _UNIFIED,
}


def _language_normalizer(code: str, version: int = 4) -> Normalizer:
    language, keep_apostrophe, char_map, mapped = _LANGUAGES[code]
    apostrophes = "kept inside words" if keep_apostrophe else "removed"
    return Normalizer(
        code,
        version,
        f"{language}: NFC, lower case, punctuation and symbols to spaces, apostrophes {apostrophes}"
        + (f", {mapped}" if mapped else "")
        + (", İ lower-cased i and I ı" if code in _CASE_MAPS else "")
        + "".join(text for since, text in _LANGUAGE_CHANGES.items() if version >= since),
        partial(
            _language,
            keep_apostrophe=keep_apostrophe,
            char_map=char_map,
            version=version,
            case_map=_CASE_MAPS.get(code),
        ),
        canonical_ignore=version >= 3,
    )


#: every normaliser by name, in its present version
NORMALIZERS: dict[str, Normalizer] = {
    n.name: n
    for n in (
        Normalizer("none", 1, "text as given", lambda text: text, canonical_ignore=False),
        Normalizer(
            "lower-nopunct",
            6,
            "Unicode NFC, lower case, apostrophes (' \u2019 \u02bc \u2018 ` \u00b4 \u02bb, Hebrew geresh and "
            'gershayim and " between Hebrew letters) and format characters (Unicode Cf: zero-width joiners, soft '
            "hyphens) removed, punctuation and symbols (Unicode P* and S*) but the unknown-token symbol \u2047 and "
            "the zero-width space turned into spaces, whitespace collapsed; ignored characters compared canonically; "
            + _UNIFIED,
            partial(_lower_nopunct, apostrophes=_APOSTROPHES + _OKINA, keep=UNK_SYMBOL, drop_format=True, version=6),
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
            canonical_ignore=False,
        ),
        Normalizer(
            "lower-nopunct",
            2,
            "as lower-nopunct@3, but the unknown-token symbol \u2047 turned into a space (splitting its word)",
            partial(_lower_nopunct, apostrophes=_APOSTROPHES),
            canonical_ignore=False,
        ),
        Normalizer(
            "lower-nopunct",
            3,
            "as lower-nopunct@4, but format characters (zero-width spaces and joiners, soft hyphens) kept as letters",
            partial(_lower_nopunct, apostrophes=_APOSTROPHES, keep=UNK_SYMBOL),
            canonical_ignore=False,
        ),
        Normalizer(
            "lower-nopunct",
            4,
            "as lower-nopunct@5, but symbols (Unicode S*: $ + = emoji) and Hebrew geresh and gershayim kept as "
            "letters, the zero-width space removed (joining two words), ignored characters removed as typed",
            partial(_lower_nopunct, apostrophes=_APOSTROPHES, keep=UNK_SYMBOL, drop_format=True),
            canonical_ignore=False,
        ),
        Normalizer(
            "lower-nopunct",
            5,
            "as lower-nopunct@6, but variation selectors, enclosing marks, Armenian in-word marks and ʻ kept, "
            "marks of a spaced letter kept, chillus, l·l and word-final σ as typed, the result not NFC again",
            partial(_lower_nopunct, apostrophes=_APOSTROPHES, keep=UNK_SYMBOL, drop_format=True, version=5),
        ),
        *(
            _language_normalizer(code, version)
            for code in _LANGUAGES
            for version in range(_FIRST_VERSION.get(code, 1), 4)
        ),
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


#: languages written without spaces between words (Chinese, Cantonese, Wu, Japanese, Thai, Lao, Khmer, Burmese,
#: Tibetan): a "word" there is a phrase between punctuation, so their WER says little and CER is what is reported
#: (the Chinese and Japanese recipes of ESPnet and icefall, sclite -c)
UNSEGMENTED = frozenset({"zh", "yue", "wuu", "ja", "th", "lo", "km", "my", "bo"})


def primary_metric(lang: str) -> str:
    """``cer`` for a language written without spaces between words (`UNSEGMENTED`), else ``wer``: the score
    that chooses among checkpoints and decoding weights."""
    return "cer" if _subtag(lang) in UNSEGMENTED else "wer"


#: the scripts of those languages, as Unicode names their letters
_UNSEGMENTED_SCRIPTS = ("CJK ", "HIRAGANA", "KATAKANA", "HALFWIDTH KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR",
                        "TIBETAN")  # fmt: skip


def written_without_spaces(texts: Iterable[str]) -> bool:
    """Whether most letters of `texts` are of a script written without spaces between words (Han, kana, Thai,
    Lao, Khmer, Burmese, Tibetan): their WER counts phrases, and CER is the score to read."""
    letters = Counter(
        unicodedata.name(ch, "").startswith(_UNSEGMENTED_SCRIPTS)
        for text in texts
        for ch in text
        if unicodedata.category(ch)[0] in "LM"
    )
    return letters[True] > letters[False]


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
