"""`asr decode`: network log-probabilities (sharded over processes, cached), decoding, scoring, results.

Writes ``OUT/hyp.jsonl`` (id, ref, hyp, speaker, duration, audio, offset of a segment, am_seconds,
decode_seconds, words with their times, in manifest order), ``OUT/hyp.ctm`` and ``OUT/ref.stm`` (for sclite),
``OUT/results.json`` (scores and everything that reproduces the row) and ``OUT/score/`` (sclite-style
reports). With ``tune``, alpha/beta (and gamma, rescoring) are searched on the dev manifest first and the
best values decode the test. With ``rescore``, the beam's n-best lists are rescored with a Transformer LM
(asr/decode/rescore.py) and ``OUT/nbest.jsonl`` is written.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from asr.data.manifest import Utterance, read_utterances, write_jsonl
from asr.decode import logits as cache
from asr.decode.decoders import BeamSearch, BeamSettings, Decoded, Labels, greedy_decoded
from asr.decode.rescore import DEFAULT_DEPTH, DEFAULT_GAMMA, Rescorer
from asr.decode.results import RESULTS_FILE, DecodeResult, audio_content, content_id
from asr.decode.sclite_files import SCLITE_IGNORED, SCLITE_SYNTAX, sclite_syntax, sclite_texts
from asr.decode.tune import ALPHA_GRID, BETA_GRID, GAMMA_GRID, WEIGHT_RANGE, tune, usable_weight
from asr.errors import InputError, writable_dir
from asr.folders import removed_if_left_empty, run_folder, write_together
from asr.inference import CHUNK_SECONDS, CTCInference, Posteriors, gloo_on_cpus, manifest_audio, raised_together
from asr.model.folder import ModelFolder
from asr.scoring.corpus import CorpusScore, score_normalized, speaker_label
from asr.scoring.report import remove_other_levels, report_texts
from asr.text import Normalizer, get_normalizer, primary_metric
from lm.folder import LMFolder

MAX_SECONDS = 86_400  # --batch-seconds and --chunk-seconds: more overflowed the sample counts (a traceback)


@dataclass
class DecodeOptions:
    """What `asr decode` was asked to do."""

    model: str
    manifests: tuple[Path, ...]
    out: Path
    decoder: str = "greedy"
    lm: Path | None = None
    backend: str = "ctcbeam"
    beam: BeamSettings = field(default_factory=BeamSettings)
    workers: int = 0  # 0: one per CPU core
    batch_seconds: float = 0.0  # 0: the device's default (asr.inference.DEFAULT_BATCH_SECONDS)
    dtype: str = "float32"
    cache_dir: Path | None = None
    normalize: str | None = None  # default: the model's (asr_text.json)
    adapter: str | None = None  # an MMS-style language adapter to load (adapter.<lang>.safetensors)
    chunk_seconds: float = CHUNK_SECONDS  # longer recordings run through the network in chunks; 0: never
    nbest: int | None = None  # hypotheses per utterance kept (and rescored); written to nbest.jsonl when above 1
    rescore: Path | None = None  # a Transformer LM folder ('asr lm train') that rescores the n-best lists
    gamma: float = DEFAULT_GAMMA  # the Transformer LM's weight in rescoring
    dev: Path | None = None  # a manifest to tune on that is not itself decoded
    tune_on: str | None = None  # tune on this one of `manifests` (its stem or path); the others reuse the weights
    tune: tuple[str, ...] = ()
    tune_metric: str = "auto"  # the dev score tuning lowers: wer, cer, or auto (by the language: text.primary_metric)
    tuned_from: Path | None = None  # a results.json whose tuned alpha/beta (and tuning record) this decode reuses
    alpha_grid: tuple[float, ...] = ALPHA_GRID
    beta_grid: tuple[float, ...] = BETA_GRID
    gamma_grid: tuple[float, ...] = GAMMA_GRID
    given: frozenset[str] = frozenset()  # the options given on the command line (their dests), at defaults too

    def gave(self, name: str, value: object, usual: object) -> bool:
        """Whether the option `name` (its dest) was given on the command line, at its default too, or holds
        another value than `usual` (a caller in the same process gives no command line)."""
        return name in self.given or value != usual

    def weight_names(self) -> tuple[str, ...]:
        """The weights tuning can search: alpha and beta of a beam search with an n-gram, beta (a word bonus) of
        one without that is rescored, gamma of rescoring."""
        beam = {"beam_lm": ("alpha", "beta"), "beam": ("beta",) if self.rescore else ()}.get(self.decoder, ())
        return beam + (("gamma",) if self.rescore else ())

    @property
    def depth(self) -> int:
        """Hypotheses kept per utterance: --nbest, else 16 when rescoring and 1 otherwise."""
        return self.nbest if self.nbest is not None else (DEFAULT_DEPTH if self.rescore else 1)

    def out_dir(self, manifest: Path) -> Path:
        """Where a manifest's results go: OUT itself for one manifest, OUT/<manifest stem>/ for several."""
        return self.out if len(self.manifests) == 1 else self.out / manifest.stem

    def tune_manifest(self) -> Path | None:
        """The manifest alpha/beta are tuned on: --dev, or the one of --manifest that --tune-on names."""
        if self.tune_on is None:
            return self.dev
        found = [m for m in self.manifests if self.tune_on in (m.stem, str(m))]
        if not found:
            names = ", ".join(m.stem for m in self.manifests)
            raise InputError(f"--tune-on {self.tune_on!r}: not one of the decoded manifests ({names})")
        return found[0]


