"""Checks of a manifest's utterances: what cannot be trained or scored, and what is converted on loading.

Unusable (filtered by `asr data prepare`, each counted with its reason): missing audio file, unreadable or
corrupt audio, truncated audio (fewer samples than the header promises), NaN or Inf samples, empty audio, a
segment outside its file, audio shorter than the 25 ms of one output frame, empty transcript (after
normalisation), a transcript too long for CTC at wav2vec2's frame rate (20 ms: the models' output frames; a model
whose frames are longer, an output adapter's, is checked by `asr train` itself), a duplicate id. Converted on
loading and reported: non-mono audio (downmixed), audio at another sample rate (resampled) and a segment ending up
to 0.5 s past its file's end (cut there, as Kaldi's extract-segments cuts it).
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path

import soundfile as sf

from asr.data.audio import (
    TARGET_RATE,
    AudioInfo,
    audio_info,
    duration_differs,
    load_audio,
    mp3_frames,
    non_finite,
    ogg_cut_short,
    unfinished_wav_bytes,
    unreadable,
    wav_header_frames,
)
from asr.data.manifest import Utterance
from asr.errors import default_termination, stops_held
from asr.progress import progress_bar

#: an utterance kept out, with its reason and a detail
Rejected = tuple[Utterance, str, str]

# wav2vec2's convolutional feature encoder: (kernel, stride) per layer; 320 samples a frame at 16 kHz.
WAV2VEC2_CONV: tuple[tuple[int, int], ...] = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))


def ctc_frames(num_samples: int, conv: Sequence[tuple[int, int]] = WAV2VEC2_CONV) -> int:
    """Number of output frames of a convolutional encoder for `num_samples` input samples."""
    n = num_samples
    for kernel, stride in conv:
        n = (n - kernel) // stride + 1 if n >= kernel else 0
    return n


def encoder_layers(config) -> list[tuple[int, int]]:
    """A wav2vec2-family config's (kernel, stride) layers from samples to output frames: the feature encoder's, then
    the output adapter's where it has one (``add_adapter``; kernel 1, as transformers counts its output lengths)."""
    layers = list(zip(config.conv_kernel, config.conv_stride, strict=True))
    if getattr(config, "add_adapter", False):
        layers += [(1, config.adapter_stride)] * config.num_adapter_layers
    return layers


def ctc_min_frames(labels: str) -> int:
    """Frames CTC needs for a label string: one per label plus a blank between repeated labels."""
    return len(labels) + sum(a == b for a, b in pairwise(labels))


