"""Acoustic variety for synthetic speech: speed perturbation, reverberation and additive noise (NumPy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asr.data.audio import resample


@dataclass(frozen=True)
class Augmentation:
    """Probabilities and ranges; each utterance draws its own values from its own seeded generator."""

    speed_factors: tuple[float, ...] = (0.9, 1.0, 1.1)
    reverb_prob: float = 0.3
    rt60: tuple[float, float] = (0.15, 0.6)
    noise_prob: float = 0.5
    snr_db: tuple[float, float] = (5.0, 30.0)


def speed_perturb(samples: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """Plays the audio `factor` times faster (tempo and pitch together, as Kaldi's speed perturbation)."""
    return samples if factor == 1.0 else resample(samples, round(rate * factor), rate)


def reverberate(samples: np.ndarray, rate: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolves with a synthetic room impulse response: exponentially decaying noise of reverb time `rt60`."""
    t = np.arange(int(rt60 * rate)) / rate
    rir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0
    rir /= np.sqrt(np.sum(rir**2))
    size = len(samples) + len(rir) - 1
    out = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(rir, size), size)[: len(samples)]
    return out.astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Adds white or brown noise at the given signal-to-noise ratio."""
    noise = rng.standard_normal(len(samples))
    if rng.random() < 0.5:
        noise = np.cumsum(noise)
        noise -= np.linspace(noise[0], noise[-1], len(noise))  # no drift
    power = np.mean(samples**2) or 1e-10
    noise *= np.sqrt(power / (10 ** (snr_db / 10)) / (np.mean(noise**2) or 1e-10))
    return (samples + noise).astype(np.float32)


def augment(samples: np.ndarray, rate: int, settings: Augmentation, seed: int) -> tuple[np.ndarray, dict]:
    """The augmented audio (peak at most 0.95) and what was applied."""
    rng = np.random.default_rng(seed)
    applied: dict = {"speed": float(rng.choice(settings.speed_factors))}
    samples = speed_perturb(samples, rate, applied["speed"])
    if rng.random() < settings.reverb_prob:
        applied["rt60"] = round(float(rng.uniform(*settings.rt60)), 3)
        samples = reverberate(samples, rate, applied["rt60"], rng)
    if rng.random() < settings.noise_prob:
        applied["snr_db"] = round(float(rng.uniform(*settings.snr_db)), 1)
        samples = add_noise(samples, applied["snr_db"], rng)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak > 0.95:
        samples = samples * (0.95 / peak)
    return samples.astype(np.float32), applied
