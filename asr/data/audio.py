"""Audio I/O: decode wav/flac/ogg/mp3 (libsndfile through soundfile), downmix to mono, resample with soxr.

`datasets`' own Audio feature decodes through torchcodec and FFmpeg; the loaders read audio with
``decode=False`` and decode here instead, so one well-kept path (libsndfile + soxr's VHQ resampler)
serves every source, and the set-up needs no FFmpeg.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from asr.errors import InputError, writing

TARGET_RATE = 16000


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says: sample rate, channels and length in frames."""

    rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def audio_info(path: str | Path) -> AudioInfo:
    """Header information of an audio file; raises `soundfile.LibsndfileError` or `OSError` if unreadable."""
    info = sf.info(str(path))
    return AudioInfo(info.samplerate, info.channels, info.frames)


def _wav_data_chunk(path: str | Path) -> tuple[int, int | None, int] | None:
    """(size, the fmt chunk's block align, the bytes after its header) of a RIFF/WAVE file's data chunk; None for
    other files (read by hand: `wave` reads PCM headers only)."""
    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return None
        block_align = None
        while len(header := f.read(8)) == 8:
            chunk, size = header[:4], int.from_bytes(header[4:], "little")
            if chunk == b"fmt ":
                fmt = f.read(size + size % 2)
                block_align = int.from_bytes(fmt[12:14], "little")
            elif chunk == b"data":
                return size, block_align, os.fstat(f.fileno()).st_size - f.tell()
            else:
                f.seek(size + size % 2, 1)
    return None


def wav_header_frames(path: str | Path) -> int | None:
    """The frames a RIFF/WAVE file's header promises (its data chunk's size); None for other files and for
    streamed WAVs whose header leaves the size open. libsndfile counts the frames the file really holds, so a
    truncated WAV is found only by reading its header."""
    data = _wav_data_chunk(path)
    if data is None or data[0] in (0, 0xFFFFFFFF) or data[0] >= 0x7FFFF000 or not data[1]:
        return None
    return data[0] // data[1]


def ogg_cut_short(path: str | Path) -> str | None:
    """Why libsndfile reads an Ogg file (Vorbis, Opus, FLAC in Ogg) short, else None (other files too): its last
    page cut or without the end-of-stream flag (Ogg holds no total length, so a truncated file was read as a
    shorter recording: 1.6 of 5.1 s kept with the whole transcript), or streams chained one after another (it
    reads the first alone). Its pages are walked from the start; bytes after the last (a tag) are no page."""
    with open(path, "rb") as f:
        data = f.read(4)
        if data != b"OggS":
            return None
        data += f.read()
    i, flags, ended = 0, 0, False
    while data[i : i + 5] == b"OggS\0" and i + 27 <= len(data):
        flags, segments = data[i + 5], data[i + 26]
        if ended and flags & 0x02:  # a stream begins after one ended
            return "chained Ogg streams: libsndfile reads the first alone"
        ended = ended or bool(flags & 0x04)
        i += 27 + segments + sum(data[i + 27 : i + 27 + segments])
    if i > len(data) or not flags & 0x04:
        return "an Ogg stream cut short (no end-of-stream page): its length is what is left"
    return None


