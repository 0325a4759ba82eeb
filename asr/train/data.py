"""Training data: utterances with label ids, decoded audio (cached in memory for small sets), and batches
grouped by length under an audio-seconds budget, sharded over processes."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from asr.data.audio import check_duration, read_utterance_audio, speed_perturb
from asr.data.manifest import read_utterances
from asr.errors import InputError
from asr.text import Normalizer


@dataclass(frozen=True)
class Example:
    """One utterance ready for CTC: where its audio is, how long it is, its label ids."""

    id: str
    audio: Path
    offset: float | None
    duration: float
    text: str
    labels: tuple[int, ...]
    speed: float = 1.0  # speed perturbation: `duration` is the perturbed audio's

    @property
    def key(self) -> tuple[str, float]:
        """This rendering of the utterance's audio: its id and speed (R87: joined as "id@0.9", an utterance whose
        id was another's plus "@0.9" was trained on the other's slowed audio)."""
        return self.id, self.speed


@dataclass
class Split:
    """The examples of one manifest, the counts of those left out (by reason) and of the characters of the kept
    transcripts that the vocabulary lacks (trained as [UNK])."""

    examples: list[Example]
    filtered: dict[str, int]
    unknown_characters: dict[str, int] = field(default_factory=dict)


def load_split(
    manifest: str, tokenizer, normalize: Normalizer | None, min_duration: float = 0.0, max_duration: float = 0.0
) -> Split:
    """Examples of a manifest; durations outside [min, max] (max 0 = no limit) are counted and left out. Without
    a `tokenizer` the transcripts are not used (unlabeled audio: no labels, none left out for its text)."""
    path = Path(manifest)
    examples, filtered = [], {"too short": 0, "too long": 0, "empty transcript": 0}
    labelled = label_ids(tokenizer) if tokenizer else None
    for utt in read_utterances(path, labeled=tokenizer is not None):
        if utt.duration < min_duration:
            filtered["too short"] += 1
            continue
        if max_duration and utt.duration > max_duration:
            filtered["too long"] += 1
            continue
        text = normalize(utt.text) if tokenizer else ""
        if tokenizer and not text:
            filtered["empty transcript"] += 1
            continue
        labels = labelled(text) if labelled else ()
        audio = utt.audio_path(path.parent)
        examples.append(Example(utt.id, audio, utt.offset, utt.duration, text, labels))
    if not examples:
        raise InputError(f"{manifest}: no usable utterances (left out: {filtered})")
    unknown = unknown_characters([ex.text for ex in examples], tokenizer) if tokenizer else Counter()
    return Split(examples, {k: v for k, v in filtered.items() if v}, dict(unknown.most_common()))


def label_ids(tokenizer) -> Callable[[str], tuple[int, ...]]:
    """The tokenizer's label ids of a normalised transcript. A `Wav2Vec2CTCTokenizer` (not lower-casing) maps
    each character to its id, the space to the word delimiter's and an unknown one to [UNK]'s: looked up here
    directly, its Python per-character path took 0.6 ms an utterance (about 3 minutes before the first step of
    every start and resume on LibriSpeech's 281k utterances; 24 s against 2.5 s for 40k). A transcript holding
    the first character of an added token ([UNK], <s>, |), and any other tokenizer, go through the tokenizer."""
    from transformers import Wav2Vec2CTCTokenizer

    def tokenized(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(text).input_ids)

    if not isinstance(tokenizer, Wav2Vec2CTCTokenizer) or tokenizer.do_lower_case:
        return tokenized
    ids = {**tokenizer.encoder, **tokenizer.added_tokens_encoder}  # as convert_tokens_to_ids looks them up
    unknown, delimiter = tokenizer.encoder.get(tokenizer.unk_token), tokenizer.word_delimiter_token
    starts = {token[0] for token in tokenizer.added_tokens_encoder}

    def looked_up(text: str) -> tuple[int, ...]:
        if not starts.isdisjoint(text):
            return tokenized(text)
        return tuple(ids.get(ch, unknown) for ch in text.replace(" ", delimiter))

    return looked_up


UNKNOWN_SHARE = 0.1  # more of a transcript's characters than this outside the vocabulary: another language's


def unknown_characters(texts: list[str], tokenizer) -> Counter:
    """The characters of normalised `texts` that the tokenizer's vocabulary lacks (spaces are word delimiters);
    refuses a vocabulary that lacks more than UNKNOWN_SHARE of them (a processor made for other data)."""
    vocab = tokenizer.get_vocab()
    chars = Counter(c for text in texts for c in text if c != " ")
    unknown = Counter({c: n for c, n in chars.items() if c not in vocab})
    if unknown.total() > UNKNOWN_SHARE * max(chars.total(), 1):
        top = ", ".join(repr(c) for c, _ in unknown.most_common(5))
        raise InputError(f"{unknown.total() / chars.total():.0%} of the train transcripts' characters are not in the "
                         f"processor's vocabulary ({top}, ...): a processor made from other data?")  # fmt: skip
    return unknown


def speed_perturbed(examples: list[Example], factors: list[float], seed: int, epoch: int) -> list[Example]:
    """`examples` each at a speed drawn from `factors` for (seed, epoch), durations scaled to match; the same
    draws on every process."""
    if not factors:
        return examples
    rng = random.Random(f"{seed}:{epoch}:speed")
    return [at_speed(ex, float(rng.choice(factors))) for ex in examples]


def fastest_speed(factors: list[float]) -> float:
    """The fastest speed train utterances play at under speed perturbation by `factors` (1: none)."""
    return max(factors, default=1.0)


def at_speed(ex: Example, speed: float) -> Example:
    """`ex` played `speed` times as fast as its audio (the audio's own rendering at 1)."""
    original = ex.duration * ex.speed
    return replace(ex, speed=speed, duration=original / speed)


class AudioStore:
    """Decoded 16 kHz audio of examples, speed-perturbed where their speed says; kept in memory (each speed's
    rendering too) when `cache` is set."""

    def __init__(self, rate: int, cache: bool, check: bool = False) -> None:
        self.rate, self.check = rate, check  # check: audio other than its stated duration is one line
        self.cache: dict[tuple[str, float], np.ndarray] | None = {} if cache else None

    def get(self, ex: Example) -> np.ndarray:
        if self.cache is not None and ex.key in self.cache:
            return self.cache[ex.key]
        if ex.speed == 1.0:
            duration = ex.duration if ex.offset is not None else None
            samples = read_utterance_audio(ex.id, ex.audio, self.rate, ex.offset or 0.0, duration)
            if self.check:
                check_duration(ex.id, samples, self.rate, ex.duration)
        else:
            samples = speed_perturb(self.get(at_speed(ex, 1.0)), self.rate, ex.speed)
        if self.cache is not None:
            self.cache[ex.key] = samples
        return samples


def length_grouped_batches(
    durations: list[float], max_seconds: float, max_size: int, seed: int, epoch: int, shortest_first: bool = False
) -> list[list[int]]:
    """Batches of indices of similar length whose padded length (longest x count) stays within
    `max_seconds`; the grouping varies a little and the batch order a lot with (seed, epoch). With
    `shortest_first` the batches come in order of length (SortaGrad, for the first epoch of a CTC model
    trained from scratch: short utterances first get it out of the all-blank phase sooner)."""
    rng = random.Random(f"{seed}:{epoch}")
    order = sorted(range(len(durations)), key=lambda i: durations[i] * rng.uniform(0.95, 1.05))
    batches, current, longest = [], [], 0.0
    for i in order:
        longest_if = max(longest, durations[i])
        if current and (longest_if * (len(current) + 1) > max_seconds or len(current) >= max_size):
            batches.append(current)
            current, longest_if = [], durations[i]
        current.append(i)
        longest = longest_if
    if current:
        batches.append(current)
    if not shortest_first:
        rng.shuffle(batches)
    return batches


def shard(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """This process's batches: every world-th one; all processes get the same number (the tail of an epoch's
    shuffled batches, fewer than `world`, waits for the next epoch's order)."""
    usable = len(batches) - len(batches) % world
    return batches[rank:usable:world]
