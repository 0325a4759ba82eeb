"""CTC training: real optimisation steps, resume equivalence after a kill, two processes, pipeline, bad input."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.data.cli import main as data_main
from asr.model.init import init_model
from asr.train.cli import main as train_main
from asr.vocab.cli import main as vocab_main
from tests.conftest import accelerate_launch

ASR = [sys.executable, "-m", "asr"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("train")
    assert data_main(["synth", "--langs", "en", "--hours", "0.02", "--out", str(root), "--workers", "2"]) == 0
    assert vocab_main(["--train", str(root / "en" / "train.jsonl"), "--out", str(root / "processor")]) == 0
    init_model("tiny", root / "model", root / "processor")
    return {"root": root, "processor": root / "processor", "model": root / "model", "data": root / "en"}


def _args(setup: dict, out: Path, **extra) -> list[str]:
    options = {
        "model": setup["model"], "processor": setup["processor"], "train_manifest": setup["data"] / "train.jsonl",
        "dev_manifest": setup["data"] / "dev.jsonl", "output_dir": out, "learning_rate": 3e-3, "warmup_steps": 2,
        "max_batch_seconds": 12, "freeze_feature_encoder": "false", "logging_steps": 1, "eval_steps": 4,
        "save_steps": 4, "mask_time_prob": 0.2, "hidden_dropout": 0.1,
    } | extra  # fmt: skip
    return [token for key, value in options.items() for token in (f"--{key}", str(value))]


def _rows(setup: dict, split: str) -> list[dict]:
    """A split's manifest lines, audio paths made absolute (for a manifest written elsewhere)."""
    lines = (setup["data"] / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [{**row, "audio": str(setup["data"] / row["audio"])} for row in map(json.loads, lines)]


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_optimisation_steps_reduce_the_loss(setup, tmp_path, group_umask):
    assert train_main(_args(setup, tmp_path / "run", max_steps=10, mask_time_prob=0.0, hidden_dropout=0.0)) == 0
    # R44: safetensors 0.8 wrote every weights file 0600 (colleagues read configs, not weights)
    assert group_umask(tmp_path / "run") == {0o664}
    init_model("tiny", tmp_path / "init", setup["processor"])
    assert group_umask(tmp_path / "init") == {0o664}
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    losses = [row["loss"] for row in info["history"] if row.get("loss") is not None]
    assert info["steps"] == 10 and len(losses) >= 8
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3
    assert (tmp_path / "run" / "checkpoint-8" / "model.safetensors").exists()
    assert info["num_processes"] == 1 and info["final_model"] == "best"


@pytest.mark.parametrize(
    ("steps", "kill_at", "extra"),
    # with the feature cache and speed perturbation: the resumed run fills the cache in other batches than the
    # whole run did (its rows, computed inside padded batches, differed in their last bits: 49 tensors differed)
    [
        (12, 4, {"logging_steps": 3, "eval_steps": 6}),  # a log interval that a checkpoint (4, 8) cuts
        (30, 12, {"freeze_feature_encoder": "true", "speed_perturb": "[0.9,1.0,1.1]", "max_batch_seconds": 8}),
    ],
    ids=["plain", "cached-speed-perturbed"],
)
def test_killed_run_resumes_to_the_same_weights(setup, tmp_path, steps, kill_at, extra):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert train_main(_args(setup, whole, max_steps=steps, **extra)) == 0
    proc = subprocess.Popen([*ASR, "train", *_args(setup, killed, max_steps=steps, **extra)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / f"checkpoint-{kill_at}").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / f"checkpoint-{steps}").exists(), "the run ended before it could be killed"
    assert train_main(_args(setup, killed, max_steps=steps, **extra)) == 0
    info = json.loads((killed / "run_info.json").read_text())
    assert info["resumed_from"] in (f"checkpoint-{kill_at}", f"checkpoint-{kill_at + 4}")
    a, b = (
        _weights(whole / f"checkpoint-{steps}" / "model.safetensors"),
        _weights(killed / f"checkpoint-{steps}" / "model.safetensors"),
    )
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    dev = [{k: r.get(k) for k in ("step", "dev_wer", "dev_cer")} for r in info["history"] if "dev_wer" in r]
    whole_info = json.loads((whole / "run_info.json").read_text())
    assert dev == [
        {k: r.get(k) for k in ("step", "dev_wer", "dev_cer")} for r in whole_info["history"] if "dev_wer" in r
    ]
    # the losses logged, means over the steps since the row before, also across the resume
    assert [(r["step"], r["loss"]) for r in info["history"]] == [(r["step"], r["loss"]) for r in whole_info["history"]]
    # the steps logged after the last checkpoint by the killed run are not logged twice
    logged = [row.split(",")[0] for row in (killed / "train_log.csv").read_text().splitlines()[1:]]
    assert logged == [row.split(",")[0] for row in (whole / "train_log.csv").read_text().splitlines()[1:]]
    assert not list(killed.glob("checkpoint-*/*.pkl"))


def test_resuming_with_another_config_is_refused_unless_asked(setup, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert train_main(_args(setup, out, max_steps=4, eval_steps=100)) == 0
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)  # R45: another CPU's threads sum in another order: said, not refused
    try:
        assert train_main(_args(setup, out, max_steps=4, eval_steps=100)) == 0  # finished: resumed, no step
    finally:
        torch.set_num_threads(threads)
    assert f"was saved by a run on {threads} CPU threads, this one has {threads + 1}" in capsys.readouterr().err
    from asr.train import loop

    native = loop.cpu_computes_bf16()
    with monkeypatch.context() as other_cpu:  # R79: auto resolved otherwise went on in another precision unsaid
        other_cpu.setattr(loop, "cpu_computes_bf16", lambda: not native)
        assert train_main(_args(setup, out, max_steps=4, eval_steps=100)) == 2
    precisions = ("'bf16' -> 'no'") if native else ("'no' -> 'bf16'")
    assert f"mixed_precision as resolved: {precisions}" in capsys.readouterr().err
    proc = _run(_args(setup, out, max_steps=8, learning_rate=1e-2, seed=3, eval_steps=100))
    assert proc.returncode == 2 and "checkpoint-4 was saved by a run with another config" in proc.stderr
    assert "learning_rate: 0.003 -> 0.01" in proc.stderr and "seed: 0 -> 3" in proc.stderr
    assert train_main(_args(setup, out, max_steps=8, eval_steps=100, resume_with_changes="true")) == 0
    info = json.loads((out / "run_info.json").read_text())
    assert info["resumed_from"] == "checkpoint-4" and info["resumed_with_changes"] == {"max_steps": [4, 8]}
    assert info["steps"] == 8
    assert info["git_revision"] and info["versions"]["torch"]  # the code that trained it
    # the changed learning rate and weight decay are the ones trained with (the checkpoint's were kept) and each
    # logged lr is its step's own (it was the next step's: a linear run ended on a row saying 0)
    changed = dict(learning_rate=1e-2, weight_decay=0.5, lr_schedule="constant", warmup_steps=0, eval_steps=100)
    assert train_main(_args(setup, out, max_steps=10, resume_with_changes="true", **changed)) == 0
    groups = torch.load(out / "checkpoint-10" / "optimizer.pt", weights_only=True)["param_groups"]
    assert {(g["lr"], g["weight_decay"]) for g in groups} == {(1e-2, 0.5)}
    log = (out / "train_log.csv").read_text().splitlines()
    lrs = {int(r.split(",")[0]): float(r.split(",")[log[0].split(",").index("lr")]) for r in log[1:]}
    assert lrs[9] == lrs[10] == 1e-2 and lrs[1] == 3e-3 / 2  # linear warm-up's first step: half the peak
    # every resume with changes stays on record (each later run recorded only its own, so none after a rerun;
    # a rerun of the finished run keeps the record its training wrote)
    record = (out / "run_info.json").read_text()
    assert train_main(_args(setup, out, max_steps=10, resume_with_changes="true", **changed)) == 0
    info = json.loads((out / "run_info.json").read_text())
    assert (out / "run_info.json").read_text() == record and [c["step"] for c in info["changes_by_step"]] == [4, 8]
    assert info["changes_by_step"][1]["changes"]["learning_rate"] == [3e-3, 1e-2]
    frozen = _run(_args(setup, out, max_steps=12, resume_with_changes="true", freeze_feature_encoder="true", **changed))
    assert frozen.returncode == 2 and "saved by a run with freeze_feature_encoder: False, and this one has True" in (
        frozen.stderr
    )  # R79: "not a checkpoint of this model", the checkpoint blamed for the key


def test_resuming_on_data_remade_in_place_or_on_the_clock_with_another_budget_is_refused(setup, tmp_path):
    """A train manifest remade under the same name resumed the finished run (its old model kept, the new data's
    counts reported); a budget schedule resumed with another max_minutes jumped back up its learning rate."""
    out, train = tmp_path / "run", tmp_path / "train.jsonl"
    rows = _rows(setup, "train")
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert train_main(_args(setup, out, train_manifest=train, max_steps=2, eval_steps=100)) == 0
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[: len(rows) // 2]), encoding="utf-8")
    proc = _run(_args(setup, out, train_manifest=train, max_steps=2, eval_steps=100))
    assert proc.returncode == 2 and "train_manifest (content): '" in proc.stderr
    clock = tmp_path / "clock"
    assert train_main(_args(setup, clock, max_steps=2, eval_steps=100, schedule_by="budget", max_minutes=5)) == 0
    proc = _run(_args(setup, clock, max_steps=2, eval_steps=100, schedule_by="budget", max_minutes=9))
    assert proc.returncode == 2 and "max_minutes: 5.0 -> 9.0" in proc.stderr


def test_a_run_resumed_through_other_spellings_of_its_paths_is_the_same_run(setup, tmp_path, monkeypatch, capsys):
    """Resumed with its inputs spelled otherwise (relative from another working folder, through a link), a run
    was refused as another config: the paths are compared by the files they name. The same bytes elsewhere are
    a change (a manifest's audio, a model's weights may differ), and a starting model's config remade in place
    is named."""
    for name in ("model", "processor"):
        shutil.copytree(setup[name], tmp_path / name)
    shutil.copytree(setup["data"], tmp_path / "en")
    out, steps = tmp_path / "run", {"eval_steps": 100, "resume_with_changes": "true"}

    def paths(root) -> dict:
        return {"model": f"{root}/model", "processor": f"{root}/processor", "train_manifest": f"{root}/en/train.jsonl",
                "dev_manifest": f"{root}/en/dev.jsonl"}  # fmt: skip

    assert train_main(_args(setup, out, max_steps=2, **steps, **paths(tmp_path))) == 0
    (tmp_path / "link").symlink_to(tmp_path)
    (tmp_path / "processor" / "vocab_report.json").write_text("{}")  # not read by training
    monkeypatch.chdir(tmp_path)
    assert train_main(_args(setup, out, max_steps=4, **steps, **paths("link"))) == 0
    info = json.loads((out / "run_info.json").read_text())
    assert info["resumed_from"] == "checkpoint-2" and info["resumed_with_changes"] == {"max_steps": [2, 4]}
    shutil.copytree(out, tmp_path / "run2")  # the run moved: its record's output_dir is where it was
    assert train_main(_args(setup, tmp_path / "run2", max_steps=4, eval_steps=100, **paths("link"))) == 0
    assert f"model in {tmp_path / 'run2'}/model" in capsys.readouterr().out
    shutil.copytree(tmp_path / "en", tmp_path / "moved")
    proc = _run(
        _args(setup, out, max_steps=4, eval_steps=100, **paths(tmp_path) | {"train_manifest": "moved/train.jsonl"})
    )
    assert (
        proc.returncode == 2 and "another config (train_manifest: 'link/en/train.jsonl' -> 'moved/train" in proc.stderr
    )
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    (tmp_path / "model" / "config.json").write_text(json.dumps(config | {"layer_norm_eps": 1e-7}))
    proc = _run(_args(setup, out, max_steps=4, eval_steps=100, **paths(tmp_path)))
    assert proc.returncode == 2 and "another config (model (content): '" in proc.stderr  # and nothing else


def test_a_best_model_newer_than_the_checkpoint_is_kept_on_resume(setup, tmp_path):
    """Killed between an evaluation that wrote best/ and the next checkpoint, a resumed run that did not beat
    the checkpoint's best kept the checkpoint's best step (here none) while best/ held a later step's weights."""
    run = tmp_path / "run"
    assert train_main(_args(setup, run, max_steps=4, eval_steps=2, save_steps=1, save_total_limit=0)) == 0
    best = json.loads((run / "best" / "asr_best.json").read_text())
    for step in range(best["step"], 5):  # as if killed before the checkpoint of best/'s step was written
        shutil.rmtree(run / f"checkpoint-{step}")
    assert train_main(_args(setup, run, max_steps=4, eval_steps=2, save_steps=1, max_minutes=1e-4)) == 0
    info = json.loads((run / "run_info.json").read_text())  # resumed with its budget spent: no step taken
    assert info["resumed_from"] == f"checkpoint-{best['step'] - 1}" and info["final_model"] == "best"
    assert (info["best_step"], info["best_dev_wer"]) == (best["step"], best["dev_wer"])
    a, b = _weights(run / "model" / "model.safetensors"), _weights(run / "best" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_best_is_the_lowest_dev_wer_then_cer_and_an_interrupted_save_leaves_the_last_whole_best(
    setup, tmp_path, monkeypatch
):
    from transformers import Wav2Vec2Processor

    run = tmp_path / "run"
    assert train_main(_args(setup, run, max_steps=4, eval_steps=1, save_steps=1, save_total_limit=0)) == 0
    info = json.loads((run / "run_info.json").read_text())
    dev = [r for r in info["history"] if "dev_wer" in r]
    assert info["best_step"] == min(dev, key=lambda r: (r["dev_wer"], r["dev_cer"], r["step"]))["step"]

    # killed while best/ was written: no best/ that its record does not describe; the resumed run writes it whole
    def killed_in_best(self, folder, *args, **kwargs):
        if "best" in str(folder):
            raise KeyboardInterrupt
        return original(self, folder, *args, **kwargs)

    original = Wav2Vec2Processor.save_pretrained
    monkeypatch.setattr(Wav2Vec2Processor, "save_pretrained", killed_in_best)
    shutil.rmtree(run)
    args = _args(setup, run, max_steps=4, eval_steps=1, save_steps=1, save_total_limit=0)
    assert train_main(args) == 130
    assert not (run / "best").exists() and not (run / "best.partial").exists()
    monkeypatch.undo()
    assert train_main(args) == 0
    record = json.loads((run / "best" / "asr_best.json").read_text())
    a, b = (
        _weights(run / "best" / "model.safetensors"),
        _weights(run / f"checkpoint-{record['step']}" / "model.safetensors"),
    )
    assert all((a[k] == b[k]).all() for k in a)


def test_best_is_chosen_by_cer_for_a_language_written_without_spaces_between_words(setup, tmp_path):
    """A Chinese or Thai "word" is a phrase: best/ was chosen by dev WER, 100% for a checkpoint that gets one
    character of each phrase wrong, whatever its CER."""
    from asr.train.loop import LoopState, Trainer

    processor = tmp_path / "processor"
    shutil.copytree(setup["processor"], processor)
    text = json.loads((processor / "asr_text.json").read_text())
    (processor / "asr_text.json").write_text(json.dumps(text | {"lang": "zh-CN"}))
    run, extra = tmp_path / "run", {"processor": processor, "eval_steps": 1, "save_steps": 3}
    assert train_main(_args(setup, run, max_steps=3, **extra)) == 0
    info = json.loads((run / "run_info.json").read_text())
    best = min((r for r in info["history"] if "dev_cer" in r), key=lambda r: (r["dev_cer"], r["dev_wer"], r["step"]))
    assert info["metric_for_best_model"] == "dev_cer"
    assert (info["best_step"], info["best_dev_cer"], info["best_dev_wer"]) == (best["step"], best["dev_cer"],
                                                                                best["dev_wer"])  # fmt: skip
    proc = _run(_args(setup, run, max_steps=4, metric_for_best_model="wer", **extra))  # best/ holds CER's choice
    assert proc.returncode == 2 and "its best/ was chosen by dev_cer" in proc.stderr
    # rows where the two scores disagree (this run's may not)
    trainer = object.__new__(Trainer)
    trainer.dev_metric, trainer.state = "dev_cer", LoopState(0, best_score=0.3, best_step=1)
    trainer.state.history = [{"step": 1, "dev_wer": 0.5, "dev_cer": 0.3}]
    assert trainer._better({"dev_wer": 0.9, "dev_cer": 0.2}) and not trainer._better({"dev_wer": 0.1, "dev_cer": 0.4})
    assert trainer._better({"dev_wer": 0.4, "dev_cer": 0.3}) and not trainer._better({"dev_wer": 0.6, "dev_cer": 0.3})


def test_a_full_disk_at_a_checkpoint_is_one_line_naming_it_and_the_rerun_resumes(setup, tmp_path, monkeypatch, capsys):
    """Found by a review: torch's serialiser on a full disk raised "[enforce fail at inline_container.cc:672] .
    unexpected pos" (safetensors': "I/O error"), a traceback naming no file, and left the partial checkpoint."""
    import torch

    save = torch.save

    def full_at_step_8(obj, path, *args, **kwargs):
        if "checkpoint-8" in str(path):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 3595392 vs 3595280")
        return save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_at_step_8)
    run = tmp_path / "run"
    assert train_main(_args(setup, run, max_steps=8)) == 2
    err = capsys.readouterr().err.strip()
    assert f"error: {run / 'checkpoint-8.partial'}: not written: [enforce fail" in err and "free on its disk" in err
    assert "Traceback" not in err and err.count("error:") == 1 and not (run / "checkpoint-8.partial").exists()
    monkeypatch.undo()
    assert train_main(_args(setup, run, max_steps=8)) == 0
    assert json.loads((run / "run_info.json").read_text())["resumed_from"].endswith("checkpoint-4")


def test_two_processes_stay_in_sync(setup, tmp_path):
    out = tmp_path / "ddp"
    test = setup["data"] / "dev.jsonl"  # the best model's weights loaded to "cpu:0" failed under 2 CPU processes
    # R87: feature masking alone makes the masked-frame embedding, which no step reads (DDP's traceback)
    cmd = [*accelerate_launch(2), "-m", "asr", "train", *_args(setup, out, max_steps=4, sync_check="true",
                                                               test_manifest=test, mask_time_prob=0,
                                                               mask_feature_prob=0.1)]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((out / "run_info.json").read_text())
    assert info["num_processes"] == 2 and "MULTI_CPU" in info["distributed_type"]
    dev_rows = [r for r in info["history"] if "dev_wer" in r]
    dev_count = sum(1 for _ in (setup["data"] / "dev.jsonl").open())
    assert dev_rows and all(r["dev_utterances"] == dev_count for r in dev_rows)
    assert (out / "model" / "model.safetensors").exists() and info["test_utterances"] == dev_count
    closing = f"test WER {100 * info['test_wer']:.2f}%, CER {100 * info['test_cer']:.2f}%; "  # R62: run_info's alone
    assert closing in proc.stdout.splitlines()[-1], proc.stdout[-500:]


def test_saved_model_transcribes_in_a_pipeline(setup, tmp_path):
    import numpy as np
    from transformers import pipeline

    assert train_main(_args(setup, tmp_path / "p", max_steps=2)) == 0
    asr = pipeline("automatic-speech-recognition", model=str(tmp_path / "p" / "model"))
    out = asr({"raw": np.zeros(16000, dtype=np.float32), "sampling_rate": 16000})
    assert isinstance(out["text"], str)


def _run(args: list[str]) -> subprocess.CompletedProcess:
    """`asr train ARGS` in this process (a subprocess pays seconds of imports each time): its exit status and
    stderr; a traceback would fail the test as an exception."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = train_main([str(a) for a in args])
    return subprocess.CompletedProcess(args, status, "", err.getvalue())


def test_bad_input_is_reported(setup, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    proc = _run(_args(setup, tmp_path / "a", train_manifest=empty, max_steps=1))
    assert proc.returncode == 2 and "empty.jsonl: no utterances" in proc.stderr

    lost = tmp_path / "lost.jsonl"  # one audio file gone: the test set failed after the whole training
    rows = _rows(setup, "dev")
    rows[1]["audio"] = str(Path(rows[1]["audio"]).parent / "gone" / Path(rows[1]["audio"]).name)
    lost.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    proc = _run(_args(setup, tmp_path / "lost", test_manifest=lost, max_steps=1))
    assert proc.returncode == 2 and f"lost.jsonl: utterance {rows[1]['id']}: audio file" in proc.stderr
    assert not (tmp_path / "lost" / "model").exists()

    (tmp_path / "noise.flac").write_bytes(b"not audio" * 100)  # found at the first evaluation, 4 steps in
    rows[1]["audio"] = str(tmp_path / "noise.flac")
    lost.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    proc = _run(_args(setup, tmp_path / "noise", dev_manifest=lost, max_steps=8))
    assert proc.returncode == 2 and f"utterance {rows[1]['id']}: cannot read" in proc.stderr
    assert not (tmp_path / "noise").exists()  # before the first step: its TensorBoard log was left (a review)

    # NaN samples in a train file: "non-finite loss ... try a lower learning_rate", or with ctc_zero_infinity the
    # batches holding it skipped, blamed on the same (a review)
    train = _rows(setup, "train")
    samples, rate = sf.read(train[0]["audio"], dtype="float32")
    samples[10] = np.nan
    sf.write(tmp_path / "nan.wav", samples, rate, subtype="FLOAT")
    train[0]["audio"] = str(tmp_path / "nan.wav")
    (tmp_path / "nan.jsonl").write_text(json.dumps(train[0]) + "\n", encoding="utf-8")  # in every batch
    proc = _run(_args(setup, tmp_path / "nan", train_manifest=tmp_path / "nan.jsonl", max_steps=2))
    assert proc.returncode == 2 and f"utterance {train[0]['id']}: 1 NaN or Inf samples in its audio" in proc.stderr

    other = tmp_path / "other_model"
    shutil.copytree(setup["model"], other)
    vocab = json.loads((other / "vocab.json").read_text())
    (other / "vocab.json").write_text(json.dumps({token: len(vocab) - 1 - i for token, i in vocab.items()}))
    proc = _run(_args(setup, tmp_path / "b", model=other, max_steps=1))
    assert proc.returncode == 2 and "does not match the CTC head" in proc.stderr and "new_head=true" in proc.stderr

    proc = _run(_args(setup, tmp_path / "c", model=tmp_path / "nothing", max_steps=1))
    assert proc.returncode == 2 and "nothing" in proc.stderr and "Traceback" not in proc.stderr

    proc = _run(_args(setup, tmp_path / "d", resume="true", max_steps=1))
    assert proc.returncode == 2 and "holds no checkpoint to resume from" in proc.stderr

    if not torch.cuda.is_available():  # --check-options (the recipes' check) passed what the run refuses
        proc = _run(["--check-options", "--mixed_precision", "fp16"])
        assert proc.returncode == 2 and "mixed_precision fp16: no GPU here" in proc.stderr

    proc = _run(_args(setup, tmp_path / "e", max_steps=1, unknown_key=1))
    assert proc.returncode == 2 and "unknown config key(s): unknown_key" in proc.stderr

    proc = _run(_args(setup, tmp_path / "m", max_steps=1, mask_time_length=300))  # a ValueError at some step
    assert proc.returncode == 2 and "mask_time_length 300 is more than the" in proc.stderr
    assert not (tmp_path / "m" / "train_log.csv").exists()

    few = _args(setup, tmp_path / "f", max_steps=1, max_batch_seconds=1000, gradient_accumulation_steps=2)
    assert train_main(few) == 2  # R66: refused for too few batches, it left its TensorBoard log
    assert not (tmp_path / "f").exists()


def test_a_run_started_afresh_never_takes_an_earlier_runs_best_model(setup, tmp_path):
    """A run killed before its first checkpoint left best/; the next run in the folder, without a dev set,
    adopted it on its resume: model/ held the earlier run's weights, "best dev WER 100%"."""
    run = tmp_path / "run"
    assert train_main(_args(setup, run, max_steps=2, eval_steps=2)) == 0
    assert (run / "best").is_dir()
    for leftover in [*run.glob("checkpoint-*"), run / "model"]:  # as if killed before its first checkpoint
        shutil.rmtree(leftover)
    (run / "run_info.json").unlink()
    assert train_main(_args(setup, run, max_steps=2, dev_manifest="", learning_rate=1e-4)) == 0
    info = json.loads((run / "run_info.json").read_text())
    assert info["final_model"] == "last" and not info["best_step"] and not (run / "best").exists()


def test_links_planted_in_a_run_folder_are_replaced_not_written_through(setup, tmp_path):
    """R67: a `best` or `model` link in a downloaded run folder had its target emptied and the model written
    there (and a `.partial` folder made beside the target, outside the run); R69: a run_info.json or
    learning_curve.png link had its target replaced by the run's record or plot."""
    run, victim = tmp_path / "run", tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("precious")
    run.mkdir()
    for name in ("best", "model"):
        (run / name).symlink_to(victim)
    (run / "run_info.json").symlink_to(victim / "new.json")  # a file made outside the run
    (run / "learning_curve.png").symlink_to(victim / "thesis.txt")  # a file replaced
    assert train_main(_args(setup, run, max_steps=2, eval_steps=1, save_steps=2)) == 0
    assert [p.name for p in victim.iterdir()] == ["thesis.txt"] and sorted(tmp_path.iterdir()) == [run, victim]
    assert (victim / "thesis.txt").read_text() == "precious"
    for name in ("best", "model"):
        assert not (run / name).is_symlink() and (run / name / "model.safetensors").is_file()
    assert not any((run / name).is_symlink() for name in ("run_info.json", "learning_curve.png"))
    assert json.loads((run / "run_info.json").read_text())["final_model"]


def test_a_finished_run_run_again_changes_nothing_and_the_last_step_is_logged_once(setup, tmp_path, capsys):
    """The run's record too stays the one its training wrote (a review: rewritten by the rerun, it named the
    rerun's code and resumption, and a decode tuned on the model no longer matched it)."""
    out = tmp_path / "run"
    for _ in range(2):  # stopped by its budget; then the same command again
        assert train_main(_args(setup, out, max_steps=1000, max_minutes=0.004, eval_steps=1000, save_steps=1000)) == 0
        if _ == 0:
            log, record = (out / "train_log.csv").read_text(), (out / "run_info.json").read_text()
            info = json.loads(record)
    assert (out / "train_log.csv").read_text() == log and (out / "run_info.json").read_text() == record
    assert (out / "model" / "run_info.json").read_text() == record
    steps = [line.split(",")[0] for line in log.splitlines()[1:]]
    assert len(steps) == len(set(steps)) == info["steps"]  # one row a step, the last one with its dev scores
    assert log.splitlines()[-1].split(",")[3] and info["history"][-1]["dev_wer"] is not None
    capsys.readouterr()  # R63: a test set given to the finished run was not scored, without a word
    test = setup["data"] / "dev.jsonl"
    options = {"max_steps": 1000, "max_minutes": 0.004, "eval_steps": 1000, "save_steps": 1000}
    assert train_main(_args(setup, out, **options, test_manifest=test)) == 0
    assert f"--test_manifest {test} is not scored" in capsys.readouterr().err
    assert (out / "run_info.json").read_text() == record


def test_a_finished_run_run_again_at_an_epoch_end_reports_the_same_run(setup, tmp_path):
    """A run that ended at an epoch's end right after a checkpoint was reported one epoch lower when run again
    (the checkpoint was saved before the epoch counter moved)."""
    probe = tmp_path / "probe"
    assert train_main(_args(setup, probe, max_steps=12, eval_steps=100, save_steps=100)) == 0
    rows = json.loads((probe / "run_info.json").read_text())["history"]
    epoch_end = next(r["step"] for r in rows if r["epoch"] == 1) - 1  # the steps of epoch 0
    out, keys = tmp_path / "run", ("steps", "epochs", "batches_left_at_epoch_ends", "best_step", "best_dev_wer")
    infos = []
    for _ in range(2):
        assert train_main(_args(setup, out, max_steps=epoch_end, eval_steps=100, save_steps=epoch_end)) == 0
        infos.append({k: json.loads((out / "run_info.json").read_text())[k] for k in keys})
    assert infos[0] == infos[1] and infos[0]["epochs"] == 1
    # a review: the final save (which holds the epoch end) failed, and the rerun, resumed from the step's earlier
    # checkpoint, took no step and reported epoch 0
    from asr.train import checkpoints

    save, saves = checkpoints.save_checkpoint, []

    def fails_the_second_time(acc, out, step, *args):
        saves.append(step)
        if saves.count(epoch_end) == 2:
            raise OSError(28, "No space left on device")
        return save(acc, out, step, *args)

    failed = tmp_path / "failed"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(checkpoints, "save_checkpoint", fails_the_second_time)
        assert train_main(_args(setup, failed, max_steps=epoch_end, eval_steps=100, save_steps=epoch_end)) == 2
    assert saves == [epoch_end, epoch_end]
    assert train_main(_args(setup, failed, max_steps=epoch_end, eval_steps=100, save_steps=epoch_end)) == 0
    assert {k: json.loads((failed / "run_info.json").read_text())[k] for k in keys} == infos[0]


def test_a_processor_of_other_data_and_a_dev_set_with_nothing_to_score_are_refused(setup, tmp_path):
    other = tmp_path / "hi"
    assert data_main(["synth", "--langs", "hi", "--hours", "0.02", "--out", str(other), "--workers", "2"]) == 0
    proc = _run(_args(setup, tmp_path / "a", train_manifest=other / "hi" / "train.jsonl", max_steps=1))
    assert proc.returncode == 2 and "processor's vocabulary" in proc.stderr, proc.stderr
    dev = tmp_path / "dev.jsonl"
    dev.write_text(json.dumps({**_rows(setup, "train")[0], "text": "?!"}))
    proc = _run(_args(setup, tmp_path / "b", dev_manifest=dev, max_steps=1))
    assert proc.returncode == 2 and "every transcript normalises to nothing" in proc.stderr, proc.stderr


def test_utterances_ctc_cannot_align_are_named_or_skipped_and_counted(setup, tmp_path):
    line = json.loads((setup["data"] / "train.jsonl").read_text().splitlines()[0])
    line["text"] = " ".join(["abcdefghij"] * 60)  # far more labels than frames: CTC loss is infinite
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(line | {"audio": str(setup["data"] / line["audio"])}) + "\n")
    proc = _run(_args(setup, tmp_path / "f", train_manifest=bad, dev_manifest="", max_steps=2))
    # named before the first step, not at the step that draws it (hours into a real run)
    assert proc.returncode == 2 and f"({line['id']}) have more labels than frames, so" in proc.stderr
    assert not (tmp_path / "f" / "train_log.csv").exists()
    proc = _run(
        _args(setup, tmp_path / "g", train_manifest=bad, dev_manifest="", max_steps=2, ctc_zero_infinity="true")
    )
    assert proc.returncode == 0
    assert json.loads((tmp_path / "g" / "run_info.json").read_text())["infeasible_utterances"] == 2
    # alignable at speed 1, not at 2: named before the first step, not at the step that first draws speed 2
    from transformers import AutoConfig

    from asr.data.check import ctc_frames, encoder_layers

    conv = encoder_layers(AutoConfig.from_pretrained(setup["model"]))
    samples = round(line["duration"] * 16000)
    line["text"] = ("ab" * samples)[: ctc_frames(samples // 2, conv) + 1]  # no repeats: a label a frame
    assert len(line["text"]) <= ctc_frames(samples, conv)
    fast = tmp_path / "fast.jsonl"
    fast.write_text(json.dumps(line | {"audio": str(setup["data"] / line["audio"])}) + "\n")
    proc = _run(
        _args(setup, tmp_path / "h", train_manifest=fast, dev_manifest="", max_steps=2, speed_perturb="[1.0, 2.0]")
    )
    assert proc.returncode == 2 and f"({line['id']}) have more labels than frames at speed 2" in proc.stderr
    assert not (tmp_path / "h" / "train_log.csv").exists()
    # alignable at 0.9, the one speed it plays at, not at 1: trained (it was refused, checked at speed 1)
    line["text"] = ("ab" * samples)[: ctc_frames(samples, conv) + 1]
    assert len(line["text"]) <= ctc_frames(round(samples / 0.9), conv)
    fast.write_text(json.dumps(line | {"audio": str(setup["data"] / line["audio"])}) + "\n")
    proc = _run(_args(setup, tmp_path / "i", train_manifest=fast, dev_manifest="", max_steps=1, speed_perturb="[0.9]"))
    assert proc.returncode == 0, proc.stderr


def test_a_diverged_run_stops_at_its_first_non_finite_gradient_and_saves_no_nan_model(setup, tmp_path):
    """A review: at a learning rate far too high, a step whose loss was finite had a NaN gradient norm; the step
    turned every weight NaN, and with ctc_zero_infinity every later (NaN) step was skipped: the run saved an
    all-NaN model/ and exited 0."""
    out = tmp_path / "diverged"
    # float32 on every machine: a CPU with bf16 instructions trains in bf16 by default, and diverged otherwise
    proc = _run(_args(setup, out, dev_manifest="", max_steps=10, learning_rate=10, warmup_steps=0,
                      ctc_zero_infinity="true", save_steps=1, mixed_precision="no"))  # fmt: skip
    assert proc.returncode == 2 and "non-finite gradient norm at step" in proc.stderr, proc.stderr
    assert not (out / "model").exists()
    for weights in out.glob("checkpoint-*/model.safetensors"):
        assert all(bool(torch.isfinite(t).all()) for t in _weights(weights).values()), weights


def test_a_warm_up_longer_than_the_run_is_said(setup, tmp_path):
    """With warmup_steps above max_steps the learning rate never reached learning_rate, without a word."""
    proc = _run(_args(setup, tmp_path / "w", dev_manifest="", max_steps=2, warmup_steps=8))
    assert (
        proc.returncode == 0 and "note: warmup_steps 8 > max_steps 2: the learning rate rises to 25% of" in proc.stderr
    )
    lrs = [r["lr"] for r in json.loads((tmp_path / "w" / "run_info.json").read_text())["history"]]
    assert lrs == [3e-3 / 8, 3e-3 * 2 / 8]
    # R90: on the clock, 100 warm-up steps of a placeholder max_steps of 100000 warmed up over 0.4 s of 6 minutes
    clock = {"dev_manifest": "", "schedule_by": "budget", "max_minutes": 0.05, "max_steps": 100000}
    proc = _run(_args(setup, tmp_path / "c", **clock, warmup_steps=100, lr_schedule="linear"))
    assert proc.returncode == 0 and "note: warmup_steps 100 of max_steps 100000 under schedule_by budget: the " \
        "warm-up is 0.1% of max_minutes (0.003 s)" in proc.stderr, proc.stderr[-2000:]  # fmt: skip
    # R34: a key the schedule does not read was taken and recorded without a word
    proc = _run(_args(setup, tmp_path / "t", dev_manifest="", max_steps=1, lr_schedule="tri_stage"))
    assert proc.returncode == 0 and "note: warmup_steps 2: not read by lr_schedule tri_stage" in proc.stderr


def test_a_non_finite_loss_on_alignable_utterances_is_named_whether_it_stops_the_run_or_is_skipped(
    setup, tmp_path, monkeypatch
):
    """The error advised ctc_zero_infinity for a loss that was not CTC's infinity (every label fit its frames);
    with it, the skipped batch was counted but never named."""
    ctc_loss, calls = torch.nn.functional.ctc_loss, []

    def second_nan(*args, **kwargs):  # the fault: the second step's outputs overflowed
        calls.append(1)
        loss = ctc_loss(*args, **kwargs)
        return loss * math.nan if len(calls) == 2 else loss

    monkeypatch.setattr(torch.nn.functional, "ctc_loss", second_nan)
    proc = _run(_args(setup, tmp_path / "stops", dev_manifest="", max_steps=3))
    assert proc.returncode == 2 and "non-finite loss at step 2 on utterances " in proc.stderr
    assert "whose labels fit their frames: the model's outputs diverged or overflowed; try a lower learn" in proc.stderr
    calls.clear()
    proc = _run(_args(setup, tmp_path / "skips", dev_manifest="", max_steps=3, ctc_zero_infinity="true"))
    info = json.loads((tmp_path / "skips" / "run_info.json").read_text())
    assert proc.returncode == 0 and info["skipped_batches"] == 1
    assert "non-finite loss at step 2 on utterances " in proc.stderr and "the batch skipped" in proc.stderr


def test_an_output_adapters_frames_count_in_the_alignability_check(setup, tmp_path):
    """An add_adapter model's output adapter divides its frames by adapter_stride per layer: the check counted the
    feature encoder's frames alone, so an utterance CTC cannot align passed it (infinite loss in training)."""
    from transformers import AutoConfig, Wav2Vec2ForCTC

    from asr.data.check import ctc_frames, encoder_layers

    config = AutoConfig.from_pretrained(setup["model"])
    config.update({"add_adapter": True, "num_adapter_layers": 2, "adapter_stride": 2, "output_hidden_size": 64})
    Wav2Vec2ForCTC(config).save_pretrained(tmp_path / "m")
    line = _rows(setup, "train")[0]
    samples = round(line["duration"] * 16000)
    frames = ctc_frames(samples, encoder_layers(config))
    assert frames < ctc_frames(samples, encoder_layers(AutoConfig.from_pretrained(setup["model"]))) // 3
    line["text"] = ("ab" * samples)[: frames + 1]  # no repeats: a label a frame, one more than the adapter gives
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(line) + "\n")
    proc = _run(_args(setup, tmp_path / "f", model=tmp_path / "m", train_manifest=bad, dev_manifest="", max_steps=1))
    assert proc.returncode == 2 and f"({line['id']}) have more labels than frames, so" in proc.stderr, proc.stderr


def test_a_vocabulary_per_language_is_read_for_the_target_language(setup, tmp_path):
    """MMS's vocab.json holds one vocabulary per language: read as one of languages, the head check refused the
    model's own processor and a new head carried the blank alone."""
    from asr.train.head import own_vocab

    flat = json.loads((setup["processor"] / "vocab.json").read_text(encoding="utf-8"))
    (tmp_path / "vocab.json").write_text(json.dumps({"en": flat, "de": {"[PAD]": 0}}), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"target_lang": "en"}), encoding="utf-8")
    assert own_vocab(str(tmp_path)) == flat
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"target_lang": None}), encoding="utf-8")
    assert own_vocab(str(tmp_path)) == {}  # which language's head: unknown


