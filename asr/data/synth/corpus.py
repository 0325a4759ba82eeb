"""`asr data synth`: a multi-speaker synthetic speech corpus per language, made with espeak-ng.

Per language, writes ``OUT/<lang>/{train,dev,test}.jsonl`` (checked like any prepared corpus, with
``summary.json``), the audio as 16 kHz FLAC under ``OUT/<lang>/audio/<split>/``, and ``lm_text.txt``: the
sentences not used for audio, for the language model. Splits are disjoint in sentences and dev/test
speakers use espeak-ng variants never heard in training. Everything derives from the seed: the sentence
order, the speakers, and each utterance's own augmentation seed, so two runs write the same corpus.
Utterances whose audio exists are not synthesised again, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.data.audio import TARGET_RATE, audio_info, resample, whole_audio_comment, write_audio
from asr.data.check import Rejected
from asr.data.manifest import Utterance, write_jsonl
from asr.data.prepare import check_and_write
from asr.data.synth.augment import Augmentation, augment, peak_limited
from asr.data.synth.texts import MAX_AUDIO_SHARE, letter_art, sentences
from asr.data.synth.voices import ENGINES, Speaker, make_speakers
from asr.errors import InputError, worker_pool, writable_dir
from asr.folders import write_together
from asr.progress import progress_bar
from asr.text import default_normalizer

CHARS_PER_SECOND = 14.0  # espeak-ng at about 160 words a minute: for planning the number of sentences
SPLIT_SHARES = {"dev": 0.1, "test": 0.1}
SPEAKERS = {"train": 16, "dev": 4, "test": 4}


@dataclass(frozen=True)
class Job:
    """One utterance to synthesise."""

    id: str
    text: str
    speaker: Speaker
    path: Path
    seed: int

    @property
    def part(self) -> Path:
        """Where the audio is written before it is renamed to `path` (whole files only)."""
        return self.path.with_suffix(".part.flac")


def _seed(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


def synthesize(job: Job, settings: Augmentation, scratch: str | None = None) -> dict:
    """Synthesises, augments and writes one utterance (unless its file exists whole); returns {"applied": the values
    its augmentation drew} (also in the audio file's comment tag, where a resumed run reads them back; None for
    files written before the tag), or {"failed": why} when the engine gave no audio (no file is written; a rerun
    tries again). The engine writes under `scratch` (default: the temporary folder)."""
    if job.path.exists():
        if (comment := whole_audio_comment(job.path)) is not None:
            return {"resumed": True, "applied": json.loads(comment or "null")}
        job.path.unlink()  # a crash's file made again (R70: zero bytes were a traceback; one cut short, rejected)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        wav = Path(tmp) / "u.wav"
        # text through stdin: a sentence starting with "-" would be read as an option
        cmd, encoding = job.speaker.command(wav)
        text = job.text.encode(encoding, errors="replace")  # a character the voice cannot read becomes "?"
        # its own session: Ctrl-C reaches the main process (which stops the pool), not the engine mid-utterance
        proc = subprocess.run(cmd, input=text, capture_output=True, start_new_session=True)
        # seen: Festival's letter rules fail on some words ("...чужая") and it writes a header without data
        samples, rate = sf.read(wav, dtype="float32") if wav.exists() and wav.stat().st_size > 44 else ([], 0)
        if proc.returncode != 0 or not len(samples):
            error = " ".join(proc.stderr.decode(errors="replace").split())[:300]
            return {"failed": f"{cmd[0]} gave no audio: {error or 'no message'}"}
    samples, applied = augment(samples, rate, settings, job.seed)
    audio = resample(samples, rate, TARGET_RATE)
    if np.max(np.abs(audio), initial=0.0) >= 1.0:  # R86: the resample took a limited peak past full scale (clipped)
        audio = peak_limited(audio)  # those files alone: the others keep their audio draw for draw
    write_audio(job.part, audio, TARGET_RATE, comment=json.dumps(applied))
    job.part.replace(job.path)  # whole files only: an interrupted run leaves no truncated audio
    return {"applied": applied}


def _run(args: tuple[Job, Augmentation, str]) -> dict:
    return synthesize(*args)


def plan(lang: str, hours: float, seed: int, lang_dir: Path, engines: tuple[str, ...] = ENGINES[:1],
         sentence_pool: str = "main") -> tuple[dict[str, list[Job]], list[str], dict]:  # fmt: skip
    """Jobs per split, the LM sentences, and the sentence statistics for the summary."""
    texts, rejected = sentences(lang)
    rng = random.Random(_seed(seed, lang))
    rng.shuffle(texts)
    tag, main_share = "", []
    if sentence_pool == "reserve":  # the share that no "main" corpus of this seed voices, at any --hours
        cut = int(len(texts) * MAX_AUDIO_SHARE)
        main_share, texts, tag = texts[:cut], texts[cut:], sentence_pool
    budget, used = hours * 3600, 0
    total = 0.0
    limit = int(len(texts) * MAX_AUDIO_SHARE)
    while used < limit and total < budget:
        total += len(texts[used]) / CHARS_PER_SECOND
        used += 1
    counts = {split: max(1, round(used * share)) for split, share in SPLIT_SHARES.items()}
    counts["train"] = used - sum(counts.values())
    if counts["train"] < 1:
        raise InputError(f"--hours {hours} gives {used} {lang} sentences: too few for train, dev and test")
    jobs: dict[str, list[Job]] = {}
    start = 0
    for split in ("train", "dev", "test"):
        speakers = make_speakers(lang, split, SPEAKERS[split], rng, engines)
        chunk = texts[start : start + counts[split]]
        start += counts[split]
        jobs[split] = []
        for i, text in enumerate(chunk):
            speaker = speakers[i % len(speakers)]
            utt_id = f"{speaker.id}_{lang}{tag}{split}{i:06d}"
            path = lang_dir / "audio" / split / f"{utt_id}.flac"
            jobs[split].append(Job(utt_id, text, speaker, path, _seed(seed, lang, split, i)))
    jobs, lm_texts, art = _without_letter_art(jobs, texts[used:])
    jobs, lm_texts, repeats = _without_repeats(jobs, lm_texts, lang, main_share)
    stats = {
        "sentences_available": len(texts),
        "sentences_rejected": dict(rejected.most_common()),
        "sentences_with_audio": sum(len(split_jobs) for split_jobs in jobs.values()),
        "lm_sentences": len(lm_texts),
        "repeats_left_out": repeats,
        "letter_art_left_out": art,
        "speakers": {split: sorted({j.speaker.id for j in js}) for split, js in jobs.items()},
        "held_out_voices": sorted(held_out_voices(jobs)),
        # the hours of text planned, where the share of sentences that get audio stopped it short of --hours
        "hours_capped_at": round(total / 3600, 3) if total < budget else None,
    }
    return jobs, lm_texts, stats


def _without_letter_art(jobs: dict[str, list[Job]], lm_texts: list[str]) -> tuple[dict, list[str], dict]:
    """The jobs and LM sentences without letter art (`letter_art`), counted by where. It is left out here, after
    the seed's order and splits are drawn, and the other jobs keep their ids, voices and seeds: a corpus is the
    one an earlier version made less these utterances, so the shipped checkpoints' corpora still share the
    recipes' sentence order (no recipe's dev or test sentence among the checkpoints' training sentences), and a
    corpus folder of an earlier version resumes."""
    kept = {split: [j for j in split_jobs if not letter_art(j.text)] for split, split_jobs in jobs.items()}
    lm_kept = [text for text in lm_texts if not letter_art(text)]
    counts = {split: len(jobs[split]) - len(kept[split]) for split in jobs} | {"lm_text": len(lm_texts) - len(lm_kept)}
    return kept, lm_kept, {k: v for k, v in counts.items() if v}


def _without_repeats(
    jobs: dict[str, list[Job]], lm_texts: list[str], lang: str, main_share: list[str]
) -> tuple[dict, list[str], dict]:
    """Dev and test jobs whose sentence, normalised, a split before them already voices, and LM sentences that a
    split voices, are left out (counted by where): sentences that differ only in punctuation or quotes are
    one transcript, and a test sentence in train or in the LM text makes the test score optimistic. A reserve
    corpus also leaves out the sentences of the share a main corpus may voice (`main_share`), train included.
    The other jobs keep their ids and seeds, so corpora without such repeats are unchanged."""
    normalize = default_normalizer(lang)
    voiced = {normalize(text) for text in main_share}
    kept: dict[str, list[Job]] = {}
    repeats: dict[str, int] = {}
    for split, split_jobs in jobs.items():  # train, dev, test
        texts = [normalize(j.text) for j in split_jobs]
        kept[split] = [j for j, text in zip(split_jobs, texts, strict=True) if text not in voiced]
        repeats[split] = len(split_jobs) - len(kept[split])
        voiced.update(texts)
    lm_kept = [text for text in lm_texts if normalize(text) not in voiced]
    repeats["lm_text"] = len(lm_texts) - len(lm_kept)
    return kept, lm_kept, {k: v for k, v in repeats.items() if v}


def held_out_voices(jobs: dict[str, list[Job]]) -> set[str]:
    """Festival voices of dev or test that no training utterance used (espeak-ng voices share base voices)."""
    trained = {j.speaker.voice for j in jobs["train"]}
    return {j.speaker.voice for s in ("dev", "test") for j in jobs[s] if j.speaker.engine == "festival"} - trained


SETTINGS_FILE = "synth_settings.json"


def _json(value):
    """As it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


