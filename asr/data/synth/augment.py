"""Acoustic variety for synthetic speech: speed perturbation, reverberation, noise of several colours, telephone
channels and codecs, and loudness (NumPy; codecs round-trip through libsndfile via soundfile).

The defaults keep the augmentation of the first corpora (speed, reverberation, white or brown noise) but for the
room response's direct-to-reverberant ratio (`reverb_drr_db=None` gives their audio draw for draw); the telephone
channel, codecs, more noise colours and loudness are opt-in. It runs at the voice's own rate, before the
resample to 16 kHz, so the SNR, level and DRR drawn hold over that band (the resample takes the noise above
8 kHz away: the 16 kHz file's SNR is the draw's or higher, README); kept, so that a corpus stays the audio the
shipped checkpoint heard.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from asr.data.audio import resample, speed_perturb

FIRST_COLOURS = ("white", "brown")  # the noise of the first corpora


@dataclass(frozen=True)
class Augmentation:
    """Probabilities and ranges; each utterance draws its own values from its own seeded generator."""

    speed_factors: tuple[float, ...] = (0.9, 1.0, 1.1)
    reverb_prob: float = 0.3
    rt60: tuple[float, float] = (0.15, 0.6)
    # direct-to-reverberant energy ratio of the room response; None: the first corpora's response, a tail as loud
    # as the direct sound (about -28 to -22 dB, which no real room gives at a talking distance)
    reverb_drr_db: tuple[float, float] | None = (-6.0, 12.0)
    noise_prob: float = 0.5
    snr_db: tuple[float, float] = (5.0, 30.0)
    noise_colours: tuple[str, ...] = FIRST_COLOURS  # of NOISE_SLOPES
    telephone_prob: float = 0.0  # 8 kHz narrowband through a telephone codec (TELEPHONE_CODECS)
    codec_prob: float = 0.0  # a wideband lossy codec round-trip (WIDEBAND_CODECS)
    level_dbfs: tuple[float, float] | None = None  # RMS loudness drawn from this range (dBFS); None: as made


#: power spectral slope per colour: power ~ frequency ** slope
NOISE_SLOPES = {"white": 0.0, "pink": -1.0, "brown": -2.0, "blue": 1.0, "violet": 2.0}
#: (soundfile format, subtype) of the codecs a telephone channel uses, at 8 kHz
TELEPHONE_CODECS = {"ulaw": ("WAV", "ULAW"), "alaw": ("WAV", "ALAW"), "gsm": ("WAV", "GSM610"),
                    "g721": ("WAV", "G721_32")}  # fmt: skip
#: wideband lossy codecs, at the audio's rate
WIDEBAND_CODECS = {"mp3": ("MP3", "MPEG_LAYER_III"), "vorbis": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS")}


def reverberate(samples: np.ndarray, rate: int, rt60: float, rng: np.random.Generator,
                drr_db: float | None = None) -> np.ndarray:  # fmt: skip
    """Convolves with a synthetic room impulse response: the direct sound, then exponentially decaying noise of
    reverb time `rt60` carrying 1/10**(drr_db/10) of its energy (None: a tail that starts as loud as the direct
    sound, as the first corpora made it)."""
    t = np.arange(int(rt60 * rate)) / rate
    rir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    if drr_db is not None:
        rir[0] = 0.0
        rir *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(rir**2) or 1e-10))
    rir[0] = 1.0
    rir /= np.sqrt(np.sum(rir**2))
    size = len(samples) + len(rir) - 1
    out = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(rir, size), size)[: len(samples)]
    return out.astype(np.float32)


def coloured(noise: np.ndarray, colour: str) -> np.ndarray:
    """White Gaussian noise given the colour's spectral slope (brown: integrated, as the first corpora made it)."""
    if colour == "white" or len(noise) < 2:
        return noise
    if colour == "brown":
        noise = np.cumsum(noise)
        return noise - np.linspace(noise[0], noise[-1], len(noise))  # no drift
    spectrum = np.fft.rfft(noise)
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    return np.fft.irfft(spectrum * freqs ** (NOISE_SLOPES[colour] / 2), len(noise))


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator,
              colours: tuple[str, ...] = FIRST_COLOURS) -> tuple[np.ndarray, str]:  # fmt: skip
    """Adds noise of one of `colours` at the given signal-to-noise ratio; returns it and the colour."""
    noise = rng.standard_normal(len(samples))
    colour = colours[min(int(rng.random() * len(colours)), len(colours) - 1)]
    noise = coloured(noise, colour)
    power = np.mean(samples**2) or 1e-10
    noise *= np.sqrt(power / (10 ** (snr_db / 10)) / (np.mean(noise**2) or 1e-10))
    return (samples + noise).astype(np.float32), colour


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    """`samples` cut or zero-padded to `length` (codecs and resampling add or drop a few samples)."""
    return np.pad(samples[:length], (0, max(0, length - len(samples)))).astype(np.float32)


