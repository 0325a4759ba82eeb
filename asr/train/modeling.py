"""The model a run trains: any AutoModelForCTC checkpoint, its head sized to the processor's vocabulary, the
config's model options written into its config, and what is trained (everything, or only MMS adapters)."""

from __future__ import annotations

import sys

from asr.errors import InputError
from asr.hub import refuse_unfound
from asr.inference import check_loaded
from asr.model.adapters import train_adapters_only
from asr.train.config import TrainConfig
from asr.train.head import init_new_head, own_vocab


def check_head(cfg: TrainConfig, config, tokenizer) -> None:
    """Refuses a model whose CTC head was trained on another vocabulary, unless new_head is set. A checkpoint
    without a CTC head (pretrained only, as facebook/wav2vec2-base or `asr pretrain`'s) gets a new one."""
    if cfg.new_head or getattr(config, "vocab_size", None) is None:
        return
    if config.architectures and not any(a.endswith("ForCTC") for a in config.architectures):
        return
    mine = tokenizer.get_vocab()
    own = own_vocab(cfg.model)
    if config.vocab_size != len(tokenizer) or any(mine.get(token) != i for token, i in own.items()):
        raise InputError(
            f"the vocabulary of {cfg.processor} ({len(tokenizer)} tokens) does not match the CTC head of {cfg.model} "
            f"({config.vocab_size} outputs{', its own vocab.json' if own else ''}); set new_head=true to train a "
            f"new head"
        )


def model_config(cfg: TrainConfig):
    """The config of `cfg.model` (a folder or hub id); one line when there is none."""
    from transformers import AutoConfig

    refuse_unfound(cfg.model)
    try:
        return AutoConfig.from_pretrained(cfg.model, trust_remote_code=False)  # no code of the model's own
    except (OSError, ValueError) as err:
        raise InputError(f"model {cfg.model!r}: {str(err).splitlines()[0]}") from None


def from_pretrained(cls, name: str, **kwargs):
    """`cls.from_pretrained(name, **kwargs)`; one line naming the model where its weights cannot be loaded (none
    in the folder, a damaged file)."""
    from safetensors import SafetensorError

    try:
        return cls.from_pretrained(name, trust_remote_code=False, **kwargs)
    except (OSError, SafetensorError) as err:
        raise InputError(f"model {name!r}: cannot load its weights: {str(err).splitlines()[0]}") from None


def load_model(cfg: TrainConfig, processor):
    """The CTC model with its head sized to the processor's vocabulary and the config's model options."""
    from accelerate import PartialState
    from transformers import AutoModelForCTC

    tokenizer = processor.tokenizer
    config = model_config(cfg)
    check_head(cfg, config, tokenizer)
    old_blank = config.pad_token_id
    config.update(cfg.model_options())
    config.update({"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id, "ctc_loss_reduction": "mean"})
    model, info = from_pretrained(AutoModelForCTC, cfg.model, config=config, ignore_mismatched_sizes=cfg.new_head,
                                  output_loading_info=True)  # fmt: skip
    # the checks a decode makes (a wav2vec2-bert model was a traceback, weights a config has no place for were
    # dropped and another network trained: R59); the CTC head may be new (a pretrained or headless checkpoint)
    check_loaded(cfg.model, model, processor, {**info, "missing_keys": [
        key for key in info["missing_keys"] if not key.startswith("lm_head.")]})  # fmt: skip
    if cfg.new_head:  # transformers' load report above says the head was reinitialised: so it was, then this
        carried = init_new_head(model, cfg.model, old_blank, tokenizer, carry=cfg.new_head_init == "carry")
        if PartialState().is_main_process:
            print(
                f"new CTC head: {carried} of its {len(tokenizer)} rows carried from {cfg.model}'s head (tokens "
                f"both vocabularies hold), the rest at random (new_head_init {cfg.new_head_init})",
                file=sys.stderr,
            )
    if cfg.adapters_only:
        train_adapters_only(model, cfg.model, new_language=cfg.new_head)
    elif cfg.freeze_feature_encoder:
        model.freeze_feature_encoder()
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model
