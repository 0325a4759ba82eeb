"""Exports in formats leaderboards read: the Open ASR Leaderboard's per-utterance JSONL, and model cards with
``model-index`` metadata (as transformers' CTC example writes them)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from asr.data.manifest import read_manifest
from asr.errors import InputError
from asr.folders import name_start, write_together
from asr.leaderboard.collect import Run
from asr.leaderboard.tables import markdown_row, markdown_text
from asr.scoring.report import percent

CARD_MARK = "<!-- written by asr leaderboard -->"


def audio_paths(run: Run) -> dict[str, str]:
    """Utterance id -> audio file of a decode: from its hyp.jsonl, or, for a decode made before hyp.jsonl
    recorded them, from its test set's manifest, whose path is as `asr decode` was given it (one line naming
    the results when it is not found from here)."""
    if all("audio" in row for row in run.hypotheses):
        return {row["id"]: row["audio"] for row in run.hypotheses}
    manifest = Path(run.result.test_set.get("manifest") or "(none recorded)")
    if not manifest.is_file():
        raise InputError(
            f"{run.path}: its test set's manifest {manifest} is not found from here, and its hyp.jsonl names no "
            "audio (a decode of an earlier version): run asr leaderboard where asr decode ran, or decode again"
        )
    return {u.id: str(u.audio_path(manifest.parent).resolve()) for u in read_manifest(manifest, durations=False)}


#: what a file name part may not hold: separators, white space, control characters, what shells and other
#: systems' file names refuse (any other letter stays: R80, every Devanagari name was one "-")
_UNSAFE = re.compile(r'[\s/\\:*?"<>|\x00-\x1f\x7f]+')
_NAME_BYTES = 255  # a file name's limit on Linux file systems


def file_part(text: str) -> str:
    """`text` in file-name characters (`_UNSAFE` runs as ``-``)."""
    return _UNSAFE.sub("-", text).strip("-") or "-"


def dataset_names(test_sets: Iterable[str]) -> dict[str, str]:
    """Each test set's DATASET name in the Open ASR files: ``<corpus>_<split>`` in file-name characters, with a
    hash of the name where that changed it (``x y``) or where either part holds ``_`` (``cv_es/test`` and
    ``cv/es_test`` would be one ``cv_es_test``): one name per test set, the same in every board (R80: numbered in
    the order of a board, a file held another set in the next one; R83: hashed only where a board held both)."""
    names = {}
    for name in dict.fromkeys(test_sets):
        corpus, _, split = name.rpartition("/")
        base = f"{file_part(corpus or 'data')}_{file_part(split)}"
        plain = base == f"{corpus or 'data'}_{split}" and "_" not in corpus + split
        names[name] = base if plain else f"{base}-{_hash(name)}"
    return names


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def export_file_name(system: str, dataset: str) -> str:
    """``MODEL_<system>_DATASET_<dataset>.jsonl``, each part cut short, with a hash of the whole, where the name
    would pass the file system's limit (R80: a long model path or test set name failed the whole board)."""
    name = f"MODEL_{system}_DATASET_{dataset}.jsonl"
    if len(name.encode()) <= _NAME_BYTES:
        return name
    return f"MODEL_{name_start(system)}_DATASET_{name_start(dataset)}-{_hash(name)}.jsonl"