#: the fields of an augmentation step that make no difference while its probability is 0 (it draws nothing)
STEP_FIELDS = {"reverb_prob": ("rt60", "reverb_drr_db"), "noise_prob": ("snr_db", "noise_colours")}


def _flat(settings: dict) -> dict:
    """The settings that decide the audio, with the augmentation's fields at the top level (an error names only
    those that changed)."""
    augmentation = dict(settings.get("augmentation", {}))
    for prob, fields in STEP_FIELDS.items():
        if augmentation.get(prob) == 0:
            augmentation = {k: v for k, v in augmentation.items() if k not in fields}
    return {**{k: v for k, v in settings.items() if k != "augmentation"}, **augmentation}


def corpus_settings(hours: float, seed: int, settings: Augmentation, engines: tuple[str, ...],
                    sentence_pool: str) -> dict:  # fmt: skip
    """What a corpus folder records of the settings it is made with (`claim_folder`)."""
    return {"hours": hours, "seed": seed, "augmentation": _json(asdict(settings)), "engines": list(engines),
            "sentence_pool": sentence_pool}  # fmt: skip


def claim_folder(lang_dir: Path, settings: dict) -> None:
    """Records the settings a corpus folder is made with; a folder made with other settings is refused (its
    audio would be kept under the new settings' transcripts)."""
    check_folder(lang_dir, settings)
    write_together({lang_dir / SETTINGS_FILE: json.dumps(settings, indent=1) + "\n"})  # a kill left an empty file


