"""A model folder: what `asr train` writes and `asr decode`, `asr lm` and the leaderboard read.

It holds the weights and config (transformers' files), the processor (tokenizer + feature extractor, its
``return_attention_mask`` set to what the model needs), ``asr_text.json`` (the normaliser of its targets and
the language), ``run_info.json`` of the training run that made it, and ``adapter.<lang>.safetensors`` per
language for MMS-style models (`asr.model.adapters`). A hub id is read through `ModelFolder.of`: its snapshot
in the hub cache.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from asr.errors import InputError
from asr.folders import leads_outside
from asr.hub import RUN_INFO, local_folder
from asr.text import TEXT_CONFIG, Normalizer, folder_normalizer, read_text_config


@dataclass(frozen=True)
class ModelFolder:
    """A local model (or processor) folder, or a hub id."""

    path: Path

    @classmethod
    def of(cls, name: str) -> ModelFolder:
        """The folder of a model named by a path or a hub id (`local_folder`): a hub id's asr_text.json,
        run_info.json and vocab.json are read from its snapshot (or the model trained by this toolkit and
        published was scored with the normaliser none)."""
        return cls(local_folder(name))

    def normalizer(self) -> Normalizer:
        """The normaliser of the model's targets (``none`` when the folder names none)."""
        return folder_normalizer(self.path)

    def language(self) -> str:
        """The language its asr_text.json names ("" where none)."""
        return read_text_config(self.path).get("lang", "")

    def copy_text_config(self, dest: Path) -> None:
        """Copies asr_text.json (when there is one) into `dest`; refuses a link to a file outside the folder (R69:
        a planted ``asr_text.json -> ~/.ssh/id_rsa`` was copied into the new model folder users publish)."""
        source = self.path / TEXT_CONFIG
        if leads_outside(source, self.path):
            raise InputError(f"{source}: a link to {source.resolve()}, outside {self.path}, which the copy would "
                             "publish; copy in what it holds")  # fmt: skip
        if source.is_file():
            shutil.copy(source, Path(dest) / TEXT_CONFIG)

    def run_info(self) -> dict | None:
        """The run_info.json of the training run that made the model (beside it or in the run folder)."""
        for path in (self.path / RUN_INFO, self.path.parent / RUN_INFO):
            if path.is_file():
                try:
                    return json.loads(path.read_text(encoding="utf-8"))
                except json.JSONDecodeError as err:
                    raise InputError(f"{path}: not JSON ({err})") from None
        return None

    def train_summary(self) -> dict | None:
        """What the model was trained on and how long, with its dev curve, for results.json."""
        info = self.run_info()
        if info is None:
            return None
        curve = [[r["minutes"], r["dev_wer"], r["dev_cer"]] for r in info.get("history", []) if "dev_cer" in r]
        kept = (
            "train_hours",
            "train_utterances",
            "steps",
            "minutes",
            "best_step",
            "metric_for_best_model",
            "best_dev_wer",
            "best_dev_cer",
            "final_model",
            "git_revision",
            "num_processes",
        )  # which weights of the run the model is, the code that trained it, and over how many processes
        summary = {k: info.get(k) for k in kept}
        extra = {"train_manifest": info.get("config", {}).get("train_manifest"), "command": info.get("command")}
        return summary | extra | {"dev_curve": curve}