def open_asr_jsonl(run: Run, audio: dict[str, str], out: Path, taken: set[Path], dataset: str) -> Path:
    """``MODEL_<model>-<decoder>[-<lm>]_DATASET_<dataset>.jsonl`` (`dataset`: `dataset_names`'): audio_filepath
    (from `audio`, as `audio_paths` gives it), duration, time, text, pred_text (raw); a name already in `taken`
    (two systems alike in model, decoder and LM folder name) gets a number, so no system's file overwrites
    another's."""
    system = "-".join(map(file_part, [run.system["model"], run.result.decoder["name"],
                                      *([Path(run.result.lm["path"]).name] if run.result.lm else [])]))  # fmt: skip
    path = out / export_file_name(system, dataset)
    number = 1
    while path in taken:
        number += 1
        path = out / export_file_name(f"{system}-{number}", dataset)
    taken.add(path)
    times = wall_clock_shares(run)
    with open(path, "w", encoding="utf-8") as f:
        for row, seconds in zip(run.hypotheses, times, strict=True):
            segment = {"offset": row["offset"]} if "offset" in row else {}  # NeMo manifests' field for a segment
            f.write(json.dumps({"audio_filepath": audio.get(row["id"], row["id"]), **segment,
                                "duration": row["duration"], "time": seconds, "text": row["ref"],
                                "pred_text": row["hyp"]}, ensure_ascii=False) + "\n")  # fmt: skip
    return path


def wall_clock_shares(run: Run) -> list[float]:
    """Each utterance's share of the decode's wall-clock seconds (network, decoding and rescoring, as its RTFx
    counts them), in proportion to its own seconds: those overlap across processes and beam workers, so their
    sum overstated the time and the leaderboard's RTFx (sum of durations over sum of times) understated it."""
    t = run.result.timing
    wall = t["am_seconds"] + t["decode_seconds"] + t.get("rescore_seconds", 0.0)
    own = [row["am_seconds"] + row["decode_seconds"] for row in run.hypotheses]
    scale = wall / sum(own) if sum(own) > 0 else 0.0
    return [round(seconds * scale, 6) for seconds in own]


def model_card(model_dir: Path, runs: list[Run]) -> Path | None:
    """README.md beside a local model with a model-index entry per (test set, decoder); a card not written by
    this command is left alone (returns None)."""
    path = model_dir / "README.md"
    if path.is_symlink() or (path.exists() and CARD_MARK not in path.read_text(encoding="utf-8", errors="replace")):
        return None  # not ours (in whatever encoding; a link: its target, wherever it is, is not ours): left alone
    results = []
    # a figure of weights tuned on its own test set is no result to index
    for run in (r for r in runs if not r.tuned_on_itself):
        corpus, _, split = run.test_set.rpartition("/")
        lm = "no LM" if run.system["lm"] == "none" else f"{run.system['lm']} LM"
        label = f"{run.system['decoder']}, {lm}, normaliser {run.result.normalizer}"
        results.append({
            "task": {"type": "automatic-speech-recognition", "name": "Speech Recognition"},
            "dataset": {"type": corpus or "data", "name": run.test_set, "split": split},
            "metrics": [{"type": m, "value": float(percent(run.result.rate(m))), "name": f"{m.upper()} ({label})"}
                        for m in ("wer", "cer")],
        })  # fmt: skip
    meta = {"library_name": "transformers", "pipeline_tag": "automatic-speech-recognition",
            "tags": ["automatic-speech-recognition", "wav2vec2", "ctc", "asr-toolkit"],
            "model-index": [{"name": model_dir.name, "results": results}]}  # fmt: skip
    lines = ["---", yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).rstrip()]
    marks = [" †" if r.tuned_on_itself else "" for r in runs]
    cells = [[r.test_set, r.system["decoder"], r.system["lm"], r.result.normalizer,
              f"{percent(r.result.wer)}{mark}", f"{percent(r.result.cer)}{mark}"]
             for r, mark in zip(runs, marks, strict=True)]  # fmt: skip
    table = "\n".join(markdown_row(row) for row in cells)
    lines += ["---", CARD_MARK, f"# {markdown_text(model_dir.name)}", "",
              "A CTC model fine-tuned with the asr toolkit; scores from `asr decode` (sclite-exact alignment).", "",
              "| test set | decoder | LM | normaliser | WER % | CER % |", "|---|---|---|---|---|---|", table,
              ""]  # fmt: skip
    if any(marks):
        lines += ["† LM weights tuned on this test set: not held out, and left out of the model-index.", ""]
    write_together({path: "\n".join(lines)})  # an interrupted write left an empty card, "not ours" from then on
    return path
