"""`asr data prepare`: a corpus → checked manifests ``OUT/<split>.jsonl`` and ``OUT/summary.json``.

Every utterance that fails a check (see `asr.data.check`) is left out of the manifest, counted by reason in
``summary.json`` and listed with its reason in ``OUT/<split>.rejected.jsonl``. A split where every
utterance fails is an error.
"""

from __future__ import annotations

import json
from pathlib import Path

from asr.data.check import CheckResult, Rejected, check_utterances
from asr.data.manifest import Utterance, write_jsonl, write_manifest
from asr.data.sources import SourceOptions, canonical_source, load_source, one_split, parse_source
from asr.errors import InputError, writable_dir
from asr.text import Normalizer


def write_split(out_dir: Path, split: str, result: CheckResult) -> None:
    """Writes the manifest of the usable utterances and the list of rejected ones (`CheckResult.rejected_records`)."""
    write_manifest(out_dir / f"{split}.jsonl", result.usable)
    write_jsonl(out_dir / f"{split}.rejected.jsonl", result.rejected_records())


def check_and_write(
    splits: dict[str, list[Utterance]],
    out_dir: Path,
    normalizer: Normalizer,
    where: str,
    extra: dict,
    rejected: dict[str, list[Rejected]] | None = None,
    workers: int | None = None,
) -> dict:
    """Checks every split (in at most `workers` processes), writes manifests and summary.json (with `extra`
    fields); returns the summary. `rejected` holds utterances a source already refused, per split: reported with
    those the checks refuse."""
    summary: dict = dict(extra, normalizer=normalizer.id, splits={})
    for split, utts in sorted(splits.items()):
        result = check_utterances(utts, out_dir, normalizer, desc=f"checking {split}", workers=workers)
        result.rejected.extend((rejected or {}).get(split, []))
        if not result.usable:
            raise InputError(f"{where}: every utterance of split '{split}' failed the checks {result.reason_counts()}")
        write_split(out_dir, split, result)
        summary["splits"][split] = result.summary()
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return summary


def prepare(source: str, lang: str, out_dir: Path, options: SourceOptions, normalizer: Normalizer) -> dict:
    """Loads `source`, checks it and writes the manifests; returns the summary. --out is claimed (a summary.json
    naming the source) before the source is read: an hf source writes its embedded audio there, and a run that
    stops leaves the folder to its own source, not to the next one."""
    kind, rest = parse_source(source)
    options.check_for(kind)  # before --out is made or claimed
    writable_dir(out_dir, "--out")
    if kind == "jsonl":
        split = one_split(Path(rest), options)
        if Path(rest).resolve() in {(out_dir / f"{split}{ext}").resolve() for ext in (".jsonl", ".rejected.jsonl")}:
            raise InputError(f"--out {out_dir}: writing there would replace the source manifest {rest}; use "
                             "another --out")  # fmt: skip
    if not claim_prepared(out_dir, source, {}) and any(out_dir.glob("*.jsonl")):
        raise InputError(f"--out {out_dir} holds manifests but no summary.json (not made by 'asr data prepare', "
                         "or by a run of an earlier version that stopped); use another --out")  # fmt: skip
    claim = {"source": source, "lang": lang, "splits": {}}
    (out_dir / "summary.json").write_text(json.dumps(claim) + "\n", encoding="utf-8")
    splits = load_source(source, lang, out_dir, options)
    if not any(splits.values()):
        raise InputError(f"{source}: no utterances")
    return check_and_write(splits, out_dir, normalizer, source, {"source": source, "lang": lang})


def claim_prepared(out_dir: Path, source: str, splits: dict) -> bool:
    """Refuses an --out whose summary.json names another source; removes the manifests of splits an earlier run
    of the same source wrote that this one does not (they would be taken for this corpus's). Whether there was
    a summary.json."""
    path = out_dir / "summary.json"
    if not path.is_file():
        return False
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        earlier = {}
    if not isinstance(earlier, dict):  # not a summary this version wrote
        earlier = {}
    if canonical_source(str(earlier.get("source"))) != canonical_source(source):
        made = earlier.get("source") or "an unknown source (its summary.json names none)"
        raise InputError(f"--out {out_dir} holds a corpus prepared from {made}; use another --out")
    for split in set(earlier.get("splits", {})) - set(splits):
        for ext in (".jsonl", ".rejected.jsonl"):
            (out_dir / f"{split}{ext}").unlink(missing_ok=True)
    return True


def summary_table(summary: dict) -> str:
    """One row per split: items, kept, hours, and the filtered and converted counts."""
    lines = [f"{'split':<8} {'items':>7} {'kept':>7} {'hours':>8}  filtered / converted on load"]
    for split, s in summary["splits"].items():
        filtered = ", ".join(f"{k}: {v}" for k, v in s["filtered"].items()) or "none"
        converted = ", ".join(f"{k}: {v}" for k, v in s["converted_on_load"].items()) or "none"
        lines.append(f"{split:<8} {s['items']:>7} {s['kept']:>7} {s['hours']:>8.3f}  {filtered} / {converted}")
    return "\n".join(lines)
