"""`asr data prepare`: a corpus → checked manifests ``OUT/<split>.jsonl`` and ``OUT/summary.json``.

Every utterance that fails a check (see `asr.data.check`) is left out of the manifest, counted by reason in
``summary.json`` and listed with its reason in ``OUT/<split>.rejected.jsonl``. A split where every
utterance fails is an error.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from pathlib import Path

from asr.data.check import CheckResult, Rejected, check_utterances
from asr.data.manifest import Utterance, manifest_text, write_jsonl
from asr.data.sources import (
    SourceOptions,
    canonical_source,
    is_split_name,
    load_source,
    one_split,
    parse_source,
)
from asr.errors import InputError, writable_dir
from asr.folders import removed_if_left_empty, write_together
from asr.text import Normalizer

_EXTENSIONS = (".jsonl", ".rejected.jsonl")  # a split's manifest and its list of rejected utterances
STAGED = "staged.part"  # in OUT: the audio a source embeds (audio/<split>/), moved into OUT with the manifests


def split_files(out_dir: Path, split: str) -> list[Path]:
    """A split's manifest and its list of rejected utterances in `out_dir`."""
    return [out_dir / f"{split}{ext}" for ext in _EXTENSIONS]


def _write_splits(out_dir: Path, results: dict[str, CheckResult]) -> None:
    """Writes each split's manifest of usable utterances and list of rejected ones
    (`CheckResult.rejected_records`) beside their places, then moves them all in, with the audio folders staged
    in `STAGED`; the files of splits an earlier summary.json lists and `results` lacks are removed (they would
    be taken for this corpus's). A failed or interrupted write leaves the earlier files as they were, but for one
    interrupted among the moves (`write_together`): the summary.json written after them tells a rerun."""
    # a name no run writes (../x, /abs) is no split of this folder's: summary.json is data, not a list of paths
    splits = _earlier_summary(out_dir).get("splits")
    earlier = set(filter(is_split_name, splits)) if isinstance(splits, dict) else set()
    writes = {}
    for split, result in results.items():
        manifest, rejected = split_files(out_dir, split)
        writes[manifest] = manifest_text(result.usable)  # text: write_manifest's own part would nest in ours
        writes[rejected] = functools.partial(write_jsonl, rows=result.rejected_records())
    write_together(writes)
    staged = out_dir / STAGED / "audio"
    if staged.is_dir():  # a source that embeds audio: OUT/audio/ holds its audio alone (an unclaimed one is refused)
        for split in earlier | set(results):  # the earlier run's, of this source
            shutil.rmtree(out_dir / "audio" / split, ignore_errors=True)
        (out_dir / "audio").mkdir(exist_ok=True)
        for folder in sorted(staged.iterdir()):
            folder.replace(out_dir / "audio" / folder.name)
    for split in earlier - set(results):
        for path in split_files(out_dir, split):
            path.unlink(missing_ok=True)


def check_and_write(
    splits: dict[str, list[Utterance]],
    out_dir: Path,
    normalizer: Normalizer,
    where: str,
    extra: dict,
    rejected: dict[str, list[Rejected]] | None = None,
    workers: int | None = None,
) -> dict:
    """Checks every split (in at most `workers` processes), then writes manifests and summary.json (with `extra`
    fields); returns the summary. `rejected` holds utterances a source already refused, per split: reported with
    those the checks refuse. Relative audio paths are read in `STAGED` where a source wrote audio there. A split
    that fails leaves the folder's earlier files as they were."""
    results: dict[str, CheckResult] = {}
    base = out_dir / STAGED if (out_dir / STAGED).is_dir() else out_dir
    for split, utts in sorted(splits.items()):
        result = check_utterances(utts, base, normalizer, desc=f"checking {split}", workers=workers)
        result.rejected.extend((rejected or {}).get(split, []))
        result.rejected.sort(key=lambda item: item[0].id)  # as the manifests: not the source's line order (R45)
        if not result.usable:
            first = ""  # the folder is not kept: its rejected list would not be read
            if result.rejected:
                utt, reason, detail = result.rejected[0]
                first = f"; the first, {utt.id}: {reason} ({detail})"
            raise InputError(f"{where}: every utterance of split '{split}' failed the checks "
                             f"{result.reason_counts()}{first}")  # fmt: skip
        results[split] = result
        if warning := result.tag_warning(normalizer, f"{where} ({split})"):
            print(warning, file=sys.stderr)
    _write_splits(out_dir, results)
    summary = dict(extra, normalizer=normalizer.id, splits={split: r.summary() for split, r in results.items()})
    _write_summary(out_dir, summary)
    return summary


def _write_summary(out_dir: Path, summary: dict) -> None:
    write_together({out_dir / "summary.json": json.dumps(summary, ensure_ascii=False, indent=1) + "\n"})


