"""A new CTC head that keeps what the checkpoint's head knew: the rows (output weights and bias) of every token
the checkpoint's vocabulary shares with the new one, the CTC blank (the pad token) included, are copied over;
only tokens the checkpoint never emitted start from random. Fine-tuning a multilingual checkpoint on one of its
languages then starts from its readings of that language's letters instead of from chance.
"""

from __future__ import annotations

import json
from pathlib import Path


def own_vocab(checkpoint: str) -> dict[str, int]:
    """The vocabulary a local checkpoint's CTC head was trained on (its vocab.json; of one holding a vocabulary
    per language, as MMS ships it, its tokenizer's target_lang's: it was read as one vocabulary of languages);
    empty when it has none."""
    folder = Path(checkpoint)
    if not (folder / "vocab.json").exists():
        return {}
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    if not any(isinstance(v, dict) for v in vocab.values()):
        return vocab
    try:
        lang = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("target_lang")
    except (OSError, ValueError, AttributeError):
        lang = None
    return vocab.get(lang, {}) if isinstance(lang, str) else {}


def _checkpoint_head(folder: Path) -> dict | None:
    """The checkpoint's CTC head weights (lm_head.*), or None when the folder has no safetensors file."""
    from safetensors import safe_open

    path = folder / "model.safetensors"
    if not path.exists():
        return None
    with safe_open(str(path), framework="pt") as f:
        names = [name for name in f.keys() if name.startswith("lm_head.")]  # noqa: SIM118 - safe_open has no __iter__
        return {name.removeprefix("lm_head."): f.get_tensor(name) for name in names} or None


def shared_rows(old_vocab: dict[str, int], old_blank: int, new_vocab: dict[str, int], new_blank: int) -> dict[int, int]:
    """New row -> old row for every token both vocabularies hold; the blanks map to each other whatever their
    names."""
    old_tokens = {token: i for token, i in old_vocab.items() if i != old_blank}
    rows = {i: old_tokens[token] for token, i in new_vocab.items() if token in old_tokens and i != new_blank}
    rows[new_blank] = old_blank
    return rows


def init_new_head(model, checkpoint: str, old_blank: int | None, tokenizer, carry: bool) -> int:
    """Starts `model`'s CTC head afresh (as transformers initialises it: normal(0, initializer_range) weights,
    zero bias; from_pretrained keeps the old rows when the sizes match) and, with `carry`, copies the rows of the
    tokens `checkpoint`'s vocab.json shares with `tokenizer` (none when the checkpoint is not a local folder with
    a vocab.json and a safetensors head); returns how many rows it copied."""
    import torch

    head = model.lm_head
    weight = torch.empty_like(head.weight).normal_(0.0, model.config.initializer_range)
    bias = torch.zeros_like(head.bias)
    old_vocab = own_vocab(checkpoint) if carry and old_blank is not None else {}
    old = _checkpoint_head(Path(checkpoint)) if old_vocab else None
    if old is not None:
        rows = shared_rows(old_vocab, old_blank, tokenizer.get_vocab(), tokenizer.pad_token_id)
        rows = {new: i for new, i in rows.items() if i < old["weight"].shape[0]}
        new_index, old_index = torch.tensor(list(rows)), torch.tensor(list(rows.values()))
        weight[new_index] = old["weight"][old_index].to(weight.dtype)
        bias[new_index] = old["bias"][old_index].to(bias.dtype)
    head.weight, head.bias = torch.nn.Parameter(weight), torch.nn.Parameter(bias)
    return len(rows) if old is not None else 0
