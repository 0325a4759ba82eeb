"""CTC decoders behind one interface: greedy, beam search, and beam search with a KenLM model.

Beam search has two backends that give the same hypotheses: ``pyctcdecode`` (the reference, Python) and
``ctc-beam-decoder`` (a C++ reproduction of it, `ctcbeam`, the default: several times faster and it runs in
threads). Both run ``decode()``, which prunes beam history (pyctcdecode's ``decode_beams()``, used by
transformers' ``Wav2Vec2ProcessorWithLM``, does not, and its top hypothesis can differ).
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from asr.errors import InputError, ignore_interrupts
from lm.folder import LMFolder

UNK_SYMBOL = "⁇"  # what pyctcdecode writes for the unknown token
BACKENDS = ("ctcbeam", "pyctcdecode")
DECODERS = ("greedy", "beam", "beam_lm")


@dataclass(frozen=True)
class Labels:
    """The model's output tokens by id, mapped for decoding: blank -> "", word delimiter -> " "."""

    tokens: tuple[str, ...]
    blank: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> Labels:
        ids = range(len(tokenizer))
        raw = tokenizer.convert_ids_to_tokens(list(ids))
        blank = tokenizer.pad_token_id
        delimiter = getattr(tokenizer, "word_delimiter_token", "|")

        def mapped(i: int, token: str) -> str:
            if i == blank:
                return ""
            if token == delimiter:
                return " "
            return UNK_SYMBOL if token == tokenizer.unk_token else token

        return cls(tuple(mapped(i, t) for i, t in zip(ids, raw, strict=True)), blank)

    def alphabet(self) -> set[str]:
        """The single characters the model can write."""
        return {t for t in self.tokens if len(t) == 1 and t != " "}


def greedy(logprobs: np.ndarray, labels: Labels) -> str:
    """Best token per frame, repeats collapsed, blanks removed."""
    best = logprobs.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    tokens = [labels.tokens[i] for i in best[keep] if i != labels.blank]
    return " ".join("".join(tokens).split())


@dataclass
class BeamSettings:
    """Beam search settings (pyctcdecode's names and defaults)."""

    beam_width: int = 100
    alpha: float = 0.5  # LM weight
    beta: float = 1.5  # word insertion bonus
    beam_prune_logp: float = -10.0
    token_min_logp: float = -5.0
    hotwords: list[str] = field(default_factory=list)
    hotword_weight: float = 10.0


_WORKER_DECODER = None  # the decoder a forked pyctcdecode worker inherits


def _timed_decode(args: tuple[np.ndarray, BeamSettings]) -> tuple[str, float]:
    logprobs, s = args
    start = time.perf_counter()
    text = _WORKER_DECODER.decode(
        logprobs,
        beam_width=s.beam_width,
        beam_prune_logp=s.beam_prune_logp,
        token_min_logp=s.token_min_logp,
        hotwords=s.hotwords or None,
        hotword_weight=s.hotword_weight,
    )
    return " ".join(text.split()), time.perf_counter() - start


class BeamSearch:
    """Beam search (with an LM when given) over many utterances, with a worker pool kept between calls:
    threads for `ctcbeam` (its C++ search releases the GIL), forked processes for `pyctcdecode`."""

    def __init__(
        self,
        labels: Labels,
        settings: BeamSettings,
        lm: LMFolder | None,
        backend: str = "ctcbeam",
        workers: int = 1,
    ) -> None:
        if backend not in BACKENDS:
            raise InputError(f"unknown beam search backend {backend!r}; choose from {', '.join(BACKENDS)}")
        self.labels, self.settings, self.lm, self.backend, self.workers = labels, settings, lm, backend, workers
        self._decoder = None
        self._pool = None

    def _build(self):
        if self.backend == "ctcbeam":
            from ctc_beam_decoder import build_ctcdecoder
        else:
            from pyctcdecode import build_ctcdecoder
        lm_args = {}
        if self.lm is not None:
            lm_args = {"kenlm_model_path": str(self.lm.binary), "unigrams": self.lm.unigrams}
        return build_ctcdecoder(list(self.labels.tokens), alpha=self.settings.alpha, beta=self.settings.beta, **lm_args)

    def set_weights(self, alpha: float, beta: float) -> None:
        """New LM weight and insertion bonus; the decoder (and its pool) are rebuilt on the next call."""
        self.settings.alpha, self.settings.beta = float(alpha), float(beta)
        self.close()

    def decode(self, logprobs: list[np.ndarray]) -> tuple[list[str], list[float]]:
        """Hypotheses and decoding seconds per utterance, in input order."""
        global _WORKER_DECODER
        if self._decoder is None:
            self._decoder = self._build()
        _WORKER_DECODER = self._decoder
        jobs = [(x, self.settings) for x in logprobs]
        if self.workers <= 1:
            results = [_timed_decode(job) for job in jobs]
        else:
            if self._pool is None:
                self._pool = (
                    ThreadPoolExecutor(self.workers)
                    if self.backend == "ctcbeam"
                    else multiprocessing.get_context("fork").Pool(self.workers, initializer=ignore_interrupts)
                )
            mapper = self._pool.map if self.backend == "ctcbeam" else self._pool.imap
            results = list(mapper(_timed_decode, jobs))
        return [r[0] for r in results], [r[1] for r in results]

    def close(self) -> None:
        """Ends the worker pool and drops the decoder."""
        if self._pool is not None:
            if self.backend == "ctcbeam":
                self._pool.shutdown()
            else:
                self._pool.terminate()
        self._pool = None
        self._decoder = None