def prepare(source: str, lang: str, out_dir: Path, options: SourceOptions, normalizer: Normalizer) -> dict:
    """Loads `source`, checks it and writes the manifests; returns the summary. --out is claimed (a summary.json
    naming the source) before the source is read, since an hf source writes its embedded audio there (staged,
    moved in with the manifests); a run that fails before any corpus is written gives the claim up (a mistyped
    source blocked the corrected command) and removes the folder it made."""
    kind, rest = parse_source(source)
    options.check_for(kind)  # before --out is made or claimed
    with removed_if_left_empty(out_dir):
        writable_dir(out_dir, "--out")
        if kind == "jsonl":
            split = one_split(Path(rest), options)
            if Path(rest).resolve() in {path.resolve() for path in split_files(out_dir, split)}:
                raise InputError(f"--out {out_dir}: writing there would replace the source manifest {rest}; use "
                                 "another --out")  # fmt: skip
        claimed_now = not claim_prepared(out_dir, source)
        if claimed_now:
            _claim(out_dir, kind, source, lang)
        try:
            return _prepare_claimed(source, lang, out_dir, options, normalizer)
        except BaseException:
            # the claim alone, no manifest moved in: no corpus made (an interrupt after the manifests, before
            # the summary, gave the claim up over them, and the same command was then refused)
            if claimed_now and _earlier_summary(out_dir).get("splits") == {} and not any(out_dir.glob("*.jsonl")):
                (out_dir / "summary.json").unlink(missing_ok=True)
            raise


def _claim(out_dir: Path, kind: str, source: str, lang: str) -> None:
    """Claims an --out with no summary.json for `source`, where it holds no corpus of another."""
    if any(out_dir.glob("*.jsonl")) or (kind == "hf" and (out_dir / "audio").exists()):
        held = "manifests" if any(out_dir.glob("*.jsonl")) else "an audio folder"
        raise InputError(f"--out {out_dir} holds {held} but no summary.json (not made by 'asr data "
                         "prepare', or by a run of an earlier version that stopped); use another "
                         "--out")  # fmt: skip
    _write_summary(out_dir, {"source": canonical_source(source), "lang": lang, "splits": {}})


def _prepare_claimed(source: str, lang: str, out_dir: Path, options: SourceOptions, normalizer: Normalizer) -> dict:
    shutil.rmtree(out_dir / STAGED, ignore_errors=True)  # an interrupted run's
    try:
        splits = load_source(source, lang, out_dir / STAGED, options)
        if not any(splits.values()):
            raise InputError(f"{source}: no utterances")
        extra = {"source": canonical_source(source), "lang": lang}  # one spelling, from any folder
        return check_and_write(splits, out_dir, normalizer, source, extra)
    finally:
        shutil.rmtree(out_dir / STAGED, ignore_errors=True)  # a failed run's


def claim_prepared(out_dir: Path, source: str) -> bool:
    """Refuses an --out whose summary.json names another source. Whether there was a summary.json."""
    if not (out_dir / "summary.json").is_file():
        return False
    earlier = _earlier_summary(out_dir)
    if _relative(recorded := str(earlier.get("source"))):  # read from this folder, it was taken for another's (R53)
        raise InputError(
            f"--out {out_dir} holds a corpus prepared from {recorded}, which an earlier version "
            "recorded relative to a folder it did not record; use another --out, or remove it"
        )
    if canonical_source(recorded) != canonical_source(source):
        made = earlier.get("source") or "an unknown source (its summary.json names none)"
        raise InputError(f"--out {out_dir} holds a corpus prepared from {made}; use another --out (a recipe: "
                         "--force, or another --exp)")  # fmt: skip
    return True


def _relative(spec: str) -> bool:
    """Whether a source as summary.json records it names a path relative to an unknown folder (earlier versions
    recorded it as typed; this one absolute). A hub id is no path."""
    try:
        kind, rest = parse_source(spec)
    except InputError:
        return False
    return kind != "hf" and not Path(rest).is_absolute()


def _earlier_summary(out_dir: Path) -> dict:
    """The folder's summary.json, or {} where there is none or it is not one this version wrote."""
    try:
        earlier = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return earlier if isinstance(earlier, dict) else {}


def summary_table(summary: dict) -> str:
    """One row per split: items, kept, hours, and the filtered and converted counts."""
    lines = [f"{'split':<8} {'items':>7} {'kept':>7} {'hours':>8}  filtered / converted on load"]
    for split, s in summary["splits"].items():
        filtered = ", ".join(f"{k}: {v}" for k, v in s["filtered"].items()) or "none"
        converted = ", ".join(f"{k}: {v}" for k, v in s["converted_on_load"].items()) or "none"
        lines.append(f"{split:<8} {s['items']:>7} {s['kept']:>7} {s['hours']:>8.3f}  {filtered} / {converted}")
    return "\n".join(lines)
