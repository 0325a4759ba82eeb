"""`asr train --config run.yaml [--key value ...]`: CTC fine-tuning; under `accelerate launch` too.

Every key of `asr.train.config.TrainConfig` can be set in the YAML file or as ``--key value`` (a flag given
alone, such as ``--resume``, means true). Examples::

    asr train --config run.yaml
    asr train --config run.yaml --max_steps 2000 --learning_rate 3e-4
    accelerate launch --multi_gpu --num_processes 8 -m asr train --config run.yaml

``asr train --check-options [--config FILE] [--key value ...]`` exits 2 naming a key that is not a config key or
a value no run can use (recipes check their training options with it before their first stage).
"""

from __future__ import annotations

import os
import shlex
import sys

from asr.errors import InputError, run_reporting_errors
from asr.scoring.report import percent


def parse_args(argv: list[str]) -> tuple[str | None, dict[str, str | bool]]:
    """(config path, {key: value}) from ``--config PATH --key value --key=value --flag ...``; a ``--flag`` given
    without a value is True (which a key of text refuses: `TrainConfig.load`)."""
    config, overrides, i = None, {}, 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--"):
            raise InputError(f"unexpected argument {token!r}: options are --key value")
        key, joined, value = token[2:].partition("=")  # --key=value, as asr writes --key -1,2 for argparse
        key = key.replace("-", "_")
        has_value = not joined and i + 1 < len(argv) and not argv[i + 1].startswith("--")
        if not joined:
            value = argv[i + 1] if has_value else True
        i += 2 if has_value else 1
        if key == "config":
            if config is not None:  # the first file was dropped without a word
                raise InputError(f"--config given twice ({config}, {value}): give one file, and keys as --key value")
            if value is True or not value.strip():  # no file was read, without a word (R55)
                raise InputError("--config: expected a file, got an empty value")
            config = value
        else:
            overrides[key] = value
    return config, overrides


def check_options(argv: list[str]) -> int:
    """0 where the config and ``--key value`` options are ones a run can use (the model and data aside)."""
    from asr.train.config import TrainConfig

    config, overrides = parse_args(argv)
    known = {f.name for f in TrainConfig.used_fields()}
    if unknown := [k for k in overrides if k not in known]:
        raise InputError(f"unknown option(s) --{', --'.join(unknown)} (neither the recipe's nor a training key)")
    from asr.train.loop import mixed_precision

    mixed_precision(TrainConfig.load(config, overrides, required=False).mixed_precision)  # fp16 without a GPU
    return 0


def main(argv: list[str] | None = None, prog: str = "asr train") -> int:
    argv = sys.argv[1:] if argv is None else argv
    if asks_help(argv):
        print(f"usage: {prog} --config FILE [--key value ...]\n\n{__doc__}")
        from asr.train.config import TrainConfig

        print(f"keys:\n{TrainConfig.help()}")
        return 0

    if argv[:1] == ["--check-options"]:
        return run_reporting_errors(prog, lambda: check_options(argv[1:]))

    def run() -> int:
        from asr.train.config import TrainConfig
        from asr.train.loop import train

        config, overrides = parse_args(argv)
        cfg = TrainConfig.load(config, overrides)
        info = train(cfg, shlex.join(["asr", "train", *argv]))
        if os.environ.get("RANK", "0") != "0":  # under accelerate launch, the main process reports
            return 0
        # .get: a finished run's run_info.json of an earlier version, returned as it is, lacks the later keys
        notes = [
            f"{k.replace('_', ' ')}: {v}" for k in ("train_filtered", "train_unknown_characters") if (v := info.get(k))
        ]
        print(f"{info['steps']} steps in {info['minutes']:.1f} min; best dev {_best(info)}; {_test(info)}"
              f"{''.join(n + '; ' for n in notes)}model in {cfg.output_dir}/model")  # fmt: skip
        return 0

    return run_reporting_errors(prog, run)


def asks_help(argv: list[str]) -> bool:
    """Whether a command line of ``--key value`` options asks for help: ``--help`` anywhere (a key; R62), ``-h``
    first (after a key it is that key's value: R63)."""
    return argv[:1] == ["-h"] or "--help" in argv


def _test(info: dict) -> str:
    """``test WER 12.34%, CER 5.67%; `` where the run scored a test set (R62: in run_info.json alone), else ""."""
    return "" if info.get("test_wer") is None else f"test {_rates(info, 'test', ('WER', 'CER'))}; "


def _best(info: dict) -> str:
    """``WER 12.34%, CER 5.67%``, the score that chose best/ first (``n/a`` without a dev set)."""
    if info.get("best_dev_wer") is None:  # none: an earlier version's
        return "WER n/a"
    order = ("CER", "WER") if info.get("metric_for_best_model") == "dev_cer" else ("WER", "CER")
    return _rates(info, "best_dev", order)


def _rates(info: dict, prefix: str, order: tuple[str, ...]) -> str:
    """``WER 12.34%, CER 5.67%`` of run_info's ``<prefix>_wer`` and ``<prefix>_cer``, in `order` (those it has)."""
    rates = ((name, info.get(f"{prefix}_{name.lower()}")) for name in order)
    return ", ".join(f"{name} {percent(rate)}%" for name, rate in rates if rate is not None)


if __name__ == "__main__":
    sys.exit(main())