def check_folder(lang_dir: Path, settings: dict) -> None:
    """`InputError` where `claim_folder` would refuse the folder; writes no file (it creates the folder, as its
    check that files can be written there does)."""
    path = lang_dir / SETTINGS_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: not readable ({err}); use another --out, or remove the folder") from None
        if not isinstance(old, dict) or not isinstance(old.get("augmentation", {}), dict):
            raise InputError(f"{path}: not the settings of a corpus of 'asr data synth'; use another --out")
        # a corpus made before a setting existed was made with its default, or with the first room response
        first = {**_json(asdict(Augmentation())), "reverb_drr_db": None}
        old = {"engines": list(ENGINES[:1]), "sentence_pool": "main", **old,
               "augmentation": {**first, **old.get("augmentation", {})}}  # fmt: skip
        flat_old, flat_new = _flat(old), _flat(settings)
        changed = {k: (flat_old.get(k), v) for k, v in flat_new.items() if flat_old.get(k) != v}
        if changed:
            listed = "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in changed.items())
            # a corpus of an earlier version, with its first room responses: resumed by asking for them
            first_rooms = "reverb_drr_db" in changed and changed["reverb_drr_db"][0] is None
            advice = "--reverb-drr first resumes it, or use another --out" if first_rooms else "use another --out"
            raise InputError(f"{lang_dir} holds a corpus made with other settings ({listed}); {advice} (a recipe: "
                             "--force, or another --exp)")  # fmt: skip
    elif lang_dir.exists() and any(lang_dir.iterdir()):
        raise InputError(f"{lang_dir} is not empty and was not made by 'asr data synth'; use another --out")
    writable_dir(lang_dir, "--out")


