"""Finding `results.json` files and turning each into a leaderboard run: a system (model, labeled data, LM,
decoder) scored on one test set."""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from asr.data.manifest import read_jsonl
from asr.decode.results import DecodeResult
from asr.errors import InputError

DECODER_ORDER = {"greedy": 0, "beam": 1, "beam_lm": 2}


@dataclass(frozen=True)
class Run:
    """One decode: its results.json and the folder with hyp.jsonl and score/."""

    path: Path
    result: DecodeResult
    column: str = ""  # the test set's column: its name, with its content when two sets share a name

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def test_set(self) -> str:
        return self.column or self.result.test_set["name"]

    @cached_property
    def content_id(self) -> str:
        """Identifies the test set by its utterances (a hash of the sorted ids and references), not by its name:
        the same ids with other transcripts are another test set."""
        pairs = sorted(f"{row['id']}\t{row['ref']}" for row in self.hypotheses)
        return hashlib.sha1("\n".join(pairs).encode()).hexdigest()[:8]

    @property
    def comparability(self) -> tuple[str, str]:
        """Rows of one test set are comparable only with the same normaliser and scoring mode."""
        return self.result.normalizer, self.result.scoring

    @cached_property
    def system(self) -> dict[str, str]:
        r = self.result
        hours = r.train_info.get("train_hours")
        dec = r.decoder
        decoder = dec["name"] if dec["name"] == "greedy" else f"{dec['name']} (beam {dec['beam_width']})"
        weights = [f"α={dec['alpha']:g}"] if dec["name"] == "beam_lm" else []
        weights += [f"β={dec['beta']:g}"] if "beta" in dec else []
        lms = [] if r.lm is None else [lm_label(r.lm)]
        if r.rescoring:
            weights.append(f"γ={r.rescoring['gamma']:g}")
            lms.append("Transformer")
            decoder += f" + rescoring {r.rescoring['nbest']}-best"
        if weights:
            decoder += " " + " ".join(weights) + (" tuned" if r.tuning else "")
        return {
            "model": model_label(r.model["path"]),
            "labeled": "-" if hours is None else f"{hours:.2f} h",
            "lm": " + ".join(lms) or "none",
            "decoder": decoder,
        }

    @property
    def system_key(self) -> tuple:
        """Sorts systems by labeled hours, model, then no LM before LM, as the wav2vec 2.0 tables do."""
        hours = self.result.train_info.get("train_hours") or 0.0
        order = DECODER_ORDER.get(self.result.decoder["name"], 9)
        return (hours, self.system["model"], order, self.system["lm"], self.system["decoder"],
                self.result.model["path"], (self.result.lm or {}).get("path", ""))  # fmt: skip

    @cached_property
    def hypotheses(self) -> list[dict]:
        """The rows of hyp.jsonl (read once: the page and the exports both use them)."""
        path = self.folder / "hyp.jsonl"
        if not path.is_file():
            raise InputError(f"{self.path}: hyp.jsonl is missing beside it")
        rows = []
        for number, row in read_jsonl(path):
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("id", "ref", "hyp")):
                raise InputError(f"{path}:{number}: not a hypothesis row (id, ref, hyp)")
            rows.append(row)
        return rows

    @cached_property
    def score_report(self) -> dict:
        """score/score.json (read once: intervals, paired tests and the page all use it)."""
        path = self.folder / "score" / "score.json"
        if not path.is_file():
            raise InputError(f"{self.path}: score/score.json is missing beside it")
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: not readable ({err})") from None
        if not isinstance(report, dict) or not isinstance(report.get("utterances"), dict):
            raise InputError(f"{path}: not a score.json written by 'asr score' (no per-utterance counts)")
        return report

    def utterance_counts(self, level: str = "word") -> dict[str, list[int]]:
        """Per-utterance [C, S, D, I] from score/score.json."""
        return {utt: counts[level] for utt, counts in self.score_report["utterances"].items()}


def model_label(path: str) -> str:
    """A short name: ``exp/hi/train/model`` -> ``exp/hi/train`` (``.../best`` stays: another model); hub ids stay
    as they are."""
    p = Path(path)
    return str(p.parent) if p.name == "model" else path


def lm_label(lm: dict) -> str:
    """``4-gram``, with the LM folder's name where it is not the recipes' ``lm`` (two LMs, two systems)."""
    name = Path(lm.get("path", "lm")).name
    return f"{lm['order']}-gram" + ("" if name == "lm" else f" ({name})")


def collect(specs: list[str], exclude: Path | None = None) -> list[Run]:
    """Runs from results.json files, folders searched recursively, or glob patterns (of files or folders);
    sorted by system. The leaderboard's own results.json (in its output folder `exclude`) is passed over; the
    decodes' ones in that folder's tree are not (every results.json under --out was dropped without a word)."""
    paths: list[Path] = []
    for spec in specs:
        matches = [Path(x) for x in glob.glob(spec, recursive=True)] if any(c in spec for c in "*?[") else [Path(spec)]
        found = []
        for p in sorted(matches):
            if p.is_dir():
                found += sorted(p.rglob("results.json"))
            elif p.is_file() and p.suffix == ".json":
                found.append(p)
        if exclude is not None:
            found = [p for p in found if p.resolve() != (exclude / "results.json").resolve()]
        if not found:
            raise InputError(f"{spec}: no results.json found")
        paths += found
    unique: dict[Path, Path] = {}
    for path in paths:  # a file named twice (as a folder and a glob, relative and absolute) is one run
        unique.setdefault(path.resolve(), path)
    runs = []
    for path in unique.values():
        runs.append(Run(path, DecodeResult.read(path)))
        try:
            runs[-1].system  # noqa: B018 - validates the fields the tables need
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path}: not a results.json written by 'asr decode' ({err!r})") from None
    return sorted(name_columns(runs), key=lambda r: (r.system_key, r.test_set))


def name_columns(runs: list[Run]) -> list[Run]:
    """Each run's column: the test set's name, or where several sets of utterances share a name (es/test with
    2 utterances and with 1), the name with the size and content id of each, so they are never mixed."""
    contents: dict[str, set[str]] = {}
    for run in runs:
        contents.setdefault(run.result.test_set["name"], set()).add(run.content_id)
    out = []
    for run in runs:
        name = run.result.test_set["name"]
        column = name if len(contents[name]) == 1 else f"{name} [{len(run.hypotheses)} utt {run.content_id}]"
        out.append(replace(run, column=column))
    return out