def test_a_new_head_keeps_the_rows_of_the_tokens_both_vocabularies_hold(setup, tmp_path, capsys):
    import torch
    from safetensors.torch import save_file
    from transformers import AutoProcessor

    from asr.train.config import TrainConfig
    from asr.train.modeling import load_model

    vocab = json.loads((setup["processor"] / "vocab.json").read_text())
    letters = sorted(token for token in vocab if not token.startswith("["))
    # the checkpoint's own vocabulary: the letters at other indices, and one letter it never emitted
    own = {token: vocab[other] for token, other in zip(letters, reversed(letters), strict=True)}
    own |= {token: i for token, i in vocab.items() if token.startswith("[")}
    unseen = letters[0]
    del own[unseen]
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(setup["model"], checkpoint)
    (checkpoint / "vocab.json").write_text(json.dumps(own))
    old = _weights(checkpoint / "model.safetensors")  # a bias of its own per row (it was all zeros: never checked)
    old["lm_head.bias"] = torch.arange(len(old["lm_head.bias"]), dtype=old["lm_head.bias"].dtype) + 1.0
    save_file(old, str(checkpoint / "model.safetensors"), metadata={"format": "pt"})
    processor = AutoProcessor.from_pretrained(setup["processor"])

    def head(init: str) -> torch.nn.Linear:
        cfg = TrainConfig(
            model=str(checkpoint), processor=str(setup["processor"]), train_manifest="t", new_head=True,
            new_head_init=init,
        )  # fmt: skip
        return load_model(cfg, processor).lm_head

    carried = head("carry")
    said = f"new CTC head: {len(own)} of its {len(processor.tokenizer)} rows carried"  # transformers: "Reinit"
    assert said in capsys.readouterr().err
    for token, i in own.items():
        assert torch.equal(carried.weight[vocab[token]], old["lm_head.weight"][i]), token
        assert carried.bias[vocab[token]] == old["lm_head.bias"][i], token
    assert not any(torch.equal(carried.weight[vocab[unseen]], row) for row in old["lm_head.weight"])
    assert carried.bias[vocab[unseen]] == 0  # a new row's bias starts at zero, as transformers initialises it
    blank = vocab["[PAD]"]
    assert not torch.equal(head("random").weight[blank], carried.weight[blank])


