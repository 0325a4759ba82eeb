"""Exporting a model with its LM: a model folder whose processor decodes with the LM, offline, in plain
transformers (`asr lm attach`).

Saves a ``Wav2Vec2ProcessorWithLM`` (pyctcdecode decoder: ``alphabet.json`` and ``language_model/`` with the
binary LM, its words and alpha/beta) beside the model, so that ``processor.batch_decode(logits)`` and
``pipeline("automatic-speech-recognition", model=DIR)`` use the LM. transformers decodes through pyctcdecode's
``decode_beams`` (no beam-history pruning), so its hypotheses can differ slightly from ``asr decode``'s.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from asr.decode.decoders import Labels
from asr.decode.tune import WEIGHT_RANGE, usable_weight
from asr.errors import InputError, run_reporting_errors
from asr.folders import leads_outside, write_whole
from asr.inference import load_checked, uses_attention_mask
from asr.options import ArgumentParser, folder_path
from asr.text import folder_normalizer
from lm.folder import LMFolder

#: what a processor with an LM adds to a model folder (pyctcdecode's decoder)
ATTACHED = ("language_model", "alphabet.json")


def attach(model_dir: Path, lm_dir: Path, out_dir: Path, alpha: float, beta: float) -> Path:
    """Writes the model (copied unless `out_dir` is `model_dir`) with a processor that holds the LM."""
    from pyctcdecode import build_ctcdecoder
    from transformers import Wav2Vec2ProcessorWithLM

    if not (model_dir / "config.json").is_file():
        raise InputError(f"{model_dir}: not a model folder (no config.json)")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: a file, not a folder")
    out, model = out_dir.resolve(), model_dir.resolve()
    if out != model and out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"--out {out_dir}: not empty; the model would be merged into what is there")
    if out != model and out.is_relative_to(model):
        raise InputError(f"--out {out_dir}: inside --model {model_dir} (the copy would copy itself)")
    _check_links(model_dir)
    # asr decode's checks: a folder without a CTC head, with weights of another network or a processor of another
    # head was attached, and the pipeline then ran a random head or failed on its first utterance
    network, processor = load_checked(str(model_dir), with_lm=False)
    labels = Labels.from_tokenizer(processor.tokenizer)
    lm = LMFolder.load(lm_dir)
    lm.check_against(labels.alphabet(), folder_normalizer(model_dir).id)
    # the binary as LMFolder.load holds it (an LM rebuilt meanwhile went out under the words read before)
    decoder = build_ctcdecoder(list(labels.tokens), lm.model_path, lm.unigrams, alpha=alpha, beta=beta)
    features = processor.feature_extractor  # what the model takes, from its config (not the processor file)
    features.return_attention_mask = uses_attention_mask(network.config)
    with_lm = Wav2Vec2ProcessorWithLM(feature_extractor=features, tokenizer=processor.tokenizer, decoder=decoder)

    def write(folder: Path) -> None:  # the model without an LM attached before, then the processor with this one
        shutil.copytree(model_dir, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ATTACHED),
                        copy_function=_copy_regular_file)  # fmt: skip
        with_lm.save_pretrained(str(folder))
        saved = folder / "language_model" / Path(lm.model_path).name  # pyctcdecode keeps the name it read (4)
        saved.replace(saved.with_name(lm.binary.name))
        _mark_feature_extractor(folder / "processor_config.json")

    # whole or not at all: pyctcdecode refuses to write over a language_model/, after the processor files
    try:
        write_whole(out_dir, write, "--model" if out == model else "--out")
    finally:  # pyctcdecode keeps every decoder's KenLM model in a class-level container
        decoder.cleanup()
    return out_dir


def _check_links(model_dir: Path) -> None:
    """Refuses a link in the model folder to anything outside it, its hub snapshot's blobs aside (R67: a
    downloaded folder's `notes.txt -> ~/.ssh/id_rsa` was copied into the folder users publish)."""
    for folder, subfolders, files in os.walk(model_dir):
        for name in [*subfolders, *files]:
            link = Path(folder, name)
            if leads_outside(link, model_dir):
                raise InputError(f"--model {model_dir}: {link.relative_to(model_dir)} is a link to "
                                 f"{link.resolve()}, outside the model folder, which the copy would publish; copy in "
                                 "what it holds")  # fmt: skip


def _copy_regular_file(source: str, target: str) -> None:
    """`shutil.copy2` of a regular file, a link to one included (a hub snapshot's files are links); a link to a
    device or pipe (`/dev/zero` in a downloaded model folder) was copied without end."""
    if not os.path.isfile(source):
        raise InputError(f"{source}: not a regular file (a device or pipe, through a link?); remove it from the model")
    shutil.copy2(source, target)


def _mark_feature_extractor(path: Path) -> None:
    """transformers 5's ASR pipeline looks for ``processor_class: ...WithLM`` in the feature extractor's config
    only, which ``save_pretrained`` now nests inside processor_config.json without it: without this the
    pipeline silently decodes greedily."""
    config = json.loads(path.read_text(encoding="utf-8"))
    nested = config.get("feature_extractor")
    if nested is not None:
        nested["processor_class"] = config.get("processor_class", "Wav2Vec2ProcessorWithLM")
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None, prog: str = "asr lm attach") -> int:
    p = ArgumentParser(prog=prog, description="save a Wav2Vec2ProcessorWithLM beside a model")
    p.add_argument("--model", type=folder_path, required=True, help="a model folder (from 'asr train')")
    p.add_argument("--lm", type=folder_path, required=True, help="an LM folder (from 'asr lm build')")
    p.add_argument("--alpha", type=float, default=0.5, help="LM weight (take the tuned one from results.json)")
    p.add_argument("--beta", type=float, default=1.5, help="word insertion bonus")
    p.add_argument("--out", type=folder_path, help="write a copy of the model there (default: into the model folder)")
    args = p.parse_args(argv)

    def run() -> int:
        for option, value in (("--alpha", args.alpha), ("--beta", args.beta)):
            if not usable_weight(value):  # NaN in attrs.json, or every beam score infinite
                raise InputError(f"{option} {value}: expected {WEIGHT_RANGE}")
        out = attach(args.model, args.lm, args.out or args.model, args.alpha, args.beta)
        print(f"{out}: processor with LM (alpha {args.alpha}, beta {args.beta})")
        return 0

    return run_reporting_errors(prog, run)


if __name__ == "__main__":
    sys.exit(main())