# Layer III bit rates (kbit/s) by bit-rate index, MPEG-1 and MPEG-2/2.5; sample rates by version and index
_MP3_KBPS = {True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}  # fmt: skip
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_frames(path: str | Path) -> tuple[float, bool] | None:
    """(the seconds an MP3's Layer III frames hold, counted frame by frame; whether its first frame is a
    Xing/Info/VBRI header), or None for a file that does not start as an MP3 stream (after its ID3v2 tag).
    Written here: libsndfile takes a file's length from that header, else from the first frame's bit rate, and
    reads no further (a VBR file without one was read 63% long, or said to hold 34 s of its 5)."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head[:3] != b"ID3" and (len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0):
            return None  # no MP3 (a WAV's or FLAC's samples are not read twice)
        data = head + f.read()
    i = 0
    if data[:3] == b"ID3":  # its size is 7 bits a byte ("syncsafe"), a footer of 10 bytes where flagged
        i = 10 + sum((data[6 + k] & 0x7F) << (7 * (3 - k)) for k in range(4)) + (10 if data[5] & 0x10 else 0)
    samples, rate, frames, headed = 0, 0, 0, False
    while i + 4 <= len(data):
        h = int.from_bytes(data[i : i + 4], "big")
        version, layer, kbps_index, rate_index = (h >> 19) & 3, (h >> 17) & 3, (h >> 12) & 15, (h >> 10) & 3
        if h >> 21 != 0x7FF or version == 1 or layer != 1 or kbps_index in (0, 15) or rate_index == 3:
            break  # the audio's end (an ID3v1 or APE tag) or damage, which the decoding meets as well
        mpeg1 = version == 3
        rate = _MP3_RATES[version][rate_index]
        samples, frames, start = samples + (1152 if mpeg1 else 576), frames + 1, i
        i += (144 if mpeg1 else 72) * _MP3_KBPS[mpeg1][kbps_index] * 1000 // rate + ((h >> 9) & 1)
        if frames == 1:
            headed = any(tag in data[start:i] for tag in (b"Xing", b"Info", b"VBRI"))
    return (samples / rate, headed) if rate else None


def unfinished_wav_bytes(path: str | Path) -> int:
    """The bytes after a WAV's data chunk whose header says 0 (a recording stopped before its header was
    finished: libsndfile reads no samples); 0 for any other file."""
    data = _wav_data_chunk(path)
    return data[2] if data is not None and data[0] == 0 else 0


def non_finite(samples: np.ndarray) -> int:
    """How many of `samples` are NaN or Inf (a float file's; a network reads them as speech)."""
    return int(np.count_nonzero(~np.isfinite(samples)))


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Averages the channels of a (frames, channels) array; a 1-D array is returned as it is."""
    return samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, rate: int, target_rate: int = TARGET_RATE) -> np.ndarray:
    """Resamples mono float32 audio with soxr (very high quality)."""
    if rate == target_rate:
        return samples
    return soxr.resample(samples, rate, target_rate, quality="VHQ").astype(np.float32, copy=False)


MP3_LEAD_IN = 1.0  # seconds decoded before an MP3 segment and dropped (load_audio)
SPEED_RANGE = (0.5, 2.0)  # the speed factors a corpus or a training run may ask for: half to twice as fast


def speed_perturb(samples: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """Plays the audio `factor` times faster (tempo and pitch together, as Kaldi's speed perturbation)."""
    return samples if factor == 1.0 else resample(samples, round(rate * factor), rate)


def load_audio(
    path: str | Path, target_rate: int = TARGET_RATE, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """Mono float32 samples at `target_rate`, of the whole file or of [offset, offset + duration) seconds."""
    with sf.SoundFile(str(path)) as f:
        start = round(offset * f.samplerate)
        if start and start >= f.frames:  # libsndfile's own error: "Internal psf_fseek() failed"
            raise ValueError(f"offset {offset:g} s is past the end of the {f.frames / f.samplerate:.2f} s file")
        frames = -1 if duration is None else round(duration * f.samplerate)
        # libsndfile's MP3 decoder, sought to a sample, starts from a stale bit reservoir: a review found a
        # segment's first 70-245 ms silent or wrong; decoded from a second before and that part dropped, it is
        # the file's own samples (measured exact from 16 to 48 kHz)
        lead = min(start, round(MP3_LEAD_IN * f.samplerate)) if f.format == "MP3" else 0
        if f.seekable():
            f.seek(start - lead)
            frames = frames + lead if frames >= 0 else -1
        else:  # read front to back only (GSM 6.10, G.721, NMS ADPCM): to the end its header counts, as sf.read does
            for _ in f.blocks(blocksize=1 << 16, frames=start, dtype="int16"):  # the skipped part, a block at a time
                pass
            frames = f.frames - start if frames < 0 else frames
        try:
            samples = f.read(frames, dtype="float32", always_2d=True)
        except MemoryError:  # read at once as long as the header says: a damaged one claimed 2^36 samples
            raise ValueError(
                f"its header claims {f.frames / f.samplerate:.0f} s of audio, more than memory holds"
            ) from None
        rate = f.samplerate
    return resample(to_mono(samples[lead:]), rate, target_rate)


def read_utterance_audio(utt_id: str, path: Path, rate: int, offset: float = 0.0, duration: float | None = None
                         ) -> np.ndarray:  # fmt: skip
    """`load_audio` for an utterance; one line naming it and its file where the audio cannot be read, or holds
    NaN or Inf samples (decoded, they were text: greedy's token 0 for every frame; in training, a non-finite
    loss blamed on the learning rate)."""
    try:
        samples = load_audio(path, rate, offset, duration)
    except (OSError, RuntimeError, ValueError) as err:  # soundfile's errors are RuntimeErrors
        raise InputError(f"utterance {utt_id}: cannot read {path}: {unreadable(path, err)}") from None
    if bad := non_finite(samples):
        raise InputError(f"utterance {utt_id}: {bad} NaN or Inf samples in its audio, {path} (asr data check "
                         "lists such utterances)")  # fmt: skip
    return samples


def unreadable(path: Path, err: Exception) -> str:
    """Why audio could not be read, in a line: libsndfile says "System error." for a file it may not open, and
    "File does not exist or is not a regular file (possibly a pipe?)" for a file of no format it knows."""
    if path.exists() and not os.access(path, os.R_OK):
        return "permission denied"
    if path.is_file() and "not a regular file" in str(err):
        size = path.stat().st_size
        return "an empty file" if not size else f"not audio in a format libsndfile reads ({size} bytes)"
    return (str(err).splitlines() or [type(err).__name__])[0][:200]


def write_audio(path: str | Path, samples: np.ndarray, rate: int = TARGET_RATE, comment: str = "") -> None:
    """Writes mono audio as 16-bit FLAC (or WAV for a .wav path), with `comment` in its comment tag; a write
    that fails (a full disk) is an OSError naming the file, and leaves none."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with writing(Path(path)), sf.SoundFile(str(path), "w", rate, 1, subtype="PCM_16") as f:
            if comment:
                f.comment = comment
            f.write(samples)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise


def whole_audio_comment(path: str | Path) -> str | None:
    """The comment tag of an audio file ("" where it has none), or None where the whole of its audio does not
    decode (a crash's file: zero bytes, or cut short)."""
    try:
        with sf.SoundFile(str(path)) as f:
            return f.comment if len(f.read(dtype="float32")) == f.frames else None
    except sf.SoundFileError:
        return None


def duration_tolerance(stated: float) -> float:
    """How far a manifest's stated duration may be from its audio's: 50 ms or 1%, whichever is more, and at most
    1 s (1% of a 20-minute recording let 12 s of it, 20 words, go unstated: their times a point at its end)."""
    return min(max(0.05, 0.01 * stated), 1.0)


def duration_differs(stated: float, measured: float) -> bool:
    """Whether a manifest's stated duration is not its audio's (beyond `duration_tolerance`): hours, RTFx and
    batching are counted from the stated one."""
    return abs(measured - stated) > duration_tolerance(stated)


def check_duration(utt_id: str, samples: np.ndarray, rate: int, stated: float | None) -> np.ndarray:
    """`samples`, or one line naming the utterance whose manifest duration is not its audio's."""
    if stated and duration_differs(stated, len(samples) / rate):
        raise InputError(f"utterance {utt_id}: the manifest says {stated:.3f} s, its audio holds "
                         f"{len(samples) / rate:.3f} s ('asr data check' measures every row)")  # fmt: skip
    return samples
