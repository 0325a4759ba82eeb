"""Finding `results.json` files and turning each into a leaderboard run: a system (model, labeled data, LM,
decoder) scored on one test set."""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from asr.data.manifest import read_jsonl
from asr.decode.results import DecodeResult, content_id
from asr.errors import InputError, is_number
from asr.folders import files_under
from asr.progress import progress_bar
from asr.scoring.align import COMPAT
from asr.text import get_normalizer

DECODER_ORDER = {"greedy": 0, "beam": 1, "beam_lm": 2}


@dataclass(frozen=True)
class DecodeFiles:
    """The files a decode wrote beside its results.json (hyp.jsonl, score/score.json), each read when first used."""

    results: Path

    @cached_property
    def content_id(self) -> str:
        """Identifies the test set by its utterances (`content_id` of its ids and references), not by its name."""
        return content_id((row["id"], row["ref"]) for row in self.hypotheses)

    @cached_property
    def hypotheses(self) -> list[dict]:
        """The rows of hyp.jsonl."""
        path = self.results.parent / "hyp.jsonl"
        if not path.is_file():
            raise InputError(f"{self.results}: hyp.jsonl is missing beside it")
        rows = []
        for number, row in read_jsonl(path):
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("id", "ref", "hyp")):
                raise InputError(f"{path}:{number}: not a hypothesis row (id, ref, hyp)")
            if not all(is_number(row.get(k)) for k in ("duration", "am_seconds", "decode_seconds")):
                raise InputError(f"{path}:{number}: duration, am_seconds and decode_seconds must be numbers")
            rows.append(row)
        return rows

    @cached_property
    def score_report(self) -> dict:
        """score/score.json (its per-utterance counts: the intervals, paired tests and the page)."""
        path = self.results.parent / "score" / "score.json"
        if not path.is_file():
            raise InputError(f"{self.results}: score/score.json is missing beside it")
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: not readable ({err})") from None
        if not isinstance(report, dict) or not isinstance(report.get("utterances"), dict):
            raise InputError(f"{path}: not a score.json written by 'asr score' (no per-utterance counts)")
        return report


@dataclass(frozen=True)
class Run:
    """One decode: its results.json and the folder with hyp.jsonl and score/."""

    path: Path
    result: DecodeResult
    column: str = ""  # the test set's column: its name, with its content when two sets share a name
    variant: str = ""  # the settings that tell the system from others with the same label ("dtype=bfloat16")
    #: what the decode wrote beside results.json, read once: the runs `replace` makes of this one share it
    files: DecodeFiles = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.files is None:
            object.__setattr__(self, "files", DecodeFiles(self.path))

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def test_set(self) -> str:
        return self.column or self.result.test_set["name"]

    @property
    def content_id(self) -> str:
        """The test set by its utterances (`DecodeFiles.content_id`) and the audio the decode recorded (R85: a
        noisy copy's decodes, the same ids and references, were one test set with the clean copy's). Decodes of
        earlier versions recorded no audio: their id is of the utterances alone."""
        audio = self.result.test_set.get("audio_content")
        if audio is None:
            return self.files.content_id
        return hashlib.sha1(f"{self.files.content_id}|{audio}".encode()).hexdigest()[:8]

    @property
    def hypotheses(self) -> list[dict]:
        """`DecodeFiles.hypotheses`: the rows of hyp.jsonl."""
        return self.files.hypotheses

    @property
    def score_report(self) -> dict:
        """`DecodeFiles.score_report`: score/score.json."""
        return self.files.score_report

    @property
    def tuned_on_itself(self) -> bool:
        """Whether its LM weights were tuned on its own test set, so its figures are not held out: the tuning
        set's content is the test set's (a decode records it since this version; for earlier ones, the manifest
        as the decode wrote it, or its test set's name: the two decodes of --tuned-from spell one file as each
        was given it)."""
        tuning = self.result.tuning or {}
        if "dev_content" in tuning:  # the sentences, whatever audio voiced them
            return tuning["dev_content"] == self.files.content_id
        tuned, test = tuning.get("dev_manifest"), self.result.test_set
        return tuned is not None and (tuned == test["manifest"] or set_name(tuned) == test["name"])

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
        if self.variant:
            decoder += f" [{self.variant}]"
        return {
            "model": model_label(r.model["path"]),
            "labeled": "-" if hours is None else f"{hours:.2f} h",
            "lm": " + ".join(lms) or "none",
            "decoder": decoder,
        }

    @cached_property
    def settings(self) -> dict[str, str]:
        """Everything that makes the system beyond its test set: the model (path, weights' hash where the decode
        recorded it, adapter, dtype, chunking),
        every decoder setting, the n-gram LM and the rescoring LM, as ``name=value`` texts. Two runs are one
        system only if these are equal."""
        r = self.result
        model = {"model": model_path(r)} | {k: r.model.get(k) for k in ("weights", "adapter", "dtype", "chunk_seconds")}
        parts = {**model, **{k: v for k, v in r.decoder.items() if k != "name"}, "lm": (r.lm or {}).get("path")}
        if r.rescoring:
            parts |= {"rescoring_lm": r.rescoring.get("path"), "nbest": r.rescoring.get("nbest"),
                      "gamma": r.rescoring.get("gamma")}  # fmt: skip
        text = {k: json.dumps(v, ensure_ascii=False) for k, v in parts.items() if isinstance(v, list | dict)}
        return {k: text.get(k, str(v)) for k, v in parts.items()}

    @cached_property
    def settings_key(self) -> tuple:
        """`settings` as a sorted tuple: equal for the runs of one system."""
        return tuple(sorted(self.settings.items()))

    @property
    def system_key(self) -> tuple:
        """Sorts systems by labeled hours, model, then no LM before LM, as the wav2vec 2.0 tables do; the
        settings tell apart systems with the same label."""
        hours = self.result.train_info.get("train_hours") or 0.0
        order = DECODER_ORDER.get(self.result.decoder["name"], 9)
        return (hours, self.system["model"], order, self.system["lm"], self.system["decoder"], self.settings_key)

    def utterance_counts(self, level: str = "word") -> dict[str, list[int]]:
        """Per-utterance [C, S, D, I] from score/score.json."""
        return {utt: counts[level] for utt, counts in self.score_report["utterances"].items()}


