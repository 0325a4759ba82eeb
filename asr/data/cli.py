"""`asr data prepare|check|synth|asterisk|merge|subset`: manifests from corpora, and manifest checks."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

from asr.errors import InputError, run_reporting_errors, writable_dir
from asr.folders import output_folder, write_report
from asr.options import ArgumentParser, file_path, folder_path, normalizer_name
from asr.text import NORMALIZERS, Normalizer, default_normalizer, get_normalizer, manifest_normalizer


def _normalizer(spec: str | None, lang: str) -> Normalizer:
    """`spec`'s normaliser, else the language's; `lang` must be a language code ("english" took lower-nopunct
    without a word), and a language without a normaliser of its own is said to take lower-nopunct."""
    if not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*", lang):
        raise InputError(f"--lang {lang!r}: expected a language code (en, fi, pt-BR, ...)")
    if spec:
        return get_normalizer(spec)
    normalizer = default_normalizer(lang)
    if normalizer.id.startswith("lower-nopunct"):
        print(f"note: --lang {lang} has no normaliser of its own: {normalizer.id} (--normalize names another)",
              file=sys.stderr)  # fmt: skip
    return normalizer


def _not_an_input(out: Path, inputs: list[Path], option: str) -> None:
    """Refuses an output file that is one of the inputs (a subset written over its manifest lost the rest)."""
    if any(out.resolve() == path.resolve() for path in inputs):
        raise InputError(f"{option} {out}: that is an input manifest; write elsewhere")


def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="turn a corpus into checked manifests OUT/<split>.jsonl + summary.json")
    p.add_argument(
        "--source", required=True, help="hf:NAME[:CONFIG], commonvoice:DIR, audiofolder:DIR, kaldi:DIR or jsonl:FILE"
    )
    p.add_argument("--lang", required=True, help="language code (en, fi, de, hi, ...)")
    p.add_argument("--out", required=True, type=folder_path, help="output folder")
    p.add_argument(
        "--splits",
        help="splits of a hf or commonvoice source, comma-separated (default: those of train, validation "
        "and test that the dataset has; named ones must be there)",
    )
    p.add_argument("--split", help="the split of a one-split source (default: from its name, else train)")
    p.add_argument("--audio-column", help="of a hf source (default: audio)")
    p.add_argument("--text-column", help="default: the first of sentence, text, transcription, transcript, ...")
    p.add_argument("--speaker-column", help="default: the first of speaker, speaker_id, client_id, spk_id")
    p.add_argument("--id-column", help="default: id, else the audio file's name")
    p.add_argument(
        "--normalize",
        type=normalizer_name,
        help=f"normaliser for the checks (default: the language's; {', '.join(NORMALIZERS)})",
    )


def _add_check(sub) -> None:
    p = sub.add_parser("check", help="check a manifest: exit 0 if every utterance is usable, 1 if not, 2 if unreadable")
    p.add_argument("manifest", type=file_path)
    p.add_argument(
        "--normalize", type=normalizer_name, help="normaliser for the transcripts (default: the manifest language's)"
    )
    p.add_argument("--json", type=file_path, help="write every problem and conversion note here ('-': standard output)")


def _add_synth(sub) -> None:
    from asr.data.synth.texts import MAX_AUDIO_SHARE

    p = sub.add_parser("synth", help="build the synthetic corpus: OUT/<lang>/{train,dev,test}.jsonl")
    p.add_argument("--langs", default="en,fi,de,hi", help="comma-separated: en, de, es, fi, hi, it, ru")
    p.add_argument("--hours", type=float, default=0.5,
                   help="about this many hours of audio per language (all splits): planned from the sentences' "
                   "text length; the table and summary.json give the hours made")  # fmt: skip
    p.add_argument(
        "--out", required=True, type=folder_path, help="the corpus folder: OUT/<lang>/{train,dev,test}.jsonl"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="of the sentences' order, the voices' and the augmentation's draws"
    )
    p.add_argument("--speed-factors", default="0.9,1.0,1.1", help="speed perturbation factors, one drawn each")
    p.add_argument("--reverb-prob", type=float, default=0.3, help="share with a room response")
    p.add_argument("--reverb-drr", default="-6,12", help="direct-to-reverberant ratio range 'LOW,HIGH' in dB of the "
                   "room responses, or 'first': the first corpora's (a tail as loud as the direct sound)")  # fmt: skip
    p.add_argument("--noise-prob", type=float, default=0.5, help="share with added noise")
    p.add_argument("--engines", default="espeak-ng", help="espeak-ng, or espeak-ng,festival: half the speakers "
                   "from Festival's voices of real speakers where the language has some (en fi hi it ru)")  # fmt: skip
    p.add_argument("--noise-colours", default="white,brown", help="of white, pink, brown, blue, violet")
    p.add_argument("--telephone-prob", type=float, default=0.0, help="share sent through an 8 kHz telephone codec")
    p.add_argument("--codec-prob", type=float, default=0.0, help="share through a wideband codec (mp3, vorbis, opus) "
                   "of the utterances not sent through the telephone channel")  # fmt: skip
    p.add_argument("--level-dbfs", help="loudness range 'LOW,HIGH' in dBFS RMS (e.g. -35,-15; -70 to 0); the "
                   "peak limit (0.95 of full scale) lowers what peaks cannot reach; default: as made")  # fmt: skip
    p.add_argument("--sentence-pool", choices=("main", "reserve"), default="main",
                   help="main: the seed's sentence order from its start, as recipes voice it; reserve: its last "
                   f"{(1 - MAX_AUDIO_SHARE) * 100:.0f}%%, which no main corpus of the seed voices, for pretraining "
                   "data that must stay out of every recipe's dev and test sentences")  # fmt: skip
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="synthesis processes (default: CPU cores)")


def _add_asterisk(sub) -> None:
    p = sub.add_parser("asterisk", help="real recorded telephone prompts (Debian asterisk-core-sounds-*)")
    p.add_argument("--lang", required=True, help="en, es, fr, it or ru")
    p.add_argument("--out", required=True, type=folder_path,
                   help="the corpus folder: OUT/{train,dev,test}.jsonl, skipped.jsonl, summary.json")  # fmt: skip


def run_synth(args: argparse.Namespace) -> int:
    from asr.data.synth.augment import NOISE_SLOPES, Augmentation
    from asr.data.synth.corpus import check_folder, corpus_settings, plan, synth_language
    from asr.data.synth.texts import LANGUAGES
    from asr.data.synth.voices import ENGINES

    if args.workers < 1:
        raise InputError(f"--workers {args.workers}: expected at least 1")
    if not math.isfinite(args.hours):  # inf was written to synth_settings.json as Infinity, not JSON
        raise InputError(f"--hours {args.hours}: expected a finite number of hours")
    langs = _listed(args.langs, "--langs", LANGUAGES)  # every language checked before any is made
    engines = tuple(_listed(args.engines, "--engines", ENGINES))
    if engines[:1] != ("espeak-ng",):
        raise InputError(f"--engines {args.engines!r}: espeak-ng first (Festival adds voices to it)")
    for name in ("telephone_prob", "codec_prob", "noise_prob", "reverb_prob"):
        if not 0 <= getattr(args, name) <= 1:
            raise InputError(f"--{name.replace('_', '-')} {getattr(args, name)}: expected a share from 0 to 1")
    settings = Augmentation(
        speed_factors=_speed_factors(args.speed_factors),
        reverb_prob=args.reverb_prob,
        reverb_drr_db=None
        if args.reverb_drr == "first"
        else _range(args.reverb_drr, "--reverb-drr", DRR_EXAMPLE, DRRS),
        noise_prob=args.noise_prob,
        noise_colours=tuple(_listed(args.noise_colours, "--noise-colours", tuple(NOISE_SLOPES))),
        telephone_prob=args.telephone_prob,
        codec_prob=args.codec_prob,
        level_dbfs=None if args.level_dbfs is None else _range(args.level_dbfs, "--level-dbfs", "-35,-15", LEVELS),
    )
    # every language's plan before any is built: a setting one cannot take left the others half made
    plans = {lang: plan(lang, args.hours, args.seed, args.out / lang, engines, args.sentence_pool) for lang in langs}
    recorded = corpus_settings(args.hours, args.seed, settings, engines, args.sentence_pool)
    with output_folder(args.out, "--out"):  # two runs raced for the part files
        for lang in langs:  # and every language's folder: one made with other settings stopped the run midway
            check_folder(args.out / lang, recorded)
        for lang in langs:
            summary = synth_language(
                lang, args.hours, args.out, args.seed, settings, args.workers, engines, args.sentence_pool, plans[lang]
            )
            _print_synth_summary(lang, args.hours, summary)
    print(f"corpus in {args.out}")
    return 0


def _listed(text: str, option: str, known: tuple[str, ...]) -> list[str]:
    """Comma-separated names, each one of `known`, in the order given (no repeats)."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(f"{option} {text!r}: expected some of {', '.join(known)}")
    return names