def test_a_frozen_feature_encoder_cached_trains_as_one_computed_every_step(setup, tmp_path):
    """With speed perturbation: the cache keeps each speed's rendering of an utterance apart."""
    import torch

    runs = {}
    for name, hours in (("computed", 0), ("cached", 1)):
        args = _args(setup, tmp_path / name, max_steps=14, freeze_feature_encoder="true", cache_audio_hours=hours,
                     speed_perturb="[0.9,1.0,1.1]")  # fmt: skip
        assert train_main(args) == 0
        runs[name] = json.loads((tmp_path / name / "run_info.json").read_text())
    assert not runs["computed"]["feature_encoder_cached"] and runs["cached"]["feature_encoder_cached"]
    assert runs["cached"]["history"][-1]["epoch"] >= 2  # later epochs reuse the rows the first one computed
    losses = {name: [row["loss"] for row in info["history"] if row.get("loss")] for name, info in runs.items()}
    assert len(losses["cached"]) == 14 and losses["cached"] == pytest.approx(losses["computed"], rel=1e-4)
    weights = {name: _weights(tmp_path / name / "model" / "model.safetensors") for name in runs}
    for key, value in weights["computed"].items():  # each cached row is computed alone, each computed one in
        # its padded batch: 1e-6 apart, which AdamW's normalised steps take to 4e-4 in 14 steps where gradients
        # are near zero (the losses above agree to 1e-4)
        assert torch.allclose(weights["cached"][key], value, atol=1e-3), key
    dev = {name: [row["dev_cer"] for row in info["history"] if "dev_cer" in row] for name, info in runs.items()}
    assert len(dev["cached"]) >= 3 and dev["cached"] == pytest.approx(dev["computed"], abs=1e-9)


