"""Beam search + KenLM speed: `asr decode`'s decoders against pyctcdecode used plainly, on the same logits.

Logits: the shipped model (models/synth-ctc-tiny) on the Spanish synthetic test and dev splits (clean speech,
unseen voices), computed once through `asr decode`'s cache. LM: a 4-gram built by `asr lm build` from the
Spanish sentences not voiced in the corpus. Every row decodes the same log-probabilities with the same LM,
alpha, beta and beam width; the peer is pyctcdecode 0.5.0 called as its README shows (`decode()`, one
process). Reported: milliseconds of decoding per audio second, the speed-up over the peer, and how many
hypotheses are identical to the peer's.

Run: .venv/bin/python benchmarks/decode_bench.py [--hours 0.4] [--beam-width 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from asr_cli import run_asr
from bench_args import positive
from clean_spanish import clean_spanish

MODEL = Path(__file__).resolve().parent.parent / "models" / "synth-ctc-tiny"


def prepare(root: Path, hours: float) -> tuple[list, list[float], Path]:
    """(log-probabilities, durations) of the dev + test utterances, and the LM folder."""
    from asr.data.manifest import read_manifest
    from asr.inference import CTCInference, manifest_audio

    data = clean_spanish(root, hours)
    if not (root / "lm" / "lm.json").exists():
        run_asr("lm", "build", "--text", str(data / "lm_text.txt"), "--order", "4", "--processor", str(MODEL),
                "--out", str(root / "lm"), quiet=False)  # fmt: skip
    # asr decode's network pass, on the CPU on any machine (its logits cache was read here under a key worked out
    # again, which on a GPU holds the batching too: the file was not found)
    model = CTCInference.load(str(MODEL))
    logprobs, durations = [], []
    for split in ("dev", "test"):
        manifest = data / f"{split}.jsonl"
        utts = read_manifest(manifest)
        post = model.log_probs(utts, manifest_audio(manifest.parent, model.rate), 0, f"network {split}")
        logprobs += [post.logprobs[utt.id] for utt in utts]
        durations += [utt.duration for utt in utts]
    return logprobs, durations, root / "lm"


def peer(labels, lm, logprobs, beam_width: int) -> tuple[list[str], float]:
    """pyctcdecode as its README uses it: build_ctcdecoder, then decode() per utterance, one process."""
    from pyctcdecode import build_ctcdecoder

    decoder = build_ctcdecoder(list(labels.tokens), str(lm.binary), lm.unigrams, alpha=0.5, beta=1.5)
    start = time.perf_counter()
    hyps = [" ".join(decoder.decode(x, beam_width=beam_width).split()) for x in logprobs]
    return hyps, time.perf_counter() - start


def ours(labels, lm, logprobs, beam_width: int, backend: str, workers: int) -> tuple[list[str], float]:
    from asr.decode.decoders import BeamSearch, BeamSettings

    search = BeamSearch(labels, BeamSettings(beam_width=beam_width), lm, backend, workers)
    search.decode(logprobs[:2])  # builds the decoder (and the pool) outside the timing, as the peer's build is
    start = time.perf_counter()
    hyps = [d.text for d in search.decode(logprobs)]
    seconds = time.perf_counter() - start
    search.close()
    return hyps, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=positive(), default=0.4)
    parser.add_argument("--beam-width", type=positive(int), default=100)
    parser.add_argument("--workers", type=positive(int), default=2)
    parser.add_argument("--work", type=Path, help="keep the corpus, LM and logits here (default: a temp folder)")
    args = parser.parse_args()
    from transformers import Wav2Vec2CTCTokenizer

    from asr.decode.decoders import Labels
    from lm.folder import LMFolder

    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        logprobs, durations, lm_dir = prepare(root, args.hours)
        labels = Labels.from_tokenizer(Wav2Vec2CTCTokenizer.from_pretrained(MODEL))
        lm = LMFolder.load(lm_dir)
        audio = sum(durations)
        print(f"{len(logprobs)} utterances, {audio:.0f} s of audio; LM {lm_dir} ({len(lm.unigrams)} words); "
              f"beam {args.beam_width}, alpha 0.5, beta 1.5")  # fmt: skip
        ref_hyps, ref_seconds = peer(labels, lm, logprobs, args.beam_width)
        rows = [("pyctcdecode decode(), 1 process (peer)", ref_hyps, ref_seconds)]
        settings = dict.fromkeys([("pyctcdecode", args.workers), ("ctcbeam", 1), ("ctcbeam", args.workers)])
        for backend, workers in settings:  # one row each (--workers 1 printed ctcbeam twice)
            hyps, seconds = ours(labels, lm, logprobs, args.beam_width, backend, workers)
            rows.append((f"asr decode: {backend}, {workers} worker(s)", hyps, seconds))
        print(f"| {'decoder':<40} | ms per audio s | speed-up | identical to peer |")
        print(f"|{'-' * 42}|----------------|----------|-------------------|")
        for name, hyps, seconds in rows:
            same = sum(a == b for a, b in zip(hyps, ref_hyps, strict=True))
            print(f"| {name:<40} | {1000 * seconds / audio:14.2f} | {ref_seconds / seconds:7.1f}x | "
                  f"{same:>8} / {len(hyps):<6} |")  # fmt: skip


if __name__ == "__main__":
    main()