def codec_round_trip(samples: np.ndarray, rate: int, codec: tuple[str, str]) -> np.ndarray:
    """The audio encoded with a libsndfile codec at `rate` and decoded again, at its own length (scaled into full
    scale first where noise or reverberation took its peak above it: the codec would clip it)."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    buffer = io.BytesIO()
    sf.write(buffer, samples / max(peak, 1.0), rate, format=codec[0], subtype=codec[1])
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    return _fit(decoded, len(samples))


def _through_codec(samples: np.ndarray, rate: int, codec_rate: int, codec: tuple[str, str]) -> np.ndarray:
    """The audio resampled to `codec_rate`, through the codec, and back to `rate`, at its own length."""
    coded = codec_round_trip(resample(samples, rate, codec_rate), codec_rate, codec)
    return _fit(resample(coded, codec_rate, rate), len(samples))


def telephone(samples: np.ndarray, rate: int, codec: str) -> np.ndarray:
    """A narrowband telephone channel: down to 8 kHz (the band below 4 kHz), through a telephone codec, back up."""
    return _through_codec(samples, rate, 8000, TELEPHONE_CODECS[codec])


def wideband_codec(samples: np.ndarray, rate: int, codec: str) -> np.ndarray:
    """A wideband lossy codec round-trip at 16 kHz (a rate every one of them takes)."""
    return _through_codec(samples, rate, 16000, WIDEBAND_CODECS[codec])


def set_level(samples: np.ndarray, dbfs: float) -> np.ndarray:
    """The audio scaled to an RMS level of `dbfs` (peaks are limited afterwards)."""
    rms = float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
    return samples if rms == 0 else samples * (10 ** (dbfs / 20) / rms)


def augment(samples: np.ndarray, rate: int, settings: Augmentation, seed: int) -> tuple[np.ndarray, dict]:
    """The augmented audio (peak at most 0.95) and what was applied."""
    rng = np.random.default_rng(seed)
    applied: dict = {"speed": float(rng.choice(settings.speed_factors))}
    samples = speed_perturb(samples, rate, applied["speed"])
    if rng.random() < settings.reverb_prob:
        applied["rt60"] = round(float(rng.uniform(*settings.rt60)), 3)
        if settings.reverb_drr_db is not None:
            applied["drr_db"] = round(float(rng.uniform(*settings.reverb_drr_db)), 1)
        samples = reverberate(samples, rate, applied["rt60"], rng, applied.get("drr_db"))
    if rng.random() < settings.noise_prob:
        applied["snr_db"] = round(float(rng.uniform(*settings.snr_db)), 1)
        samples, applied["noise"] = add_noise(samples, applied["snr_db"], rng, settings.noise_colours)
    # opt-in steps draw only when enabled: corpora made without them keep their audio draw for draw
    if settings.telephone_prob and rng.random() < settings.telephone_prob:
        applied["telephone"] = str(rng.choice(sorted(TELEPHONE_CODECS)))
        samples = telephone(samples, rate, applied["telephone"])
    elif settings.codec_prob and rng.random() < settings.codec_prob:
        applied["codec"] = str(rng.choice(sorted(WIDEBAND_CODECS)))
        samples = wideband_codec(samples, rate, applied["codec"])
    if settings.level_dbfs is not None:
        applied["level_dbfs"] = round(float(rng.uniform(*settings.level_dbfs)), 1)
        samples = set_level(samples, applied["level_dbfs"])
    return peak_limited(samples), applied


def peak_limited(samples: np.ndarray, limit: float = 0.95) -> np.ndarray:
    """`samples` (float32) scaled down where their peak is above `limit`."""
    peak = float(np.max(np.abs(samples), initial=0.0))
    return (samples * (limit / peak) if peak > limit else samples).astype(np.float32)