def test_the_feature_cache_runs_the_encoder_once_per_dev_batch(setup):
    import torch
    from transformers import Wav2Vec2ForCTC

    from asr.train.feature_cache import FeatureCache

    reference = Wav2Vec2ForCTC.from_pretrained(setup["model"]).eval()
    model = Wav2Vec2ForCTC.from_pretrained(setup["model"])
    model.freeze_feature_encoder()
    cache = FeatureCache(model)
    inputs = [torch.randn(2, 16000, generator=torch.Generator().manual_seed(seed)) for seed in (0, 1)]
    calls = []
    compute = cache.compute
    cache.compute = lambda values: calls.append(values.shape) or compute(values)
    model.eval()
    with torch.inference_mode():
        logits = [model(inputs[i]).logits for i in (0, 0, 1, 0)]
        expected = [reference(values).logits for values in inputs]
    assert len(calls) == 2  # the second and fourth passes reuse the first one's encoder output
    assert torch.equal(logits[0], expected[0]) and torch.equal(logits[1], expected[0])
    assert torch.equal(logits[2], expected[1]) and torch.equal(logits[3], expected[0])
    model.train()
    model(inputs[0])
    assert len(calls) == 3  # a training pass without prepare() computes


def test_a_finished_run_and_a_model_inside_output_dir_are_never_trained_over(setup, tmp_path):
    """With its checkpoints removed, a finished run was trained over afresh by a run of another config; a
    --model in output_dir/model was replaced by the run that read it. A path spelled otherwise that names the
    same file is the same config."""
    run = tmp_path / "run"
    assert train_main(_args(setup, run, max_steps=2, dev_manifest="")) == 0
    for checkpoint in run.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    weights = (run / "model" / "model.safetensors").read_bytes()
    proc = _run(_args(setup, run, max_steps=2, dev_manifest="", learning_rate=1e-5))
    assert proc.returncode == 2 and "holds a finished run of another config (learning_rate: 0.003 -> 1e-05)" in (
        proc.stderr
    )
    proc = _run(_args(setup, run, model=run / "model", max_steps=2, dev_manifest=""))
    assert proc.returncode == 2 and "lies in output_dir" in proc.stderr
    assert (run / "model" / "model.safetensors").read_bytes() == weights
    # the same config, its manifest named through a link (a review: refused as "another config"): no step taken,
    # as with its checkpoints kept (it was trained afresh: model/, with an LM attached to it, and run_info.json
    # replaced, a budget run's by another model)
    (tmp_path / "data_link").symlink_to(setup["data"])
    linked = tmp_path / "data_link" / "train.jsonl"
    (run / "model" / "attached.arpa").write_text("an LM attached in place")
    info = (run / "run_info.json").read_text()
    proc = _run(_args(setup, run, max_steps=2, dev_manifest="", train_manifest=linked))
    assert proc.returncode == 0 and "holds this config's finished run (its checkpoints removed): no step" in proc.stderr
    assert (run / "run_info.json").read_text() == info and (run / "model" / "attached.arpa").exists()
    assert (run / "model" / "model.safetensors").read_bytes() == weights
    # a test set or a budget added: no checkpoint to go on from, so another config (no step was taken for them)
    proc = _run(_args(setup, run, max_steps=2, dev_manifest="", test_manifest=setup["data"] / "dev.jsonl"))
    assert proc.returncode == 2 and "holds a finished run of another config (test_manifest: '' -> " in proc.stderr
    older = json.loads(info)  # an earlier version's run_info.json, returned as it is: a KeyError in the summary
    del older["train_unknown_characters"]
    (run / "run_info.json").write_text(json.dumps(older))
    assert train_main(_args(setup, run, max_steps=2, dev_manifest="")) == 0