def _speed_factors(text: str) -> tuple[float, ...]:
    from asr.data.audio import SPEED_RANGE

    try:
        factors = tuple(float(f) for f in text.split(","))
    except ValueError:
        factors = ()
    low, high = SPEED_RANGE
    if not factors or not all(low <= f <= high for f in factors):
        raise InputError(f"--speed-factors {text!r}: expected numbers from {low:g} to {high:g} such as 0.9,1.0,1.1")
    return factors


DRR_EXAMPLE = "-6,12 (dB) or 'first'"
# the loudness a level range may ask for: below -70 dBFS RMS 16-bit audio keeps little of the speech
LEVELS = (-70.0, 0.0)
# direct-to-reverberant ratios: -40 dB is reverberation alone (the first corpora's -28 to -22 dB included), 60 dB
# the dry speech (far below -3,000 dB the room response's scale overflowed)
DRRS = (-40.0, 60.0)


def _range(text: str, option: str, example: str, bounds: tuple[float, float] = (-math.inf, math.inf)
           ) -> tuple[float, float]:  # fmt: skip
    """'LOW,HIGH': two finite numbers in order, within `bounds`."""
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{option} {text!r}: expected LOW,HIGH such as {example}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise InputError(f"{option} {text!r}: expected LOW,HIGH, two numbers with LOW at most HIGH, e.g. {example}")
    if low < bounds[0] or high > bounds[1]:
        raise InputError(f"{option} {text!r}: expected values from {bounds[0]:g} to {bounds[1]:g}")
    return low, high


