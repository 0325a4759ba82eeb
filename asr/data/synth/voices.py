"""espeak-ng voices: the base voices of each language and the variants that make different speakers.

Variants (timbre presets) are split into train, dev and test sets with no variant in two sets, so dev and
test speakers are never heard in training. espeak-ng silently ignores an unknown variant, so every name is
checked against the installed variant files.
"""

from __future__ import annotations

import random
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from asr.errors import InputError

BASE_VOICES = {
    "en": ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc"],
    "de": ["de"],
    "es": ["es", "es-419"],
    "fi": ["fi"],
    "hi": ["hi"],
    "it": ["it"],
    "ru": ["ru", "ru-lv"],
}
VARIANTS = {
    "train": ["m1", "m2", "m3", "m4", "m8", "f1", "f2", "f3", "klatt", "klatt2", "croak", "Andy", "Annie",
              "adam", "anika", "belinda", "benjamin", "david", "edward", "linda", "max", "michel", "norbert",
              "paul", "rob", "robert", "steph", "travis", "victor", "Lee"],
    "dev": ["m5", "f4", "klatt3", "Alex", "aunty", "boris"],
    "test": ["m6", "m7", "f5", "klatt4", "Gene", "john", "quincy"],
}  # fmt: skip


@dataclass(frozen=True)
class Speaker:
    """An espeak-ng voice, variant, pitch (0-99) and speaking rate (words per minute)."""

    lang: str
    voice: str
    variant: str
    pitch: int
    rate: int

    @property
    def id(self) -> str:
        """Letters and digits only, so that it is the prefix of utterance ids before the first '_'."""
        return re.sub(
            r"[^A-Za-z0-9]",
            "",
            f"{self.lang}{self.voice[len(self.lang) :]}{self.variant}p{self.pitch}s{self.rate}",
        )

    @property
    def espeak_args(self) -> list[str]:
        return ["-v", f"{self.voice}+{self.variant}", "-p", str(self.pitch), "-s", str(self.rate)]


@cache
def installed_variants() -> frozenset[str]:
    """Names of the variant files of the installed espeak-ng."""
    try:
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise InputError(
            f"espeak-ng is not usable ({err}); install Debian's espeak-ng (scripts/setup.sh does)"
        ) from None
    match = re.search(r"Data at:\s*(\S+)", version)
    folder = Path(match.group(1)) / "voices" / "!v" if match else None
    if folder is None or not folder.is_dir():
        raise InputError(f"espeak-ng variant folder not found (espeak-ng --version says: {version.strip()})")
    return frozenset(p.name for p in folder.iterdir())


def make_speakers(lang: str, split: str, count: int, rng: random.Random) -> list[Speaker]:
    """`count` distinct speakers of `split` for `lang`, from the split's own variants."""
    if lang not in BASE_VOICES:
        raise InputError(f"no espeak-ng voice configured for {lang!r}; available: {', '.join(BASE_VOICES)}")
    variants = [v for v in VARIANTS[split] if v in installed_variants()]
    if not variants:
        raise InputError(f"none of the {split} variants {VARIANTS[split]} is installed in espeak-ng")
    speakers: dict[str, Speaker] = {}
    while len(speakers) < count:
        variant = variants[len(speakers) % len(variants)]
        speaker = Speaker(lang, rng.choice(BASE_VOICES[lang]), variant, rng.randint(25, 75), rng.randint(135, 185))
        speakers.setdefault(speaker.id, speaker)
    return list(speakers.values())