@dataclass
class Split:
    """A manifest's utterances (manifest order) and their log-probabilities."""

    manifest: Path
    utts: list[Utterance]
    post: Posteriors
    cached: bool
    # the network pass (this decode's, or the cached one's): its wall-clock seconds (with several processes
    # the slowest one's: theirs overlap), processes, device and padded seconds per batch
    network: dict

    @property
    def audio_seconds(self) -> float:
        return sum(u.duration for u in self.utts)


def load_posteriors(model: CTCInference, manifest: Path, opts: DecodeOptions) -> Split:
    """Log-probabilities of a manifest: from the cache, or computed with this process's share of the
    utterances (accelerate's split_between_processes) and gathered on every process."""
    from accelerate.utils import gather_object

    utts = read_utterances(manifest)
    state = _state()
    batching = (model.batch_seconds(opts.batch_seconds), state.num_processes)
    key = cache.model_fingerprint(model, opts.dtype, opts.adapter, opts.chunk_seconds, batching)
    path = cache.cache_path(opts.cache_dir, key, manifest, utts) if opts.cache_dir else None
    cached = cache.load_cache(path) if path is not None and path.is_file() else None
    if cached is not None:
        post, network = cached
        return Split(manifest, utts, post, True, network)
    # whole batches of all the utterances shared out (R66: each process batching its share padded utterances
    # otherwise, and the n-best scores of 2 processes differed from 1's by 1e-5); a share of batches, formed
    # again, is the same batches
    batches = model.batches(utts, model.batch_seconds(opts.batch_seconds))
    with state.split_between_processes(batches) as mine:
        audio = manifest_audio(manifest.parent, model.rate)
        # one bar (each process drew its own), of the main process's share (R84: its 25 audio s of 36 read as all)
        share = f" (process 1's share of {state.num_processes})" if state.num_processes > 1 else ""
        desc = f"network {manifest.name}{share}" if state.is_main_process else None
        post = raised_together(lambda: model.log_probs([u for b in mine for u in b], audio, opts.batch_seconds, desc),
                               state)  # fmt: skip
    seconds = sum(post.am_seconds.values())
    if state.num_processes > 1:
        seconds = max(gather_object([seconds]))  # the slowest process's
        rows = gather_object([(i, post.logprobs[i], post.am_seconds[i]) for i in post.logprobs])
        post = Posteriors({i: x for i, x, _ in rows}, {i: s for i, _, s in rows})
    network = {"seconds": seconds, "processes": state.num_processes, "device": str(model.device),
               "batch_seconds": model.batch_seconds(opts.batch_seconds)}  # fmt: skip
    if path is not None and state.is_main_process:
        cache.save_cache(path, post, {"model": opts.model, "manifest": str(manifest), "network": network})
    return Split(manifest, utts, post, False, network)


def _state():
    """accelerate's process state; GPU-less processes started by `accelerate launch` form a gloo group."""
    from accelerate import PartialState

    return PartialState(cpu=gloo_on_cpus())