class Unusable(Exception):
    """An utterance that cannot be used; the message is the reason (a key of the summary counts)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail

    def __reduce__(self):  # sent back from a checking process whole, detail included
        return Unusable, (self.reason, self.detail)


def _finite(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) else None


@dataclass
class CheckResult:
    """Usable utterances (durations from the audio), rejected ones with reasons, and conversion notes."""

    usable: list[Utterance] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (id, note)

    def reason_counts(self) -> dict[str, int]:
        """Rejections by reason, most first (ties by name: not by which came first)."""
        counts = Counter(reason for _, reason, _ in self.rejected)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def tags(self) -> dict[str, int]:
        """The bracketed tags (`TAG`) in the usable transcripts, by count."""
        return dict(Counter(tag for u in self.usable for tag in TAG.findall(u.text)).most_common())

    def tag_warning(self, normalize: Callable[[str], str], where: str) -> str | None:
        """A line saying which transcripts hold bracketed tags, read as words by the normaliser; None without."""
        if not (tags := self.tags()):
            return None
        tagged = sum(bool(TAG.search(u.text)) for u in self.usable)
        shown = ", ".join(f"{tag} {n}" for tag, n in list(tags.items())[:5]) + (", ..." if len(tags) > 5 else "")
        first = next(iter(tags))
        return (f"warning: {where}: {tagged} transcript(s) hold bracketed tags ({shown}), which the normaliser reads "
                f"as words ({first} as {normalize(first)!r}): where they mark no speech, remove them from the "
                "transcripts")  # fmt: skip

    def note_counts(self) -> dict[str, int]:
        return dict(Counter(note.split(" (")[0] for _, note in self.notes).most_common())

    def rejected_records(self) -> list[dict]:
        """One record per rejected utterance (id, reason, detail, audio, text; a segment's offset and duration
        too): the `<split>.rejected.jsonl` lines and `asr data check --json`'s list, so that what a check or an
        engine refused can be read (a segment of a long recording could not be found without its offset). A
        segment to its recording's end (Kaldi's end time -1) has a null duration (R78: `Infinity`, not JSON)."""
        return [
            {"id": u.id, "reason": reason, "detail": detail, "audio": u.audio, "text": u.text}
            | ({"offset": u.offset, "duration": _finite(u.duration)} if u.offset is not None else {})
            for u, reason, detail in self.rejected
        ]

    def summary(self) -> dict:
        """Counts for summary.json."""
        return {
            "items": len(self.usable) + len(self.rejected),
            "kept": len(self.usable),
            "hours": sum(u.duration for u in self.usable) / 3600,  # unrounded: tables rounded it twice (R54)
            "filtered": self.reason_counts(),
            "converted_on_load": self.note_counts(),
            "bracketed_tags": self.tags(),
        }


#: a word in brackets, a corpus's mark of non-speech or an unknown word ([noise], <unk>, {breath}: Kaldi,
#: TED-LIUM, WSJ, Switchboard transcripts); normalisers read it as a word
TAG = re.compile(r"(?<!\S)(?:\[[^\s\[\]]+\]|<[^\s<>]+>|\{[^\s{}]+\})(?!\S)")

TRUNCATION_SLACK = 0.05  # seconds an audio file may decode shorter than its header says (an MP3's last frame)
MP3_FRAMES_SLACK = 0.35  # seconds an MP3's frames may hold beyond its decoding: its header frame, encoder delay
# and padding (0.23 s at 8 kHz)


def _truncation(path: Path, info: AudioInfo, segment: float | None, decoded: float) -> str | None:
    """Why a file read shorter than it is, else None. libsndfile reads what is there, silently: a WAV's frames
    are counted from the file, so its header's data size says what was promised; a compressed file's count comes
    from its header (an MP3's Xing tag), so the decoded length (of the `segment`'s seconds, where it is one) is
    compared with it; an MP3 without that header has its frames counted (`mp3_frames`); an Ogg file has no
    length in a header, so its pages say where it ends (`ogg_cut_short`)."""
    if why := ogg_cut_short(path):
        return why
    header_frames = wav_header_frames(path)
    if header_frames is not None and header_frames > info.frames:
        return f"the header promises {header_frames / info.rate:.2f} s, the file holds {info.duration:.2f} s"
    if segment is None and (mp3 := mp3_frames(path)) is not None:
        if mp3[0] - decoded > MP3_FRAMES_SLACK:
            header = "its Xing header counts fewer frames" if mp3[1] else "a VBR file without a Xing header"
            return f"its MP3 frames hold {mp3[0]:.2f} s, libsndfile reads {decoded:.2f} s: {header}; re-encode it"
        if not mp3[1]:  # libsndfile's length is a guess from the first frame's bit rate; the frames are all read
            return None
    promised = segment if segment is not None else info.duration
    if promised - decoded > TRUNCATION_SLACK:
        return f"the header promises {promised:.2f} s, the file holds {decoded:.2f} s"
    return None


MAX_OVERSHOOT = 0.5  # seconds a segment may end past its file's end, cut there (Kaldi's extract-segments' default)


def _segment_seconds(utt: Utterance, info: AudioInfo) -> float:
    """The seconds a segment reads of its file: its own, cut at the file's end where it ends up to `MAX_OVERSHOOT`
    past it or asks for the rest (an infinite duration: a Kaldi end time of -1); raises `Unusable` beyond."""
    left = info.duration - utt.offset
    if left <= 0 or (math.isfinite(utt.duration) and utt.duration - left > MAX_OVERSHOOT):
        asked = f"from {utt.offset} s to its end" if math.isinf(utt.duration) else f"{utt.offset}+{utt.duration}s"
        raise Unusable("segment outside the audio", f"{asked} of {info.duration:.2f}s")
    return min(utt.duration, left)


def _inspect(utt: Utterance, base: Path, rate: int) -> tuple[float, list[str]]:
    """Duration in seconds and conversion notes of one utterance's audio; raises `Unusable`."""
    path = utt.audio_path(base)
    if not path.is_file():
        raise Unusable("missing audio file", str(path))
    try:
        info = audio_info(path)
        segment = None if utt.offset is None else _segment_seconds(utt, info)
        # reading every sample is what finds a truncated or corrupt file
        samples = load_audio(path, rate, utt.offset or 0.0, segment)
        duration = len(samples) / rate
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        raise Unusable("unreadable audio", unreadable(path, err)) from None
    if duration <= 0:
        unfinished = unfinished_wav_bytes(path)
        why = (f"its header says 0 samples, {unfinished} bytes follow it (a recording whose header was never "
               "finished: rewrite it, e.g. sox --ignore-length IN OUT)")  # fmt: skip
        raise Unusable("empty audio", why if unfinished else "")
    if (cut := _truncation(path, info, segment, duration)) is not None:
        raise Unusable("truncated audio", cut)
    if bad := non_finite(samples):
        raise Unusable("non-finite samples", f"{bad} NaN or Inf samples")
    notes = []
    if segment is not None and math.isfinite(utt.duration) and segment < utt.duration - 0.01:
        notes.append(f"segment cut at its file's end ({utt.duration - segment:.2f} s past it)")
    if info.channels != 1:
        notes.append(f"downmixed ({info.channels} channels)")
    if info.rate != rate:
        notes.append(f"resampled ({info.rate} Hz)")
    return duration, notes


