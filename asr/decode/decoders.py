"""CTC decoders behind one interface: greedy, beam search, and beam search with a KenLM model.

Beam search has two backends that give the same hypotheses: ``pyctcdecode`` (the reference, Python) and
``ctc-beam-decoder`` (a C++ reproduction of it, `ctcbeam`, the default: several times faster and it runs in
threads). Both run ``decode_beams(prune_history=True)``, whose best beam is what ``decode()`` gives (pyctcdecode's
``decode_beams()`` without it, used by transformers' ``Wav2Vec2ProcessorWithLM``, does not prune beam history, and
its top hypothesis can differ).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from asr.decode.ngram_part import NgramPart
from asr.errors import InputError, worker_pool
from asr.progress import progress_bar
from asr.text import UNK_SYMBOL  # what pyctcdecode writes for the unknown token
from lm.folder import LMFolder
from lm.perplexity import kenlm_reason

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
    return greedy_decoded(logprobs, labels).text


@dataclass
class Decoded:
    """One utterance's decoding: the text, its words with their frames [start, end), the n-best list (best
    first by ``total``, the beam search's score; each with its text, words, ``acoustic`` and ``ngram`` scores,
    the latter α·ln P + β·words with pyctcdecode's offset for unknown words and any hotword bonus: with an LM
    and n-best lists, the text's own (`NgramPart`, where ``total`` can hold an empty word more), else the beam
    search's, ``total`` minus ``acoustic``) and the decoding seconds."""

    text: str
    words: list[tuple[str, int, int]]
    nbest: list[dict]
    seconds: float


def greedy_decoded(logprobs: np.ndarray, labels: Labels) -> Decoded:
    """Greedy decoding with word frames: a word runs from the frame of its first character to the one after
    its last (blanks and repeats between characters belong to the word)."""
    start = time.perf_counter()
    words: list[tuple[str, int, int]] = []
    chars, first, end = [], 0, 0
    for token, a, b in _token_runs(logprobs):
        if token == labels.blank:
            continue
        char = labels.tokens[token]
        if char == " ":
            if chars:
                words.append(("".join(chars), first, end))
            chars = []
        else:
            if not chars:
                first = a
            chars.append(char)
            end = b
    if chars:
        words.append(("".join(chars), first, end))
    text = " ".join(w for w, _, _ in words)
    score = float(logprobs.max(axis=1).sum())
    return Decoded(text, words, [{"text": text, "words": words, "acoustic": score, "ngram": 0.0, "total": score}],
                   time.perf_counter() - start)  # fmt: skip


@dataclass
class BeamSettings:
    """Beam search settings (pyctcdecode's names and defaults: `pyctcdecode.constants`' values, written here so
    that the command line starts without importing pyctcdecode, a third of a second; a test compares them)."""

    beam_width: int = 100
    alpha: float = 0.5  # LM weight
    beta: float = 1.5  # word insertion bonus
    beam_prune_logp: float = -10.0
    token_min_logp: float = -5.0
    hotwords: list[str] = field(default_factory=list)
    hotword_weight: float = 10.0


_WORKER_DECODER = None  # a forked pyctcdecode worker's decoder, handed over as its pool started it


def _hold_decoder(decoder: object) -> None:
    global _WORKER_DECODER
    _WORKER_DECODER = decoder


def _timed_search(
    args: tuple[np.ndarray, BeamSettings, int, Labels], decoder: object = None
) -> tuple[list[dict], float]:
    """The beam search of one utterance or piece (`_searched`) with `decoder` (a worker process's own where
    None) and its seconds."""
    start = time.perf_counter()
    return _searched(*args, decoder=_WORKER_DECODER if decoder is None else decoder), time.perf_counter() - start


def _decoded(pieces: list[tuple[int, int]], searched: list[tuple[list[dict], float]]) -> Decoded:
    """An utterance's decoding from its pieces' searches: one piece's n-best list, or the pieces' best ones
    joined (`_joined`), its n-best list that 1-best alone."""
    joined = [(a, hyps) for (a, _), (hyps, _) in zip(pieces, searched, strict=True)]
    listed = searched[0][0] if len(pieces) == 1 else _joined(joined)
    seconds = sum(t for _, t in searched)
    return Decoded(listed[0]["text"], listed[0]["words"], listed, seconds) if listed else Decoded("", [], [], seconds)


def _searched(logprobs: np.ndarray, s: BeamSettings, nbest: int, labels: Labels, decoder) -> list[dict]:
    """`decoder.decode_beams` with the history pruning that `decode()` applies (so the best beam is `decode()`'s):
    the first `nbest` beams with their word frames (ends as `_ended` puts them) and scores."""
    beams = decoder.decode_beams(
        logprobs,
        beam_width=s.beam_width,
        beam_prune_logp=s.beam_prune_logp,
        token_min_logp=s.token_min_logp,
        prune_history=True,
        hotwords=s.hotwords or None,
        hotword_weight=s.hotword_weight,
    )
    runs = _character_runs(logprobs, labels)
    return [{"text": " ".join(text.split()), "words": _ended(_word_frames(frames), runs), "acoustic": float(acoustic),
             "ngram": float(total - acoustic), "total": float(total)}
            for text, _, frames, acoustic, total in beams[:nbest]]  # fmt: skip


