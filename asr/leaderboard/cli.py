"""`asr leaderboard RESULTS... --out DIR`: tables, a page and exports from `asr decode` results.

RESULTS are results.json files, folders (searched recursively) or glob patterns. Writes ``RESULTS.md``,
``results.csv``, ``results.json``, ``index.html`` with ``plots/``, and ``open_asr/`` (the Open ASR Leaderboard's
per-utterance JSONL); with ``--model-cards``, a README.md with model-index metadata beside each local model.
All are made in a folder of their own and replace the old ones only once every one is written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from asr.errors import InputError, run_reporting_errors, stops_deferred, writable_dir, writing
from asr.folders import removed_if_left_empty
from asr.options import ArgumentParser, file_name, folder_path

BUILDING = ".building-"  # the prefix of the folder a run writes its outputs in before they are moved out
OUTPUTS = ("RESULTS.md", "results.csv", "results.json", "index.html", "plots", "open_asr")  # all that --out gets
OPEN_ASR_INDEX = "index.json"  # which open_asr file holds which test set and system


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", type=file_name, help="results.json files, folders or glob patterns")
    p.add_argument(
        "--out", required=True, type=folder_path, help="folder for RESULTS.md, results.csv/json, index.html, plots"
    )
    p.add_argument("--title", default="ASR results", help="the title of index.html (RESULTS.md is headed Results)")
    p.add_argument("--significance", action="store_true",
                   help="95%% bootstrap intervals on WER (CER for text written without spaces between words); "
                   "paired tests against the best")  # fmt: skip
    p.add_argument("--model-cards", action="store_true", help="write README.md model cards beside local models")
    return p


def _run(args: argparse.Namespace, argv: list[str], prog: str) -> int:
    from asr.leaderboard import export
    from asr.leaderboard.collect import collect
    from asr.leaderboard.tables import Table
    from asr.provenance import provenance

    if (args.out / "hyp.jsonl").exists():  # its results.json would be written over with the leaderboard's rows
        raise InputError(f"--out {args.out} is a decode's folder (it holds hyp.jsonl); write the leaderboard elsewhere")
    _clear_killed_runs(args.out)
    passed_over: dict[str, list[Path]] = {}
    runs = collect(args.results, passed_over)
    for kind, folders in passed_over.items():
        if folders:
            print(f"passed over {len(folders)} {kind}: {', '.join(map(str, folders))}")
    audio = [export.audio_paths(run) for run in runs]  # before anything is written: it can fail
    table = Table(runs)
    _check_replaceable(args.out)
    with removed_if_left_empty(args.out):  # a failed first write left an empty --out (R51)
        out = writable_dir(args.out, "--out")
        building = Path(tempfile.mkdtemp(dir=out, prefix=f"{BUILDING}{os.getpid()}-"))
        try:
            with writing(out):  # a full disk named no file
                _write(table, runs, audio, building, args, provenance(prog, argv)["command"])
            with stops_deferred():  # all written: each replaces its old self (stale plots and exports go), unstopped
                for name in OUTPUTS:
                    if (out / name).is_dir():
                        shutil.rmtree(out / name)
                    (building / name).replace(out / name)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    cards = _model_cards(runs) if args.model_cards else []
    print((out / "RESULTS.md").read_text(encoding="utf-8").split("\n## Commands\n")[0].rstrip())  # the heading
    print(f"\n{len(runs)} results -> {out}/ (RESULTS.md, results.csv, results.json, index.html)"
          + (f"; {len(cards)} model card(s)" if cards else ""))  # fmt: skip
    return 0


def _clear_killed_runs(out: Path) -> None:
    """Removes the building folders of runs no longer running (killed: every later run named them as
    leaderboard outputs passed over); a run still writing keeps its own (its process id is in the name)."""
    for folder in out.glob(f"{BUILDING}*"):
        pid = folder.name.removeprefix(BUILDING).split("-")[0]
        if pid.isdigit() and _running(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    try:  # a zombie has ended: a killed run whose parent was killed too stays one for a while (R65)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux)
        return True


def _check_replaceable(out: Path) -> None:
    """The outputs `--out` holds are replaced whole: refused where a folder of them holds what no leaderboard
    writes (a decode, notes of one's own), which went with it."""
    for name, suffix, index in (("plots", ".png", ""), ("open_asr", ".jsonl", OPEN_ASR_INDEX)):
        folder = out / name
        if not folder.exists() and not folder.is_symlink():
            continue
        others = [folder] if folder.is_symlink() or not folder.is_dir() else [
            p for p in folder.iterdir()
            if p.is_symlink() or not p.is_file() or (p.suffix != suffix and p.name != index)]  # fmt: skip
        if others:
            raise InputError(f"--out {out}: {others[0]} is not a leaderboard's output, and {folder} is replaced "
                             "whole: move it, or write the leaderboard elsewhere")  # fmt: skip


def _write(table, runs: list, audio: list[dict[str, str]], out: Path, args: argparse.Namespace, command: str) -> None:
    """Every output into the empty folder `out`."""
    from asr.leaderboard import export, plots
    from asr.leaderboard.html import write_html
    from asr.leaderboard.markdown import results_markdown
    from asr.leaderboard.tables import csv_text

    (out / "plots").mkdir()
    (out / "open_asr").mkdir()
    (out / "RESULTS.md").write_text(results_markdown(table, runs, command, args.significance), encoding="utf-8")
    (out / "results.csv").write_text(csv_text(table, args.significance), encoding="utf-8")
    rows = [{"results": str(r.path), "test_set": r.test_set, **r.system, "wer": r.result.wer,
             "cer": r.result.cer, "normalizer": r.result.normalizer, "scoring": r.result.scoring,
             "git_revision": r.result.git_revision, "flag": table.flags.get((r.system_key, r.test_set)),
             "tuned_on_it": r.tuned_on_itself}
            | ({"significance": table.significance(r.system_key, r.test_set)} if args.significance else {})
            for r in runs]  # fmt: skip
    (out / "results.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_html(table, runs, plots.draw_all(table, runs, out / "plots"), out, args.title, args.significance)
    exported: set[Path] = set()
    datasets = export.dataset_names(r.result.test_set["name"] for r in runs)
    index = []  # which file holds which test set and system (R80: no output said so)
    for run, paths in zip(runs, audio, strict=True):
        path = export.open_asr_jsonl(run, paths, out / "open_asr", exported, datasets[run.result.test_set["name"]])
        index.append({"file": path.name, "test_set": run.test_set, "content_id": run.content_id, **run.system,
                      "results": str(run.path)})  # fmt: skip
    (out / "open_asr" / OPEN_ASR_INDEX).write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", "utf-8")


def _model_cards(runs: list) -> list[Path]:
    """A card beside each decoded model that is a folder here; the others (a hub id, a path relative to where
    `asr decode` ran) and the folders with a README.md of their own are named as skipped."""
    from asr.leaderboard import export

    by_model: dict[Path, list] = {}
    for run in runs:  # one card per folder, however the decodes spelled its path (each wrote over the other's)
        folder = Path(run.result.model["path"])
        by_model.setdefault(folder.resolve() if folder.is_dir() else folder, []).append(run)
    for folder in [f for f in by_model if not f.is_dir()]:
        print(f"model card: {folder} is not a folder from here (a hub id, or relative to where asr decode ran): "
              "skipped")  # fmt: skip
        del by_model[folder]
    for folder in [f for f in by_model if not (f / "config.json").is_file()]:  # results.json is data: any folder
        print(f"model card: {folder} holds no model (config.json): skipped")
        del by_model[folder]
    cards = []
    for folder, rs in by_model.items():
        if card := export.model_card(folder, rs):
            cards.append(card)
        else:
            print(f"model card: {folder / 'README.md'} was not written by asr leaderboard (or is a link): left alone")
    return cards


def main(argv: list[str] | None = None, prog: str = "asr leaderboard") -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(prog).parse_args(argv)
    return run_reporting_errors(prog, lambda: _run(args, argv, prog))