class Transcriber:
    """The chosen decoder over lists of log-probabilities: a first pass (greedy or beam search, `depth`
    hypotheses each) and, with a rescorer, the n-best lists re-ranked with the Transformer LM."""

    def __init__(self, opts: DecodeOptions, labels: Labels, lm: LMFolder | None, rescorer: Rescorer | None) -> None:
        self.labels, self.depth, self.rescorer, self.gamma = labels, opts.depth, rescorer, opts.gamma
        self.weight_names = opts.weight_names()
        workers = opts.workers or os.cpu_count() or 1
        self.beam = None if opts.decoder == "greedy" else BeamSearch(labels, opts.beam, lm, opts.backend, workers)

    def close(self) -> None:
        """Ends the beam search's workers and drops its decoder (and LM)."""
        if self.beam is not None:
            self.beam.close()

    @property
    def weights(self) -> dict[str, float]:
        """The present values of the weights tuning can search (`DecodeOptions.weight_names`)."""
        beam = {} if self.beam is None else {"alpha": self.beam.settings.alpha, "beta": self.beam.settings.beta}
        present = beam | {"gamma": self.gamma}
        return {name: present[name] for name in self.weight_names}

    def set_weights(self, weights: dict[str, float]) -> None:
        """New weights (those of `weights`); the beam search is rebuilt only when alpha or beta changed."""
        if self.beam is not None:
            alpha, beta = weights.get("alpha", self.beam.settings.alpha), weights.get("beta", self.beam.settings.beta)
            if (alpha, beta) != (self.beam.settings.alpha, self.beam.settings.beta):
                self.beam.set_weights(alpha, beta)
        self.gamma = weights.get("gamma", self.gamma)

    @property
    def first_pass_key(self) -> tuple:
        """What the first pass depends on: without an n-gram, neither alpha nor beta."""
        return () if self.beam is None or self.beam.lm is None else (self.beam.settings.alpha, self.beam.settings.beta)

    def prepare(self) -> None:
        """The beam search's one-time costs (decoder, LM, workers), before anything is timed."""
        if self.beam is not None:
            self.beam.prepare()

    def first_pass(self, logprobs: list[np.ndarray], desc: str | None = None) -> list[Decoded]:
        """Greedy or beam search decodings of `logprobs`; the beam search's with a progress bar named `desc`."""
        if self.beam is not None:
            return self.beam.decode(logprobs, self.depth, desc)
        return [greedy_decoded(x, self.labels) for x in logprobs]

    def finish(self, decoded: list[Decoded]) -> tuple[list[Decoded], float | None]:
        """The first pass's decodings rescored (when there is a rescorer) and the seconds rescoring took."""
        if self.rescorer is None:
            return decoded, None
        bonus = self.beam.settings.beta if self.beam.lm is None else 0.0  # the beam added no β without an n-gram
        return self.rescorer.rerank(decoded, self.gamma, bonus)


@dataclass
class Decoding:
    """A split's hypothesis rows (manifest order; each with its words' times), n-best rows, score and the
    seconds the neural LM took to rescore (None without rescoring)."""

    rows: list[dict]
    nbest: list[dict]
    score: CorpusScore
    decode_seconds: float  # the first pass, wall clock
    rescore_seconds: float | None = None


def first_pass(split: Split, transcribe: Transcriber, desc: str | None = None) -> list[Decoded]:
    """The first pass over a split's utterances, in manifest order (a beam search's bar named `desc`)."""
    for utt in split.utts:
        if utt.id not in split.post.logprobs:
            raise InputError(f"{split.manifest}: utterance {utt.id} has no log-probabilities (stale cache?)")
    return transcribe.first_pass([split.post.logprobs[u.id] for u in split.utts], desc)


def word_times(words: list[tuple[str, int, int]], frame_seconds: float, duration: float) -> list[dict]:
    """Words' frames (first, end) to seconds, within the utterance: its last frame runs past the audio's end by
    up to a frame (0.16 s with an output adapter), which a segment's CTM line carried into the next segment; a
    word after a stated duration shorter than the audio (within the tolerance) is a point at its end."""
    ends = [min(round(b * frame_seconds, 3), duration) for _, _, b in words]  # rounded first: never past it
    return [{"word": w, "start": min(round(a * frame_seconds, 3), end), "end": end}
            for (w, a, _), end in zip(words, ends, strict=True)]  # fmt: skip


def decode_split(split: Split, transcribe: Transcriber, normalize: Normalizer, frame_seconds: float,
                 first: list[Decoded] | None = None) -> Decoding:  # fmt: skip
    """Decodes (from the `first` pass when given), rescores and scores a split; word times in seconds from
    each utterance's start."""
    transcribe.prepare()  # not charged to the first split's RTFx
    start = time.perf_counter()
    first = first_pass(split, transcribe, f"beam search {split.manifest.name}") if first is None else first
    first_seconds = time.perf_counter() - start  # wall clock: beam workers' own seconds overlap
    decoded, rescore_seconds = transcribe.finish(first)

    rows = [
        {"id": u.id, "ref": u.text, "hyp": d.text, "speaker": u.speaker, "duration": u.duration,
         "audio": str(u.audio_path(split.manifest.parent).resolve()),  # exports need no manifest
         **({} if u.offset is None else {"offset": u.offset}),  # a segment of the file, from here
         "am_seconds": round(split.post.am_seconds[u.id], 6), "decode_seconds": round(d.seconds, 6),
         "words": word_times(d.words, frame_seconds, u.duration)}
        for u, d in zip(split.utts, decoded, strict=True)
    ]  # fmt: skip
    listed = [{"id": u.id, "nbest": [{**h, "words": word_times(h["words"], frame_seconds, u.duration)}
                                     for h in d.nbest]}
              for u, d in zip(split.utts, decoded, strict=True)]  # fmt: skip
    speakers = {r["id"]: speaker_label(r["id"], r["speaker"]) for r in rows}  # as ref.stm names them
    score = score_normalized(((r["id"], r["ref"], r["hyp"]) for r in rows), normalize, speakers)
    if score.totals["word"].counts.rate is None:
        raise InputError(f"{split.manifest}: every reference is empty after normalisation ({normalize.id})")
    return Decoding(rows, listed, score, first_seconds, rescore_seconds)


