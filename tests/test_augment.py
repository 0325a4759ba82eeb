"""The synthetic corpus's augmentation steps: each does what it says to the signal."""

from __future__ import annotations

import numpy as np
import pytest

from asr.data.synth.augment import (
    NOISE_SLOPES,
    TELEPHONE_CODECS,
    WIDEBAND_CODECS,
    Augmentation,
    add_noise,
    augment,
    codec_round_trip,
    coloured,
    reverberate,
    set_level,
    telephone,
    wideband_codec,
)

RATE = 22050


def speechlike(seconds: float = 1.0) -> np.ndarray:
    """Harmonics from 150 Hz to 7.5 kHz with a slow envelope."""
    t = np.arange(int(RATE * seconds)) / RATE
    tone = sum(np.sin(2 * np.pi * 150 * k * t) for k in range(1, 50)) / 10
    return (0.2 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def band_power(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


@pytest.mark.parametrize("codec", sorted(TELEPHONE_CODECS))
def test_a_telephone_channel_removes_the_band_above_4khz(codec):
    x = speechlike()
    y = telephone(x, RATE, codec)
    assert len(y) == len(x)
    assert band_power(x, 4500, 10000) > 0.1 * band_power(x, 0, 4000)
    assert band_power(y, 4500, 10000) < 0.01 * band_power(y, 0, 4000)
    assert np.corrcoef(x, y)[0, 1] > 0.5  # still the same signal


@pytest.mark.parametrize("codec", sorted(WIDEBAND_CODECS))
def test_a_wideband_codec_keeps_length_and_signal(codec):
    x = speechlike()
    y = wideband_codec(x, RATE, codec)
    assert len(y) == len(x) and np.corrcoef(x, y)[0, 1] > 0.5 and not np.array_equal(x, y)


def test_audio_louder_than_full_scale_goes_through_a_codec_unclipped():
    x = 4 * speechlike()  # noise and reverberation can take a peak above 1
    y = codec_round_trip(x, RATE, TELEPHONE_CODECS["ulaw"])
    assert np.max(np.abs(x)) > 1.5 and np.corrcoef(x, y)[0, 1] > 0.999
    assert np.corrcoef(x, np.clip(x, -1, 1))[0, 1] < 0.99  # what clipping would have made of it


@pytest.mark.parametrize("colour", sorted(NOISE_SLOPES))
def test_noise_colours_tilt_the_spectrum(colour):
    noise = coloured(np.random.default_rng(0).standard_normal(RATE * 2), colour)
    low, high = band_power(noise, 100, 1000), band_power(noise, 5000, 5900)  # equal widths
    ratio = low / high
    expected = {"white": (0.7, 1.4), "pink": (1.5, 20), "brown": (20, np.inf), "blue": (0, 0.7), "violet": (0, 0.1)}
    assert expected[colour][0] < ratio < expected[colour][1]


def test_loudness_is_set_to_the_drawn_rms_level():
    y = set_level(speechlike(), -30.0)
    assert 20 * np.log10(np.sqrt(np.mean(y**2))) == pytest.approx(-30.0, abs=0.01)


def test_opt_in_steps_leave_the_default_augmentation_draw_for_draw():
    x, defaults = speechlike(), Augmentation()
    opted = Augmentation(telephone_prob=1.0, level_dbfs=(-30.0, -20.0))
    for seed in range(8):
        _, applied = augment(x, RATE, defaults, seed)
        assert set(applied) <= {"speed", "rt60", "drr_db", "snr_db", "noise"}
        _, more = augment(x, RATE, opted, seed)
        assert {k: more[k] for k in applied} == applied and "telephone" in more and "level_dbfs" in more


@pytest.mark.parametrize("drr_db", [-6.0, 0.0, 12.0])
def test_a_room_response_keeps_the_drawn_direct_to_reverberant_ratio(drr_db):
    impulse = np.zeros(RATE, dtype=np.float32)
    impulse[0] = 1.0
    rir = reverberate(impulse, RATE, 0.4, np.random.default_rng(0), drr_db)
    measured = 10 * np.log10(rir[0] ** 2 / np.sum(rir[1:] ** 2))
    assert measured == pytest.approx(drr_db, abs=0.01)


def test_the_first_room_response_is_mostly_tail():
    impulse = np.zeros(RATE, dtype=np.float32)
    impulse[0] = 1.0
    rir = reverberate(impulse, RATE, 0.4, np.random.default_rng(0))
    assert 10 * np.log10(rir[0] ** 2 / np.sum(rir[1:] ** 2)) < -20
    _, applied = augment(speechlike(), RATE, Augmentation(reverb_prob=1.0, reverb_drr_db=None), 0)
    assert "rt60" in applied and "drr_db" not in applied


def snr_of(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The signal-to-noise ratio in dB by its definition: signal power over the power of what was added."""
    clean = clean.astype(np.float64)
    return float(10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2)))


@pytest.mark.parametrize("colour", sorted(NOISE_SLOPES))
@pytest.mark.parametrize("snr_db", [0.0, 5.0, 20.0])
def test_noise_is_added_at_the_drawn_snr(colour: str, snr_db: float) -> None:
    """Guards the level of the noise: an amplitude ratio taken for a power ratio (10 ** (snr / 20)) halves every
    SNR in dB, a flipped sign puts the noise that much above the speech instead of below it."""
    x = 0.5 * speechlike()
    y, drawn = add_noise(x, snr_db, np.random.default_rng(0), (colour,))
    assert drawn == colour and len(y) == len(x)
    assert snr_of(x, y) == pytest.approx(snr_db, abs=0.05)


def test_augment_records_the_snr_it_applied() -> None:
    """The "snr_db" an utterance's draws record (augmentation.jsonl, the audio's tag) is the SNR of its audio."""
    x = 0.5 * speechlike()  # quiet enough that the final peak limit (0.95) leaves it unscaled
    settings = Augmentation(speed_factors=(1.0,), reverb_prob=0.0, noise_prob=1.0)
    for seed in range(4):
        y, applied = augment(x, RATE, settings, seed)
        assert np.max(np.abs(y)) < 0.95 and applied["noise"] in settings.noise_colours
        assert snr_of(x, y) == pytest.approx(applied["snr_db"], abs=0.05)


def test_every_configured_noise_colour_is_drawn_about_equally() -> None:
    """Guards the colour draw: an index scaled by len - 1 never reaches the last colour (brown noise, one of the
    first corpora's two, was never added). 200 fair draws of two colours: each 100 +- 7 (binomial), so 70..130."""
    x = speechlike(0.01)
    drawn = [add_noise(x, 10.0, np.random.default_rng(seed), ("white", "brown"))[1] for seed in range(200)]
    counts = {colour: drawn.count(colour) for colour in ("white", "brown")}
    assert counts["white"] + counts["brown"] == 200
    assert all(70 <= n <= 130 for n in counts.values()), counts


def energy_decay_db(response: np.ndarray) -> np.ndarray:
    """Schroeder's backward-integrated energy decay curve, in dB of the response's total energy."""
    remaining = np.cumsum((response.astype(np.float64) ** 2)[::-1])[::-1]
    return 10 * np.log10(np.maximum(remaining / remaining[0], 1e-30))


@pytest.mark.parametrize("drr_db", [None, 0.0])
def test_a_room_response_decays_60_db_in_its_rt60(drr_db: float | None) -> None:
    """Guards the reverb time: the response's energy falls 60 dB in `rt60` (ISO 3382: T30, the -5 to -35 dB decay
    fitted and extrapolated, T60 = 2 * T30), and the response lasts that long (cut at rt60 / 2 it stops ~30 dB
    down). A decay constant of -3.45 instead of -6.9 (ln 1000) doubles the reverb time."""
    rt60 = 0.4
    impulse = np.zeros(RATE, dtype=np.float32)  # 1 s: longer than the response
    impulse[0] = 1.0
    response = reverberate(impulse, RATE, rt60, np.random.default_rng(0), drr_db)
    decay = energy_decay_db(response)
    t = np.arange(len(decay)) / RATE
    fitted = (decay <= -5) & (decay >= -35)
    slope = np.polyfit(t[fitted], decay[fitted], 1)[0]  # dB per second
    assert -60 / slope == pytest.approx(rt60, rel=0.1)
    # energy left 0.9 * rt60 in: exp(-13.8 * 0.9) - exp(-13.8) of the tail, -55 dB (-58 with half of it direct)
    assert -62 < decay[int(0.9 * rt60 * RATE)] < -50
