"""Long recordings: peak memory and RTFx of `asr decode` against the recording's length, chunked (the default,
30 s chunks) and in one piece (`--chunk-seconds 0`, what decoding did before), and the WER of the long
recording against decoding its parts one by one.

A recording of N minutes is the synthetic Spanish test and dev utterances (clean speech, unseen voices) read
one after another with 0.3 s pauses, repeated until N minutes; its reference is their transcripts in order.
Each decode runs in its own process; peak memory is that process's maximum resident set size. Model: the
shipped models/synth-ctc-tiny, greedy decoding, on the CPU.

Run: .venv/bin/python benchmarks/longform_bench.py [--minutes 1,10,20,60] [--whole-up-to 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from asr_cli import run_asr
from bench_args import positive, positives
from clean_spanish import clean_spanish

MODEL = Path(__file__).resolve().parent.parent / "models" / "synth-ctc-tiny"
# runs a command and prints its peak resident memory in KiB (the largest of its processes: a decode runs in one);
# its stderr passes through, and its exit status
PEAK = "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; " \
       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"  # fmt: skip


def corpus(root: Path) -> list:
    from asr.data.manifest import read_manifest

    data = clean_spanish(root, 0.2, quiet=True)
    return [(u, data) for split in ("test", "dev") for u in read_manifest(data / f"{split}.jsonl")]


def recording(utts: list, minutes: float, out: Path) -> Path:
    """A FLAC of `minutes` built from the utterances, and its one-line manifest."""
    import soundfile as sf

    from asr.data.audio import load_audio

    pieces, texts, seconds, k = [], [], 0.0, 0
    gap = np.zeros(4800, dtype=np.float32)
    while seconds < minutes * 60:
        utt, base = utts[k % len(utts)]
        samples = load_audio(utt.audio_path(base))
        pieces += [samples, gap]
        texts.append(utt.text)
        seconds += (len(samples) + len(gap)) / 16000
        k += 1
    audio = out / f"long_{minutes:g}min.flac"
    sf.write(audio, np.concatenate(pieces), 16000)
    manifest = out / f"long_{minutes:g}min.jsonl"
    line = {"id": f"long_{k}", "audio": audio.name, "duration": round(seconds, 3), "text": " ".join(texts),
            "speaker": "long", "lang": "es"}  # fmt: skip
    manifest.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def decode(manifest: Path, out: Path, chunk_seconds: float) -> dict:
    peak = run_asr("decode", "--model", str(MODEL), "--manifest", str(manifest), "--out", str(out), "--no-cache",
                   "--chunk-seconds", str(chunk_seconds), via=(sys.executable, "-c", PEAK))  # fmt: skip
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {"peak_mb": int(peak) / 1024, "rtfx": results["timing"]["rtfx"], "wer": results["wer"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=positives(), default="1,10,20,60")
    parser.add_argument("--whole-up-to", type=positive(), default=20, help="decode in one piece up to this length too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        utts = corpus(root / "data")
        parts = root / "parts.jsonl"
        rows = [json.loads(u.to_json()) | {"audio": str(u.audio_path(b))} for u, b in utts]
        parts.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        baseline = decode(parts, root / "parts", 30)
        print(f"parts one by one ({len(utts)} utterances): WER {100 * baseline['wer']:.2f}%\n")
        print("| minutes | chunked: peak MB | RTFx | WER | in one piece: peak MB | RTFx | WER |")
        print("|---|---|---|---|---|---|---|")
        for minutes in args.minutes:
            manifest = recording(utts, minutes, root)
            chunked = decode(manifest, root / f"c{minutes:g}", 30)
            whole = decode(manifest, root / f"w{minutes:g}", 0) if minutes <= args.whole_up_to else None
            cells = [f"{chunked['peak_mb']:.0f}", f"{chunked['rtfx']:.0f}", f"{100 * chunked['wer']:.2f}%"]
            cells += (
                [f"{whole['peak_mb']:.0f}", f"{whole['rtfx']:.0f}", f"{100 * whole['wer']:.2f}%"]
                if whole
                else ["-"] * 3
            )
            print(f"| {minutes:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
