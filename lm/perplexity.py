"""Perplexity and out-of-vocabulary rate of sentences under a KenLM model (the `kenlm` query module)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from asr.errors import InputError


def load(path: Path | str, shown: Path | None = None):
    """A `kenlm.Model` (ARPA or binary); `InputError` for a file KenLM cannot read (truncated, damaged), naming
    it `shown` where given (`path` another way to it: an LM folder's held binary, /dev/fd/N)."""
    import kenlm

    try:
        return kenlm.Model(str(path))
    except (OSError, RuntimeError, ValueError) as err:
        raise InputError(f"{shown or path}: KenLM cannot load it ({kenlm_reason(err, str(path), shown)})") from None


def kenlm_reason(err: Exception, opened: str, shown: Path | None = None) -> str:
    """KenLM's error in one line of about 200 characters at most, its reason kept (it comes last, after where in
    KenLM's code it was thrown), the file it `opened` named `shown` where given."""
    words = " ".join(str(err).split())
    if shown is not None:
        words = words.replace(opened, str(shown))
    return words if len(words) <= 200 else words[:80] + " ... " + words[-110:]


def perplexity(model, sentences: Iterable[str]) -> dict:
    """Perplexity over words and ``</s>`` (OOV words included, scored as ``<unk>``, and excluded), OOV rate."""
    log10_all = log10_known = 0.0
    sentences_n = words = oov = 0
    for sentence in sentences:
        sentences_n += 1
        scores = list(model.full_scores(sentence, bos=True, eos=True))
        words += len(scores) - 1
        for log10_prob, _, is_oov in scores:
            log10_all += log10_prob
            if is_oov:
                oov += 1
            else:
                log10_known += log10_prob
    if sentences_n == 0:
        return {"sentences": 0, "words": 0, "oov": 0, "oov_rate": None, "perplexity": None, "perplexity_no_oov": None}
    tokens = words + sentences_n
    known = tokens - oov
    return {
        "sentences": sentences_n,
        "words": words,
        "oov": oov,
        "oov_rate": oov / words if words else 0.0,
        "perplexity": 10 ** (-log10_all / tokens),
        "perplexity_no_oov": 10 ** (-log10_known / known) if known else math.inf,
    }
