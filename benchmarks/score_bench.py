"""Scoring speed and memory: `asr score` against a jiwer script and NIST sclite, measured in one run.

Corpus: 20,000 utterance pairs of 20 words (5,000-word vocabulary; per reference word 7% substitution,
5% deletion, 3% insertion; seed 12345), written as trn. Each scorer runs as a whole process (start-up,
reading, aligning, reporting), timed by wall clock (the median of --repeats runs; the long pair's sclite runs
once) with peak RSS from wait4():

- `asr score --compat sclite` and `--compat jiwer`, word+char level;
- a Python script that reads the trn files and calls jiwer.process_words and jiwer.process_characters;
- sclite at word level (-o rsum) and at char level (-e utf-8 -c -o rsum).

Then one pair of 20,000-word transcripts (long-form audio), word level: `asr score` vs sclite.

Run: .venv/bin/python benchmarks/score_bench.py [--pairs 20000] [--words 20] [--long-words 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_args import positive

SCLITE = "/usr/lib/sctk/bin/sclite"
LEVELS = ("word", "char")
VENV_BIN = Path(sys.executable).parent

JIWER_SCRIPT = """
import sys, re, jiwer
def read(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^(.*)\\(([^()]*)\\)\\s*$", line)
        out[m.group(2)] = m.group(1).strip()
    return out
refs, hyps = read(sys.argv[1]), read(sys.argv[2])
ids = list(refs)
r, h = [refs[i] for i in ids], [hyps[i] for i in ids]
w = jiwer.process_words(r, h)
c = jiwer.process_characters(r, h)
print(w.wer, c.cer)
"""


def make_corpus(pairs: int, words: int, seed: int = 12345) -> tuple[list[str], list[str]]:
    """Reference and hypothesis sentences with 7% substitutions, 5% deletions and 3% insertions."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzäöü"
    vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    refs, hyps = [], []
    for _ in range(pairs):
        ref = [rng.choice(vocab) for _ in range(words)]
        hyp = []
        for word in ref:
            u = rng.random()
            if u < 0.07:
                hyp.append(rng.choice(vocab))
            elif u >= 0.12:
                hyp.append(word)
            if rng.random() < 0.03:
                hyp.append(rng.choice(vocab))
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
    return refs, hyps


def write_trn(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(f"{text} (spk{i % 50:02d}_{i:06d})\n")


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def measure(cmd: list[str], repeats: int) -> tuple[float, float]:
    runs = [run(cmd) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def sclite_cmd(ref: Path, hyp: Path, out: Path, char: bool) -> list[str]:
    """sclite scoring `ref` against `hyp` (word or char level), its rsum report written into `out`."""
    return [*_sclite(ref, hyp, char), "-O", str(out), "-n", "c" if char else "w", "-o", "rsum"]


def _sclite(ref: str | Path, hyp: str | Path, char: bool) -> list[str]:
    extra = ["-e", "utf-8", "-c"] if char else []
    return [SCLITE, "-r", str(ref), "trn", "-h", str(hyp), "trn", "-i", "rm", "-s", *extra]


def check_agreement(asr: str, ref: str, hyp: str) -> str:
    """Runs each scorer once more, untimed, and compares their errors and reference sizes at both levels;
    SystemExit where one differs (R71: a scorer made fast and wrong would still have been "as fast")."""
    counts = {}
    for compat in ("sclite", "jiwer"):
        out = subprocess.run([asr, "score", ref, hyp, "--compat", compat, "--json", "-"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        report = json.loads(out)
        counts[f"asr score --compat {compat}"] = tuple((report[lvl]["E"], report[lvl]["N"]) for lvl in LEVELS)
    dtl = [subprocess.run([*_sclite(ref, hyp, lvl == "char"), "-o", "dtl", "stdout"], capture_output=True,
                          text=True, check=True).stdout for lvl in LEVELS]  # fmt: skip
    counts["sclite"] = tuple((int(_field(d, "Percent Total Error")), int(_field(d, "Ref. words"))) for d in dtl)
    rates = subprocess.run([sys.executable, "-c", JIWER_SCRIPT, ref, hyp], capture_output=True,
                           text=True, check=True).stdout.split()  # fmt: skip
    ours = counts["asr score --compat jiwer"]
    if any(abs(float(rate) - errors / n) > 1e-12 for rate, (errors, n) in zip(rates, ours, strict=True)):
        raise SystemExit(f"jiwer's WER and CER {rates} are not asr score --compat jiwer's {ours}")
    if counts["sclite"] != counts["asr score --compat sclite"]:  # jiwer's characters count the spaces: its own
        raise SystemExit(f"sclite and asr score disagree (errors, reference size per level): {counts}")
    return "; ".join(f"{name}: WER {w[0] / w[1]:.4%}, CER {c[0] / c[1]:.4%}" for name, (w, c) in counts.items())


def _field(report: str, name: str) -> str:
    """The count in brackets of sclite's dtl report line `name`."""
    found = re.search(rf"^{re.escape(name)}\s*=.*\(\s*(\d+)\)", report, re.MULTILINE)
    if found is None:
        raise SystemExit(f"sclite's dtl report has no line {name!r}")
    return found.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=positive(int), default=20000)
    parser.add_argument("--words", type=positive(int), default=20)
    parser.add_argument("--long-words", type=positive(int), default=20000)
    parser.add_argument("--long-char-words", type=positive(int), default=8000, help="words of the long char-level pair")
    parser.add_argument("--repeats", type=positive(int), default=3)
    args = parser.parse_args()
    if not os.access(SCLITE, os.X_OK):  # found after minutes of measuring, a traceback
        raise SystemExit(f"{SCLITE}: not found; install Debian's sctk (scripts/setup.sh does)")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        refs, hyps = make_corpus(args.pairs, args.words)
        write_trn(tmp / "ref.trn", refs)
        write_trn(tmp / "hyp.trn", hyps)
        ref_words = sum(len(r.split()) for r in refs)
        asr = str(VENV_BIN / "asr")
        (tmp / "jiwer_score.py").write_text(JIWER_SCRIPT)
        files = [str(tmp / "ref.trn"), str(tmp / "hyp.trn")]
        rows = {
            "asr score --compat sclite (word+char)": measure(
                [asr, "score", *files, "--compat", "sclite"], args.repeats
            ),
            "asr score --compat jiwer (word+char)": measure([asr, "score", *files, "--compat", "jiwer"], args.repeats),
            "jiwer script (process_words+process_characters)": measure(
                [sys.executable, str(tmp / "jiwer_score.py"), *files], args.repeats
            ),
            "sclite word (-o rsum)": measure(sclite_cmd(tmp / "ref.trn", tmp / "hyp.trn", tmp, False), args.repeats),
            "sclite char (-e utf-8 -c -o rsum)": measure(
                sclite_cmd(tmp / "ref.trn", tmp / "hyp.trn", tmp, True), args.repeats
            ),
        }
        print(f"{args.pairs} pairs x {args.words} words = {ref_words} reference words, 2 levels where stated\n")
        print(f"{'process':<50} {'seconds':>8} {'M words/s':>10} {'peak MB':>8}")
        for name, (seconds, mb) in rows.items():
            print(f"{name:<50} {seconds:8.2f} {ref_words / seconds / 1e6:10.3f} {mb:8.0f}")
        ours = rows["asr score --compat sclite (word+char)"][0]
        jiwer_t = rows["jiwer script (process_words+process_characters)"][0]
        sclite_t = rows["sclite word (-o rsum)"][0] + rows["sclite char (-e utf-8 -c -o rsum)"][0]
        print(f"\nthe same results as their peers (jiwer, sclite): {check_agreement(asr, *files)}")
        print(f"asr score (sclite mode) vs jiwer script: {jiwer_t / ours:.2f}x as fast (target >= 1)")
        print(f"asr score (sclite mode) vs sclite word+char: {sclite_t / ours:.1f}x as fast (target >= 10)")

        long_ref, long_hyp = make_corpus(1, args.long_words, seed=7)
        write_trn(tmp / "long_ref.trn", long_ref)
        write_trn(tmp / "long_hyp.trn", long_hyp)
        long_files = [str(tmp / "long_ref.trn"), str(tmp / "long_hyp.trn")]
        ours_long = measure([asr, "score", *long_files, "--level", "word"], 1)
        sclite_long = measure(sclite_cmd(tmp / "long_ref.trn", tmp / "long_hyp.trn", tmp, False), 1)
        print(f"\none pair of {args.long_words}-word transcripts, word level:")
        print(f"{'asr score --level word':<50} {ours_long[0]:8.2f} s {ours_long[1]:8.0f} MB")
        print(f"{'sclite':<50} {sclite_long[0]:8.2f} s {sclite_long[1]:8.0f} MB")
        print(f"time ratio sclite/asr {sclite_long[0] / ours_long[0]:.1f}x (target > 1); "
              f"memory ratio asr/sclite {ours_long[1] / sclite_long[1]:.3f} (target <= 0.25)")  # fmt: skip

        # sclite cannot align more than 65,534 tokens a side, so only asr runs at character level here
        char_ref, char_hyp = make_corpus(1, args.long_char_words, seed=7)
        write_trn(tmp / "char_ref.trn", char_ref)
        write_trn(tmp / "char_hyp.trn", char_hyp)
        chars = len(char_ref[0].replace(" ", ""))
        cmd = [asr, "score", str(tmp / "char_ref.trn"), str(tmp / "char_hyp.trn"), "--level", "char"]
        seconds, mb = measure(cmd, 1)
        print(f"\none pair of {args.long_char_words} words ({chars} characters), char level, asr only:")
        print(f"{'asr score --level char':<50} {seconds:8.2f} s {mb:8.0f} MB")


if __name__ == "__main__":
    main()
