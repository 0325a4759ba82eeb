"""The n-gram part of an n-best hypothesis, scored from its text as the beam search scores a sentence.

pyctcdecode (and ctc-beam-decoder, which reproduces it) gives each beam α·ln P_ngram + β·words with an offset
of -10 (log10), times α, for each word out of the LM's vocabulary, plus a hotword bonus. At the sentence's end
it scores the word still open; a beam whose text ends in a space has none, and the empty word is scored as an
unknown word and gets β (a review measured 14.8 more, in natural log, for the same text). The first pass keeps
that ranking (it is pyctcdecode's); the n-best lists that rescoring re-ranks take the text's own score, so the
same text always gets the same n-gram part. Written here because neither decoder exposes a sentence score.
"""

from __future__ import annotations

import math

from lm.folder import LMFolder

UNK_OFFSET_LOG10 = -10.0  # pyctcdecode's unk_score_offset (its constants' DEFAULT_UNK_LOGP_OFFSET; a test compares)


class NgramPart:
    """Scores texts under an LM folder's KenLM model with the beam search's hotwords (and α, β per call)."""

    def __init__(self, lm: LMFolder, hotwords: list[str], hotword_weight: float) -> None:
        from pyctcdecode.language_model import HotwordScorer

        from lm.perplexity import load

        self.model = load(lm.model_path, lm.binary)  # a second handle on the binary (KenLM maps it read-only)
        self.unigrams = set(lm.unigrams)
        self.hotwords = HotwordScorer.build_scorer(hotwords, hotword_weight)

    def __call__(self, text: str, alpha: float, beta: float) -> float:
        """α·ln P(text) (``<s>`` to ``</s>``, each word out of the vocabulary offset) + β·words + hotword bonus."""
        words = text.split()
        sentence = " ".join(words)
        log10 = sum(score for score, _, _ in self.model.full_scores(sentence, bos=True, eos=True))
        # pyctcdecode's test of a word out of the vocabulary: its unigram list where it has one, and KenLM's
        log10 += UNK_OFFSET_LOG10 * sum((bool(self.unigrams) and w not in self.unigrams) or w not in self.model
                                        for w in words)  # fmt: skip
        return alpha * math.log(10) * log10 + beta * len(words) + self.hotwords.score(sentence)