def _rates(score: CorpusScore) -> tuple[float, float]:
    return score.totals["word"].counts.rate, score.totals["char"].counts.rate


def run(opts: DecodeOptions, provenance: dict) -> list[DecodeResult] | None:
    """Decodes every manifest (tuning first where asked); returns each one's results.json content on the main
    process, None on the others. A decode refused or failed leaves none of the output folders it made, empty
    (a leaderboard over --out then said "no results.json found"); each is held while the decode runs, so that a
    second decode into it is refused (two wrote their parts under one name: one failed, and its results.json
    went with the other's hypotheses)."""
    with contextlib.ExitStack() as stack:
        for manifest in opts.manifests:
            stack.enter_context(removed_if_left_empty(opts.out_dir(manifest)))
        check_options(opts)  # before the folders are held: two manifests of one name share one (said so)
        for manifest in opts.manifests:
            stack.enter_context(run_folder(opts.out_dir(manifest), "--out"))
        # the beam settings are the decoder's to change (spellable hotwords, tuned weights): the caller's stay as given
        return _decode_all(replace(opts, beam=replace(opts.beam)), provenance)


def _decode_all(opts: DecodeOptions, provenance: dict) -> list[DecodeResult] | None:
    state = _state()
    rescorer = Rescorer(opts.rescore, str(state.device)) if opts.rescore else None
    model = CTCInference.load(opts.model, str(state.device), opts.dtype, opts.adapter, opts.chunk_seconds)
    described = model_record(opts, model)  # now: a model folder rewritten during the decode (a training's
    # model/) gave results.json the new run's training record beside the loaded weights' hash
    own = ModelFolder.of(opts.model).normalizer()
    normalize = get_normalizer(opts.normalize) if opts.normalize else own
    labels = Labels.from_tokenizer(model.processor.tokenizer)
    if opts.beam.hotwords:
        opts.beam.hotwords = spellable_hotwords(opts.beam.hotwords, own, labels.alphabet())
    lm = LMFolder.load(opts.lm) if opts.decoder == "beam_lm" else None
    if lm is not None:
        lm.check_against(labels.alphabet(), own.id)  # the LM must spell words as the model's targets do
    if rescorer is not None:
        rescorer.check_against(own.id)
    reused = None  # checked before the forward passes
    if opts.tuned_from:
        reused = tuning_to_reuse(opts, described, lm and lm.summary(), rescorer and rescorer.summary())
    tune_manifest = opts.tune_manifest() if opts.tune else None
    dev = load_posteriors(model, tune_manifest, opts) if tune_manifest else None
    splits = [dev if m == tune_manifest else load_posteriors(model, m, opts) for m in opts.manifests]
    # No collective follows, so every process leaves the gloo group now: one that exits still in it can abort
    # ("terminate called without an active exception"). The barrier first, as training ends, so that no peer's
    # gather is still in flight when a process leaves.
    if state.num_processes > 1:
        state.wait_for_everyone()
        state.destroy_process_group()
    if not state.is_main_process:
        return None
    transcribe = Transcriber(opts, labels, lm, rescorer)
    with contextlib.closing(transcribe):  # its LM and worker pool, also when stopped
        tuning = reused
        if reused is not None:
            transcribe.set_weights(reused["best"])
        if dev is not None:
            tuning = tune_on_dev(dev, transcribe, normalize, opts, model.frame_seconds)
            transcribe.set_weights(tuning["best"])
        rescoring = None  # what results.json records of the rescoring: the LM, the list depth, the gamma used
        if rescorer is not None:
            rescoring = {**rescorer.summary(), "nbest": opts.depth, "gamma": transcribe.gamma}
        for split in splits:  # an interrupt after the first set's outputs left an earlier decode's for the others
            (opts.out_dir(split.manifest) / RESULTS_FILE).unlink(missing_ok=True)
        outputs = []
        for split in splits:
            if rescorer is not None:
                rescorer.cache.clear()  # each split's RTFx counts the scoring of its own hypotheses
            decoding = decode_split(split, transcribe, normalize, model.frame_seconds)
            record = tuning
            if tuning is not None and dev is not None and split is not dev:  # --tune-on: the dev decode's results;
                decoded = dev.manifest in opts.manifests  # --dev is not decoded, so it has none
                record = {**tuning, **({"reused_from": str(opts.out_dir(dev.manifest) / "results.json")} if decoded
                                       else {"tuned_on": str(dev.manifest)})}  # fmt: skip
            results = decode_result(opts, split, described, (lm, rescoring), decoding, record, provenance)
            write_outputs(opts.out_dir(split.manifest), decoding, normalize, results, opts.depth > 1)
            outputs.append(results)
        return outputs


