"""`asr score REF [HYP]`: WER/CER of hypotheses against references, with sclite-style reports.

Reads two transcript files (Kaldi text, TSV, sclite trn or JSONL; see `asr.scoring.transcripts`), or one
JSONL file whose lines carry both ``ref`` and ``hyp``; prints a summary table per level; writes the JSON
report (``--json``) and sclite-style reports (``--report-dir``). Imports nothing heavy: it starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from asr.data.manifest import same_stream, text_lines
from asr.errors import InputError, run_reporting_errors
from asr.folders import write_report
from asr.options import ArgumentParser, file_name, file_path, folder_path, normalizer_name
from asr.scoring.align import COMPAT, LEVELS, Level
from asr.scoring.corpus import CorpusScore, pair_transcripts, score_corpus
from asr.scoring.report import closing_line, report_files, report_json, summary_text, write_report_dir
from asr.scoring.transcripts import FORMATS, detect_format, read_speakers, read_transcripts
from asr.text import NORMALIZERS, get_normalizer, written_without_spaces

_MAX_LISTED = 10


def build_parser(prog: str = "asr score") -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", metavar="REF", type=file_path, help="reference transcripts")
    parser.add_argument(
        "hyp", metavar="HYP", type=file_path, nargs="?",
        help="hypothesis transcripts ('-': standard input; omit when REF is a JSONL file with 'ref' and 'hyp' "
        "fields)",
    )  # fmt: skip
    parser.add_argument("--format", choices=FORMATS, help="format of both files (default: detected per file)")
    parser.add_argument(
        "--compat", choices=COMPAT, default="sclite",
        help="cost model: sclite (sub 4, del/ins 3, sclite's tie-breaking; default) or jiwer (unit costs)",
    )  # fmt: skip
    parser.add_argument("--level", default="word,char", help="comma-separated levels: word, char (default: both)")
    parser.add_argument(
        "--normalize", metavar="NAME", type=normalizer_name,
        help=f"text normaliser applied to both sides: {', '.join(NORMALIZERS)} (default: none; for an asr decode's "
        "hyp.jsonl, the decode's, from the results.json beside it)",
    )  # fmt: skip
    parser.add_argument(
        "--speaker-sep", default="-_", metavar="CHARS",
        help="speaker = id prefix before the first of these characters found, tried in order (default: '-_', "
        "as sclite -i rm), where the reference's JSONL line names no speaker",
    )  # fmt: skip
    parser.add_argument(
        "--json", type=file_name, metavar="PATH", help="write the JSON report here ('-': standard output)"
    )
    parser.add_argument(
        "--report-dir", type=folder_path, metavar="DIR", help="write .sys/.pra/.dtl reports and score.json"
    )
    return parser


def _levels(spec: str) -> tuple[Level, ...]:
    levels = tuple(part.strip() for part in spec.split(",") if part.strip())
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown or not levels:
        raise InputError(f"--level {spec!r}: expected a comma-separated list of {', '.join(LEVELS)}")
    return tuple(dict.fromkeys(levels))  # type: ignore[arg-type]


def _listing(ids: list[str]) -> str:
    shown = ", ".join(ids[:_MAX_LISTED])
    return shown + (f", ... ({len(ids) - _MAX_LISTED} more)" if len(ids) > _MAX_LISTED else "")


def _write_outputs(args: argparse.Namespace, score: CorpusScore, report: dict, stream: TextIO) -> None:
    if args.json:
        text = report_json(report)
        if args.json == "-":
            sys.stdout.write(text)
        else:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            write_report(Path(args.json), text)
    if args.report_dir:
        written = write_report_dir(score, args.report_dir, report)
        print(f"\nreports: {', '.join(str(p) for p in written)}", file=stream)


def _decodes(ref: Path, hyp: Path, normalize_given: bool) -> dict[Path, dict]:
    """The results.json of each `asr decode` whose hyp.jsonl REF or HYP is (`_decode_results`), by that file;
    `InputError` where two decodes were scored with two normalisers. With a normaliser given, one that cannot
    be read is passed over (its utterance count is then not compared either)."""
    found = {}
    for path in dict.fromkeys((ref, hyp)):
        try:
            if results := _decode_results(path):
                found[path] = results
        except InputError:
            if not normalize_given:
                raise
    if not normalize_given and len({results["normalizer"] for results in found.values()}) > 1:
        named = " and ".join(f"{path} ({results['normalizer']})" for path, results in found.items())
        raise InputError(f"{named}: decodes scored with two normalisers; give --normalize")
    return found


def _decode_results(path: Path) -> dict | None:
    """The results.json beside an `asr decode`'s hyp.jsonl, with the normaliser it scored the hypotheses with
    (its raw references against the model's output); None for any other file. `InputError` where it cannot be
    known: a decode's hypotheses beside no results.json (a decode stopped or failed while writing) or an
    unreadable one (scored with none, silently: WER 79% against the decode's 75%)."""
    if _piped(path):  # standard input or another pipe: a decode's lines, with no results.json beside them
        if _decoded(path):
            where = "standard input holds" if str(path) == "-" else f"{path}: a pipe holding"
            raise InputError(f"{where} an asr decode's hyp.jsonl, whose normaliser is in the results.json beside "
                             "it; give the file's path, or --normalize")  # fmt: skip
        return None
    if not _decoded(path):  # a file of one's own (beside another tool's results.json, perhaps)
        return None
    results_path = _results_path(path)
    if not results_path.exists():
        raise InputError(f"{path}: an asr decode's hypotheses (its lines have a decode's fields) with no "
                         "results.json beside them (moved away from it, or a decode that did not finish): their "
                         "normaliser is unknown; give --normalize (the decode's is in its results.json), or decode "
                         "again")  # fmt: skip
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
        spec = results["normalizer"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{results_path}: no normaliser readable ({type(err).__name__}) for the decode's "
                         f"hypotheses beside it; give --normalize, or decode again") from None  # fmt: skip
    if not isinstance(spec, str):
        raise InputError(f"{results_path}: its normalizer is {spec!r}, not a name; give --normalize, or decode again")
    return results


def _results_path(path: Path) -> Path:
    """The results.json of the decode whose hyp.jsonl `path` is: known by its lines, not its name (a renamed copy
    was scored with none), and beside a link's target (R76)."""
    return path.resolve().parent / "results.json"


def _check_whole(path: Path, results: dict, read: int) -> None:
    """Refuses a decode's hyp.jsonl holding other than the utterances its results.json counts (R70: one cut
    short by a copy was scored on what was left, WER 81% against the decode's 75%, exit 0)."""
    test_set = results.get("test_set")
    decoded = test_set.get("utterances") if isinstance(test_set, dict) else None
    if isinstance(decoded, int) and decoded != read:
        raise InputError(f"{path}: {read} utterances, the decode beside it ({_results_path(path)}) wrote "
                         f"{decoded} (cut short by a copy?); decode again, or to score what is left, copy it "
                         "out of the decode's folder and give --normalize")  # fmt: skip


def _piped(path: Path) -> bool:
    """Whether `path` is standard input or another pipe (``<(...)``, /dev/stdin, a FIFO): read once, and with
    no results.json beside it."""
    return str(path) == "-" or (path.exists() and not path.is_file())


def _decoded(path: Path) -> bool:
    """Whether the JSONL file `path` is an asr decode's hyp.jsonl: its first line that is not blank has a
    decode's fields, read as the scoring reads it (a BOM dropped: with it, or after a blank line, the decode's
    normaliser went unused and the WER was that of `none`)."""
    try:
        first = json.loads(_first_line(path) or "null")
    except (InputError, OSError, ValueError):  # unreadable, not UTF-8 or not JSON: the scoring's own reading says so
        return False
    return isinstance(first, dict) and {"ref", "hyp", "am_seconds"} <= first.keys()  # every version's decodes


def _first_line(path: Path) -> str:
    """The first line of `path` that is not blank, split and stripped of a BOM as `text_lines` reads it, without
    reading a whole file that the scoring reads next (standard input and other pipes are read once for every
    caller)."""
    if _piped(path):
        lines = text_lines(path)
        return lines[0][1] if lines else ""
    with open(path, encoding="utf-8-sig") as f:  # universal newlines: \n, \r\n and a lone \r, as text_lines
        return next((line for line in f if line.strip()), "")


def run(args: argparse.Namespace) -> int:
    """Scores, prints and writes the reports for parsed arguments."""
    levels = _levels(args.level)
    if str(args.ref) == str(args.hyp) == "-" or (args.hyp and same_stream(args.ref, args.hyp)):  # read once
        raise InputError("REF and HYP cannot both be standard input ('-') or one pipe; give one of them as a file")
    hyp_path = args.hyp or args.ref
    # read with --normalize too: a copy cut short was scored on what was left with any normaliser (R72)
    decodes = _decodes(args.ref, hyp_path, normalize_given=args.normalize is not None)
    decoded = next(iter(decodes.items()), None) if args.normalize is None else None
    normalizer = get_normalizer(decoded[1]["normalizer"] if decoded else args.normalize or "none")
    if decoded:  # the decode's WER, not the raw references' (48% against 35% on a Hindi decode)
        print(
            f"normalised with {decoded[1]['normalizer']}, as the decode beside {decoded[0]} scored it "
            "(results.json); --normalize none scores the raw texts",
            file=sys.stderr,
        )
    if args.hyp is None and (args.format or detect_format(args.ref)) != "jsonl":
        raise InputError(f"{args.ref}: HYP is missing (only a JSONL file can hold both 'ref' and 'hyp')")
    inputs = {Path(p).resolve() for p in (args.ref, hyp_path)}
    if args.json not in (None, "-") and Path(args.json).resolve() in inputs:  # it was written over, exit 0
        raise InputError(f"--json {args.json} is an input of this score; write the report elsewhere")
    if args.report_dir and (clash := [p for p in report_files(args.report_dir, parts=True) if p.resolve() in inputs]):
        raise InputError(f"--report-dir {args.report_dir} would write over {clash[0]}, an input of this score; write "
                         "the reports elsewhere")  # fmt: skip
    refs = read_transcripts(args.ref, "ref", args.format)
    hyps = read_transcripts(hyp_path, "hyp", args.format)
    if not refs:
        raise InputError(f"{args.ref}: no utterances")
    for path, results in decodes.items():
        _check_whole(path, results, len(refs if path == args.ref else hyps))
    refs = {utt_id: normalizer(text) for utt_id, text in refs.items()}
    hyps = {utt_id: normalizer(text) for utt_id, text in hyps.items()}
    try:
        triples, missing = pair_transcripts(refs, hyps, str(hyp_path))
    except InputError as err:  # ids that do not meet are often a format guessed wrong (a Kaldi line ending in "(x)")
        if args.format:
            raise
        formats = f"{detect_format(args.ref)} and {detect_format(hyp_path)}"
        raise InputError(f"{err} (the files were read as {formats}; --format names the format of both)") from None
    ref_format = args.format or detect_format(args.ref)
    speakers = read_speakers(args.ref) if ref_format == "jsonl" else None
    score = score_corpus(triples, levels, args.compat, normalizer.id, args.speaker_sep, missing, speakers)
    report = score.to_json() | {"ref": str(args.ref), "hyp": str(hyp_path)}

    summary_stream = sys.stderr if args.json == "-" else sys.stdout
    if missing:
        print(
            f"warning: {len(missing)} reference utterance(s) have no hypothesis in {hyp_path} and are scored "
            f"as empty: {_listing(missing)}",
            file=sys.stderr,
        )
    print(summary_text(score), file=summary_stream)
    if "word" in levels and written_without_spaces(refs.values()):
        print("note: the references are written without spaces between words (Chinese, Japanese, Thai...): a "
              "'word' is a phrase there, and CER is the score to report", file=sys.stderr)  # fmt: skip
    try:
        _write_outputs(args, score, report, summary_stream)
    except OSError as err:
        raise InputError(f"{err.filename or args.json or args.report_dir}: cannot write: {err.strerror}") from None
    print(closing_line(score), file=summary_stream)
    return 0


def main(argv: list[str] | None = None, prog: str = "asr score") -> int:
    """Entry point of `asr score`; returns the exit status (2 for bad input)."""
    args = build_parser(prog).parse_args(argv)
    return run_reporting_errors(prog, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