def synth_language(lang: str, hours: float, out_dir: Path, seed: int, settings: Augmentation, workers: int,
                   engines: tuple[str, ...] = ENGINES[:1], sentence_pool: str = "main",
                   planned: tuple | None = None) -> dict:  # fmt: skip
    """Builds one language's corpus with the speech `engines`; returns its summary. `sentence_pool` "main"
    takes the seed's sentence order from its start (as recipes do), "reserve" its last 1 - MAX_AUDIO_SHARE, which no
    "main" corpus of the same seed voices: pretraining data kept out of every recipe's dev and test sentences.
    A rerun with the same settings resumes (what exists is kept); a rerun with other settings is refused.
    `planned` is what `plan` gave for these settings, where the caller checked them already."""
    lang_dir = out_dir / lang
    jobs, lm_text, stats = planned or plan(lang, hours, seed, lang_dir, engines, sentence_pool)  # bad settings first
    claim_folder(lang_dir, corpus_settings(hours, seed, settings, engines, sentence_pool))
    all_jobs = [job for split_jobs in jobs.values() for job in split_jobs]
    _remove_unplanned(lang_dir, {job.path for job in all_jobs}, lang)
    for job in all_jobs:
        job.path.parent.mkdir(parents=True, exist_ok=True)
    try:  # the engines write in one folder this process removes: a stopped worker left its own (R51)
        with tempfile.TemporaryDirectory(prefix="asr-synth-") as scratch, worker_pool(workers) as pool:
            work = pool.imap(_run, [(job, settings, scratch) for job in all_jobs], chunksize=8)
            bar = progress_bar(work, total=len(all_jobs), desc=f"synth {lang}", unit="utt")
            outcomes = dict(zip((job.id for job in all_jobs), bar, strict=True))
    except BaseException:  # the pool's workers were ended mid-write (a failure, a stop): their parts go too
        for job in all_jobs:
            job.part.unlink(missing_ok=True)
        raise
    splits, failed = _utterances(jobs, outcomes, lang_dir, lang)
    write_together({lang_dir / "lm_text.txt": "".join(t + "\n" for t in lm_text),  # whole (the LM stage reads it)
                    lang_dir / DRAWS_FILE: lambda part: write_draws(part, splits, outcomes)})  # fmt: skip
    if count := sum(map(len, failed.values())):
        print(f"synth {lang}: {count} utterance(s) the engine gave no audio for, kept out (<split>.rejected.jsonl)")
        stats["sentences_with_audio"] -= count
    extra = {
        "source": f"synth ({', '.join(engines)})",
        "lang": lang,
        "seed": seed,
        "hours_requested": hours,
        "sentence_pool": sentence_pool,
        "augmentation": asdict(settings),
        "resumed_utterances": sum("resumed" in r for r in outcomes.values()),
        **stats,
    }
    return check_and_write(splits, lang_dir, default_normalizer(lang), f"synth {lang}", extra, failed, workers)


def _remove_unplanned(lang_dir: Path, planned: set[Path], lang: str) -> None:
    """Removes the audio files of this corpus's utterances (named as `plan` names them) that its plan no longer
    has: a corpus of an earlier version resumed kept the audio of the utterances this one leaves out (R88:
    letter art), and a run stopped mid-write its parts. Files named otherwise are not the corpus's: kept (R89: a
    user's recording in the folder was removed)."""
    files = []
    for split in ("train", "dev", "test"):
        ours = re.compile(rf".+_{lang}(reserve)?{split}\d{{6}}(\.part)?\.flac")
        folder = lang_dir / "audio" / split
        files += [p for p in folder.iterdir() if p not in planned and ours.fullmatch(p.name)] if folder.is_dir() else []
    for path in files:
        path.unlink()
    if left := [p for p in files if not p.name.endswith(".part.flac")]:
        print(f"synth {lang}: {len(left)} audio file(s) of utterances an earlier version made and this one leaves "
              f"out removed, e.g. {left[0].name}")  # fmt: skip


DRAWS_FILE = "augmentation.jsonl"


def write_draws(path: Path, splits: dict[str, list[Utterance]], outcomes: dict[str, dict]) -> None:
    """One line per utterance with audio: its id, split and the values its augmentation drew ("applied")."""
    rows = [
        {"id": u.id, "split": split, "applied": outcomes[u.id]["applied"]} for split, us in splits.items() for u in us
    ]
    write_jsonl(path, sorted(rows, key=lambda r: r["id"]))


def _utterances(jobs: dict[str, list[Job]], outcomes: dict[str, dict], lang_dir: Path, lang: str
                ) -> tuple[dict[str, list[Utterance]], dict[str, list[Rejected]]]:  # fmt: skip
    """Per split: the utterances with audio, and those the engine gave none for (with the reason)."""
    splits: dict[str, list[Utterance]] = {split: [] for split in jobs}
    failed: dict[str, list[Rejected]] = {split: [] for split in jobs}
    for split, split_jobs in jobs.items():
        for j in split_jobs:
            why = outcomes[j.id].get("failed")
            duration = 0.0 if why else audio_info(j.path).duration
            utt = Utterance(j.id, str(j.path.relative_to(lang_dir)), duration, j.text, j.speaker.id, lang)
            if why:
                failed[split].append((utt, "synthesis engine failed", why))
            else:
                splits[split].append(utt)
    return splits, failed