def check_options(opts: DecodeOptions) -> None:
    """One line for every combination of options that cannot work."""
    _check_decoder_and_tuning(opts)
    _check_unused(opts)
    _check_ranges(opts)
    _check_outputs(opts)


def _check_decoder_and_tuning(opts: DecodeOptions) -> None:
    """The decoder, its LMs and the tuning: options that need others, or exclude them."""
    if opts.decoder == "beam_lm" and opts.lm is None:
        raise InputError("--decoder beam_lm needs --lm (a folder made by 'asr lm build')")
    if opts.rescore and opts.decoder == "greedy":
        raise InputError("--rescore needs n-best lists: --decoder beam or beam_lm")
    if "gamma" in opts.tune and not opts.rescore:
        raise InputError("--tune gamma goes with --rescore (a Transformer LM folder)")
    beta_alone = opts.rescore and "alpha" not in opts.tune  # beta as a word bonus in rescoring
    if {"alpha", "beta"} & set(opts.tune) and not (opts.decoder == "beam_lm" or beta_alone):
        raise InputError("--tune alpha,beta needs --decoder beam_lm (beta alone: --decoder beam with --rescore)")
    if opts.tune and opts.dev is not None and opts.tune_on is not None:  # "needs one of" them, said of both (R62)
        raise InputError("--tune-on and --dev exclude each other: tune on a decoded manifest or on --dev")
    if opts.tune and opts.dev is None and opts.tune_on is None:
        raise InputError("--tune needs one of --tune-on (a decoded manifest) or --dev")
    if opts.tune_on and not opts.tune:
        raise InputError("--tune-on goes with --tune alpha,beta")
    if opts.tuned_from and (opts.decoder == "greedy" or opts.tune):
        raise InputError("--tuned-from goes with a beam decoder and without --tune")
    given = {"--alpha": opts.gave("alpha", opts.beam.alpha, BeamSettings.alpha),
             "--beta": opts.gave("beta", opts.beam.beta, BeamSettings.beta),
             "--gamma": opts.gave("gamma", opts.gamma, DEFAULT_GAMMA)}  # fmt: skip
    if opts.tuned_from and (weights := [option for option, differs in given.items() if differs]):
        raise InputError(
            f"{weights[0]} goes without --tuned-from (its weights replace every one); give one or the other"
        )
    if opts.lm is not None and opts.decoder != "beam_lm":
        raise InputError(f"--lm goes with --decoder beam_lm (--decoder {opts.decoder} would not use it)")
    if opts.dev is not None and not opts.tune:
        raise InputError("--dev goes with --tune (it is a manifest to tune on, not decoded)")
    if opts.dev is not None and opts.dev.resolve() in {m.resolve() for m in opts.manifests}:
        raise InputError(f"--dev {opts.dev} is decoded too (--manifest): its results would be tuned on themselves "
                         "and recorded as tuned elsewhere; name it with --tune-on instead")  # fmt: skip
    if opts.rescore and opts.depth == 1:
        raise InputError("--rescore with --nbest 1 re-ranks nothing (one hypothesis per utterance); keep 2 or more")


def _check_unused(opts: DecodeOptions) -> None:
    """Options given where nothing would use them (the decode would silently ignore them): given on the command
    line (`given`: at their default values too, which were passed over) or set to another value than the
    default."""
    beam, default, given = opts.beam, BeamSettings(), opts.gave
    beam_options = [
        given(name, getattr(beam, name), getattr(default, name))
        for name in ("beam_width", "alpha", "beta", "beam_prune_logp", "token_min_logp", "hotwords", "hotword_weight")
    ]
    beam_options += [given("nbest", opts.nbest, None), given("backend", opts.backend, "ctcbeam"),
                     given("workers", opts.workers, 0)]  # fmt: skip
    if opts.decoder == "greedy" and any(beam_options):
        raise InputError("beam settings (--beam-width, --alpha, --beta, --hotwords, --nbest, --backend, --workers, "
                         "...) go with --decoder beam or beam_lm; greedy would ignore them")  # fmt: skip
    if opts.decoder == "beam" and given("alpha", beam.alpha, default.alpha):
        raise InputError("--alpha goes with --decoder beam_lm (the n-gram LM's weight); without an LM nothing uses it")
    if opts.decoder == "beam" and given("beta", beam.beta, default.beta) and not opts.rescore:
        raise InputError("--beta goes with --decoder beam_lm or --rescore (a word bonus with an LM); nothing uses it")
    if "hotwords" in opts.given and not beam.hotwords:
        raise InputError("--hotwords: no words (a comma-separated list of words to favour)")
    if given("hotword_weight", beam.hotword_weight, default.hotword_weight) and not beam.hotwords:
        raise InputError("--hotword-weight goes with --hotwords (without them nothing uses it)")
    if given("gamma", opts.gamma, DEFAULT_GAMMA) and not opts.rescore:
        raise InputError("--gamma goes with --rescore (the Transformer LM's weight); without it nothing uses it")
    grids = {"alpha": given("alpha_grid", opts.alpha_grid, ALPHA_GRID),
             "beta": given("beta_grid", opts.beta_grid, BETA_GRID),
             "gamma": given("gamma_grid", opts.gamma_grid, GAMMA_GRID)}  # fmt: skip
    if unused := [weight for weight, grid in grids.items() if grid and weight not in opts.tune]:
        raise InputError(f"--{unused[0]}-grid goes with --tune {unused[0]} (without it the grid is not searched)")
    if given("tune_metric", opts.tune_metric, "auto") and not opts.tune:
        raise InputError("--tune-metric goes with --tune (without it nothing is tuned)")


