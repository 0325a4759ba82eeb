"""The parts of the training loop on their own: schedule and budget, checkpoints, run logging, the config."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from pathlib import Path

import pytest

from asr.errors import InputError
from asr.train import checkpoints
from asr.train.config import TrainConfig
from asr.train.runlog import RunLog
from asr.train.schedule import Budget, lr_lambda


def _config(**values) -> TrainConfig:
    return TrainConfig(model="m", processor="p", train_manifest="t", **values)


def test_linear_schedule_warms_up_then_decays_to_zero():
    f = lr_lambda(_config(max_steps=100, warmup_steps=10))
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5) and f(100) == 0.0
    assert all(f(s) >= f(s + 1) for s in range(10, 100))


def test_tri_stage_schedule_holds_then_decays_to_the_final_scale():
    f = lr_lambda(_config(max_steps=100, lr_schedule="tri_stage", tri_stage_ratios=[0.1, 0.4, 0.5]))
    assert f(0) == pytest.approx(0.01) and f(10) == f(49) == 1.0
    assert f(100) == pytest.approx(0.05) and f(75) == pytest.approx(math.sqrt(0.05))
    assert lr_lambda(_config(lr_schedule="constant"))(123) == 1.0
    with pytest.raises(InputError, match="lr_schedule 'cosine'"):
        lr_lambda(_config(lr_schedule="cosine"))


def test_overrides_keep_strings_and_numbers_are_not_made_up():
    from asr.train.config import TrainConfig

    required = {"model": "m", "train_manifest": "t", "processor": "p"}
    strings = {"adapter_lang": "no", "adapters_only": "true", "output_dir": "0x10", "processor": "[unclosed"}
    cfg = TrainConfig.load(None, required | strings)
    assert (cfg.adapter_lang, cfg.output_dir, cfg.processor) == ("no", "0x10", "[unclosed")  # YAML: false, 16, error
    assert TrainConfig.load(None, required | {"max_steps": "010"}).max_steps == 10  # YAML 1.1: octal 8
    for key, value in (("max_minutes", "1:30"), ("max_steps", "0x10"), ("learning_rate", "1:0.5")):  # 90, 16, 60.5
        with pytest.raises(InputError, match=re.escape(f"--{key} {value!r}: YAML 1.1 reads {value} as a number in")):
            TrainConfig.load(None, required | {key: value})
    for key, value, message in (
        ("max_steps", "2.7", "max_steps: expected a whole number"),
        ("learning_rate", "true", "learning_rate: expected a number"),  # a --learning_rate given no value
        ("tri_stage_final_scale", "0", "tri_stage_final_scale: expected more than 0"),
        ("tri_stage_ratios", "[0.5, -0.2, 0.7]", "that sum to 1"),
        ("tri_stage_ratios", "[0.1, 0.4, 0.1]", "that sum to 1"),
        ("tri_stage_ratios", f"[1{'0' * 400}, 0, 0]", "0000...0000"),  # it was printed whole
        ("max_batch_seconds", "[unclosed", "--max_batch_seconds '[unclosed': not a value"),
    ):
        with pytest.raises(InputError, match=re.escape(message)):
            TrainConfig.load(None, required | {key: value})


def test_budget_stops_at_the_minutes_and_moves_the_schedule_with_them():
    budget = Budget(max_steps=1000, max_minutes=10)
    assert not budget.time_up(599.0) and budget.time_up(600.0)
    assert budget.minutes_left(300.0) == 5.0 and budget.minutes_left(700.0) == 0.0
    assert budget.schedule_position(step=9, elapsed=0.0) == 10  # the coming step
    assert budget.schedule_position(step=9, elapsed=300.0) == 500  # half the minutes: half the schedule
    assert not Budget(1000, 0).time_up(1e9) and Budget(1000, 0).schedule_position(9, 1e9) == 10


def test_checkpoints_are_listed_by_step_and_partial_ones_ignored(tmp_path):
    for name in ("checkpoint-10", "checkpoint-9", "checkpoint-100", "checkpoint-110.partial", "checkpoint-x"):
        (tmp_path / name).mkdir()
    assert [p.name for p in checkpoints.checkpoints(tmp_path)] == ["checkpoint-9", "checkpoint-10", "checkpoint-100"]
    assert checkpoints.to_resume(tmp_path, "auto").name == "checkpoint-100"
    with pytest.raises(InputError, match="holds checkpoint-100"):
        checkpoints.to_resume(tmp_path, "false")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert checkpoints.to_resume(empty, "auto") is None and checkpoints.to_resume(empty, "false") is None
    with pytest.raises(InputError, match="holds no checkpoint"):
        checkpoints.to_resume(empty, "true")


#: the run config keys a checkpoint restores the optimizer with (AdamW's defaults, lr as above)
CONFIG = {"seed": 0, "learning_rate": 0.1, "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8,
          "weight_decay": 0.01}  # fmt: skip


def _training_state(step: int = 0):
    import torch
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (s + 1))
    model, optimizer = acc.prepare(model, optimizer)
    return acc, checkpoints.TrainingState(model, optimizer, scheduler, {"step": step}, CONFIG)


def test_saving_checkpoints_keeps_the_last_ones_and_restores_everything(tmp_path):
    import random

    import numpy as np
    import torch

    acc, state = _training_state()
    (tmp_path / "checkpoint-3.partial").mkdir()  # left by a kill while saving
    for step in (1, 2, 3):
        state.model(torch.ones(4, 2)).sum().backward()
        state.optimizer.step(), state.scheduler.step(), state.optimizer.zero_grad()
        state.loop = {"step": step}
        checkpoints.save_checkpoint(acc, tmp_path, step, keep=2, state=state)
        if step == 2:
            saved_weight, saved_lr = state.model.weight.detach().clone(), state.scheduler.get_last_lr()
            draws = (random.random(), np.random.rand(), torch.rand(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-3"]
    acc, fresh = _training_state()
    checkpoints.load_checkpoint(acc, tmp_path / "checkpoint-2", fresh)
    trainer = checkpoints.read_state(tmp_path / "checkpoint-2")
    assert trainer["loop"] == {"step": 2} and trainer["config"] == CONFIG
    assert torch.equal(fresh.model.weight, saved_weight) and fresh.scheduler.get_last_lr() == saved_lr
    assert fresh.optimizer.state_dict()["state"][0]["step"] == 2
    assert (random.random(), np.random.rand(), torch.rand(1)) == draws  # the generators continue as they were


def test_links_planted_in_a_run_folder_are_replaced_not_written_through(tmp_path):
    """R67: a downloaded run folder's links at the names a run writes (a checkpoint being saved or rotated out,
    the log cut on resume, TensorBoard's folder) had their targets emptied or written; the run's files are
    written in its folder and the targets left as they were."""
    run, victim = tmp_path / "run", tmp_path / "victim"
    (victim / "folder").mkdir(parents=True)
    (victim / "folder" / "thesis.txt").write_text("precious")
    (victim / "log.txt").write_text("precious")
    run.mkdir()
    for name in ("checkpoint-1", "checkpoint-2.partial", "tensorboard"):
        (run / name).symlink_to(victim / "folder")
    (run / "train_log.csv").write_text("step,loss\n1,2.5\n")
    (run / "train_log.partial").symlink_to(victim / "log.txt")
    acc, state = _training_state()
    for step in (2, 3):
        checkpoints.save_checkpoint(acc, run, step, keep=2, state=state)
    RunLog(run, active=True, resumed_step=1).close()
    assert sorted(p.name for p in run.iterdir() if p.is_symlink()) == []
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert (run / "train_log.csv").read_text().splitlines()[1].startswith("1,")
    assert [p.name for p in (victim / "folder").iterdir()] == ["thesis.txt"]
    assert (victim / "log.txt").read_text() == "precious"
    (run / "train_log.csv").unlink()  # R72: a link to a file not there yet was appended through on resume
    (run / "train_log.csv").symlink_to(victim / "new.csv")
    log = RunLog(run, active=True, resumed_step=1)
    log.write({"step": 2, "loss": 2.4})
    log.close()
    assert not (victim / "new.csv").exists() and (run / "train_log.csv").read_text().splitlines()[1].startswith("2,")
    (run / "train_log.csv").unlink()  # R75: a link to a log elsewhere (a DVC checkout's) is cut, not emptied
    (victim / "log.csv").write_text("step,loss\n1,2.5\n2,2.4\n3,2.3\n")
    (run / "train_log.csv").symlink_to(victim / "log.csv")
    RunLog(run, active=True, resumed_step=2).close()
    assert [row.split(",")[0] for row in (run / "train_log.csv").read_text().splitlines()[1:]] == ["1", "2"]
    assert not (run / "train_log.csv").is_symlink() and (victim / "log.csv").read_text().endswith("3,2.3\n")


def test_a_checkpoint_is_never_unpickled(tmp_path):
    import pickle

    import torch

    acc, state = _training_state()
    checkpoints.save_checkpoint(acc, tmp_path, 1, keep=0, state=state)
    planted = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(planted), "w"))

    folder = tmp_path / "checkpoint-1"
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "scheduler.bin"):
        (folder / name).write_bytes(pickle.dumps(Payload()))
    torch.save({"state": Payload()}, folder / "optimizer.pt")  # a hostile optimizer file is refused
    trainer = json.loads((folder / checkpoints.STATE_FILE).read_text())  # its digest made to fit: not damaged
    trainer["sha256"]["optimizer.pt"] = checkpoints._sha256(folder / "optimizer.pt")
    (folder / checkpoints.STATE_FILE).write_text(json.dumps(trainer))
    acc, fresh = _training_state()
    with pytest.raises(InputError, match="not a checkpoint this version can resume"):
        checkpoints.load_checkpoint(acc, folder, fresh)
    assert not planted.exists()
    (folder / checkpoints.STATE_FILE).write_text('{"loop": {}}', encoding="utf-8")  # was a KeyError traceback
    with pytest.raises(InputError, match=r"trainer_state.json lacks scheduler, config\)"):
        checkpoints.read_state(folder)


def test_a_damaged_checkpoint_is_one_line(tmp_path):
    """A truncated model.safetensors and a missing generator file were tracebacks. R70: weights with a crash's
    zeros at the end resumed as a run diverging at once, and an empty trainer_state.json was blamed on the
    version; the message names the checkpoint before it."""
    acc, state = _training_state()
    for step in (1, 2):
        checkpoints.save_checkpoint(acc, tmp_path, step, keep=0, state=state)
    folder = tmp_path / "checkpoint-2"
    weights = folder / "model.safetensors"
    whole = weights.read_bytes()
    damaged = r"checkpoint-2: damaged \(model.safetensors is not the file saved: cut short, or zeros a crash left\?\)"
    for cut in (whole[: len(whole) // 2], whole[: len(whole) // 2] + bytes(len(whole) - len(whole) // 2)):
        weights.write_bytes(cut)
        with pytest.raises(InputError, match=damaged + "; remove it to resume from checkpoint-1$"):
            checkpoints.load_checkpoint(acc, folder, _training_state()[1])
    weights.write_bytes(whole)
    (folder / "rng_0.safetensors").unlink()
    with pytest.raises(InputError, match="not a checkpoint this version can resume"):
        checkpoints.load_checkpoint(acc, folder, _training_state()[1])
    (tmp_path / "checkpoint-1" / checkpoints.STATE_FILE).write_bytes(b"")
    with pytest.raises(InputError, match=r"checkpoint-1: damaged \(trainer_state.json is no JSON: .*\); remove it to "
                                         "start the run afresh"):  # fmt: skip
        checkpoints.load_checkpoint(acc, tmp_path / "checkpoint-1", _training_state()[1])


def test_a_run_that_starts_afresh_drops_the_log_of_one_killed_before_its_first_checkpoint(tmp_path):
    killed = RunLog(tmp_path, active=True)
    killed.write({"step": 1, "loss": 2.5})
    killed.close()  # as its process's end does (its writer's thread flushed into the folder the next run removes)
    RunLog(tmp_path, active=True).write({"step": 1, "loss": 2.4})
    assert (tmp_path / "train_log.csv").read_text().splitlines()[1:] == ["1,,,2.4,,,,,,,"]


def test_run_log_writes_one_header_and_the_run_info(tmp_path):
    log = RunLog(tmp_path, active=True)
    log.write({"step": 1, "loss": 2.5, "lr": 1e-4})
    log.write({"step": 2, "loss": 2.0, "lr": 1e-4, "dev_wer": 0.5, "dev_cer": 0.2, "minutes": 0.1})
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    history = [{"step": 2, "minutes": 0.1, "dev_wer": 0.5, "dev_cer": 0.2}]
    log.finish({"steps": 2, "history": history}, model_dir, "a run")
    rows = list(csv.DictReader((tmp_path / "train_log.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2"] and rows[1]["dev_cer"] == "0.2" and rows[0]["dev_cer"] == ""
    assert json.loads((model_dir / "run_info.json").read_text())["steps"] == 2
    assert (tmp_path / "run_info.json").read_text() == (model_dir / "run_info.json").read_text()
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    assert list((tmp_path / "tensorboard").iterdir())
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    RunLog(quiet, active=False).write({"step": 1})
    assert not list(quiet.iterdir())


def test_every_config_key_has_help_and_the_model_options_are_marked():
    text = TrainConfig.help()
    for f in dataclasses.fields(TrainConfig):
        assert f"--{f.name} (" in text
    assert "--REQUIRED" not in text
    options = _config().model_options()
    assert {"mask_time_prob", "hidden_dropout", "layerdrop", "ctc_zero_infinity"} <= set(options)
    assert "learning_rate" not in options and "freeze_feature_encoder" not in options
    assert _config(mask_time_prob=0.3).model_options()["mask_time_prob"] == 0.3


def test_config_values_with_choices_are_checked_and_yaml_no_stays_no(tmp_path):
    required = {"model": "m", "processor": "p", "train_manifest": "t"}
    assert TrainConfig.load(None, required | {"mixed_precision": "no"}).mixed_precision == "no"
    (tmp_path / "c.yaml").write_text("mixed_precision: no\nresume: false\n")
    config = TrainConfig.load(str(tmp_path / "c.yaml"), required)
    assert (config.mixed_precision, config.resume) == ("no", "false")
    for key, value in (("mixed_precision", "bogus"), ("lr_schedule", "cosine"), ("schedule_by", "epochs")):
        with pytest.raises(InputError, match=f"config key {key}: expected"):
            TrainConfig.load(None, required | {key: value})
    # a name read as a bool was its word ("adapter.false.safetensors"); a bool in a list was a number
    (tmp_path / "d.yaml").write_text("adapter_lang: no\n")
    with pytest.raises(InputError, match="adapter_lang: YAML read an unquoted word as false; quote it"):
        TrainConfig.load(str(tmp_path / "d.yaml"), required)
    (tmp_path / "e.yaml").write_text("output_dir: 0755\n")  # YAML 1.1's octal: it trained into exp folder 493
    with pytest.raises(InputError, match="0755: YAML reads a leading 0 as octal"):
        TrainConfig.load(str(tmp_path / "e.yaml"), required)
    (tmp_path / "e.yaml").write_text("max_minutes: 1:30\n")  # YAML 1.1's base 60: 90 minutes
    with pytest.raises(InputError, match=re.escape("YAML 1.1 reads 1:30 as a number in another base")):
        TrainConfig.load(str(tmp_path / "e.yaml"), required)
    (tmp_path / "e.yaml").write_text("output_dir: 1755\n")
    with pytest.raises(InputError, match="output_dir: YAML read an unquoted 1755 as a number; quote it"):
        TrainConfig.load(str(tmp_path / "e.yaml"), required)
    # R47: YAML 1.1 reads 1e-1 as text (a scalar key's was read as a number, a list's refused)
    (tmp_path / "f.yaml").write_text("tri_stage_ratios: [1e-1, 4e-1, 5E-1]\nspeed_perturb: [9e-1, 1.0]\n")
    config = TrainConfig.load(str(tmp_path / "f.yaml"), required)
    assert (config.tri_stage_ratios, config.speed_perturb) == ([0.1, 0.4, 0.5], [0.9, 1.0])
    assert TrainConfig.load(None, required | {"tri_stage_ratios": "[1e-1, 4e-1, 5e-1]"}).tri_stage_ratios == [
        0.1,
        0.4,
        0.5,
    ]  # on the command line too (R48)
    for key, value in (("speed_perturb", "[true, 1.1]"), ("tri_stage_ratios", "[true, false, false]")):
        with pytest.raises(InputError, match=f"config key {key}: expected"):
            TrainConfig.load(None, required | {key: value})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [  # each was taken: NaN trained on silently, the others were tracebacks from torch after the model loaded
        ("learning_rate", "nan", "a finite number"),
        ("max_batch_seconds", "inf", "a finite number"),
        ("mask_time_prob", "-3", "a probability from 0 to 1"),
        ("hidden_dropout", "1.5", "0 or more and less than 1"),
        ("adam_beta1", "1.0", "0 or more and less than 1"),
        ("adam_epsilon", "0", "more than 0"),
        ("weight_decay", "-0.1", "0 or more"),
        ("mask_time_length", "0", "at least 1"),
        ("max_steps", "null", "a whole number, got null"),  # tracebacks comparing None with a number
        ("learning_rate", "~", "a number, got null"),
        ("new_head", "null", "true or false, got null"),  # was taken as false
        ("speed_perturb", "[0.9, 3]", "a list of speed factors from 0.5 to 2"),
        ("speed_perturb", "1.1", "a list of speed factors"),
        ("adapter_lang", "x/y", "letters, digits"),  # a traceback writing adapter.x/y.safetensors after training
        ("seed", "-1", "0 to 2"),  # numpy's refusal, after the model loaded
        ("output_dir", "", "a folder"),  # trained into the current folder
        ("tri_stage_ratios", "[.nan, 0.5, 0.5]", "three shares"),  # a traceback when the schedule was built
    ],
)
def test_config_values_no_run_can_use_are_one_line(key, value, expected):
    required = {"model": "m", "processor": "p", "train_manifest": "t"}
    with pytest.raises(InputError, match=f"config key {key}: expected {expected}"):
        TrainConfig.load(None, required | {key: value})
    assert TrainConfig.load(None, required | {"hidden_dropout": "0.1", "mask_time_prob": "1"}).hidden_dropout == 0.1
    with pytest.raises(InputError, match="adapter_lang goes with adapters_only"):  # was ignored
        TrainConfig.load(None, required | {"adapter_lang": "fin"})
    with pytest.raises(InputError, match="freeze_feature_encoder false goes against adapters_only"):  # ignored too
        TrainConfig.load(None, required | {"adapters_only": "true", "freeze_feature_encoder": "false"})
    with pytest.raises(InputError, match=r"min_duration: 25\.0 is above max_duration 20\.0"):  # R62: no utterance kept
        TrainConfig.load(None, required | {"min_duration": "25"})
    assert TrainConfig.load(None, required | {"min_duration": "25", "max_duration": "0"}).min_duration == 25


@pytest.mark.parametrize(
    ("cuda", "cpu_flags", "expected"),
    [
        (None, {"avx512_bf16": True, "amx_bf16": False}, "bf16"),
        (None, {"avx512_bf16": False, "amx_bf16": True}, "bf16"),
        (None, {"avx512_bf16": False, "amx_bf16": False}, "no"),
        (True, {"avx512_bf16": False}, "bf16"),
        (False, {"avx512_bf16": True}, "no"),  # a GPU without bf16: the CPU's instructions do not matter
    ],
)
def test_auto_precision_is_bf16_only_where_the_hardware_computes_in_it(monkeypatch, cuda, cpu_flags, expected):
    import torch

    from asr.train.loop import mixed_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda is not None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bool(cuda))
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: cpu_flags)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")  # the launcher's is not read: the run config's rules
    assert mixed_precision("auto") == expected and mixed_precision("no") == "no"
    if cuda is not None:
        assert mixed_precision("fp16") == "fp16"
    else:  # a CPU would compute in float32 and the run be recorded as fp16
        with pytest.raises(InputError, match="mixed_precision fp16: no GPU here"):
            mixed_precision("fp16")


def test_a_train_manifest_with_a_repeated_id_is_refused(tmp_path):
    """Audio is cached by id: the second utterance was trained on the first one's audio, and dev scoring kept
    one of the two."""
    from asr.train.data import load_split

    rows = [{"id": i, "audio": f"{n}.wav", "duration": 1.0, "text": "a b"} for n, i in enumerate(["u1", "u2", "u1"])]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"train.jsonl: utterance id\(s\) u1 more than once"):
        load_split(str(path), None, None)


def test_speed_perturbation_draws_a_speed_per_utterance_and_epoch_and_renders_the_audio_at_it(tmp_path):
    import numpy as np
    import soundfile as sf

    from asr.train.data import AudioStore, Example, speed_perturbed

    sf.write(tmp_path / "a.wav", np.random.default_rng(0).standard_normal(16000).astype("float32") * 0.1, 16000)
    examples = [Example(f"u{i}", tmp_path / "a.wav", None, 1.0, "a", (1,)) for i in range(30)]
    assert speed_perturbed(examples, [], 0, 0) is examples
    epochs = [speed_perturbed(examples, [0.9, 1.0, 1.1], 0, epoch) for epoch in (0, 1)]
    assert epochs[0] == speed_perturbed(examples, [0.9, 1.0, 1.1], 0, 0)  # every process draws alike
    assert epochs[0] != epochs[1] and {ex.speed for ex in epochs[0]} == {0.9, 1.0, 1.1}
    store = AudioStore(16000, cache=True)
    for ex in epochs[0] + epochs[1]:
        assert ex.duration == pytest.approx(1.0 / ex.speed)
        assert len(store.get(ex)) == round(16000 / ex.speed)
    # each rendering is kept under its own key, beside the audio as read
    assert set(store.cache) == {ex.key for ex in epochs[0] + epochs[1]} | {(ex.id, 1.0) for ex in examples}
    # R87: keys joined as "u0@0.9" gave an utterance of that id the slowed audio of u0
    sf.write(tmp_path / "b.wav", np.zeros(8000, dtype="float32"), 16000)
    named = Example("u0@0.9", tmp_path / "b.wav", None, 0.5, "a", (1,))
    store.get(Example("u0", tmp_path / "a.wav", None, 1.0, "a", (1,), speed=0.9))
    assert len(store.get(named)) == 8000


@pytest.mark.parametrize(("before", "now", "steps"), [(1, 2, 5), (2, 1, 2), (2, 3, 3), (3, 2, 2), (2, 4, 1)])
def test_a_run_resumed_with_another_number_of_processes_takes_each_batch_once(before, now, steps):
    """The epoch's position counted the resuming processes' own batches: 1 -> 2 processes passed over 5 of
    epoch 0's 9 batches (reported as 2 left over), 2 -> 1 trained 3 utterances twice."""
    from types import SimpleNamespace

    from asr.train.data import shard
    from asr.train.loop import LoopState, Trainer

    batches = [[i] for i in range(23)]
    taken = {b[0] for rank in range(before) for b in shard(batches, rank, before)[:steps]}
    run = SimpleNamespace(state=LoopState(batch_in_epoch=steps), acc=SimpleNamespace(num_processes=now))
    Trainer._reposition(run, before)
    later = [b[0] for rank in range(now) for b in shard(batches, rank, now)[run.state.batch_in_epoch :]]
    tail = len(batches) % now  # no process gets them: counted at the epoch's end
    assert not taken & set(later) and len(later) == len(set(later))
    assert len(taken) + len(later) + run.state.batches_left_at_epoch_ends + tail == len(batches)
    assert run.state.batches_left_at_epoch_ends < now  # only the few that do not divide among the processes