SEARCH_START_SLACK = 4  # frames a beam word's first can lie after greedy's (a review measured up to 4)


def _token_runs(logprobs: np.ndarray) -> list[tuple[int, int, int]]:
    """The greedy path (each frame's likeliest token) as runs of one token: (token, first frame, end frame)."""
    best = logprobs.argmax(axis=1)
    if not len(best):
        return []
    edges = np.flatnonzero(np.diff(best)) + 1
    firsts, ends = np.concatenate([[0], edges]).tolist(), np.concatenate([edges, [len(best)]]).tolist()
    return list(zip(best[firsts].tolist(), firsts, ends, strict=True))


def _character_runs(logprobs: np.ndarray, labels: Labels) -> list[tuple[str, int, int]]:
    """The greedy path's runs of one character (not blank, not the word delimiter): (character, first, end)."""
    runs = _token_runs(logprobs)
    return [(labels.tokens[t], a, b) for t, a, b in runs if labels.tokens[t].strip()]  # blank "", delimiter " "


def _ended(words: list[tuple[str, int, int]], runs: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Each word's end at the end of its last character's run on the greedy path, where its characters are
    found there in order between its first frame and the next word's, as greedy decoding ends a word;
    pyctcdecode's own ends keep the frames of the first of two merged beams: a few frames off greedy's, and now
    and then a word running on across a pause into the next one (a review: 41 and 56 frames). A word not found
    there keeps the search's end. A word found there starts no later than its first character's run (R82: the
    search's first frame after greedy's one-frame "a" made a word of no length, start and end alike)."""
    ends = [end for _, _, end in runs]
    out: list[tuple[str, int, int]] = []
    for k, (word, first, end) in enumerate(words):
        limit = words[k + 1][1] if k + 1 < len(words) else math.inf
        # from the run holding its first frame, or one ending just before it (the search's first frame can be a
        # few after greedy's), never one of the word before
        before = out[-1][2] if out else 0
        since = max(before, first - SEARCH_START_SLACK)
        i, done, last, start = bisect.bisect_right(ends, since), 0, end, first
        while i < len(runs) and runs[i][1] < limit and done < len(word):
            if word.startswith(runs[i][0], done):
                start = start if done else min(first, max(runs[i][1], before))
                done, last = done + len(runs[i][0]), runs[i][2]
            i += 1
        out.append((word, start, min(last, limit)) if done == len(word) else (word, first, end))
    return out


# Both backends' memory and time grow faster than an utterance's frames (a review, tiny model, 3-gram: 10 minutes
# 2 GB and 20 s of search, 20 minutes 5.8 GB and 111 s): a longer utterance is searched in pieces of about 5
# minutes of 20 ms frames, cut only in the middle of a pause (half a second of frames whose blank is sure: never
# inside a word, as a cut at the surest blank frame was), the last pause of a piece's second half, else the first
# pause after it; an utterance without one is searched whole
MAX_SEARCH_FRAMES = 15_000
SILENCE_LOGP = math.log(0.999)
SILENCE_FRAMES = 25


def search_pieces(logprobs: np.ndarray, blank: int) -> list[tuple[int, int]]:
    """[start, end) frame pieces covering an utterance, of about `MAX_SEARCH_FRAMES` each, cut at pauses."""
    n, limit = len(logprobs), MAX_SEARCH_FRAMES
    runs = np.flatnonzero(np.diff(np.concatenate([[0], (logprobs[:, blank] > SILENCE_LOGP).astype(np.int8), [0]])))
    starts, ends = runs[::2], runs[1::2]
    pauses = ((starts + ends) // 2)[ends - starts >= SILENCE_FRAMES]
    pieces, start = [], 0
    while n - start > limit:
        later = pauses[pauses > start + limit // 2]
        if not len(later):
            break
        inside = later[later <= start + limit]
        cut = int(inside[-1] if len(inside) else later[0])
        pieces.append((start, cut))
        start = cut
    return [*pieces, (start, n)]


def _joined(parts: list[tuple[int, list[dict]]]) -> list[dict]:
    """One hypothesis of the pieces' best ones (each with its first frame): texts and words in order, the words'
    frames the utterance's, the scores summed (each piece scored as a sentence of its own); [] where none has one."""
    best = [(start, hyps[0]) for start, hyps in parts if hyps]
    if not best:
        return []
    acoustic, total = sum(h["acoustic"] for _, h in best), sum(h["total"] for _, h in best)
    return [{"text": " ".join(h["text"] for _, h in best if h["text"]),
             "words": [(w, first + start, end + start) for start, h in best for w, first, end in h["words"]],
             "acoustic": acoustic, "ngram": total - acoustic, "total": total}]  # fmt: skip


def _by_text(hyps: list[dict], ngram_part: Callable[[str], float]) -> list[dict]:
    """The hypotheses with their texts' n-gram parts, each text once: at its first place, with its first words
    and total (best first, as the beam search ranked them and the 1-best's hyp.jsonl has them) and the best of its
    acoustic scores (a later place's took the first's place, its lower total out of order)."""
    kept: dict[str, dict] = {}
    for hyp in hyps:
        first = kept.setdefault(hyp["text"], hyp)
        if hyp["acoustic"] > first["acoustic"]:
            kept[hyp["text"]] = {**first, "acoustic": hyp["acoustic"]}
    return [{**h, "ngram": ngram_part(h["text"])} for h in kept.values()]


def _word_frames(frames: list) -> list[tuple[str, int, int]]:
    """A beam's (word, (first, end)) pairs as (word, first, end), spaces dropped."""
    return [(word, int(first), int(end)) for word, (first, end) in frames if word.strip()]


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
            lm_args = {"kenlm_model_path": self.lm.model_path, "unigrams": self.lm.unigrams}
        try:
            return build_ctcdecoder(list(self.labels.tokens), alpha=self.settings.alpha, beta=self.settings.beta,
                                    **lm_args)  # fmt: skip
        except (OSError, RuntimeError, ValueError) as err:  # a truncated or damaged lm.bin
            if self.lm is None:
                raise InputError(f"decoder: cannot be built ({str(err)[:200]})") from None
            reason = kenlm_reason(err, self.lm.model_path, self.lm.binary)
            raise InputError(f"{self.lm.binary}: cannot load it ({reason})") from None

    def set_weights(self, alpha: float, beta: float) -> None:
        """New LM weight and insertion bonus. pyctcdecode's decoder takes them in place (rebuilt, it loaded its LM
        again: 5 s a tuning point with a 199k-word trigram); ctcbeam's, which cannot, is rebuilt on the next call
        (under 1 s). The worker pool, whose workers hold the decoder as it was, is started anew."""
        self.settings.alpha, self.settings.beta = float(alpha), float(beta)
        if self.backend == "pyctcdecode" and self._decoder is not None:
            self._decoder.reset_params(alpha=self.settings.alpha, beta=self.settings.beta)
            self._close_pool()
        else:
            self.close()

    def prepare(self) -> None:
        """Builds the decoder (loading the LM) and the workers: one-time costs, kept out of a timed decoding."""
        if self._decoder is None:
            self._decoder = self._build()
        if self.workers > 1 and self._pool is None:  # forked workers are handed this decoder (a module's global
            # set here was another thread's decode's by the fork: R68, two decodes in threads swapped their LMs)
            self._pool = (ThreadPoolExecutor(self.workers) if self.backend == "ctcbeam"
                          else worker_pool(self.workers, _hold_decoder, self._decoder))  # fmt: skip

    def decode(self, logprobs: list[np.ndarray], nbest: int = 1, desc: str | None = None) -> list[Decoded]:
        """Each utterance's decoding (with up to `nbest` hypotheses), in input order; a progress bar named `desc`
        where one is given. With an LM and n-best lists, each hypothesis's n-gram part is its text's
        (`NgramPart`), and a text listed twice is kept once, at its first place, with its better acoustic score."""
        self.prepare()
        # an utterance longer than MAX_SEARCH_FRAMES is searched in pieces cut at pauses, each a job of its own,
        # which the bar counts (an 80-minute recording stood at 0/1 utt for 3 minutes: R56)
        pieces = [search_pieces(x, self.labels.blank) for x in logprobs]
        jobs = [(x[a:b], self.settings, nbest if len(cuts) == 1 else 1, self.labels)
                for x, cuts in zip(logprobs, pieces, strict=True) for a, b in cuts]  # fmt: skip
        here = functools.partial(_timed_search, decoder=self._decoder)  # in this process
        if self.workers <= 1:
            searched = map(here, jobs)
        else:
            searched = self._pool.map(here, jobs) if self.backend == "ctcbeam" else self._pool.imap(_timed_search, jobs)
        unit = "utt" if len(jobs) == len(logprobs) else "piece"
        with progress_bar(searched, total=len(jobs), desc=desc, unit=unit, disable=desc is None) as bar:
            done = list(bar)
        ends = itertools.accumulate(len(cuts) for cuts in pieces)
        results = [_decoded(cuts, done[end - len(cuts) : end]) for cuts, end in zip(pieces, ends, strict=True)]
        if nbest > 1 and self.lm is not None:
            part = functools.partial(self._ngram_part, alpha=self.settings.alpha, beta=self.settings.beta)
            results = [replace(d, nbest=_by_text(d.nbest, part)) for d in results]
        return results

    @functools.cached_property
    def _ngram_part(self) -> NgramPart:
        return NgramPart(self.lm, self.settings.hotwords, self.settings.hotword_weight)

    def close(self) -> None:
        """Ends the worker pool and drops the decoder (with its LM: the workers' reference too)."""
        self._close_pool()
        if self._decoder is not None and hasattr(self._decoder, "cleanup"):  # pyctcdecode keeps every decoder's
            self._decoder.cleanup()  # KenLM model in a class-level container: one LM more per tuning point
        self._decoder = None

    def _close_pool(self) -> None:
        if self._pool is not None:
            if self.backend == "ctcbeam":
                self._pool.shutdown()
            else:
                self._pool.terminate()
        self._pool = None