def test_a_later_epoch_of_fewer_batches_than_accumulated_is_one_step_of_them(setup, tmp_path):
    """Speed perturbation drew shorter audio in epoch 1: 3 batches for gradient_accumulation_steps 4 stopped
    the run there, and every resume of it."""
    from transformers import Wav2Vec2Processor

    from asr.train.data import length_grouped_batches, load_split, speed_perturbed

    speeds = [0.9, 1.0, 1.1]
    tokenizer = Wav2Vec2Processor.from_pretrained(setup["processor"]).tokenizer
    examples = load_split(str(setup["data"] / "train.jsonl"), tokenizer, str).examples
    durations = [[e.duration for e in speed_perturbed(examples, speeds, 0, epoch)] for epoch in (0, 1)]
    counts = [len(length_grouped_batches(d, 20, 64, 0, epoch)) for epoch, d in enumerate(durations)]
    assert counts[0] >= 4 > counts[1]  # the case: the first epoch gives a whole step, the second too few
    out = tmp_path / "run"
    options = {"max_batch_seconds": 20, "speed_perturb": str(speeds), "gradient_accumulation_steps": 4}
    assert train_main(_args(setup, out, dev_manifest="", max_steps=3, **options)) == 0
    info = json.loads((out / "run_info.json").read_text())
    assert info["steps"] == 3 and info["short_steps"] >= 1