def test_a_checkpoint_of_an_earlier_version_keeps_its_best_score():
    """The best dev score's field was named best_wer (it held pretraining's dev loss too): a checkpoint written
    under that name resumes with its best score, not with none (a worse model would have become best/)."""
    from asr.train.loop import LoopState

    state = LoopState()
    state.load_state_dict({"step": 40, "best_wer": 0.25, "best_step": 32})
    assert (state.best_score, state.best_step) == (0.25, 32) and "best_wer" not in vars(state)


def test_a_key_an_earlier_versions_checkpoint_lacks_counts_as_its_default():
    """Found by a review: a checkpoint from before speed_perturb existed was refused as another config
    (speed_perturb: None -> []), though the old version trained as the default does; a key set otherwise is
    still named."""
    saved = _config().to_dict()
    del saved["speed_perturb"]
    assert _config().changes_from(saved) == {}
    assert _config(speed_perturb=[0.9, 1.1]).changes_from(saved) == {"speed_perturb": [[], [0.9, 1.1]]}


def test_ctc_counts_a_blank_between_repeats_and_the_encoders_frames_as_transformers_does():
    """Found by a mutation review: the alignability checks' expected frames came from `ctc_frames` itself, and
    their texts had no repeated letters. By hand: "aab" needs a blank between the a's; the frame counts are
    transformers' own output lengths, and the shipped model's logits."""
    import torch
    from transformers import AutoModelForCTC, Wav2Vec2Config, Wav2Vec2ForCTC

    from asr.data.check import ctc_frames, ctc_min_frames, encoder_layers

    assert [ctc_min_frames(text) for text in ("abc", "aab", "aaaa", "a a")] == [3, 4, 7, 3]
    model = AutoModelForCTC.from_pretrained(Path(__file__).parents[1] / "models" / "synth-ctc-tiny").eval()
    adapter = Wav2Vec2ForCTC(Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                            intermediate_size=32, conv_dim=(8,) * 7, add_adapter=True,
                                            output_hidden_size=32, num_adapter_layers=3, vocab_size=5))  # fmt: skip
    for n in (400, 401, 719, 720, 16000, 16319, 16320, 48000):
        for m in (model, adapter):
            expected = int(m._get_feat_extract_output_lengths(torch.tensor(n), add_adapter=m.config.add_adapter))
            assert ctc_frames(n, encoder_layers(m.config)) == expected, (n, m.config.add_adapter)
        with torch.no_grad():
            logits = model(torch.zeros(1, n)).logits
        assert logits.shape[1] == ctc_frames(n, encoder_layers(model.config)), n