def set_name(manifest: str) -> str:
    """A manifest's test set name as `asr decode` gives it (``data/hi/dev.jsonl``: ``hi/dev``; resolved where it
    can be, from the current folder: the path is the one the decode was given)."""
    path = Path(manifest)
    folder = path.resolve().parent.name if path.exists() or not path.parent.name else path.parent.name
    return f"{folder}/{path.stem}"


def model_label(path: str) -> str:
    """A short name: ``exp/hi/train/model`` -> ``exp/hi/train`` (``.../best`` stays: another model; ``model``
    alone stays, where its folder would be "."); hub ids stay as they are."""
    p = Path(path)
    return str(p.parent) if p.name == "model" and p.parent.name not in ("", "..") else path


def lm_label(lm: dict) -> str:
    """``4-gram``, with the LM folder's name where it is not the recipes' ``lm`` (two LMs, two systems)."""
    name = Path(lm.get("path", "lm")).name
    return f"{lm['order']}-gram" + ("" if name == "lm" else f" ({name})")


PASSED_OVER = ("leaderboard output(s)", "unfinished decode(s) (hyp.jsonl without results.json: running or stopped)")


def collect(specs: list[str], passed_over: dict[str, list[Path]] | None = None) -> list[Run]:
    """Runs from results.json files, folders searched recursively, or glob patterns (of files or folders);
    sorted by system. What a searched folder holds that is no decode's result is passed over and added to
    `passed_over` under its kind (`PASSED_OVER`): a leaderboard's own results.json (RESULTS.md beside it, no
    hyp.jsonl; the decodes' ones in its tree are read), and a decode's folder without its results.json (a decode
    removes it first when it runs again). A spec that exists is taken as it is written (``br[1]`` is a folder,
    not a pattern)."""
    paths: list[Path] = []
    for spec in specs:
        literal = Path(spec).exists() or not any(c in spec for c in "*?[")
        matches = [Path(spec)] if literal else [Path(x) for x in glob.glob(spec, recursive=True)]
        found, boards, unfinished = [], [], []
        for p in sorted(matches):
            if p.is_dir():
                files = files_under(p)
                for path in (f for f in files if f.name == "results.json"):
                    (boards if is_leaderboard(path) else found).append(path)
                hyps = [f for f in files if f.name == "hyp.jsonl"]
                unfinished += [h.parent for h in hyps if not (h.parent / "results.json").exists()]
            elif p.is_file() and p.suffix == ".json":
                found.append(p)
        if not found:
            raise InputError(f"{spec}: no results.json found" + (" (only leaderboards')" if boards else ""))
        if passed_over is not None:
            for kind, folders in zip(PASSED_OVER, ([b.parent for b in boards], unfinished), strict=True):
                passed_over.setdefault(kind, []).extend(folders)
        paths += found
    unique: dict[Path, Path] = {}
    for path in paths:  # a file named twice (as a folder and a glob, relative and absolute) is one run
        unique.setdefault(path.resolve(), path)
    results = with_recorded({path: DecodeResult.read(path) for path in unique.values()})
    read = progress_bar(results.items(), desc="read decodes", unit="decode", delay=2)
    runs = [_checked(Run(path, result)) for path, result in read]
    return sorted(name_variants(name_columns(runs)), key=lambda r: (r.system_key, r.test_set))


