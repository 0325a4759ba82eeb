"""N-best rescoring with a causal Transformer LM (`asr decode --rescore DIR`).

The beam search (with or without the n-gram) keeps N hypotheses with their acoustic score and their n-gram
part α·ln P_ngram + β·words (as pyctcdecode scores a sentence: with its offset for each word out of the
n-gram's vocabulary, times α, and any hotword bonus; from the text, `asr.decode.ngram_part`). Each is rescored as

    total = acoustic + α·ln P_ngram + γ·ln P_neural + β·words

where ln P_neural is the neural LM's natural-log probability of the sentence from ``<s>`` through ``</s>`` (as
`asr lm train` measures its perplexity), plus, for each word out of its vocabulary, the offset the first pass
gives a word out of the n-gram's (pyctcdecode's ``unk_score_offset``, -10 in log10): a word-level LM trains
``<unk>`` as a likely word, so unpenalised nonsense words outscored real ones. Without an n-gram the beam
search applies no insertion bonus, so β·words is added here. The best rescored hypothesis, with its own word
times, becomes the transcript. Sentences are scored once per decode (a cache by text), in batches of similar
length, so tuning γ re-ranks without scoring again.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

from asr.decode.decoders import Decoded
from asr.decode.ngram_part import UNK_OFFSET_LOG10
from asr.errors import InputError
from asr.progress import progress_bar
from lm.neural import INFO_FILE, NeuralLM

DEFAULT_GAMMA = 0.5
UNK_OFFSET = UNK_OFFSET_LOG10 * math.log(10)  # pyctcdecode's unk_score_offset in natural log, per unknown word
DEFAULT_DEPTH = 16  # hypotheses per utterance rescored when --nbest is not given
BATCH = 64


class Rescorer:
    """A Transformer LM folder from `asr lm train`, scoring hypotheses (cached by text)."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        path = Path(folder) / INFO_FILE
        try:
            self.info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise InputError(f"{folder}: not a Transformer LM folder (no readable {INFO_FILE})") from None
        if not isinstance(self.info, dict) or self.info.get("kind") != "transformer":
            raise InputError(f"{folder}: not written by 'asr lm train' (--rescore takes a Transformer LM; an "
                             "n-gram from 'asr lm build' goes to --lm)")  # fmt: skip
        self.folder = Path(folder)
        self.lm = NeuralLM.load(str(folder), device)
        self.cache: dict[str, float] = {}

    def check_against(self, normalizer: str) -> None:
        """The LM must have read text normalised as the model's targets are."""
        if self.info.get("normalizer") != normalizer:
            raise InputError(
                f"{self.folder}: LM text was normalised with {self.info.get('normalizer')}, the model's targets "
                f"with {normalizer}; retrain with 'asr lm train --processor MODEL'"
            )

    def summary(self) -> dict:
        """What a decode records of the neural LM."""
        keys = ("from", "seed", "parameters", "vocabulary", "steps", "minutes", "text", "dev")
        return {"path": str(self.folder), **{k: self.info.get(k) for k in keys}}

    def score(self, texts: list[str]) -> float:
        """Scores the texts not scored yet (longest first, in batches); returns the seconds it took."""
        new = sorted({t for t in texts if t not in self.cache}, key=lambda t: (-len(t.split()), t))
        start = time.perf_counter()
        with progress_bar(total=len(new), desc="rescore (neural LM)", unit="hyp", disable=len(new) < BATCH) as bar:
            for k in range(0, len(new), BATCH):
                batch = new[k : k + BATCH]
                scores = self.lm.log_probs(batch, BATCH)
                self.cache.update(
                    (t, p + UNK_OFFSET * self.lm.unknown_words(t)) for t, p in zip(batch, scores, strict=True)
                )
                bar.update(len(batch))
        return time.perf_counter() - start

    def rerank(self, decoded: list[Decoded], gamma: float, word_bonus: float) -> tuple[list[Decoded], float]:
        """Every utterance's n-best list rescored and sorted, its best hypothesis the transcript; and the seconds
        the neural LM took. `word_bonus` is β where the first pass applied none (no n-gram), else 0."""
        seconds = self.score([h["text"] for d in decoded for h in d.nbest])
        out = []
        for d in decoded:
            hyps = [_rescored(h, self.cache[h["text"]], gamma, word_bonus) for h in d.nbest]
            hyps.sort(key=lambda h: -h["total"])
            best = hyps[0] if hyps else {"text": d.text, "words": d.words}
            out.append(replace(d, text=best["text"], words=best["words"], nbest=hyps))
        return out, seconds


def _rescored(hyp: dict, neural: float, gamma: float, word_bonus: float) -> dict:
    first_pass = hyp["acoustic"] + hyp["ngram"]
    total = first_pass + gamma * neural + word_bonus * len(hyp["text"].split())
    return {**hyp, "neural": neural, "first_pass": first_pass, "total": total}