def _encoder_frames(samples: int) -> int:
    """The frames of wav2vec2's default feature encoder, by hand: L = (L - kernel) // stride + 1 per layer."""
    for kernel, stride in zip((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2), strict=True):
        samples = (samples - kernel) // stride + 1
    return samples


def test_a_model_with_an_output_adapter_never_uses_the_feature_cache():
    """Found by a mutation review: with the add_adapter guard dropped nothing failed, yet the cache's lengths are
    the feature encoder's, not the output adapter's, which shortens the frames by its stride per layer (training
    would see a quarter of each utterance). The rows the cache does fill are each utterance's own frame count."""
    import torch
    from transformers import AutoModelForCTC

    from asr.model.init import model_config
    from asr.train.feature_cache import FeatureCache, can_cache

    torch.manual_seed(0)
    adapter = AutoModelForCTC.from_config(
        model_config("tiny", add_adapter=True, num_adapter_layers=2, adapter_stride=2, output_hidden_size=128)
    )
    plain = AutoModelForCTC.from_config(model_config("tiny"))
    for model in (adapter, plain):
        assert not can_cache(model, True)  # the feature encoder trains
        model.freeze_feature_encoder()
    assert int(adapter._get_feat_extract_output_lengths(16000)) == 13  # 49 frames, halved twice (rounded up)
    assert not can_cache(adapter, True) and not can_cache(plain, False) and can_cache(plain, True)

    values = torch.randn(2, 16000)
    mask = torch.ones(2, 16000, dtype=torch.long)
    mask[1, 12000:] = 0
    values[1, 12000:] = 0.0
    cache = FeatureCache(plain)
    cache.prepare(["long", "short"], {"input_values": values, "attention_mask": mask})
    assert (_encoder_frames(16000), _encoder_frames(12000)) == (49, 37)
    features = cache.pending
    assert features.shape == (2, 64, 49)
    with torch.no_grad():
        alone = [cache.compute(values[:1]), cache.compute(values[1:, :12000])]
    assert alone[0].shape[-1] == 49 and alone[1].shape[-1] == 37
    assert torch.equal(features[0], alone[0][0]) and torch.equal(features[1, :, :37], alone[1][0])
    assert not features[1, :, 37:].any()  # the padded frames are zeros
    assert plain.base_model.feature_extractor(values) is features  # the next forward pass takes them


