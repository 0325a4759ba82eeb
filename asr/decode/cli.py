"""`asr decode --model DIR --manifest M [M ...] --decoder greedy|beam|beam_lm --out DIR`: transcribe and score.

With several manifests each one's results go to OUT/<manifest stem>/, and ``--tune alpha,beta --tune-on dev``
tunes the LM weights on one of them and reuses them on the others (the recipes' protocol). ``--rescore DIR``
rescores the beam's n-best lists with a Transformer LM from `asr lm train` (``--tune alpha,beta,gamma``). Runs under
`accelerate launch` too: the network's work is split over the processes and the hypotheses are gathered and
written once, in manifest order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.decode.decoders import BACKENDS, DECODERS, BeamSettings
from asr.decode.rescore import DEFAULT_DEPTH, DEFAULT_GAMMA
from asr.decode.tune import ALPHA_GRID, BETA_GRID, GAMMA_GRID, WEIGHTS, parse_grid
from asr.errors import InputError, run_reporting_errors, writable_dir
from asr.inference import ZERO_BATCH_SECONDS_HELP
from asr.options import ArgumentParser, file_path, folder_path, language_code, model_name, normalizer_name
from asr.scoring.report import percent

DEFAULT_CACHE = Path("~/.cache/asr-toolkit/logits")  # in the home folder, found when a decode needs it


def build_parser(prog: str) -> argparse.ArgumentParser:
    d = BeamSettings()
    p = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", required=True, type=model_name, help="a CTC model folder (with its processor) or a hub id"
    )
    p.add_argument(
        "--manifest",
        required=True,
        type=file_path,
        nargs="+",
        action="extend",
        help="the split(s) to transcribe (JSONL)",
    )
    p.add_argument(
        "--out",
        required=True,
        type=folder_path,
        help="folder for hyp.jsonl, results.json, score/ (OUT/<manifest stem>/ for several manifests)",
    )
    p.add_argument(
        "--adapter",
        type=language_code,
        help="load this language's adapter of an MMS-style model (adapter.LANG.safetensors)",
    )
    p.add_argument("--decoder", choices=DECODERS, default="greedy", help="greedy CTC, beam search, or beam search "
                   "with the --lm n-gram")  # fmt: skip
    p.add_argument("--lm", type=folder_path, help="an LM folder from 'asr lm build' (for beam_lm)")
    p.add_argument("--alpha", type=float, default=d.alpha, help=f"LM weight (default {d.alpha})")
    p.add_argument("--beta", type=float, default=d.beta, help=f"word insertion bonus (default {d.beta})")
    p.add_argument("--beam-width", type=int, default=d.beam_width, help="hypotheses kept at each frame")
    p.add_argument("--beam-prune-logp", type=float, default=d.beam_prune_logp,
                   help="drop hypotheses this far (log-probability) below the best")  # fmt: skip
    p.add_argument("--token-min-logp", type=float, default=d.token_min_logp,
                   help="tokens below this log-probability in a frame are not tried")  # fmt: skip
    p.add_argument("--nbest", type=int, help=f"keep (and rescore) this many hypotheses per utterance, written to "
                   f"nbest.jsonl (default 1; {DEFAULT_DEPTH} with --rescore)")  # fmt: skip
    p.add_argument(
        "--rescore", type=folder_path, help="rescore the n-best lists with this Transformer LM ('asr lm train')"
    )
    p.add_argument("--gamma", type=float, default=DEFAULT_GAMMA,
                   help=f"the Transformer LM's weight in rescoring (default {DEFAULT_GAMMA})")  # fmt: skip
    p.add_argument("--hotwords", default="", help="comma-separated words to favour")
    p.add_argument("--hotword-weight", type=float, default=d.hotword_weight, help="score bonus of a --hotwords word")
    p.add_argument("--backend", choices=BACKENDS, default="ctcbeam", help="beam search implementation")
    p.add_argument("--workers", type=int, default=0, help="beam search threads/processes (default: CPU cores)")
    p.add_argument("--tune", default="", help="'alpha,beta' (',gamma' with --rescore; or some of them): search "
                   "them on the --tune-on or --dev manifest first")  # fmt: skip
    p.add_argument("--tune-on", help="tune on this one of the --manifest files (its name, e.g. dev); the others reuse")
    p.add_argument("--dev", type=file_path, help="a manifest to tune on that is not decoded itself")
    p.add_argument("--tuned-from", type=file_path,
                   help="reuse the alpha, beta and gamma an earlier decode tuned (its results.json)")  # fmt: skip
    p.add_argument("--tune-metric", choices=("auto", "wer", "cer"), default="auto",
                   help="the dev score --tune lowers, the other breaking ties; auto: cer for a language written "
                   "without spaces between words (zh ja th lo km my yue wuu bo), by the model's language or else "
                   "the dev manifest's, wer otherwise")  # fmt: skip
    p.add_argument("--alpha-grid", default=",".join(map(str, ALPHA_GRID)), help="alpha values --tune tries")
    p.add_argument("--beta-grid", default=",".join(map(str, BETA_GRID)), help="beta values --tune tries")
    p.add_argument("--gamma-grid", default=",".join(map(str, GAMMA_GRID)), help="gamma values --tune tries")
    p.add_argument("--batch-seconds", type=float, default=0.0,
                   help=f"padded audio seconds per network batch; {ZERO_BATCH_SECONDS_HELP}")  # fmt: skip
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=30.0,
        help="recordings longer than this run through the network in overlapping chunks (0: never)",
    )
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="the network's precision (bfloat16/float16 on a GPU)")  # fmt: skip
    p.add_argument("--logits-cache", type=folder_path,
                   help=f"default {DEFAULT_CACHE} (where it cannot be written: none, with a warning)")  # fmt: skip
    p.add_argument("--no-cache", action="store_true", help="always run the network, write no cache")
    p.add_argument(
        "--normalize", type=normalizer_name, help="normaliser for scoring (default: the model's asr_text.json)"
    )
    return p


def options(args: argparse.Namespace, given: frozenset[str] = frozenset()):
    from asr.decode.run import DecodeOptions

    if args.no_cache and args.logits_cache is not None:  # the cache it named was never written (R48)
        raise InputError("--logits-cache goes without --no-cache (which writes no cache)")
    tune = tuple(t for t in args.tune.replace(" ", "").split(",") if t)
    if not set(tune) <= set(WEIGHTS):
        raise InputError(f"--tune {args.tune!r}: expected some of {','.join(WEIGHTS)}")
    beam = BeamSettings(args.beam_width, args.alpha, args.beta, args.beam_prune_logp, args.token_min_logp,
                        [w for w in args.hotwords.split(",") if w.strip()], args.hotword_weight)  # fmt: skip
    return DecodeOptions(
        model=args.model, manifests=tuple(args.manifest), out=args.out, adapter=args.adapter, tune_on=args.tune_on,
        nbest=args.nbest, rescore=args.rescore, gamma=args.gamma, chunk_seconds=args.chunk_seconds,
        decoder=args.decoder, lm=args.lm,
        backend=args.backend, beam=beam, workers=args.workers, batch_seconds=args.batch_seconds, dtype=args.dtype,
        cache_dir=None if args.no_cache else args.logits_cache or _default_cache(), normalize=args.normalize,
        dev=args.dev, tune=tune, tuned_from=args.tuned_from, tune_metric=args.tune_metric,
        alpha_grid=parse_grid(args.alpha_grid, "--alpha-grid"), beta_grid=parse_grid(args.beta_grid, "--beta-grid"),
        gamma_grid=parse_grid(args.gamma_grid, "--gamma-grid"), given=given,
    )  # fmt: skip


def _default_cache() -> Path | None:
    """`DEFAULT_CACHE`, or None (a warning) where it cannot be written (a read-only home refused every decode
    for an option it was never given)."""
    try:  # without HOME a user the system does not know has no home (it stopped every command at its import)
        return writable_dir(DEFAULT_CACHE.expanduser(), "--logits-cache")
    except RuntimeError:
        print(f"warning: no home folder for {DEFAULT_CACHE} (HOME is not set); decoding without a logits cache",
              file=sys.stderr)  # fmt: skip
        return None
    except InputError as err:
        print(f"warning: {err}; decoding without a logits cache", file=sys.stderr)
        return None


def _run(args: argparse.Namespace, argv: list[str], prog: str, given: frozenset[str]) -> int:
    from asr.decode.run import run
    from asr.provenance import provenance

    opts = options(args, given)
    for manifest, results in zip(opts.manifests, run(opts, provenance(prog, argv)) or [], strict=False):
        tuned = results.tuning["best"] if results.tuning else {}
        extra = "".join(f" {k} {tuned[k]:g}" for k in WEIGHTS if k in tuned)
        name = results.decoder["name"] + (" + rescoring" if results.rescoring else "")
        name += f", tuned{extra}" if extra else ""
        first = f" ({results.timing['rtfx_first_pass']} without rescoring)" if results.rescoring else ""
        print(f"{manifest} ({name}): WER {percent(results.wer)}%  CER {percent(results.cer)}%  "
              f"RTFx {results.timing['rtfx']}{first}  -> {opts.out_dir(manifest)}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None, prog: str = "asr decode") -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    return run_reporting_errors(prog, lambda: _run(args, argv, prog, parser.given(argv)))
