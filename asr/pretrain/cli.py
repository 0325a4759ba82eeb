"""`asr pretrain [--config FILE.yaml] [--key value ...]`: self-supervised wav2vec 2.0 pretraining.

Trains `Wav2Vec2ForPreTraining` (contrastive + diversity loss over masked frames, Gumbel quantiser with a
decaying temperature) on the audio of unlabeled manifests (transcripts, if any, are ignored); resumable and
under `accelerate launch` like `asr train`, whose options it shares (less the CTC ones). The folder it writes
(OUT/model) is what `asr train --model OUT/model` fine-tunes. Examples::

    asr pretrain --model models/tiny-init --train_manifest data/all.jsonl --max_minutes 60 --output_dir exp/pt
    accelerate launch --multi_gpu --num_processes 8 -m asr pretrain --config pretrain.yaml
"""

from __future__ import annotations

import os
import shlex
import sys

from asr.errors import run_reporting_errors


def main(argv: list[str] | None = None, prog: str = "asr pretrain") -> int:
    argv = sys.argv[1:] if argv is None else argv
    from asr.train.cli import asks_help, parse_args

    if asks_help(argv):
        from asr.pretrain.config import PretrainConfig

        print(f"usage: {prog} --config FILE [--key value ...]\n\n{__doc__}\nkeys:\n{PretrainConfig.help()}")
        return 0

    def run() -> int:
        from asr.pretrain.config import PretrainConfig
        from asr.pretrain.loop import pretrain

        config, overrides = parse_args(argv)
        cfg = PretrainConfig.load(config, overrides)
        info = pretrain(cfg, shlex.join(["asr", "pretrain", *argv]))
        if os.environ.get("RANK", "0") != "0":
            return 0
        first, last, best = (_figure(info[k]) for k in ("first_loss", "last_loss", "best_dev_loss"))
        left_out = f"; train utterances left out: {info['train_filtered']}" if info["train_filtered"] else ""
        print(
            f"{info['steps']} steps in {info['minutes']:.1f} min; loss {first} -> {last}; best dev loss {best}"
            f"{left_out}; model in {cfg.output_dir}/model"  # a moved run's record names where it was
        )
        return 0

    return run_reporting_errors(prog, run)


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
