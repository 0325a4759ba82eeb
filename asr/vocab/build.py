"""The character vocabulary of a train split, saved as a processor.

Characters come from the normalised transcripts of the train split only (never dev or test); a space is the
word delimiter ``|``; ``[UNK]`` and ``[PAD]`` (the CTC blank) follow, as in transformers'
``run_speech_recognition_ctc.py``. Writes a ``Wav2Vec2CTCTokenizer`` and a ``Wav2Vec2FeatureExtractor``, so
``Wav2Vec2Processor.from_pretrained(DIR)`` works; as in that example the tokenizer also holds ``<s>`` and
``</s>``, never targets, and the CTC head has ``len(tokenizer)`` outputs. Also writes ``asr_text.json``,
naming the normaliser that every later stage must use, and ``vocab_report.json`` with the characters of
the other manifests that the vocabulary lacks, with counts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from asr.data.manifest import read_manifest
from asr.errors import InputError, writable_dir
from asr.text import Normalizer, write_text_config

WORD_DELIMITER, UNK, PAD = "|", "[UNK]", "[PAD]"
SPECIAL_TOKENS = (UNK, PAD, "<s>", "</s>")  # Wav2Vec2CTCTokenizer's: the head would learn them as single labels


def char_counts(normalized: Iterable[str]) -> Counter:
    """Counts of the label characters (space written as the word delimiter) of normalised texts."""
    counts: Counter = Counter()
    for text in normalized:
        counts.update(text.replace(" ", WORD_DELIMITER))
    return counts


def build_vocab(train_texts: list[str], normalize: Normalizer) -> dict[str, int]:
    """Sorted characters of the train texts, then [UNK] and [PAD]; token -> id. A transcript that keeps the word
    delimiter itself after normalisation is refused: the tokenizer would read it as a space, the scoring not."""
    normalized = [normalize(t) for t in train_texts]
    pairs = list(zip(train_texts, normalized, strict=True))
    if clash := next((text for text, norm in pairs if WORD_DELIMITER in norm), None):
        raise InputError(f"a train transcript keeps {WORD_DELIMITER!r}, the tokenizer's word delimiter, after "
                         f"{normalize.id} ({clash[:60]!r}); remove it with --normalize "
                         f"{normalize.ignoring(WORD_DELIMITER).id}")  # fmt: skip
    for text, norm in pairs:  # the tokenizer reads them as one special token, not as their characters
        if special := next((t for t in SPECIAL_TOKENS if t in norm), None):
            raise InputError(f"a train transcript keeps {special!r}, a special token of the tokenizer, after "
                             f"{normalize.id} ({text[:60]!r}); remove its brackets with --normalize "
                             f"{normalize.ignoring(special[0] + special[-1]).id}")  # fmt: skip
    chars = sorted(char_counts(normalized))
    if not chars:
        raise InputError("the train transcripts are empty after normalisation")
    return {token: i for i, token in enumerate([*chars, UNK, PAD])}


def save_processor(out_dir: Path, vocab: dict[str, int], normalize: Normalizer, lang: str, sampling_rate: int) -> None:
    """Writes vocab.json, the tokenizer, the feature extractor and asr_text.json to `out_dir`."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

    writable_dir(out_dir, "--out")
    vocab_file = out_dir / "vocab.json"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(
        str(vocab_file),
        unk_token=UNK,
        pad_token=PAD,
        word_delimiter_token=WORD_DELIMITER,
        do_lower_case=False,
    )
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sampling_rate,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    )
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(out_dir))
    write_text_config(out_dir, normalize, lang)


def missing_chars(manifest: Path, vocab: dict[str, int], normalize: Normalizer) -> dict[str, int]:
    """Characters of `manifest`'s normalised transcripts that are not in the vocabulary, with counts."""
    counts = char_counts(normalize(u.text) for u in read_manifest(manifest, durations=False))
    return dict(sorted(((c, n) for c, n in counts.items() if c not in vocab), key=lambda kv: (-kv[1], kv[0])))
