"""A model named by a local folder or by a hub id: the folder its small files (not the weights) are read from."""

from __future__ import annotations

import functools
from pathlib import Path

from asr.errors import InputError
from asr.text import TEXT_CONFIG

RUN_INFO = "run_info.json"  # in a model folder: the training run that made it (`asr.model.folder`)
SMALL_FILES = (TEXT_CONFIG, RUN_INFO, "vocab.json")  # what the toolkit itself reads of a model, besides transformers


@functools.cache  # a hub id is looked up once a process
def local_folder(name: str) -> Path:
    """`name` where it is a folder; for a hub id, its snapshot in the hub cache, holding those of `SMALL_FILES`
    the model has (transformers reads the weights itself). A hub id with no snapshot to be had stays itself."""
    if Path(name).is_dir():
        return Path(name)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, allow_patterns=list(SMALL_FILES)))
    except (OSError, ValueError):  # no hub and no copy cached (OSError), not a hub id (ValueError)
        return Path(name)


def refuse_unfound(name: str) -> None:
    """One line for a model name that can only be a local folder and names none (transformers said "Repo id must
    be in the form ..."), or that names a training run's folder (its model is in model/; transformers said
    "Unrecognized processing class")."""
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").is_file() and (path / "model" / "config.json").is_file():
            raise InputError(f"{name}: a training run's folder; its model is {path / 'model'}")
    elif name.startswith((".", "/", "~")) or name.count("/") > 1:  # a hub id is NAME or NAMESPACE/NAME
        raise InputError(f"{name}: no such folder")
