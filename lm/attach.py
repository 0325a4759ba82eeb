"""`asr lm attach`: a model folder whose processor decodes with the LM, offline, in plain transformers.

Saves a ``Wav2Vec2ProcessorWithLM`` (pyctcdecode decoder: ``alphabet.json`` and ``language_model/`` with the
binary LM, its words and alpha/beta) beside the model, so that ``processor.batch_decode(logits)`` and
``pipeline("automatic-speech-recognition", model=DIR)`` use the LM. transformers decodes through pyctcdecode's
``decode_beams`` (no beam-history pruning), so its hypotheses can differ slightly from ``asr decode``'s.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from asr.decode.decoders import Labels, LanguageModel
from asr.errors import InputError
from asr.text import folder_normalizer


def attach(model_dir: Path, lm_dir: Path, out_dir: Path, alpha: float, beta: float) -> Path:
    """Writes the model (copied unless `out_dir` is `model_dir`) with a processor that holds the LM."""
    from pyctcdecode import build_ctcdecoder
    from transformers import Wav2Vec2Processor, Wav2Vec2ProcessorWithLM

    if not (model_dir / "config.json").is_file():
        raise InputError(f"{model_dir}: not a model folder (no config.json)")
    processor = Wav2Vec2Processor.from_pretrained(model_dir)
    labels = Labels.from_tokenizer(processor.tokenizer)
    lm = LanguageModel.load(lm_dir)
    lm.check_against(labels, folder_normalizer(model_dir).id)
    decoder = build_ctcdecoder(list(labels.tokens), str(lm.binary), lm.unigrams, alpha=alpha, beta=beta)
    with_lm = Wav2Vec2ProcessorWithLM(
        feature_extractor=processor.feature_extractor, tokenizer=processor.tokenizer, decoder=decoder
    )
    if out_dir.resolve() != model_dir.resolve():
        shutil.copytree(model_dir, out_dir, dirs_exist_ok=True)
    with_lm.save_pretrained(str(out_dir))
    _mark_feature_extractor(out_dir / "processor_config.json")
    return out_dir


def _mark_feature_extractor(path: Path) -> None:
    """transformers 5's ASR pipeline looks for ``processor_class: ...WithLM`` in the feature extractor's config
    only, which ``save_pretrained`` now nests inside processor_config.json without it: without this the
    pipeline silently decodes greedily."""
    config = json.loads(path.read_text(encoding="utf-8"))
    nested = config.get("feature_extractor")
    if nested is not None:
        nested["processor_class"] = config.get("processor_class", "Wav2Vec2ProcessorWithLM")
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
