"""Synthetic speakers: espeak-ng voices with variants, and Festival voices built from real speakers.

espeak-ng: variants (timbre presets) are split into train, dev and test sets with no variant in two sets, so
dev and test speakers are never heard in training. espeak-ng silently ignores an unknown variant, so every name
is checked against the installed variant files.

Festival (Debian's festvox-* packages: diphone, cluster-unit and HTS voices recorded by real speakers): each
voice belongs to one split; a voice only in test is one no training data used (the held-out voices). Its
speakers differ in speaking rate (Festival's Duration_Stretch).
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


ENGINES = ("espeak-ng", "festival")
#: Festival voices per language and split (their Debian packages in FESTIVAL_PACKAGES)
FESTIVAL_VOICES = {
    "en": {"train": ("kal_diphone", "cmu_us_slt_arctic_hts"), "test": ("ked_diphone",)},
    "fi": {"train": ("suo_fi_lj_diphone",), "test": ("hy_fi_mv_diphone",)},
    "hi": {"train": ("hindi_NSK_diphone",)},
    "it": {"train": ("lp_diphone",), "test": ("pc_diphone",)},
    "ru": {"train": ("msu_ru_nsh_clunits",)},
}
# festvox-hi-nsk only recommends festival-hi, without whose Hindi phone set and lexicon its voice does not load
FESTIVAL_PACKAGES = {
    "kal_diphone": "festvox-kallpc16k", "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
    "ked_diphone": "festvox-kdlpc16k",
    "suo_fi_lj_diphone": "festvox-suopuhe-lj", "hy_fi_mv_diphone": "festvox-suopuhe-mv",
    "hindi_NSK_diphone": "festvox-hi-nsk festival-hi", "lp_diphone": "festvox-italp16k",
    "pc_diphone": "festvox-itapc16k", "msu_ru_nsh_clunits": "festvox-ru",
}  # fmt: skip
FESTIVAL_ENCODING = {"fi": "latin-1", "it": "latin-1"}  # what those voices read; the others read UTF-8
FESTIVAL_SHARE = 0.5  # of a split's speakers, where the language has Festival voices for it


@dataclass(frozen=True)
class Speaker:
    """A voice of an engine: espeak-ng (voice, variant, pitch 0-99, words per minute) or Festival (voice,
    speaking rate in percent of the voice's own; variant and pitch unused)."""

    lang: str
    voice: str
    variant: str
    pitch: int
    rate: int
    engine: str = "espeak-ng"

    @property
    def id(self) -> str:
        """Letters and digits only, so that it is the prefix of utterance ids before the first '_'."""
        if self.engine == "festival":
            name = f"{self.lang}fest{self.voice}s{self.rate}"
        else:
            name = f"{self.lang}{self.voice[len(self.lang) :]}{self.variant}p{self.pitch}s{self.rate}"
        return re.sub(r"[^A-Za-z0-9]", "", name)

    def command(self, wav: Path) -> tuple[list[str], str]:
        """The command that reads the text on stdin and writes `wav`, and the text encoding it reads."""
        if self.engine == "festival":
            stretch = f"(Parameter.set 'Duration_Stretch {100 / self.rate:.3f})"
            cmd = ["text2wave", "-eval", f"(voice_{self.voice})", "-eval", stretch, "-o", str(wav)]
            return cmd, FESTIVAL_ENCODING.get(self.lang, "utf-8")
        voice = ["-v", f"{self.voice}+{self.variant}", "-p", str(self.pitch), "-s", str(self.rate)]
        return ["espeak-ng", *voice, "-w", str(wav), "--stdin"], "utf-8"


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


@cache
def festival_voice_error(voice: str) -> str | None:
    """Why Festival cannot load `voice` (its first error line), or None where it loads: a voice whose files are
    there can still lack a package it needs, and would then fail on every utterance."""
    try:
        done = subprocess.run(["festival", "-b", f"(voice_{voice})"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    lines = (done.stderr + done.stdout).splitlines()
    return None if done.returncode == 0 else next((x for x in lines if "ERROR" in x), f"exit {done.returncode}")


def festival_speakers(lang: str, split: str, count: int, rng: random.Random) -> list[Speaker]:
    """`count` Festival speakers of `split`: the split's voices in turn, each at its own speaking rate."""
    voices = FESTIVAL_VOICES[lang][split]
    broken = [f"{v} ({FESTIVAL_PACKAGES[v]}: {why})" for v in voices if (why := festival_voice_error(v))]
    if broken:
        raise InputError(f"Festival voices that do not load: {'; '.join(broken)}; scripts/setup.sh installs them")
    found: dict[str, Speaker] = {}
    while len(found) < count:
        speaker = Speaker(lang, voices[len(found) % len(voices)], "", 0, rng.randint(85, 120), "festival")
        found.setdefault(speaker.id, speaker)
    return list(found.values())


def make_speakers(lang: str, split: str, count: int, rng: random.Random, engines: tuple[str, ...] = ENGINES[:1]
                  ) -> list[Speaker]:  # fmt: skip
    """`count` distinct speakers of `split` for `lang`, from the split's own variants; with Festival among the
    `engines`, half of them from the split's Festival voices where the language has some."""
    if lang not in BASE_VOICES:
        raise InputError(f"no espeak-ng voice configured for {lang!r}; available: {', '.join(BASE_VOICES)}")
    variants = [v for v in VARIANTS[split] if v in installed_variants()]
    if not variants:
        raise InputError(f"none of the {split} variants {VARIANTS[split]} is installed in espeak-ng")
    festival = []
    if "festival" in engines and FESTIVAL_VOICES.get(lang, {}).get(split):
        festival = festival_speakers(lang, split, max(1, round(count * FESTIVAL_SHARE)), rng)
    speakers: dict[str, Speaker] = {}
    while len(speakers) < count - len(festival):
        variant = variants[len(speakers) % len(variants)]
        speaker = Speaker(lang, rng.choice(BASE_VOICES[lang]), variant, rng.randint(25, 75), rng.randint(135, 185))
        speakers.setdefault(speaker.id, speaker)
    espeak = list(speakers.values())
    mixed = [s for pair in zip(espeak, festival, strict=False) for s in pair]  # alternating: small splits get both
    return mixed + espeak[len(festival) :] + festival[len(espeak) :]
