"""Randomly initialised wav2vec2-family CTC models of a preset size, written as local checkpoints.

There is no model hub here, so training starts from a local folder exactly as it would from
``facebook/wav2vec2-xls-r-300m``. Sizes: ``tiny`` (about 0.7 M parameters, trainable on 2 CPU cores),
``tiny-wide`` (tiny's feature encoder under a 4-layer, 256-wide transformer: 3.8 M), ``tiny-deep`` (under 8 layers
of 320: 10.8 M, a GPU-trained starting-checkpoint candidate, README), ``small`` (about 6 M) and
``base`` (the wav2vec2-base architecture, 95 M). Families: wav2vec2, HuBERT, WavLM and Data2VecAudio.
The feature encoder's normalisation is a choice: ``group`` (wav2vec2-base, HuBERT-base,
WavLM: no attention masks), ``layer`` or ``stable`` (layer norm, pre-norm transformer, as wav2vec2-large,
XLS-R and MMS). ``adapter_dim`` adds MMS-style attention adapters to a wav2vec2 model.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

from asr.errors import InputError, writing
from asr.folders import removed_if_left_empty, umask_modes, write_together, writing_alone
from asr.hub import refuse_unfound

TINY = {
    "hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 384,
    "conv_dim": (64, 64, 64, 64, 64, 64, 64), "num_conv_pos_embeddings": 32, "num_conv_pos_embedding_groups": 4,
}  # fmt: skip
SIZES: dict[str, dict] = {
    "tiny": TINY,
    # tiny's feature encoder (so --encoder-from can copy a trained tiny one) under a wider, deeper transformer
    "tiny-wide": TINY | {"hidden_size": 256, "num_hidden_layers": 4, "intermediate_size": 1024},
    # the same encoder under 8 layers of 320 (a GPU-trained candidate, recipes/synth/conf/start_checkpoint_gpu.yaml)
    "tiny-deep": TINY | {"hidden_size": 320, "num_hidden_layers": 8, "num_attention_heads": 5,
                         "intermediate_size": 1280},
    "small": {
        "hidden_size": 256, "num_hidden_layers": 6, "num_attention_heads": 4, "intermediate_size": 1024,
        "conv_dim": (256,) * 7, "num_conv_pos_embeddings": 64, "num_conv_pos_embedding_groups": 8,
    },
    "base": {},  # transformers' defaults are wav2vec2-base (and HuBERT-base, WavLM-base)
}  # fmt: skip
#: each size's feature-encoder normalisation when none is asked for
DEFAULT_NORM = {"tiny": "stable", "tiny-wide": "stable", "tiny-deep": "stable", "small": "stable", "base": "group"}
NORMS = {
    "group": {"feat_extract_norm": "group", "do_stable_layer_norm": False},
    "layer": {"feat_extract_norm": "layer", "do_stable_layer_norm": False},
    "stable": {"feat_extract_norm": "layer", "do_stable_layer_norm": True},
}
#: family -> transformers model type
FAMILIES = {"wav2vec2": "wav2vec2", "hubert": "hubert", "wavlm": "wavlm", "data2vec-audio": "data2vec-audio"}


def model_config(size: str, family: str = "wav2vec2", norm: str | None = None, adapter_dim: int = 0, **extra):
    """The transformers config of a size, family and feature-encoder normalisation."""
    from transformers import AutoConfig

    if size not in SIZES:
        raise InputError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    if family not in FAMILIES:
        raise InputError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    norm = norm or ("layer" if family == "data2vec-audio" else DEFAULT_NORM[size])
    if norm not in NORMS:
        raise InputError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")
    settings = dict(SIZES[size])
    if family == "data2vec-audio":  # its feature encoder is always layer-normalised, its position encoder a stack
        if norm != "layer":  # stable (a pre-norm transformer) would have been built post-norm without a word
            raise InputError(f"data2vec-audio has a layer-norm feature encoder and a post-norm transformer: norm "
                             f"{norm} does not exist for it (--norm layer)")  # fmt: skip
        settings.pop("num_conv_pos_embeddings", None)
    else:
        settings |= NORMS[norm]
    if adapter_dim:
        if family != "wav2vec2":
            raise InputError("adapter layers (MMS) exist for the wav2vec2 family only")
        if not settings.get("do_stable_layer_norm"):  # transformers builds them in no other encoder layer
            raise InputError(
                f"adapter layers (MMS) exist in the stable-norm transformer only: --norm stable, not {norm}"
            )
        settings["adapter_attn_dim"] = adapter_dim
    return AutoConfig.for_model(FAMILIES[family], **settings, **extra, ctc_loss_reduction="mean")


def init_model(
    size: str,
    out_dir: Path,
    processor_dir: Path | None = None,
    seed: int = 0,
    family: str = "wav2vec2",
    norm: str | None = None,
    adapter_dim: int = 0,
    encoder_from: str | None = None,
) -> int:
    """Writes config + safetensors weights (+ the processor, set to the model's attention-mask rule) to
    `out_dir`; returns the parameter count. `encoder_from`: a checkpoint whose convolutional feature encoder
    (same conv layers) is copied in, so that a bigger transformer starts from trained features."""
    import torch
    from transformers import AutoModelForCTC, Wav2Vec2Processor

    from asr.inference import uses_attention_mask
    from asr.model.folder import ModelFolder

    if (out_dir / "model.safetensors").exists():  # a trained model's run_info.json would describe the new one
        raise InputError(f"--out {out_dir} holds a model already; use another --out")
    for run in (out_dir, out_dir.parent):  # ModelFolder reads run_info.json beside a model or one level up
        if (run / "run_info.json").exists():
            raise InputError(f"--out {out_dir}: {run} is a training run's folder; its run_info.json would be taken "
                             "for this model's; use another --out")  # fmt: skip
    for option, folder in (("--processor", processor_dir), ("--encoder-from", encoder_from)):
        if folder is not None and Path(folder).resolve() == out_dir.resolve():
            raise InputError(f"--out {out_dir} is the {option} folder; use another --out")
    if processor_dir is None and (out_dir / "vocab.json").exists():  # a head of the default size beside it
        raise InputError(f"--out {out_dir} holds a processor (vocab.json): give it as --processor to size the head "
                         "to it, and another --out")  # fmt: skip
    if adapter_dim < 0:
        raise InputError(f"--adapter-dim {adapter_dim}: expected a positive size (0: no adapters)")
    extra, processor = {}, None
    if processor_dir is not None:
        if not (processor_dir / "vocab.json").is_file():  # else transformers would ask the hub for it, by name
            raise InputError(
                f"--processor {processor_dir}: not a processor folder (no vocab.json; asr vocab writes one)"
            )
        try:
            processor = Wav2Vec2Processor.from_pretrained(str(processor_dir), trust_remote_code=False)
        except (OSError, ValueError) as err:
            raise InputError(f"--processor {processor_dir}: {str(err).splitlines()[0]}") from None
        extra = {"vocab_size": len(processor.tokenizer), "pad_token_id": processor.tokenizer.pad_token_id}
    config = model_config(size, family, norm, adapter_dim, **extra)
    # the CPU's generator (the weights are drawn there) seeded here alone: a calling process's is left as it was
    # (torch.manual_seed seeded every GPU's too)
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        model = AutoModelForCTC.from_config(config, dtype=torch.float32)  # not a caller's default dtype (R68)
    if encoder_from is not None:
        copy_feature_encoder(model, encoder_from)
    with removed_if_left_empty(out_dir), writing_alone(out_dir, "--out"):  # a file as --out: one line
        for leftover in out_dir.glob(f"{STAGING}*"):  # of a run that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        if held := sorted(p.name for p in out_dir.iterdir()):
            raise InputError(f"--out {out_dir} holds files ({', '.join(held[:3])}); give an empty or new --out")
        # written beside, then moved in together: a stop or a full disk after the weights left them without a
        # processor, refused by the rerun as "holds a model already" (the folder itself is kept: its owner,
        # mode and group, a mount point)
        staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=STAGING))
        try:
            with writing(out_dir):
                model.save_pretrained(str(staging), safe_serialization=True)
                umask_modes(staging)
                if processor is not None:
                    processor.feature_extractor.return_attention_mask = uses_attention_mask(config)
                    processor.save_pretrained(str(staging))
                    ModelFolder(processor_dir).copy_text_config(staging)
            write_together({out_dir / p.name: functools.partial(os.replace, p) for p in staging.iterdir()})
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return sum(p.numel() for p in model.parameters())


STAGING = ".init-"  # the folder in --out that a model is written in before it is moved in


#: the config keys that make a convolutional feature encoder what it is
ENCODER_KEYS = ("conv_dim", "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm", "feat_extract_activation")


def copy_feature_encoder(model, checkpoint: str) -> None:
    """Loads the convolutional feature encoder weights of `checkpoint` (a folder or hub id; a CTC or a
    pretraining checkpoint) into `model`'s: an InputError when it cannot be loaded or its layers differ."""
    from safetensors import SafetensorError
    from transformers import AutoModel

    try:
        refuse_unfound(checkpoint)  # a path naming no folder: one line, not the hub's retries
    except InputError as err:
        raise InputError(f"--encoder-from {err}") from None
    try:
        loaded = AutoModel.from_pretrained(checkpoint, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:  # SafetensorError: truncated weights;
        # RuntimeError: weights of other sizes than its config's
        raise InputError(f"--encoder-from {checkpoint}: cannot load a model: {str(err).splitlines()[0]}") from None
    if not hasattr(loaded, "feature_extractor"):  # Whisper, Speech2Text: an AttributeError traceback
        raise InputError(f"--encoder-from {checkpoint}: a {loaded.config.model_type} model has no convolutional "
                         "feature encoder of the wav2vec2 family")  # fmt: skip
    source, target = loaded.feature_extractor.state_dict(), model.base_model.feature_extractor
    # the same weights can sit in another encoder (strides, activation): the layers' settings must agree too
    differ = [k for k in ENCODER_KEYS if _setting(loaded.config, k) != _setting(model.config, k)]
    shapes = {k: v.shape for k, v in target.state_dict().items()}
    if differ or shapes != {k: v.shape for k, v in source.items()}:
        raise InputError(f"--encoder-from {checkpoint}: its feature encoder's layers differ from the new model's"
                         f"{' (' + ', '.join(differ) + ')' if differ else ''}")  # fmt: skip
    target.load_state_dict(source)


def _setting(config, key: str):
    """A config value, lists and tuples alike (a config read from JSON holds lists, a new one tuples)."""
    value = getattr(config, key, None)
    return list(value) if isinstance(value, tuple | list) else value