def _check_ranges(opts: DecodeOptions) -> None:
    """Numbers out of their range."""
    for option, value, ok, expected in (
        ("--beam-width", opts.beam.beam_width, opts.beam.beam_width >= 1, "at least 1"),
        ("--nbest", opts.depth, opts.depth >= 1, "at least 1"),
        (
            "--batch-seconds",
            opts.batch_seconds,
            0 <= opts.batch_seconds <= MAX_SECONDS,
            f"0 (the device's default) to {MAX_SECONDS} (a day)",
        ),
        *(
            (option, value, usable_weight(value), WEIGHT_RANGE)
            for option, value in (("--alpha", opts.beam.alpha), ("--beta", opts.beam.beta), ("--gamma", opts.gamma))
        ),
        ("--hotword-weight", opts.beam.hotword_weight, math.isfinite(opts.beam.hotword_weight), "a number"),
        (
            "--beam-prune-logp",
            opts.beam.beam_prune_logp,
            opts.beam.beam_prune_logp <= 0,
            "0 or less (a log-probability)",
        ),
        ("--token-min-logp", opts.beam.token_min_logp, opts.beam.token_min_logp <= 0, "0 or less (a log-probability)"),
        ("--workers", opts.workers, opts.workers >= 0, "0 (one per core) or more"),
        (
            "--chunk-seconds",
            opts.chunk_seconds,
            opts.chunk_seconds == 0 or 1 <= opts.chunk_seconds <= MAX_SECONDS,
            f"0 or a number of seconds from 1 to {MAX_SECONDS}",
        ),
    ):
        if not ok:
            raise InputError(f"{option} {value:g}: expected {expected}")


def _check_outputs(opts: DecodeOptions) -> None:
    """Outputs that clash with each other or with the inputs, and folders that cannot be written."""
    stems = [m.stem for m in opts.manifests]
    if len(set(stems)) < len(stems):
        raise InputError(f"--manifest: several manifests share a name ({', '.join(stems)}); decode them separately")
    for manifest in opts.manifests:
        writable_dir(opts.out_dir(manifest), "--out")
        written = {(opts.out_dir(manifest) / name).resolve() for name in OUTPUT_FILES}
        if inputs := [m for m in opts.manifests if m.resolve() in written]:  # it was replaced, or deleted
            raise InputError(f"--manifest {inputs[0]}: the decode would write over it; give another --out")
    if opts.cache_dir is not None:  # a file there failed as a traceback after the network pass
        writable_dir(opts.cache_dir, "--logits-cache")


def spellable_hotwords(hotwords: list[str], normalize: Normalizer, alphabet: set[str]) -> list[str]:
    """The hotwords as the model writes its targets (its normaliser: case, Unicode form); `InputError` for one
    it cannot spell (a capitalised word boosted nothing, without a word)."""
    spelled = [" ".join(normalize(h).split()) for h in hotwords]
    for typed, word in zip(hotwords, spelled, strict=True):
        if missing := sorted(set(word.replace(" ", "")) - alphabet):
            listed = ", ".join(map(repr, missing))
            raise InputError(f"--hotwords {typed!r}: the model cannot write it ({listed} not in its vocabulary)")
        if not word:
            raise InputError(f"--hotwords {typed!r}: nothing left after the model's normaliser ({normalize.id})")
    return spelled


def _content(info: dict | None, keys: tuple[str, ...] | None) -> object:
    """A model's or LM's record (as a results.json holds it) without where it lies and how a decode used it."""
    info = json.loads(json.dumps(info))
    return info and {k: v for k, v in info.items() if k not in ("path", "nbest", "gamma") and (not keys or k in keys)}


