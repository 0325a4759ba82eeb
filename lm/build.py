"""Building an n-gram LM with KenLM: normalised text -> `lmplz` (modified Kneser-Ney) -> ARPA -> `build_binary`.

Writes an LM folder (`lm.folder.LMFolder` reads it): ``lm.arpa``, ``lm.bin`` (trie), ``unigrams.txt``,
``text.txt`` (the normalised training text) and ``lm.json`` (what was built, from what, and its dev perplexity).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from asr.errors import InputError
from asr.folders import write_whole
from asr.progress import progress_bar
from asr.text import Normalizer
from lm import arpa
from lm.folder import LM_FILES, LM_SCHEMA_VERSION, check_out
from lm.kenlm_tools import run_kenlm
from lm.perplexity import load, perplexity
from lm.text import TextDigest, dropped_lines, normalized_sentences, raw_lines, sentences_of

MAX_ORDER = 6  # KenLM's default build (KENLM_MAX_ORDER)
MAX_QUANTIZE_BITS = 25  # build_binary -q/-b: "quantizing probability supports at most 25 bits"


@dataclass
class BuildOptions:
    """lmplz and build_binary settings."""

    order: int = 4
    prune: list[int] = field(default_factory=list)  # lmplz --prune: count thresholds per order (0 = keep all)
    memory: str = "1G"  # lmplz -S: its sorting memory (the default of 80% of RAM is slow to start)
    quantize: int = 0  # build_binary -q/-b bits for probabilities and backoffs; 0 keeps them exact


def write_text(paths: list[Path], normalize: Normalizer, out: Path) -> dict:
    """Writes the normalised sentences to `out`; returns counts and the text's digest (which a decode records
    of its LM: two LMs from other texts under the same file names and counts were told apart by nothing);
    `InputError` for a file that gives nothing."""
    per_file: Counter = Counter()
    dropped: Counter = Counter()
    words = longest = 0
    digest = TextDigest()
    sentences = normalized_sentences(paths, normalize, dropped)
    with open(out, "w", encoding="utf-8") as f:
        for path, sentence in progress_bar(sentences, desc="normalise", unit=" sentences", delay=2):
            f.write(sentence + "\n")
            digest.add(sentence)
            per_file[path] += 1
            n = sentence.count(" ") + 1
            words += n
            longest = max(longest, n)
    for path in paths:
        if per_file[path] == 0:
            has_lines = any(line.strip() for _, line in raw_lines(path))
            why = f"no words left after normalisation with {normalize.id}" if has_lines else "empty"
            raise InputError(f"{path}: {why}")
    return {
        "files": {str(p): per_file[p] for p in paths},
        "sentences": sum(per_file.values()),
        "dropped_lines": dropped_lines(paths, dropped),
        "words": words,
        "longest_sentence": longest,
        "sha256": digest.hexdigest(),
    }


def check_order(order: int, longest_sentence: int, texts: list[Path]) -> None:
    """`InputError` unless the `texts`, whose longest sentence has `longest_sentence` words, hold n-grams of
    `order`: KenLM would build the model (lmplz writes "ngram 4=0"), but with no n-gram of its order."""
    if not 2 <= order <= MAX_ORDER:
        raise InputError(f"--order {order}: KenLM builds orders 2 to {MAX_ORDER} (its binary needs bigrams)")
    if longest_sentence + 2 < order:  # with <s> and </s>, a sentence of k words holds (k+2)-grams at most
        raise InputError(
            f"--order {order} needs sentences of at least {order - 2} words; the longest of "
            f"{', '.join(map(str, texts))} has {longest_sentence}"
        )


def build_lm(texts: list[Path], out: Path, normalize: Normalizer, options: BuildOptions, dev: list[Path],
             check: Callable[[Path], None] | None = None) -> dict:  # fmt: skip
    """Builds the LM folder `out` whole or not at all (in ``<out>.partial``, then swapped in: a failed rebuild
    leaves the old LM as it was); returns (and writes) its ``lm.json``. `check` is called on the built folder
    before the swap: an LM it refuses leaves the old one in place."""
    if options.prune and len(options.prune) > options.order:
        raise InputError(f"--prune has {len(options.prune)} thresholds for an order-{options.order} model")
    if options.prune != sorted(options.prune):  # lmplz's own error named neither the option nor the rule's reason
        raise InputError(f"--prune {','.join(map(str, options.prune))}: thresholds may not fall from an order to the "
                         "next (KenLM: a pruned n-gram's longer n-grams would be kept)")  # fmt: skip
    # lmplz -S: a whole number with a unit, or a share of the memory (-1 asked malloc for 5e18 bytes, 200% and a
    # bare number, in KB, aborted lmplz)
    size = re.fullmatch(r"0*([1-9][0-9]*)([bKMGTPEZY%])", options.memory)
    if not size or (size[2] == "%" and int(size[1]) > 100):
        raise InputError(f"--memory {options.memory!r}: expected a whole number with a unit (b, K, M, G...), such as "
                         "1G or 500M, or a share of the machine's memory up to 100%")  # fmt: skip
    if not 0 <= options.quantize <= MAX_QUANTIZE_BITS:
        raise InputError(f"--quantize {options.quantize}: KenLM quantizes to 1 to {MAX_QUANTIZE_BITS} bits (0: exact)")
    if dev:
        sentences_of(dev, normalize, "--dev")  # checked before anything is built
    check_out(out, "ngram")

    def build(folder: Path) -> dict:
        info = _build(texts, folder, normalize, options, dev)
        if check is not None:
            check(folder)
        return info

    return write_whole(out, build)


def _build(texts: list[Path], out: Path, normalize: Normalizer, options: BuildOptions, dev: list[Path]) -> dict:
    start = time.perf_counter()
    corpus = write_text(texts, normalize, out / LM_FILES["text"])
    check_order(options.order, corpus["longest_sentence"], texts)
    arpa_path = out / LM_FILES["arpa"]
    # KenLM's own progress goes to its log: each step named as it starts (a large text was minutes of silence)
    print(f"lmplz: order {options.order} over {corpus['words']} words", file=sys.stderr)
    log = _lmplz(out / LM_FILES["text"], arpa_path, options)
    binary_args = ["-q", str(options.quantize), "-b", str(options.quantize)] if options.quantize else []
    print(f"build_binary: {arpa_path.stat().st_size / 1e6:.1f} MB of ARPA", file=sys.stderr)
    run_kenlm("build_binary", [*binary_args, "trie", str(arpa_path), str(out / LM_FILES["binary"])])
    words = arpa.unigrams(arpa_path)
    (out / LM_FILES["unigrams"]).write_text("".join(w + "\n" for w in words), encoding="utf-8")
    info = {
        "schema": LM_SCHEMA_VERSION,
        "order": options.order,
        "options": asdict(options),
        "normalizer": normalize.id,
        "text": corpus,
        "ngrams": arpa.ngram_counts(arpa_path),
        "vocabulary": len(words),
        "discount_fallback_used": "substituting fallback discounts" in log.lower(),  # the log names paths too
        "files": {k: v for k, v in LM_FILES.items() if k not in ("info", "text")},
        "bytes": {k: (out / v).stat().st_size for k, v in LM_FILES.items() if k in ("arpa", "binary")},
        "build_seconds": round(time.perf_counter() - start, 2),
        "dev": dev_perplexity(out / LM_FILES["binary"], dev, normalize) if dev else None,
    }
    (out / LM_FILES["info"]).write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return info


def _lmplz(text: Path, arpa_path: Path, options: BuildOptions) -> str:
    tmp = arpa_path.parent / "lmplz_tmp"
    tmp.mkdir(exist_ok=True)
    args = ["-o", str(options.order), "-S", options.memory, "-T", str(tmp), "--discount_fallback"]
    if options.prune:
        args += ["--prune", *map(str, options.prune)]
    partial = arpa_path.with_suffix(".arpa.partial")
    try:
        log = run_kenlm("lmplz", args, stdin=text, stdout=partial)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if "</s>" not in arpa.unigram_entries(partial):
        raise InputError(f"lmplz wrote no </s> unigram in {arpa_path}; pyctcdecode needs one")
    partial.replace(arpa_path)
    return log


def dev_perplexity(model_path: Path, dev: list[Path], normalize: Normalizer) -> dict:
    """Perplexity and OOV rate of the normalised dev sentences, and the lines normalisation left out."""
    dropped: Counter = Counter()
    result = perplexity(load(model_path), (s for _, s in normalized_sentences(dev, normalize, dropped)))
    return {"files": [str(p) for p in dev], "dropped_lines": dropped_lines(dev, dropped), **result}


def parse_prune(text: str) -> list[int]:
    """``"0,0,1"`` or ``"0 0 1"`` -> [0, 0, 1]."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not all(p.isdigit() for p in parts):
        raise InputError(f"--prune {text!r}: expected counts per order such as 0,0,1")
    return [int(p) for p in parts]