def _print_synth_summary(lang: str, hours: float, summary: dict) -> None:
    from asr.data.prepare import summary_table
    from asr.data.synth.corpus import MAX_AUDIO_SHARE

    repeats = ", ".join(f"{where} {n}" for where, n in summary["repeats_left_out"].items())
    art = ", ".join(f"{where} {n}" for where, n in summary["letter_art_left_out"].items())
    print(f"{lang}: {summary['sentences_with_audio']} sentences with audio, {summary['lm_sentences']} for the LM"
          + (f"; left out, repeating a voiced sentence: {repeats}" if repeats else "")
          + (f"; left out, letter art or stretched words: {art}" if art else ""))  # fmt: skip
    print(summary_table(summary))
    if summary["hours_capped_at"] is not None:
        print(f"{lang}: --hours {hours:g} is more than the {MAX_AUDIO_SHARE:.0%} of its sentences that get audio: "
              f"{summary['hours_capped_at']:g} h of text planned")  # fmt: skip


def run_asterisk(args: argparse.Namespace) -> int:
    from asr.data.asterisk import build
    from asr.data.prepare import summary_table

    with output_folder(args.out, "--out"):
        summary = build(args.lang, args.out)
    print(f"skipped transcript entries: {summary['entries_skipped']} (listed in {args.out / 'skipped.jsonl'})")
    print(summary_table(summary))
    print(f"recordings by {summary['credit']}; manifests in {args.out}")
    return 0


def _add_merge(sub) -> None:
    p = sub.add_parser("merge", help="merge manifests (several languages, say) into one, audio paths kept valid")
    p.add_argument("manifests", nargs="+", type=file_path)
    p.add_argument("--out", required=True, type=file_path, help="the merged manifest")


def run_merge(args: argparse.Namespace) -> int:
    from asr.data.manifest import merge_manifests, write_manifest

    _not_an_input(args.out, args.manifests, "--out")
    merged = merge_manifests(args.manifests)
    write_manifest(args.out, merged)
    print(f"{len(merged)} utterances from {len(args.manifests)} manifests written to {args.out}")
    return 0


def _add_subset(sub) -> None:
    p = sub.add_parser(
        "subset",
        help="a random subset of a manifest with a given number of hours (labeled subsets): utterances in the "
        "seed's order until the hours are reached (so up to one utterance over; a smaller subset of a seed lies "
        "inside a larger one); audio paths written absolute",
    )
    p.add_argument("manifest", type=file_path)
    p.add_argument("--hours", type=float, required=True, help="audio hours to keep (e.g. 0.1667 for 10 minutes)")
    p.add_argument("--seed", type=int, default=0, help="of the utterances' order")
    p.add_argument("--out", required=True, type=file_path, help="the subset manifest")