CHUNK = 16  # utterances a checking process takes at a time


def _inspected(utt: Utterance, base: Path, rate: int) -> tuple[float, list[str]] | Unusable:
    """`_inspect`, its refusal returned (from a worker process)."""
    try:
        return _inspect(utt, base, rate)
    except Unusable as err:
        return err


def check_processes(utterances: int, workers: int = 0) -> int:
    """The processes `check_utterances` checks that many utterances in: at most `workers` (default: the cores
    this process may use), and one for a few utterances."""
    return min(workers or len(os.sched_getaffinity(0)), utterances // CHUNK + 1)


def check_utterances(
    utterances: Sequence[Utterance],
    base: Path,
    normalize: Callable[[str], str],
    desc: str = "checking",
    stated_durations: bool = False,
    workers: int | None = None,
) -> CheckResult:
    """Checks every utterance (audio decoded in up to `workers` processes, default one per core this process may
    use: threads ran no faster than one, the decoding and resampling holding the GIL; benchmarks/data_bench.py);
    audio paths resolve against `base`.
    With `stated_durations` (a manifest checked as it will be used) a duration that is not the audio's is
    refused; otherwise the measured one replaces it."""
    result = CheckResult()
    seen: set[str] = set()
    inspect = functools.partial(_inspected, base=base, rate=TARGET_RATE)
    workers = check_processes(len(utterances), workers)
    with ExitStack() as stack:
        if workers > 1:
            context = multiprocessing.get_context("fork")
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=default_termination)
            # stopped, the chunks not started are cancelled (the pool's own exit waited for every one of them)
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
            with stops_held():  # map submits every chunk, which starts the workers and the thread that manages them
                outcomes = pool.map(inspect, utterances, chunksize=CHUNK)
        else:
            outcomes = map(inspect, utterances)
        for utt, outcome in progress_bar(
            zip(utterances, outcomes, strict=True), total=len(utterances), desc=desc, unit="utt"
        ):
            try:
                if utt.id in seen:
                    raise Unusable("duplicate id")
                seen.add(utt.id)
                if isinstance(outcome, Unusable):
                    raise outcome
                duration, notes = outcome
                if stated_durations and not utt.duration:  # every other command refuses such a manifest
                    raise Unusable("no duration stated", f"{duration:.3f} s measured; asr data prepare writes it")
                if stated_durations and duration_differs(utt.duration, duration):
                    raise Unusable("duration differs from the audio", f"{utt.duration:.3f} s stated, {duration:.3f} s")
                labels = normalize(utt.text).replace(" ", "|")
                if not labels:
                    raise Unusable("empty transcript")
                frames = ctc_frames(round(duration * TARGET_RATE))
                if not frames:  # no transcript fits: it was "too long for CTC (27 labels > 0 frames)"
                    raise Unusable("audio shorter than a frame", f"{1000 * duration:.1f} ms; a frame is 25 ms")
                if ctc_min_frames(labels) > frames:
                    raise Unusable("transcript too long for CTC", f"{ctc_min_frames(labels)} labels > {frames} frames")
            except Unusable as err:
                result.rejected.append((utt, err.reason, err.detail))
                continue
            result.usable.append(replace(utt, duration=round(duration, 4)))
            result.notes.extend((utt.id, note) for note in notes)
    return result
