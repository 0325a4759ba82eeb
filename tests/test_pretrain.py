"""`asr pretrain`: wav2vec 2.0's objective lowers its loss, resumes to the bit, and `asr train` fine-tunes
what it writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import torch
from safetensors.torch import load_file

from asr.data.cli import main as data_main
from asr.model.cli import main as model_main
from asr.pretrain.cli import main as pretrain_main
from asr.train.cli import main as train_main
from asr.vocab.cli import main as vocab_main
from tests.conftest import accelerate_launch

QUICK = ["--max_batch_seconds", "20", "--max_batch_size", "4", "--warmup_steps", "0", "--num_negatives", "10",
         "--mask_time_prob", "0.5", "--mask_time_length", "5", "--logging_steps", "1", "--save_steps", "4"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pretrain")
    assert data_main(["synth", "--langs", "en", "--hours", "0.02", "--seed", "2", "--out", str(root / "data")]) == 0
    data = root / "data" / "en"
    assert vocab_main(["--train", str(data / "train.jsonl"), "--out", str(root / "processor")]) == 0
    assert model_main(["init", "--preset", "tiny", "--norm", "layer", "--processor", str(root / "processor"),
                       "--out", str(root / "init")]) == 0  # fmt: skip
    return {"root": root, "train": data / "train.jsonl", "dev": data / "dev.jsonl", "processor": root / "processor",
            "init": root / "init"}  # fmt: skip


def pretrain(tiny: dict, out, *extra: str) -> dict:
    args = ["--model", str(tiny["init"]), "--train_manifest", str(tiny["train"]), "--output_dir", str(out)]
    assert pretrain_main([*args, *QUICK, *extra]) == 0
    return json.loads((out / "run_info.json").read_text(encoding="utf-8"))


def test_pretraining_lowers_its_loss_and_asr_train_fine_tunes_the_result(tiny, tmp_path, group_umask):
    # 30 steps: contrastive loss 2.393 -> 2.255, codevector perplexity 110 -> 163 of 640 (60: 2.246 and 212)
    info = pretrain(tiny, tmp_path / "pt", "--max_steps", "30", "--learning_rate", "1e-3", "--dev_manifest",
                    str(tiny["dev"]), "--eval_steps", "15", "--save_steps", "15")  # fmt: skip
    assert info["steps"] == 30 and info["last_contrastive"] < info["first_contrastive"] - 0.05, info
    # not by collapsing the codebooks (which drives the contrastive loss to 0): more codewords in use, not fewer
    assert info["last_codevector_perplexity"] > max(info["first_codevector_perplexity"], 0.1 * info["codevectors"])
    dev = [r["dev_loss"] for r in info["history"] if r.get("dev_loss") is not None]
    assert len(dev) == 2 and info["best_dev_loss"] == min(dev) and (tmp_path / "pt" / "learning_curve.png").is_file()
    model = tmp_path / "pt" / "model"
    assert {"model.safetensors", "config.json", "preprocessor_config.json"} <= {p.name for p in model.iterdir()}
    assert group_umask(tmp_path / "pt") == {0o664}
    args = ["--model", str(model), "--processor", str(tiny["processor"]), "--train_manifest", str(tiny["train"]),
            "--output_dir", str(tmp_path / "ft"), "--max_steps", "2", "--max_batch_seconds", "20"]  # fmt: skip
    assert train_main(args) == 0  # no CTC head in a pretrained checkpoint: a new one, no new_head needed
    tuned = load_file(str(tmp_path / "ft" / "model" / "model.safetensors"))
    encoder = load_file(str(model / "model.safetensors"))
    shared = [k for k in tuned if k in encoder and "encoder.layers.0.attention.q_proj" in k]
    assert shared and "lm_head.weight" in tuned


def test_an_interrupted_pretraining_run_resumes_to_the_same_run(tiny, tmp_path, capsys):
    constant = ["--lr_schedule", "constant", "--learning_rate", "1e-3", "--gumbel_temperature_decay", "0.5",
                "--min_gumbel_temperature", "0.3"]  # fmt: skip
    pretrain(tiny, tmp_path / "whole", "--max_steps", "8", *constant)
    pretrain(tiny, tmp_path / "parts", "--max_steps", "4", *constant)
    info = pretrain(tiny, tmp_path / "parts", "--max_steps", "8", "--resume_with_changes", "true", *constant)
    assert info["resumed_from"] == "checkpoint-4"
    # the dev loss's fixed masks depend on the batches: another eval_batch_seconds is a change of the run
    args = ["--model", str(tiny["init"]), "--train_manifest", str(tiny["train"]), "--max_steps", "8"]
    assert pretrain_main([*args, "--output_dir", str(tmp_path / "parts"), *QUICK, *constant, "--eval_batch_seconds",
                          "5"]) == 2  # fmt: skip
    assert "eval_batch_seconds: 0.0 -> 5.0" in capsys.readouterr().err
    whole = load_file(str(tmp_path / "whole" / "model" / "model.safetensors"))
    parts = load_file(str(tmp_path / "parts" / "model" / "model.safetensors"))
    # to float rounding: the backward pass of the negatives' gather accumulates in a thread-dependent order on
    # CPU, so even two uninterrupted runs differ by ~1e-7 (the same masks and losses, tested by the log)
    assert all(torch.allclose(whole[k], parts[k], atol=1e-5) for k in whole)

    def losses(run: str) -> dict[str, float]:
        rows = (tmp_path / run / "train_log.csv").read_text().splitlines()[1:]
        return {r.split(",")[0]: float(r.split(",")[3]) for r in rows if r.split(",")[3]}

    assert losses("parts") == pytest.approx(losses("whole"), rel=1e-5) and len(losses("whole")) == 8
    # the figures of the first and last steps are checkpointed: the resumed run reports the uninterrupted one's
    whole_info = json.loads((tmp_path / "whole" / "run_info.json").read_text())
    figures = [f"{w}_{k}" for w in ("first", "last") for k in ("loss", "contrastive", "codevector_perplexity")]
    assert [info[k] for k in figures] == pytest.approx([whole_info[k] for k in figures], rel=1e-5)
    # a finished run run again changes nothing: no step, no second final evaluation, the same figures
    log = (tmp_path / "whole" / "train_log.csv").read_text()
    again = pretrain(tiny, tmp_path / "whole", "--max_steps", "8", *constant)
    assert (tmp_path / "whole" / "train_log.csv").read_text() == log
    assert [again[k] for k in figures] == [whole_info[k] for k in figures]
    # R47: so with its checkpoints removed (it was refused as "another config (run_info.json: 'not readable')",
    # and a key really changed was not named)
    for checkpoint in (tmp_path / "whole").glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    pretrain(tiny, tmp_path / "whole", "--max_steps", "8", *constant)
    assert (tmp_path / "whole" / "train_log.csv").read_text() == log
    assert pretrain_main([*args, "--output_dir", str(tmp_path / "whole"), *QUICK, *constant[:2], "--learning_rate",
                          "2e-3", *constant[4:]]) == 2  # fmt: skip
    assert "finished run of another config (learning_rate: 0.001 -> 0.002)" in capsys.readouterr().err
    # the Gumbel temperature of each step: 2 halved every step, down to 0.3 (a mutation review: min() for max()
    # held it at the floor from the start)
    temperatures = [r["gumbel_temperature"] for r in info["history"]]
    assert temperatures == [r["gumbel_temperature"] for r in whole_info["history"]] == [2, 1, 0.5, *[0.3] * 5]


def test_two_processes_report_both_processes_figures_and_the_dev_loss_of_one(tiny, tmp_path):
    """The logged loss was the processes' mean, run_info's figures and the log's contrastive loss rank 0's; the
    dev loss's masks followed each process's share (2.5208 on one process, 2.5160 on two, the same weights)."""
    frozen = ["--learning_rate", "1e-30", "--lr_schedule", "constant", "--max_steps", "2", "--eval_steps", "2",
              "--dev_manifest", str(tiny["dev"]), "--eval_batch_seconds", "4"]  # fmt: skip
    one = pretrain(tiny, tmp_path / "one", *frozen)
    args = ["--model", str(tiny["init"]), "--train_manifest", str(tiny["train"]), "--output_dir", str(tmp_path / "two")]
    proc = subprocess.run([*accelerate_launch(2), "-m", "asr", "pretrain", *args, *QUICK, *frozen], capture_output=True,
                          text=True, timeout=600, env=os.environ | {"OMP_NUM_THREADS": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "run_info.json").read_text(encoding="utf-8"))
    assert two["num_processes"] == 2 and two["best_dev_loss"] == pytest.approx(one["best_dev_loss"], rel=1e-6)
    first = two["history"][0]  # one step per half of the run: first_* is step 1's
    assert [two["first_loss"], two["first_contrastive"]] == pytest.approx([first["loss"], first["contrastive"]])


def test_a_step_logs_the_means_of_its_micro_batches(tiny, tmp_path):
    info = pretrain(tiny, tmp_path / "acc", "--max_steps", "3", "--gradient_accumulation_steps", "2",
                    "--max_batch_seconds", "10", "--diversity_loss_weight", "0.01")  # fmt: skip
    rows = [r for r in info["history"] if r.get("loss") is not None]
    assert len(rows) == 3 and all(r["loss"] >= r["contrastive"] for r in rows)  # loss = contrastive + diversity


def test_a_non_finite_dev_loss_is_logged_as_null_and_never_chosen_as_best(tiny, tmp_path, monkeypatch):
    """A NaN dev loss chose best/ and kept it (no later loss is below NaN), and run_info.json held NaN."""
    from asr.pretrain.loop import Pretrainer

    evaluate, calls = Pretrainer.evaluate, []

    def first_nan(self, split, name="dev"):  # the fault: the first evaluation's loss is NaN
        calls.append(1)
        return evaluate(self, split, name) | ({f"{name}_loss": float("nan")} if len(calls) == 1 else {})

    monkeypatch.setattr(Pretrainer, "evaluate", first_nan)
    pretrain(tiny, tmp_path / "nan", "--max_steps", "4", "--dev_manifest", str(tiny["dev"]), "--eval_steps", "2")
    text = (tmp_path / "nan" / "run_info.json").read_text(encoding="utf-8")
    info = json.loads(text, parse_constant=lambda name: pytest.fail(f"run_info.json holds {name}"))
    dev = [r["dev_loss"] for r in info["history"] if "dev_loss" in r]
    assert dev[0] is None and dev[1] is not None and info["best_dev_loss"] == dev[1]
    assert json.loads((tmp_path / "nan" / "best" / "asr_best.json").read_text())["step"] == 4


def test_manifests_without_transcripts_pretrain(tiny, tmp_path):
    """Unlabeled audio has no text field (it was refused: 'manifest line without text'), or one that is not text
    (R74: a null was refused though the texts are unused)."""
    for split in ("train", "dev"):
        lines = []
        for number, line in enumerate(tiny[split].read_text().splitlines()):
            row = json.loads(line)
            row |= {"audio": str(tiny[split].parent / row["audio"])}
            lines.append(json.dumps({k: v for k, v in row.items() if k != "text"} | ({"text": None} if number else {})))
        (tmp_path / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    info = pretrain(dict(tiny, train=tmp_path / "train.jsonl"), tmp_path / "pt", "--max_steps", "2", "--dev_manifest",
                    str(tmp_path / "dev.jsonl"), "--eval_steps", "2")  # fmt: skip
    assert info["steps"] == 2 and info["history"][-1]["dev_loss"] > 0


def test_utterances_too_short_to_mask_are_left_out_of_train_and_refused_in_dev(tiny, tmp_path, capsys):
    import soundfile as sf

    sf.write(tmp_path / "short.wav", [0.1, -0.1] * 800, 16000)  # 0.1 s: 4 frames, fewer than a span of 5
    short = json.dumps({"id": "z_short", "audio": str(tmp_path / "short.wav"), "duration": 0.1, "text": "a",
                        "speaker": "z", "lang": "en"})  # fmt: skip
    train = tmp_path / "train.jsonl"
    train.write_text(tiny["train"].read_text().replace('"audio": "', f'"audio": "{tiny["train"].parent}/') + short)
    info = pretrain(dict(tiny, train=train), tmp_path / "pt", "--max_steps", "2")
    assert info["train_filtered"] == {"too short to mask": 1} and info["steps"] == 2
    # 0.11 s gives 5 frames as read, 4 played 1.1 times as fast: a traceback in the negative sampling before
    sf.write(tmp_path / "edge.wav", [0.1, -0.1] * 880, 16000)
    edge = short.replace("z_short", "z_edge").replace("short.wav", "edge.wav").replace("0.1,", "0.11,")
    train.write_text(train.read_text() + "\n" + edge)
    info = pretrain(dict(tiny, train=train), tmp_path / "sp", "--max_steps", "2", "--speed_perturb", "[1.1]")
    assert info["train_filtered"] == {"too short to mask": 2} and info["steps"] == 2
    dev = tmp_path / "dev.jsonl"
    dev.write_text(short + "\n")
    args = ["--model", str(tiny["init"]), "--train_manifest", str(train), "--dev_manifest", str(dev)]
    assert pretrain_main([*args, "--output_dir", str(tmp_path / "pt2"), *QUICK]) == 2
    assert "1 utterance(s) shorter than 5 frames" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "value"), [("mask_time_length", "0"), ("mask_time_prob", "0"), ("num_negatives", "0"),
                       ("min_gumbel_temperature", "3")],
)  # fmt: skip
def test_settings_no_pretraining_can_use_are_refused(tiny, tmp_path, capsys, key, value):
    args = ["--model", str(tiny["init"]), "--train_manifest", str(tiny["train"]), "--output_dir", str(tmp_path)]
    assert pretrain_main([*args, *QUICK, f"--{key}", value]) == 2
    assert f"config key {key}: expected" in capsys.readouterr().err


def test_unreadable_audio_and_models_and_another_models_checkpoint_are_one_line_errors(tiny, tmp_path, capsys):
    args = ["--train_manifest", str(tiny["train"]), *QUICK, "--max_steps", "1"]
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"id": "m_1", "audio": "nope.wav", "duration": 2.0, "text": "a"}) + "\n")
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    (weightless / "config.json").write_text((tiny["init"] / "config.json").read_text())
    assert model_main(["init", "--preset", "tiny", "--norm", "group", "--processor", str(tiny["processor"]),
                       "--out", str(tmp_path / "group")]) == 0  # fmt: skip
    row = json.loads(tiny["train"].read_text(encoding="utf-8").splitlines()[0])
    liar = tmp_path / "liar.jsonl"  # its audio shorter than stated: masks drawn for it failed in transformers
    row |= {"audio": str((tiny["train"].parent / row["audio"]).resolve()), "duration": row["duration"] + 3}
    liar.write_text(json.dumps(row) + "\n", encoding="utf-8")
    pretrain(tiny, tmp_path / "run", "--max_steps", "4")
    for extra, message in (
        (["--model", str(tiny["init"]), "--train_manifest", str(missing)], "utterance m_1: audio file"),
        (["--model", str(tiny["init"]), "--train_manifest", str(liar)], f"utterance {row['id']}: the manifest says"),
        (["--model", str(tiny["init"]), "--dev_manifest", str(liar)], f"utterance {row['id']}: the manifest says"),
        (["--model", str(tiny["init"]), "--output_dir", str(tiny["init"])], "is the --model folder"),
        (["--model", str(weightless)], "cannot load its weights"),
        (["--model", str(tmp_path / "group"), "--output_dir", str(tmp_path / "run")], "saved by a run with another"),
        (
            ["--model", str(tiny["init"]), "--mask_feature_prob", "0.1", "--mask_feature_length", "1000"],
            "mask_feature_length 1000 is more than the model's",
        ),  # R90: a traceback at the first step
    ):
        out = [] if "--output_dir" in extra else ["--output_dir", str(tmp_path / "x")]
        assert pretrain_main([*args, *extra, *out]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_ctc_keys_are_not_pretraining_keys(tiny, tmp_path, capsys):
    args = ["--model", str(tiny["init"]), "--train_manifest", str(tiny["train"]), "--new_head", "true"]
    assert pretrain_main([*args, "--output_dir", str(tmp_path / "x")]) == 2
    assert "unknown config key(s): new_head" in capsys.readouterr().err


def test_pretraining_runs_of_other_precisions_follow_one_another_in_one_process(tiny, tmp_path):
    """As `asr train`'s: a second run in one process with another mixed_precision was accelerate's traceback."""
    for precision in ("bf16", "no"):
        info = pretrain(tiny, tmp_path / precision, "--max_steps", "1", "--mixed_precision", precision)
        assert info["mixed_precision"] == precision


def test_masks_fall_on_the_audio_and_on_frames_the_model_does_not_see(tiny, tmp_path, capsys):
    """R74: a group-norm model's masks and negatives were drawn in the batch's zero padding too (12% of them);
    a model whose config turned SpecAugment off was shown the frames it had to identify (the loss halved in 30
    steps); a model with an output adapter was a traceback at step 1."""
    from asr.pretrain.config import PretrainConfig
    from asr.pretrain.loop import Pretrainer, load_pretraining_model
    from asr.train.cli import parse_args

    group = tmp_path / "group"
    assert model_main(["init", "--preset", "tiny", "--norm", "group", "--processor", str(tiny["processor"]),
                       "--out", str(group)]) == 0  # fmt: skip
    args = ["--train_manifest", str(tiny["train"]), "--output_dir", str(tmp_path / "x"), *QUICK]
    trainer = Pretrainer(PretrainConfig.load(*parse_args(["--model", str(group), *args])), "x")
    examples = sorted(trainer.train.examples, key=lambda ex: ex.duration)
    batch = [examples[0], examples[-1]]  # the short one padded to the long one's length
    mask = trainer._masks(trainer._inputs(batch))["mask_time_indices"]
    model = trainer.acc.unwrap_model(trainer.model)
    for row, ex in enumerate(batch):
        frames = int(model._get_feat_extract_output_lengths(round(ex.duration * 16000)))
        assert mask[row, :frames].any() and not mask[row, frames:].any()
    for key, value in (("apply_spec_augment", False), ("add_adapter", True)):
        changed = tmp_path / key
        shutil.copytree(tiny["init"], changed)
        config = json.loads((changed / "config.json").read_text())
        (changed / "config.json").write_text(json.dumps(config | {key: value, "output_hidden_size": 32}))
        cfg = PretrainConfig.load(*parse_args(["--model", str(changed), *args]))
        if key == "apply_spec_augment":
            assert load_pretraining_model(cfg).config.apply_spec_augment is True
        else:
            run = tmp_path / "adapter_run"
            assert pretrain_main(["--model", str(changed), *args, "--output_dir", str(run)]) == 2
            assert "has an output adapter (add_adapter)" in capsys.readouterr().err and not run.exists()