def _differing(then: dict | None, now: dict | None) -> str | None:
    """The first field in which two records differ ("its record" where one is missing), or None. A field, or a
    key of a field's record, that only one has (written by an earlier version, or added since) is not compared:
    a results.json from before train_info's git_revision refused the same model."""
    if then is None or now is None:
        return None if then is now else "its record"
    for name in sorted(then.keys() & now.keys()):
        a, b = then[name], now[name]
        if isinstance(a, dict) and isinstance(b, dict):
            a, b = ({k: d[k] for k in a.keys() & b.keys()} for d in (a, b))
        if a != b:
            return name
    return None


def tuning_to_reuse(opts: DecodeOptions, model: dict, lm: dict | None, rescoring: dict | None) -> dict:
    """The tuning record of the decode --tuned-from names (the dev set's, typically), checked: tuned for this
    model, LM and rescoring LM (another pairing's weights give scores that no tuning chose), with a finite
    value of every weight this decode has."""
    path = opts.tuned_from
    earlier = DecodeResult.read(path)
    pairs = {"model": (earlier.model, model), "LM": (earlier.lm, lm), "rescoring LM": (earlier.rescoring, rescoring)}
    for kind, (then, now) in pairs.items():
        keys = None
        if kind == "model":  # the weights' hash is the model (its adapter's too: a decode without --adapter
            # recorded null before the built-in adapter was named; its training record may name the code of a
            # run run again); a results.json from before weights were recorded: the adapter and training record
            keys = ("parameters", "weights") if "weights" in (then or {}) else ("parameters", "train_info", "adapter")
        if field := _differing(_content(then, keys), _content(now, keys)):
            raise InputError(
                f"--tuned-from {path}: tuned for another {kind} ({(then or {}).get('path')}, not "
                f"{(now or {}).get('path')}: {field} differs); tune this decode's with --tune"
            )
    tuning = earlier.tuning if isinstance(earlier.tuning, dict) else {}
    best, needed = tuning.get("best"), opts.weight_names()
    if not isinstance(best, dict) or not all(usable_weight(best.get(k)) for k in needed):
        raise InputError(f"{path}: no tuning of {', '.join(needed)} to reuse (a results.json of 'asr decode "
                         f"--tune' with the same decoder, each weight {WEIGHT_RANGE})")  # fmt: skip
    return {**tuning, "reused_from": str(path)}


def tune_on_dev(
    dev: Split, transcribe: Transcriber, normalize: Normalizer, opts: DecodeOptions, frame_seconds: float
) -> dict:
    """Searches the tuned weights on dev; the first pass runs once per (alpha, beta) it depends on, so a
    gamma sweep only re-ranks."""
    metric = opts.tune_metric
    if metric == "auto":  # the model's language, else the dev manifest's one language
        langs = {u.lang for u in dev.utts}
        metric = primary_metric(ModelFolder.of(opts.model).language() or (langs.pop() if len(langs) == 1 else ""))
    first: dict[tuple, list[Decoded]] = {}

    def evaluate(weights: dict[str, float]) -> tuple[float, float]:
        transcribe.set_weights(weights)
        key = transcribe.first_pass_key
        if key not in first:
            first.clear()  # one first pass held at a time
            first[key] = first_pass(dev, transcribe)
        return _rates(decode_split(dev, transcribe, normalize, frame_seconds, first[key]).score)

    grids = {"alpha": opts.alpha_grid, "beta": opts.beta_grid, "gamma": opts.gamma_grid}
    result = tune(evaluate, transcribe.weights, set(opts.tune), grids, on=str(dev.manifest), metric=metric)
    return {"dev_manifest": str(dev.manifest), "dev_content": content_id((u.id, u.text) for u in dev.utts), **result}


def decode_result(
    opts: DecodeOptions,
    test: Split,
    model: dict,
    lms: tuple[LMFolder | None, dict | None],
    decoding: Decoding,
    tuning: dict | None,
    provenance: dict,
) -> DecodeResult:
    """A split's results.json: its scores, timing, and what made them (the `model_record`, decoder, LMs and the
    rescoring `lms` holds, the tuning, provenance)."""
    (lm, rescoring), rows, score = lms, decoding.rows, decoding.score
    wer, cer = _rates(score)
    decoder = {"name": opts.decoder}
    if opts.decoder != "greedy":
        decoder |= {"backend": opts.backend, **asdict(opts.beam)}
        if opts.decoder == "beam":
            decoder.pop("alpha")
            if not rescoring:
                decoder.pop("beta")
    name = f"{test.manifest.resolve().parent.name}/{test.manifest.stem}"  # e.g. hi/test (also from its folder)
    test_set = {"manifest": str(test.manifest), "name": name, "utterances": len(rows)}
    base = test.manifest.parent  # the audio's, as hyp.jsonl resolves it
    return DecodeResult(
        wer=wer,
        cer=cer,
        test_set=test_set | {"hours": test.audio_seconds / 3600, "audio_content": audio_content(test.utts, base)},
        model=model,
        decoder=decoder,
        lm=None if lm is None else lm.summary(),
        rescoring=rescoring,
        tuning=tuning,
        normalizer=score.normalizer,
        scoring=score.compat,
        scores={level: score.level_json(level) for level in score.levels},
        timing=timing(test, decoding),
        provenance=provenance,
    )


