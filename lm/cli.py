"""`asr lm build|ppl|train`: n-gram LMs from text with KenLM, their perplexity, and causal Transformer LMs.

(`asr lm attach`, a model exported with its LM, is `asr.decode.export`: decoding depends on `lm`, never the
other way.)"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from pathlib import Path

from asr.errors import InputError, run_reporting_errors
from asr.options import ArgumentParser, file_path, folder_path, model_name, normalizer_name
from asr.text import Normalizer, get_normalizer


def _add_normalizer(p: argparse.ArgumentParser, required: bool = True) -> None:
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--processor",
        type=model_name,
        help="the acoustic model's processor or model folder, or its hub id: its normaliser",
    )
    group.add_argument("--normalize", type=normalizer_name, help="a normaliser name (as 'asr vocab --normalize')")


def _processor_folder(args: argparse.Namespace) -> Path | None:
    """--processor's folder (a hub id's snapshot: `local_folder`), or None without one."""
    from asr.hub import local_folder, refuse_unfound

    if args.processor is None:
        return None
    refuse_unfound(args.processor)  # exp/hi/nonexist: "no such folder" (it was "no asr_text.json", after a hub note)
    return local_folder(args.processor)


def _normalizer(args: argparse.Namespace) -> Normalizer:
    if args.normalize:
        return get_normalizer(args.normalize)
    from asr.text import TEXT_CONFIG, folder_normalizer

    folder = _processor_folder(args)
    if not (folder / TEXT_CONFIG).is_file():
        raise InputError(f"{args.processor}: no {TEXT_CONFIG}; give --normalize, or a folder made by 'asr vocab'")
    return folder_normalizer(folder)


def _add_texts(p: argparse.ArgumentParser) -> None:
    """--text, --out and --dev, as `build` and `train` take them."""
    p.add_argument("--text", type=file_path, nargs="+", action="extend", required=True,
                   help="text files (a sentence a line) or .jsonl")  # fmt: skip
    p.add_argument("--out", type=folder_path, required=True, help="the LM folder to write")
    p.add_argument("--dev", type=file_path, nargs="*", action="extend", default=[],
                   help="text or manifests for the dev perplexity")  # fmt: skip


def build_parser(prog: str) -> argparse.ArgumentParser:
    epilog = f"and {prog} attach: a model saved with its LM (see its --help)"
    parser = ArgumentParser(prog=prog, description=__doc__, epilog=epilog)
    sub = parser.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="build an ARPA + binary KenLM model from text files or manifests")
    _add_texts(b)
    b.add_argument("--order", type=int, default=4, help="the n-gram order")
    b.add_argument("--prune", default="", help="lmplz --prune count thresholds per order, e.g. 0,0,1")
    b.add_argument("--memory", default="1G", help="lmplz -S sorting memory (default 1G)")
    b.add_argument("--quantize", type=int, default=0, help="build_binary -q/-b bits (0: exact, default)")
    _add_normalizer(b)
    t = sub.add_parser("train", help="train a causal Transformer LM on the same normalised text (lm/neural.py)")
    _add_texts(t)
    t.add_argument("--max-minutes", type=float, default=5.0, help="training time (default 5)")
    t.add_argument("--max-steps", type=int, default=0,
                   help="stop after this many steps where they come before --max-minutes (a run that does not "
                        "depend on the machine's speed; default 0: no limit)")  # fmt: skip
    t.add_argument(
        "--from", dest="from_model", type=model_name, help="fine-tune this causal LM (folder or hub id, e.g. gpt2)"
    )
    t.add_argument("--seed", type=int, default=0, help="of the initialisation and the batches")
    _add_normalizer(t)
    p = sub.add_parser("ppl", help="perplexity and OOV rate of text under an LM folder (n-gram or Transformer)")
    p.add_argument("--lm", type=folder_path, required=True, help="an LM folder ('asr lm build' or 'asr lm train')")
    p.add_argument(
        "--text", type=file_path, nargs="+", action="extend", required=True, help="text files or .jsonl manifests"
    )
    _add_normalizer(p, required=False)  # default: the LM's own; another one is refused
    return parser


def _word_delimiter(processor: Path) -> str:
    """The processor's word delimiter token (tokenizer_config.json; "|", transformers' default, where it names
    none; lm/ reads no asr.vocab: tests/test_layout.py)."""
    config = processor / "tokenizer_config.json"
    try:
        settings = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{config}: not readable ({err})") from None
    delimiter = settings.get("word_delimiter_token") if isinstance(settings, dict) else None
    return delimiter if isinstance(delimiter, str) and delimiter else "|"


def _report_unspellable(folder: Path, processor: str, vocab: dict, delimiter: str, out: Path) -> None:
    """Names the words of the LM built in `folder` (for `out`) that the processor's characters cannot spell (the
    beam search can never reach them), and refuses the LM as `asr decode` would with a model of this processor
    (more than 5% of them): found here, not after a recipe's training, and before the LM takes `out`'s place."""
    from lm.folder import LMFolder

    lm = LMFolder.load(folder)
    # the word delimiter is a space to the decoder (R91: "casa|azul" was spellable here, and not in asr decode)
    alphabet = {token for token in vocab if len(token) == 1} - {delimiter}
    if bad := lm.unspellable(alphabet):
        print(f"  {len(bad)} of {len(lm.unigrams)} words use characters {processor}'s vocabulary lacks (the model "
              f"cannot write them), e.g. {', '.join(bad[:3])}")  # fmt: skip
        try:
            lm.check_against(alphabet, lm.normalizer)
        except InputError as err:
            raise InputError(f"{str(err).replace(str(folder), str(out))}; asr decode refuses it with {processor}'s "
                             "models (LM text with characters the train transcripts lack: more train data, or "
                             "another --text); nothing was written") from None  # fmt: skip


def _say_dropped(what: str, dropped: dict[str, int]) -> None:
    """Names the lines of text that normalisation left out (lm.json records them per file)."""
    if total := sum(dropped.values()):
        files = ", ".join(f"{name}: {n}" for name, n in dropped.items() if n)
        lines = "1 line" if total == 1 else f"{total} lines"
        print(f"  {what}: {lines} normalised to nothing, left out ({files})")


def _build(args: argparse.Namespace) -> int:
    from lm.build import BuildOptions, build_lm, parse_prune

    options = BuildOptions(args.order, parse_prune(args.prune), args.memory, args.quantize)
    check, processor = None, _processor_folder(args)
    if processor is not None and (processor / "vocab.json").is_file():
        try:
            vocab = json.loads((processor / "vocab.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{processor / 'vocab.json'}: not a readable vocabulary ({err})") from None
        check = functools.partial(_report_unspellable, processor=args.processor, vocab=vocab,
                                  delimiter=_word_delimiter(processor), out=args.out)  # fmt: skip
    info = build_lm(args.text, args.out, _normalizer(args), options, args.dev, check)
    counts = " ".join(f"{n}-grams {c}" for n, c in info["ngrams"].items())
    print(f"{args.out}: order {info['order']}, {info['text']['sentences']} sentences, vocabulary {info['vocabulary']}")
    print(f"  {counts}; {info['build_seconds']} s")
    _say_dropped("text", info["text"]["dropped_lines"])
    if info["dev"]:
        dev = info["dev"]
        print(_dev_line(dev))
        _say_dropped("dev", dev["dropped_lines"])
    return 0


def _train(args: argparse.Namespace) -> int:
    from lm.neural_training import train_neural_lm

    if not 0 < args.max_minutes < math.inf:  # NaN too
        raise InputError(f"--max-minutes {args.max_minutes:g}: expected a number of minutes more than 0")
    if args.max_steps < 0:
        raise InputError(f"--max-steps {args.max_steps}: expected 0 (no limit) or more")
    info = train_neural_lm(args.text, args.out, _normalizer(args), args.dev, args.max_minutes, args.from_model,
                           args.seed, max_steps=args.max_steps)  # fmt: skip
    print(f"{args.out}: {info['parameters'] / 1e6:.2f} M parameters, {info['steps']} steps, {info['epochs']} epochs "
          f"on {info['text']['sentences']} sentences in {info['minutes']} min")  # fmt: skip
    if info["steps"] < args.max_steps:
        print(f"  --max-minutes {args.max_minutes:g} ended it before --max-steps {args.max_steps}")
    _say_dropped("text", info["text"]["dropped_lines"])
    if info["dev"]:
        print(_dev_line(info["dev"]))
        _say_dropped("dev", info["dev"]["dropped_lines"])
    return 0


def _dev_line(dev: dict, label: str = "  dev") -> str:
    """The dev perplexity per word with OOV words and without (the figure to compare an n-gram and a Transformer
    on: their `<unk>` probabilities differ), and the OOV rate."""
    return (f"{label}: perplexity per word {dev['perplexity']:.1f}, without OOV words {dev['perplexity_no_oov']:.1f}"
            f" (compare LMs on this one); OOV rate {100 * dev['oov_rate']:.2f}%")  # fmt: skip


def _ppl(args: argparse.Namespace) -> int:
    from collections import Counter

    from lm.folder import read_info
    from lm.text import dropped_lines, sentences_of

    info = read_info(args.lm)
    normalize = _normalizer(args) if args.normalize or args.processor else get_normalizer(info["normalizer"])
    if normalize.id != info["normalizer"]:
        raise InputError(
            f"{args.lm}: its text was normalised with {info['normalizer']}, not {normalize.id}: the perplexity "
            "would not be the LM's (leave out --normalize and --processor to use its own)"
        )
    dropped: Counter = Counter()
    sentences = sentences_of(args.text, normalize, "--text", dropped)
    kind = info.get("kind", "ngram")
    result = {"lm": str(args.lm), "kind": kind, "normalizer": normalize.id, "files": [str(p) for p in args.text],
              "dropped_lines": dropped_lines(args.text, dropped), **_perplexity(args.lm, kind, sentences)}  # fmt: skip
    json.dump(result, sys.stdout, indent=1)
    print()
    count = f"{len(sentences)} sentence" + ("s" if len(sentences) != 1 else "")
    print(_dev_line(result, count), file=sys.stderr)  # for a person
    return 0


def _perplexity(folder: Path, kind: str, sentences: list[str]) -> dict:
    """Per-word perplexity and OOV rate of `sentences` under the LM folder's n-gram or Transformer LM."""
    if kind == "transformer":
        from lm.neural import NeuralLM

        return NeuralLM.load(str(folder)).perplexity(sentences)
    from lm.folder import LMFolder
    from lm.perplexity import load, perplexity

    lm = LMFolder.load(folder)  # checked whole as a decode checks it (R72: another LM's lm.bin was measured)
    return perplexity(load(lm.model_path, shown=lm.binary), sentences)


def main(argv: list[str] | None = None, prog: str = "asr lm") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_reporting_errors(
        f"{prog} {args.action}", lambda: {"build": _build, "ppl": _ppl, "train": _train}[args.action](args)
    )