def model_path(result: DecodeResult) -> object:
    """The decoded model's path as written, normalised (``./exp/m/`` and ``exp/m`` are one folder)."""
    path = result.model.get("path")
    return os.path.normpath(path) if isinstance(path, str) else path


#: model settings an earlier version's results.json did not record (the weights' hash; the chunking of long
#: recordings, before 8ef3f3e, whose decodes chunked at the same default of 30 s)
UNRECORDED = ("weights", "chunk_seconds")


def with_recorded(results: dict[Path, DecodeResult]) -> dict[Path, DecodeResult]:
    """A decode of an earlier version that recorded no hash of its weights or no chunking is taken for the ones
    the other decodes of its model path have, where they agree on one (else it stays a row of its own: a decode
    of 272961b was a row of 'chunk_seconds=None' beside its twin, R53)."""
    for key in UNRECORDED:
        known: dict[str, set] = {}
        for result in results.values():  # (a damaged path or value is left to _checked's line)
            path, value = model_path(result), result.model.get(key)
            if isinstance(path, str) and value not in (None, "") and not isinstance(value, list | dict):
                known.setdefault(path, set()).add(value)
        for name, result in results.items():
            values = known.get(path, set()) if isinstance(path := model_path(result), str) else set()
            if result.model.get(key) in (None, "") and len(values) == 1:
                results[name] = replace(result, model={**result.model, key: next(iter(values))})
    return results


def is_leaderboard(path: Path) -> bool:
    """A results.json that `asr leaderboard` wrote (RESULTS.md beside it, no decode's hyp.jsonl)."""
    return (path.parent / "RESULTS.md").is_file() and not (path.parent / "hyp.jsonl").exists()


def _checked(run: Run) -> Run:
    """Checks the fields that the tables, page, plots and exports read, so that a damaged or foreign file is one
    line naming it before anything is written."""
    r = run.result
    try:
        run.system  # noqa: B018
        run.settings  # noqa: B018
        for key in ("am_seconds", "decode_seconds"):
            float(r.timing[key])
        if r.tuning:
            metric = r.tuning.get("metric", "wer")  # what the sweep plot draws (decodes before it: WER)
            if metric not in ("wer", "cer"):
                raise ValueError(f"tuning metric {metric!r}")
            read = {"alpha", "dev_wer", f"dev_{metric}"}
            for point in r.tuning["points"]:
                for key in (*read, "beta"):
                    float(point[key])
            for key in read:
                float(r.tuning["best"][key])
            if not isinstance(r.tuning["dev_manifest"], str):
                raise TypeError(f"tuning dev_manifest {r.tuning['dev_manifest']!r}")
        for point in r.train_info.get("dev_curve") or []:
            float(point[0]), float(point[2])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:  # AttributeError: a list for a map
        raise InputError(f"{run.path}: not a results.json written by 'asr decode' ({err!r})") from None
    try:  # score/score.json's own fields: a damaged one was blamed on results.json
        for level in ("word", "char"):  # char: a test set written without spaces is tested on CER
            for counts in run.utterance_counts(level).values():
                if len(counts) != 4 or not all(isinstance(n, int) and not isinstance(n, bool) for n in counts):
                    raise ValueError(f"{level} counts {counts}, not C S D I")
        for levels in run.score_report["speakers"].values():
            int(levels["word"]["N"]), int(levels["char"]["N"])  # the page's per-speaker table is on the set's metric
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise InputError(
            f"{run.folder / 'score' / 'score.json'}: not a score.json written by 'asr score' ({err!r})"
        ) from None
    if r.scoring not in COMPAT:
        raise InputError(f"{run.path}: scoring {r.scoring!r} is none of {', '.join(COMPAT)}")
    try:
        get_normalizer(r.normalizer)
    except InputError as err:
        raise InputError(f"{run.path}: {err}") from None
    ids = [row["id"] for row in run.hypotheses]
    if len(set(ids)) < len(ids):
        raise InputError(f"{run.folder / 'hyp.jsonl'}: an utterance id more than once")
    if set(ids) != set(run.score_report["utterances"]):
        raise InputError(f"{run.folder / 'score/score.json'}: counts other utterances than hyp.jsonl beside it")
    _check_score_matches(run)
    return run