def model_record(opts: DecodeOptions, model: CTCInference) -> dict:
    """What a results.json records of the model."""
    return {"path": opts.model, "parameters": model.parameters(), "weights": model.weights,
            "adapter": model.adapter, "dtype": opts.dtype,
            "chunk_seconds": opts.chunk_seconds,  # long recordings' chunking changes the network's output
            "train_info": ModelFolder.of(opts.model).train_summary()}  # fmt: skip


def timing(test: Split, decoding: Decoding) -> dict:
    """Audio, network, decoding and rescoring seconds; RTFx = audio seconds per second of all three, and
    without rescoring (the first pass alone) where there was some. The network seconds are the wall clock's:
    with several processes, the slowest one's, not the sum of their utterances' (which overlap); from the
    cache, those of the pass that made it, with its processes, device and batch seconds."""
    am_seconds = test.network["seconds"]
    decode_seconds = decoding.decode_seconds
    first = {}
    rescore_seconds = decoding.rescore_seconds or 0.0
    if decoding.rescore_seconds is not None:
        first = {"rescore_seconds": round(rescore_seconds, 3),
                 "rtfx_first_pass": rtfx(test.audio_seconds, am_seconds + decode_seconds)}  # fmt: skip
    return {
        "audio_seconds": round(test.audio_seconds, 3),
        "am_seconds": round(am_seconds, 3),
        "decode_seconds": round(decode_seconds, 3),
        **first,
        "rtfx": rtfx(test.audio_seconds, am_seconds + decode_seconds + rescore_seconds),
        "logits_cached": test.cached,
        "device": test.network["device"],
        "processes": test.network["processes"],
        "batch_seconds": test.network["batch_seconds"],
    }


#: what a decode writes in its --out (besides score/)
OUTPUT_FILES = ("hyp.jsonl", "nbest.jsonl", "hyp.ctm", "ref.stm", RESULTS_FILE)


def rtfx(audio_seconds: float, seconds: float) -> float:
    """Audio seconds per second of work, to 0.1 (two significant digits under 1: a slow rescoring's 0.03 was
    rounded to 0, and the RTFx plot's log axis drew no bar)."""
    ratio = audio_seconds / max(seconds, 1e-9)
    return round(ratio, 1) if ratio >= 1 else float(f"{ratio:.2g}")


def write_outputs(out: Path, decoding: Decoding, normalize: Normalizer, results: DecodeResult, nbest: bool) -> None:
    """hyp.jsonl, hyp.ctm and ref.stm, nbest.jsonl (with --nbest), score/ and results.json, written together
    (`write_together`: a failed write, a full disk, leaves the earlier files as they were, not a mix), results.json
    moved in last. The caller removed every set's earlier results.json before the first set's outputs, so a
    decode stopped or failed while writing leaves none (the leaderboard took an old results.json with the new
    hypotheses beside it)."""
    out.mkdir(parents=True, exist_ok=True)
    if syntax := sclite_syntax(decoding.rows, normalize):
        marks = " ".join(sorted(SCLITE_SYNTAX))
        print(f"note: {out}: {syntax} utterance(s) hold characters that sclite reads as syntax in ref.stm and "
              f"hyp.ctm ({marks}), or a reference {SCLITE_IGNORED.upper()}, which sclite passes over: sclite scores "
              "them otherwise than results.json (a normaliser that removes them, such as the language's, keeps the "
              "two equal)", file=sys.stderr)  # fmt: skip
    sources = {"ref": results.test_set["manifest"], "hyp": str(out / "hyp.jsonl")}  # as `asr score`'s report
    writes: dict[Path, str | Callable[[Path], object]] = {out / "hyp.jsonl": lambda p: write_jsonl(p, decoding.rows)}
    if nbest:
        writes[out / "nbest.jsonl"] = lambda p: write_jsonl(p, decoding.nbest)
    writes |= sclite_texts(out, decoding.rows, normalize)
    with removed_if_left_empty(out / "score"):  # made for the reports: left empty by a write that failed
        writes |= report_texts(decoding.score, out / "score", decoding.score.to_json() | sources)
        write_together(writes | {out / RESULTS_FILE: results.text()})
    if not nbest:  # an earlier decode's n-best lists would sit beside these hypotheses
        (out / "nbest.jsonl").unlink(missing_ok=True)
    remove_other_levels(out / "score", decoding.score.levels)