def run_subset(args: argparse.Namespace) -> int:
    from asr.data.manifest import subset_hours, write_manifest

    _not_an_input(args.out, [args.manifest], "--out")
    kept, total = subset_hours(args.manifest, args.hours, args.seed)
    write_manifest(args.out, kept)
    hours = sum(u.duration for u in kept) / 3600
    print(f"{len(kept)} utterances ({hours:.3f} h of {total / 3600:.3f} h) -> {args.out}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from asr.data.prepare import prepare, summary_table
    from asr.data.sources import SourceOptions

    options = SourceOptions(
        splits=tuple(s for s in args.splits.split(",") if s) if args.splits is not None else None,
        split=args.split,
        audio_column=args.audio_column,
        text_column=args.text_column,
        speaker_column=args.speaker_column,
        id_column=args.id_column,
    )
    with output_folder(args.out, "--out"):
        summary = prepare(args.source, args.lang, args.out, options, _normalizer(args.normalize, args.lang))
    print(summary_table(summary))
    print(f"manifests and summary.json in {args.out}")
    return 0


LISTED = 20  # unusable utterances `asr data check` prints, one a line, before its summary


def run_check(args: argparse.Namespace) -> int:
    from asr.data.check import check_utterances
    from asr.data.manifest import read_manifest

    utts = read_manifest(args.manifest, durations=False)
    if not utts:
        raise InputError(f"{args.manifest}: no utterances")
    to_stdout = str(args.json) == "-"  # the report there, the listing on stderr (as asr score's --json -)
    if args.json and not to_stdout:  # checked before the audio is read: the check's work would be lost at the end
        if args.json.is_dir():
            raise InputError(f"--json {args.json}: a folder; give the report's file name")
        _not_an_input(args.json, [args.manifest], "--json")
        writable_dir(args.json.parent, "--json")
    normalize, _ = manifest_normalizer([u.lang for u in utts], args.normalize, str(args.manifest))
    base = args.manifest.parent if args.manifest.is_file() else Path()  # a pipe's (R76: /dev/fd/a.wav) is here
    result = check_utterances(utts, base, normalize, stated_durations=True)
    listing = sys.stderr if to_stdout else sys.stdout
    for utt, reason, detail in result.rejected[:LISTED]:
        print(f"{utt.id}: {reason}" + (f" ({detail})" if detail else ""), file=listing)
    if len(result.rejected) > LISTED:  # 1,250 lines at 100k utterances put the summary out of sight
        where = f"listed in {args.json}" if args.json else "--json FILE lists them all"
        where = "listed in the JSON report" if to_stdout else where
        print(f"... and {len(result.rejected) - LISTED} more unusable ({where})", file=listing)
    print(f"{len(result.usable)} of {len(utts)} utterances usable ({result.summary()['hours']:.3f} h)", file=listing)
    for name, count in result.reason_counts().items():
        print(f"  unusable, {name}: {count}", file=listing)
    for name, count in result.note_counts().items():
        print(f"  {name} on loading: {count}", file=listing)
    if warning := result.tag_warning(normalize, str(args.manifest)):
        print(warning, file=sys.stderr)
    if args.json:
        report = result.summary() | {
            "rejected": result.rejected_records(),
            "notes": [{"id": i, "note": n} for i, n in result.notes],
        }
        text = json.dumps(report, ensure_ascii=False, indent=1) + "\n"
        if to_stdout:
            sys.stdout.write(text)
        else:
            write_report(args.json, text)
    return 1 if result.rejected else 0


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_prepare(sub)
    _add_check(sub)
    _add_synth(sub)
    _add_asterisk(sub)
    _add_merge(sub)
    _add_subset(sub)
    return parser


_RUN = {
    "prepare": run_prepare,
    "check": run_check,
    "synth": run_synth,
    "asterisk": run_asterisk,
    "merge": run_merge,
    "subset": run_subset,
}


def main(argv: list[str] | None = None, prog: str = "asr data") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_reporting_errors(f"{prog} {args.action}", lambda: _RUN[args.action](args))


if __name__ == "__main__":
    sys.exit(main())