def test_inputs_found_wrong_late_or_by_a_traceback_are_one_line_before_the_first_step(setup, tmp_path):
    """A dev utterance whose audio is not its stated duration or too short for a frame stopped the run at the
    first evaluation, eval_steps in, every retry alike; a train utterance too short for a frame under
    ctc_zero_infinity, a processor without vocab.json and a checkpoint's or best/'s fields of another kind were
    tracebacks."""
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "short.wav", np.full(160, 0.01, dtype=np.float32), 16000)
    dev, train = _rows(setup, "dev"), _rows(setup, "train")
    stretched = tmp_path / "stretched.jsonl"
    stretched.write_text("".join(json.dumps(r | {"duration": r["duration"] * 1.5}) + "\n" for r in dev[:2]))
    proc = _run(_args(setup, tmp_path / "a", dev_manifest=stretched, max_steps=8))
    assert proc.returncode == 2 and f"stretched.jsonl: utterance {dev[0]['id']}: the manifest says" in proc.stderr
    assert not (tmp_path / "a" / "train_log.csv").exists()  # before the first step
    proc = _run(_args(setup, tmp_path / "t", test_manifest=stretched, max_steps=8))  # was found after the run
    assert proc.returncode == 2 and f"stretched.jsonl: utterance {dev[0]['id']}: the manifest says" in proc.stderr
    assert not (tmp_path / "t" / "train_log.csv").exists()
    short = {"id": "zz-short", "audio": str(tmp_path / "short.wav"), "duration": 0.01, "text": "a"}
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*dev, short]))
    proc = _run(_args(setup, tmp_path / "b", dev_manifest=tmp_path / "dev.jsonl", max_steps=8))
    assert proc.returncode == 2 and "utterance zz-short: 160 samples of audio, fewer than the" in proc.stderr
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*train, short]))
    options = {"train_manifest": tmp_path / "train.jsonl", "dev_manifest": "", "ctc_zero_infinity": "true"}
    assert train_main(_args(setup, tmp_path / "c", max_steps=2, mask_time_prob=0, **options)) == 0
    assert json.loads((tmp_path / "c" / "run_info.json").read_text())["train_filtered"]["shorter than one frame"] == 1

    processor = tmp_path / "processor"
    shutil.copytree(setup["processor"], processor)
    (processor / "vocab.json").unlink()
    proc = _run(_args(setup, tmp_path / "d", processor=processor, max_steps=1))
    assert proc.returncode == 2 and "not a processor folder (no vocab.json" in proc.stderr
    assert not (tmp_path / "d").exists()  # the output folder, made before the processor was read, is gone
    proc = _run(_args(setup, tmp_path / "n" / "e" / "d", processor=processor, max_steps=1))
    assert proc.returncode == 2 and not (tmp_path / "n").exists()  # and the parents made with it

    run = tmp_path / "e"
    assert train_main(_args(setup, run, max_steps=4)) == 0
    state_file = run / "checkpoint-4" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps(state | {"loop": state["loop"] | {"step": "4"}}))
    proc = _run(_args(setup, run, max_steps=4))
    assert proc.returncode == 2 and "checkpoint-4: not a checkpoint this version can resume (its loop field 'step'" in (
        proc.stderr
    )
    state_file.write_text(json.dumps(state))
    (run / "best" / "asr_best.json").write_text('{"step": "x"}')
    proc = _run(_args(setup, run, max_steps=4))
    assert proc.returncode == 2 and "asr_best.json: not a record of the best model" in proc.stderr


