"""MMS-style language adapters: small attention adapters in every transformer layer plus the CTC head, one set
per language, stored beside the model as ``adapter.<lang>.safetensors`` (the file transformers' ``load_adapter``
reads; facebook/mms-1b-all ships one per language). Training them alone leaves the shared model untouched.
"""

from __future__ import annotations

from pathlib import Path

from asr.errors import InputError


def adapter_file(lang: str) -> str:
    """The file name of a language's adapter weights."""
    return f"adapter.{lang}.safetensors"


def has_adapters(model) -> bool:
    """Whether the model has adapter layers: `adapter_attn_dim` in a stable-norm config (transformers builds
    them nowhere else, and a config naming them without that norm trained its CTC head alone)."""
    config = model.config
    return bool(getattr(config, "adapter_attn_dim", None)) and bool(getattr(config, "do_stable_layer_norm", False))


def train_adapters_only(model, name: str, new_language: bool) -> None:
    """Freezes everything but the adapter layers and the head; a new language starts from fresh adapters."""
    if not has_adapters(model):
        raise InputError(f"{name}: adapters_only needs a model with adapter layers (adapter_attn_dim in its config)")
    if new_language:
        fresh_adapters(model)
    model.freeze_base_model()
    # freeze_base_model leaves the feature encoder's own gradient switch on: its output (cached by asr train
    # across epochs) would carry a graph, and the second epoch's backward pass through it failed
    model.freeze_feature_encoder()
    for param in model._get_adapters().values():
        param.requires_grad = True


def fresh_adapters(model) -> None:
    """Initialises the attention adapter layers as a new model's (normal(0, initializer_range) weights, zero
    biases, unit layer norms). transformers' `init_adapter_layers` would, but since 5.x its initialisers leave
    weights that `from_pretrained` loaded as they are."""
    import torch

    std = model.config.initializer_range
    for module in model.modules():
        if type(module).__name__ != "Wav2Vec2AttnAdapterLayer":
            continue
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.normal_(layer.weight, std=std)
                torch.nn.init.zeros_(layer.bias)
            elif isinstance(layer, torch.nn.LayerNorm):
                torch.nn.init.ones_(layer.weight)
                torch.nn.init.zeros_(layer.bias)


def save_adapter(model, folder: Path, lang: str) -> Path:
    """Writes the adapter layers and head of `model` as ``folder/adapter.<lang>.safetensors``."""
    from safetensors.torch import save_file

    path = folder / adapter_file(lang)
    weights = {k: v.detach().cpu().contiguous() for k, v in model._get_adapters().items()}
    save_file(weights, str(path), metadata={"format": "pt"})
    return path


def _read_adapter(model, name: str, lang: str) -> str | None:
    """Loads `lang`'s adapter file of `name` (and its head) into `model`; why it cannot where there is no such
    file (None when loaded); one line where the file does not fit the model."""
    try:
        model.load_adapter(lang, force_load=True)
    except (OSError, ValueError) as err:
        return str(err).splitlines()[0]
    except RuntimeError as err:  # load_state_dict: weights of another adapter_attn_dim or head size
        raise InputError(f"{name}: adapter {lang!r} ({adapter_file(lang)}) does not fit the model: "
                         f"{' '.join(str(err).split())[:200]}") from None  # fmt: skip
    return None


def start_from_own_adapter(model, name: str, lang: str) -> bool:
    """Loads `lang`'s adapter file of `name` into `model`, where there is one, for a run that trains it further
    (without it the run started from the adapter built into the weights, the language trained last, and wrote
    it under `lang`'s name); whether there was one (none: a language new to the model, sharing its head's
    vocabulary)."""
    return _read_adapter(model, name, lang) is None


def built_in_adapter(model, name: str) -> str | None:
    """The language of the adapter file in folder `name` that holds the adapter weights built into `model` (a
    decode without --adapter runs them: the language trained last), or None (no such file, or a hub id). A
    decode's record names it, so that decodes with and without --adapter of one language are one system."""
    import torch
    from safetensors import safe_open

    folder = Path(name)
    if not has_adapters(model) or not folder.is_dir():
        return None
    own = {k: v.detach().cpu() for k, v in model._get_adapters().items()}
    for path in sorted(folder.glob(adapter_file("*"))):
        # tensor by tensor, up to the first that differs: a folder can hold a file per language (MMS: over 1,000)
        with safe_open(str(path), framework="pt") as weights:
            if set(weights.keys()) == own.keys() and all(torch.equal(weights.get_tensor(k), own[k]) for k in own):
                return path.name.removeprefix("adapter.").removesuffix(".safetensors")
    return None


def load_adapter(model, processor, name: str, lang: str) -> None:
    """Loads language `lang`'s adapter (and head) into `model`; a tokenizer with one vocabulary per language
    (as facebook/mms-1b-all's) is switched to it (whether it fits the head is `CTCInference.load`'s check)."""
    if not has_adapters(model):
        raise InputError(f"{name}: --adapter {lang}: the model has no adapter layers (adapter_attn_dim)")
    if (missing := _read_adapter(model, name, lang)) is not None:
        raise InputError(f"{name}: no adapter {lang!r} ({adapter_file(lang)}): {missing}")
    tokenizer = processor.tokenizer
    if isinstance(next(iter(tokenizer.vocab.values()), None), dict):  # nested {lang: vocab}, as MMS ships it
        try:
            tokenizer.set_target_lang(lang)
        except ValueError as err:  # the vocabulary has no such language
            raise InputError(f"{name}: --adapter {lang}: {str(err).splitlines()[0]}") from None