def test_a_segment_played_at_a_speed_keeps_its_original_duration(tmp_path: Path):
    """Found by a mutation review: at_speed scaling the example's (already perturbed) duration instead of its
    original one was not caught; a segment's audio at 1.1 was then read from a segment 1/1.1 s long."""
    import numpy as np
    import soundfile as sf

    from asr.train.data import AudioStore, Example, at_speed

    audio = np.random.default_rng(0).standard_normal(48000).astype("float32") * 0.1
    sf.write(tmp_path / "a.wav", audio, 16000, subtype="FLOAT")  # 3 s
    ex = Example("u", tmp_path / "a.wav", 0.5, 1.0, "a", (1,))
    fast = at_speed(ex, 1.1)
    assert fast.duration == pytest.approx(1.0 / 1.1) and at_speed(fast, 1.0).duration == pytest.approx(1.0)
    assert at_speed(at_speed(fast, 0.9), 1.0).duration == pytest.approx(1.0)
    store = AudioStore(16000, cache=False)
    assert np.array_equal(store.get(at_speed(fast, 1.0)), audio[8000:24000])  # the segment, 0.5 s to 1.5 s
    assert len(store.get(fast)) == round(16000 / 1.1)


def test_length_grouped_batches_hold_at_most_max_size_utterances():
    """Found by a mutation review: the batch size limit taken as `>` instead of `>=` (batches of 5 under a limit
    of 4) was not caught. By hand: 10 equal utterances, a budget that never binds, 4 at most -> 4, 4, 2."""
    from asr.train.data import length_grouped_batches

    batches = length_grouped_batches([1.0] * 10, 100.0, 4, seed=0, epoch=0, shortest_first=True)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i in b) == list(range(10))
    shuffled = length_grouped_batches([1.0] * 10, 100.0, 4, seed=0, epoch=1)
    assert sorted(len(b) for b in shuffled) == [2, 4, 4] and sorted(i for b in shuffled for i in b) == list(range(10))


