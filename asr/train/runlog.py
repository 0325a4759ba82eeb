"""Run logging, on the main process only: ``train_log.csv``, TensorBoard scalars, ``learning_curve.png`` and
``run_info.json`` (resolved config, command, processes, figures; also copied into the final model folder)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from asr.folders import unlinked, write_together
from asr.train.plot import learning_curve

COLUMNS = [
    "step",
    "epoch",
    "minutes",
    "loss",
    "lr",
    "dev_wer",
    "dev_cer",
    "dev_loss",
    "dev_utterances",
    "contrastive",
    "codevector_perplexity",
]  # the last two: pretraining
SCALARS = ("loss", "lr", "dev_wer", "dev_cer", "dev_loss", "contrastive", "codevector_perplexity", "gumbel_temperature")


class RunLog:
    """Writes log rows to the CSV file and TensorBoard; does nothing where `active` is false. A run resumed
    from the checkpoint of `resumed_step` first drops what was logged after it (a killed run logged on past
    its last checkpoint, and the resumed run logs those steps again); a run that starts afresh drops the logs
    of one killed before its first checkpoint."""

    def __init__(self, output_dir: Path, active: bool, resumed_step: int | None = None) -> None:
        self.out, self.active = output_dir, active
        if active and resumed_step is not None:
            self._cut_csv(resumed_step)
        elif active:
            (self.out / "train_log.csv").unlink(missing_ok=True)
            shutil.rmtree(self.out / "tensorboard", ignore_errors=True)
        self.tensorboard = self._open_tensorboard(resumed_step) if active else None

    def _cut_csv(self, step: int) -> None:
        path = self.out / "train_log.csv"
        if not path.is_file():  # a link planted to no file was appended through on resume (R72)
            unlinked(path)
            return
        with path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= step]
        tmp = unlinked(path.with_suffix(".partial"))
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            writer.writerows({k: r.get(k, "") for k in COLUMNS} for r in rows)
        tmp.replace(path)

    def _open_tensorboard(self, resumed_step: int | None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        purge = None if resumed_step is None else resumed_step + 1  # events from this step on are dropped
        return SummaryWriter(str(unlinked(self.out / "tensorboard")), purge_step=purge)

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
        # links planted at the run folder's own files are replaced, not written through (R69)
        ours = [unlinked(path) for path in (model_dir / "run_info.json", self.out / "run_info.json")]
        write_together(dict.fromkeys(ours, text))
        learning_curve(info["history"], unlinked(self.out / "learning_curve.png"), title)
        self.close()

    def close(self) -> None:
        """Ends the TensorBoard writer (its thread flushes the events written so far)."""
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
