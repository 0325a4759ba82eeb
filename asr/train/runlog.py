"""Run logging, on the main process only: ``train_log.csv``, TensorBoard scalars, ``learning_curve.png`` and
``run_info.json`` (resolved config, command, processes, figures; also copied into the final model folder)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from asr.train.plot import learning_curve

COLUMNS = ["step", "epoch", "minutes", "loss", "lr", "dev_wer", "dev_cer", "dev_utterances"]
SCALARS = ("loss", "lr", "dev_wer", "dev_cer")


class RunLog:
    """Writes log rows to the CSV file and TensorBoard; does nothing where `active` is false."""

    def __init__(self, output_dir: Path, active: bool) -> None:
        self.out, self.active = output_dir, active
        self.tensorboard = self._open_tensorboard() if active else None

    def _open_tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.out / "tensorboard"))

    def write(self, row: dict) -> None:
        if not self.active:
            return
        path = self.out / "train_log.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in COLUMNS})
        if self.tensorboard is not None:
            for key in SCALARS:
                if row.get(key) is not None:
                    self.tensorboard.add_scalar(key, row[key], row["step"])

    def finish(self, info: dict, model_dir: Path, title: str) -> None:
        """Writes run_info.json (to the run folder and the model folder) and the learning curve."""
        if not self.active:
            return
        text = json.dumps(info, indent=1) + "\n"
        (model_dir / "run_info.json").write_text(text)
        (self.out / "run_info.json").write_text(text)
        learning_curve(info["history"], self.out / "learning_curve.png", title)
        if self.tensorboard is not None:
            self.tensorboard.close()