def _check_score_matches(run: Run) -> None:
    """score/score.json (intervals, paired tests, speakers) scored as results.json says (the table's WER): one
    scored again by hand with other settings gave intervals that missed their own row's WER."""
    report, r, path = run.score_report, run.result, run.folder / "score" / "score.json"
    if (report.get("normalizer"), report.get("compat")) != (r.normalizer, r.scoring):
        raise InputError(
            f"{path}: scored with normaliser {report.get('normalizer')}, scoring {report.get('compat')}; "
            f"results.json beside it says {r.normalizer}, {r.scoring}: decode again (or score with asr score "
            f"--normalize {r.normalizer} --compat {r.scoring})"
        )
    counts = [sum(column) for column in zip(*run.utterance_counts().values(), strict=True)] or [0, 0, 0, 0]
    c, s, d, i = counts
    if c + s + d and abs((s + d + i) / (c + s + d) - r.wer) > 1e-9:
        raise InputError(f"{path}: its word counts give WER {(s + d + i) / (c + s + d):.4%}, results.json beside it "
                         f"{r.wer:.4%}: decode again")  # fmt: skip


def name_variants(runs: list[Run]) -> list[Run]:
    """Where systems of other settings share a label (two LM folders named ``lm``, a bf16 and an fp32 decode),
    each one's label names the settings in which they differ; runs of one system are never merged with
    another's, and no two rows read the same."""
    groups: dict[tuple, dict[tuple, dict]] = {}
    for run in runs:
        label = tuple(run.system.values())
        groups.setdefault(label, {})[run.settings_key] = run.settings
    variants: dict[tuple, str] = {}
    for label, systems in groups.items():
        if len(systems) > 1:
            every = dict.fromkeys(k for settings in systems.values() for k in settings)
            keys = [k for k in every if len({s.get(k) for s in systems.values()}) > 1]
            for key, settings in systems.items():
                variants[label, key] = ", ".join(f"{k}={settings.get(k)}" for k in keys)
    return [replace(r, variant=variants.get((tuple(r.system.values()), r.settings_key), "")) for r in runs]


def name_columns(runs: list[Run]) -> list[Run]:
    """Each run's column: the test set's name, or where several sets of utterances share a name (es/test with
    2 utterances and with 1), the name with the size and content id of each, so they are never mixed: again
    where that made a name another set's (R80: a set named ``es/test [2 utt 8b3e1801]`` joined that column)."""
    out = [replace(run, column=run.result.test_set["name"]) for run in runs]
    while clashes := _columns_of_several_sets(out):
        out = [replace(r, column=f"{r.column} [{len(r.hypotheses)} utt {r.content_id}]") if r.column in clashes else r
               for r in out]  # fmt: skip
    return out


def _columns_of_several_sets(runs: list[Run]) -> set[str]:
    contents: dict[str, set[str]] = {}
    for run in runs:
        contents.setdefault(run.column, set()).add(run.content_id)
    return {column for column, ids in contents.items() if len(ids) > 1}