def test_metric_for_best_model_is_no_config_change_on_resume():
    """A run of an earlier version resumed with the setting its refusal named (metric_for_best_model: wer) was
    refused again, as a change from the saved config (which has no such key); the loop compares the metric
    both resolve to instead."""
    from asr.train.config import TrainConfig

    saved = {k: v for k, v in TrainConfig().to_dict().items() if k != "metric_for_best_model"}
    assert TrainConfig(metric_for_best_model="wer").changes_from(saved) == {}
    assert TrainConfig(max_steps=7).changes_from(saved) == {"max_steps": [1000, 7]}
    # R47: keys the schedule does not read were refused as changes (warm-up steps of a constant schedule)
    constant = TrainConfig(lr_schedule="constant").to_dict()
    assert TrainConfig(lr_schedule="constant", warmup_steps=7, max_steps=9).changes_from(constant) == {}
    assert TrainConfig(warmup_steps=7, tri_stage_final_scale=0.5).changes_from(saved) == {"warmup_steps": [500, 7]}
    # a finished run rerun (not resuming): more steps are a change, whatever the schedule (R55: untested)
    assert TrainConfig(lr_schedule="constant", max_steps=9).changes_from(constant, resuming=False) == {
        "max_steps": [1000, 9]
    }
    from asr.pretrain.config import PretrainConfig

    eight = PretrainConfig(lr_schedule="constant", max_steps=8).to_dict()
    assert PretrainConfig(lr_schedule="constant", max_steps=16).changes_from(eight, resuming=False) == {
        "max_steps": [8, 16]
    }


def test_a_config_file_not_in_utf8_or_not_a_mapping_is_named_in_one_line(tmp_path):
    """A Latin-1 config was a UnicodeDecodeError traceback; a non-breaking space after a colon (no YAML
    whitespace) made the file one string, 'not a mapping' with nothing to show why."""
    (tmp_path / "latin1.yaml").write_bytes(b"max_steps: 5\n# caf\xe9\n")
    with pytest.raises(InputError, match=r"latin1.yaml:2: not valid UTF-8 \(byte 0xe9\)"):
        TrainConfig.load(str(tmp_path / "latin1.yaml"), {})
    (tmp_path / "nbsp.yaml").write_text("max_steps:\u00a05\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"not a mapping of keys to values \(YAML reads it as the str 'max_steps:\\xa05'\)"
    ):
        TrainConfig.load(str(tmp_path / "nbsp.yaml"), {})
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfmax_steps: 5\r\n")  # as a Windows editor saves it
    assert TrainConfig.load(str(tmp_path / "bom.yaml"), {}, required=False).max_steps == 5