def test_an_epoch_of_fewer_batches_than_processes_is_passed_over(setup, tmp_path):
    """Speed perturbation drew one batch in epoch 1 for two processes: the run stopped there with 'too few
    batches', and every resume of it."""
    from transformers import Wav2Vec2Processor

    from asr.train.data import length_grouped_batches, load_split, speed_perturbed

    speeds = [0.9, 1.0, 1.1]
    tokenizer = Wav2Vec2Processor.from_pretrained(setup["processor"]).tokenizer
    examples = load_split(str(setup["data"] / "train.jsonl"), tokenizer, str).examples

    def counts(n: int, seconds: float) -> list[int]:
        epochs = [speed_perturbed(examples[:n], speeds, 0, epoch) for epoch in range(3)]
        return [len(length_grouped_batches([e.duration for e in exs], seconds, 64, 0, i)) for i, exs in
                enumerate(epochs)]  # fmt: skip

    cases = [(n, s / 2) for n in range(2, len(examples)) for s in range(4, 120) if counts(n, s / 2) == [2, 1, 2]]
    assert cases  # the case: two batches in the first epoch, one in the second, two in the third
    n, seconds = cases[0]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in _rows(setup, "train")[:n]))
    out = tmp_path / "run"
    options = {"train_manifest": manifest, "dev_manifest": "", "max_steps": 2, "max_batch_seconds": seconds}
    cmd = [*accelerate_launch(2), "-m", "asr", "train", *_args(setup, out, speed_perturb=str(speeds), **options)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((out / "run_info.json").read_text())
    assert info["steps"] == 2 and info["epochs"] >= 2 and info["batches_left_at_epoch_ends"] >= 1


def test_durations_outside_the_limits_are_counted_and_the_test_set_is_scored_on_the_best_weights(
    setup, tmp_path, monkeypatch
):
    """A mutation review found neither asserted: a max_duration never applied, and test WER computed on the last
    weights instead of best/ (the model shipped). The limits lie between the manifest's own durations, counted
    from it; the test set is the dev set, whose scores after step 1 are reported worse, so best/ is step 1's
    and the test scores must be step 1's real dev scores (not the last step's, which differ)."""
    from asr.train.loop import Trainer

    evaluate, real = Trainer.evaluate, {}

    def worse_after_the_first_step(self, split, name="dev"):
        result = evaluate(self, split, name)
        if name == "dev":
            real[self.state.step] = (result["dev_wer"], result["dev_cer"])
            result = result if self.state.step == 1 else {**result, "dev_wer": 2.0, "dev_cer": 2.0}
        return result

    monkeypatch.setattr(Trainer, "evaluate", worse_after_the_first_step)
    durations = sorted(row["duration"] for row in _rows(setup, "train"))
    low, high = (durations[1] + durations[2]) / 2, (durations[-3] + durations[-2]) / 2
    run = tmp_path / "run"
    shipped = Path(__file__).parents[1] / "models" / "synth-ctc-tiny"  # a model that reads, trained to forget
    args = _args(setup, run, model=shipped, processor=shipped, max_steps=6, eval_steps=1, learning_rate=0.05,
                 min_duration=low, max_duration=high, test_manifest=setup["data"] / "dev.jsonl")  # fmt: skip
    assert train_main(args) == 0
    info = json.loads((run / "run_info.json").read_text())
    assert info["train_filtered"] == {"too short": 2, "too long": 2}
    assert info["train_utterances"] == len(durations) - 4
    assert info["best_step"] == 1 and real[1] != real[6]  # else this test could not tell the two apart
    assert (info["test_wer"], info["test_cer"]) == real[1]
    # R79: resumed without its dev set, the run scored its last weights, and shipped best/ as model/
    for path in [
        run / "model",
        run / "run_info.json",
        *(p for p in run.glob("checkpoint-*") if p.name != "checkpoint-4"),
    ]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert train_main([*args, "--dev_manifest", "", "--resume_with_changes", "true"]) == 0
    info = json.loads((run / "run_info.json").read_text())
    assert info["final_model"] == "best" and (info["test_wer"], info["test_cer"]) == real[1]


@pytest.fixture
def train_losses(monkeypatch) -> list[float]:
    """The loss of each training forward pass of the CTC model, in order (recorded as the runs go)."""
    from transformers import Wav2Vec2ForCTC

    forward, losses = Wav2Vec2ForCTC.forward, []

    def recorded(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        if self.training:
            losses.append(float(out.loss.detach()))
        return out

    monkeypatch.setattr(Wav2Vec2ForCTC, "forward", recorded)
    return losses


def test_an_accumulated_step_logs_the_mean_of_its_batches_losses(setup, tmp_path, train_losses):
    """Found by a mutation review: a loss not divided by the batches accumulated (twice the gradient, hidden by
    AdamW, and twice the logged loss) passed every test. The forward passes' own losses, recorded: the step logs
    their mean."""
    run = tmp_path / "run"
    args = _args(setup, run, max_steps=1, gradient_accumulation_steps=2, max_batch_seconds=6, dev_manifest="")
    assert train_main(args) == 0
    info = json.loads((run / "run_info.json").read_text())
    losses = train_losses
    assert len(losses) == 2 and info["history"][0]["loss"] == pytest.approx(sum(losses) / 2, rel=1e-6)


def test_accelerates_own_accumulation_setting_changes_no_update(setup, tmp_path, monkeypatch):
    """R87: ACCELERATE_GRADIENT_ACCUMULATION_STEPS (set by `accelerate launch --gradient_accumulation_steps`)
    made accelerate divide every loss by its count: other weights, with run_info saying 1."""
    args = {"max_steps": 1, "dev_manifest": "", "mask_time_prob": 0, "hidden_dropout": 0}
    assert train_main(_args(setup, tmp_path / "plain", **args)) == 0
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "4")
    assert train_main(_args(setup, tmp_path / "env", **args)) == 0
    a, b = (_weights(tmp_path / run / "model" / "model.safetensors") for run in ("plain", "env"))
    assert all((a[k] == b[k]).all() for k in a)


def test_a_log_row_holds_the_mean_loss_of_the_steps_since_the_row_before(setup, tmp_path, train_losses):
    """R29: a row logged every `logging_steps` held its own step's loss alone, where transformers' Trainer logs
    the mean over the interval (batches grouped by length: one step's loss samples one length bucket)."""
    run = tmp_path / "run"
    assert train_main(_args(setup, run, max_steps=7, logging_steps=3, dev_manifest="")) == 0
    history, losses = json.loads((run / "run_info.json").read_text())["history"], train_losses
    assert [r["step"] for r in history] == [3, 6, 7] and len(losses) == 7
    for row, steps in zip(history, (losses[:3], losses[3:6], losses[6:]), strict=True):
        assert row["loss"] == pytest.approx(sum(steps) / len(steps), rel=1e-6), row


def test_a_second_run_into_an_output_dir_being_trained_in_is_refused(setup, tmp_path, capsys):
    """Found by a review: two runs into one output_dir both reported success, their train_log.csv interleaved
    beside the model of one of them. The folder is held while a run trains (here by the test, as a running
    `asr train` holds it)."""
    from asr.folders import writing_alone

    run = tmp_path / "run"
    with writing_alone(run, "output_dir"):
        assert train_main(_args(setup, run, max_steps=1, dev_manifest="")) == 2
    assert f"output_dir {run}: another command is writing there now" in capsys.readouterr().err
    assert list(run.iterdir()) == []  # refused before anything was written
    assert train_main(_args(setup, run, max_steps=1, dev_manifest="")) == 0


def test_label_ids_looked_up_are_the_tokenizers_own(setup):
    """Training start-up tokenised every transcript through the tokenizer's Python path (minutes at LibriSpeech
    scale, on every resume); the direct lookup must give its ids exactly, special and unknown characters too."""
    from transformers import Wav2Vec2CTCTokenizer

    from asr.train.data import label_ids

    tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(setup["processor"])
    texts = [row["text"].lower() for row in _rows(setup, "train")]
    texts += ["a  b", " lead", "trail ", "ø 日本 ß", "x[UNK]y", "<s> a </s>", "a|b", "[PAD]"]
    looked_up = label_ids(tokenizer)
    assert [looked_up(t) for t in texts] == [tuple(tokenizer(t).input_ids) for t in texts]
    upper = Wav2Vec2CTCTokenizer.from_pretrained(setup["processor"], do_lower_case=True)  # upper-cases: its own
    assert label_ids(upper)("ab") == tuple(upper("ab").input_ids)


def test_runs_of_other_precisions_follow_one_another_in_one_process(setup, tmp_path):
    """A review: a second run in one process (a notebook, a precision sweep) with another mixed_precision was
    accelerate's traceback ("AcceleratorState has already been initialized"); each run resets the state it set up."""
    for precision in ("bf16", "no"):
        out = tmp_path / precision
        assert train_main(_args(setup, out, max_steps=1, dev_manifest="", mixed_precision=precision)) == 0
        assert json.loads((out / "run_info.json").read_text())["mixed_precision"] == precision


def test_a_run_stopped_part_way_ends_its_tensorboard_writer_and_its_bar(setup, tmp_path, monkeypatch, capsys):
    """A review: a run that failed or was interrupted left its TensorBoard writer's thread running in the process
    (a notebook's), flushing into a folder the next run removes (an exception in that thread); its progress bar,
    closed at exit, was drawn again after the stop's line."""
    import threading

    from asr.train.loop import Trainer

    def stopped(self, group):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_optimizer_step", stopped)
    capsys.readouterr()
    assert train_main(_args(setup, tmp_path / "run", max_steps=2)) == 130
    assert not [t for t in threading.enumerate() if type(t).__name__ == "_AsyncWriterThread"]
    assert capsys.readouterr().err.endswith("asr train: interrupted\n")


def test_a_callers_own_accelerate_state_and_random_generators_outlive_a_run(setup, tmp_path):
    """A review: a run reset accelerate's process state whole, a PartialState the caller held (a decode's, its
    own) with it; a run resets only what it set up. R68: the caller's generators were left at the run's seed (an
    unseeded sweep drew the same learning rate after every run), and a caller's no_grad failed it."""
    import random

    from accelerate.state import PartialState

    caller = PartialState(cpu=True)
    states = (random.getstate(), np.random.get_state()[1].tolist(), torch.get_rng_state())
    with torch.no_grad():  # R68: a traceback ("element 0 of tensors does not require grad")
        assert train_main(_args(setup, tmp_path / "run", max_steps=1, dev_manifest="")) == 0
        assert not torch.is_grad_enabled()
    with torch.inference_mode():  # R69: the same traceback
        assert train_main(_args(setup, tmp_path / "run2", max_steps=1, dev_manifest="")) == 0
        assert torch.is_inference_mode_enabled()
    assert caller.is_main_process and caller.num_processes == 1
    assert random.getstate() == states[0] and np.random.get_state()[1].tolist() == states[1]
    assert torch.equal(torch.get_rng_state(), states[2])
