"""A model named by a local folder or by a hub id: the folder its small files (not the weights) are read from."""

from __future__ import annotations

import functools
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

from asr.errors import InputError
from asr.text import TEXT_CONFIG

RUN_INFO = "run_info.json"  # in a model folder: the training run that made it (`asr.model.folder`)
SMALL_FILES = (TEXT_CONFIG, RUN_INFO, "vocab.json")  # what the toolkit itself reads of a model, besides transformers


PROXIES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")  # a proxy resolves the hub's host itself


@functools.cache  # once a process
def offline_without_network() -> None:
    """Puts huggingface_hub, and transformers and datasets through it, offline for this process where the hub's
    host cannot be found (no proxy set): the hub cache is read at once. Without it, huggingface_hub tried every
    file 6 times over 31 s before the cache, and a model's several files took minutes to fail offline."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or any(os.environ.get(var) for var in PROXIES):
        return
    host = urlparse(constants.ENDPOINT).hostname or constants.ENDPOINT
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        constants.HF_HUB_OFFLINE = True
        os.environ["HF_HUB_OFFLINE"] = "1"  # datasets (imported later) and child processes read it
        print(f"note: {host} cannot be found (no network): models and datasets come from the hub cache only "
              "(HF_HUB_OFFLINE=1)", file=sys.stderr)  # fmt: skip


@functools.cache  # a hub id is looked up once a process
def local_folder(name: str) -> Path:
    """`name` where it is a folder; for a hub id, its snapshot in the hub cache, holding those of `SMALL_FILES`
    the model has (transformers reads the weights itself). A hub id with no snapshot to be had stays itself."""
    if Path(name).is_dir():
        return Path(name)
    offline_without_network()
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, allow_patterns=list(SMALL_FILES)))
    except (OSError, ValueError):  # no hub and no copy cached (OSError), not a hub id (ValueError)
        return Path(name)


def refuse_unfound(name: str) -> None:
    """One line for a model name that can only be a local folder and names none (transformers said "Repo id must
    be in the form ..."), or that names a training run's folder (its model is in model/; transformers said
    "Unrecognized processing class"); a hub id is read offline without a network (`offline_without_network`)."""
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").is_file() and (path / "model" / "config.json").is_file():
            raise InputError(f"{name}: a training run's folder; its model is {path / 'model'}")
    elif name.startswith((".", "/", "~")) or name.count("/") > 1:  # a hub id is NAME or NAMESPACE/NAME
        raise InputError(f"{name}: no such folder")
    else:
        offline_without_network()
