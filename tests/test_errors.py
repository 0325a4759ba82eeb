"""Input a user can give never ends in a traceback: one line naming the file, line, utterance or option, exit 2;
Ctrl-C is one line and exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asr.cli import main as asr_main
from asr.data.cli import main as data_main

MODEL = Path(__file__).resolve().parent.parent / "models" / "synth-ctc-tiny"


@pytest.fixture(scope="module")
def w(tmp_path_factory) -> Path:
    """A tiny Spanish corpus, manifests with faults, a file where folders are expected, a 32-output model."""
    root = tmp_path_factory.mktemp("errors")
    synth = ["synth", "--langs", "es", "--hours", "0.02", "--noise-prob", "0", "--reverb-prob", "0"]
    assert data_main([*synth, "--out", str(root / "data")]) == 0
    rows = [json.loads(line) for line in (root / "data" / "es" / "test.jsonl").read_text().splitlines()]
    rows = [r | {"audio": str(root / "data" / "es" / r["audio"])} for r in rows]
    variants = {
        "nodur": [{k: v for k, v in r.items() if k != "duration"} for r in rows],
        "missing": [r | {"audio": str(root / "nope.flac")} for r in rows],
        "emptyref": [r | {"text": ""} for r in rows],
        "comment": [r | {"id": ";;" + r["id"]} for r in rows],  # a comment line in CTM and STM files
    }
    for name, lines in variants.items():
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (root / "afile").write_text("")
    # R47: YAML's on: is the key True (a traceback); a key given twice kept the last; a list became a folder's name
    (root / "on.yaml").write_text("max_steps: 3\non: 1\n")
    (root / "twice.yaml").write_text("learning_rate: 0.5\nlearning_rate: 1e-4\n")
    (root / "list.yaml").write_text("test_manifest: [a.jsonl]\n")
    (root / "octal.yaml").write_text("max_steps: 010\n")  # YAML 1.1: 8 (--max_steps 010 is 10)
    (root / "nowords.txt").write_text("\n")
    (root / "empty.jsonl").write_text("")
    (root / "dd").mkdir()  # a manifest where the decode writes its hypotheses
    (root / "dd" / "hyp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "po").mkdir()
    (root / "po" / "summary.json").write_text("[]")  # not a summary asr wrote
    (root / "nlm").mkdir()  # what `asr lm train` writes beside its weights
    (root / "nlm" / "lm.json").write_text(json.dumps({"kind": "transformer", "normalizer": "es@3"}))
    greek = ["".join(chr(0x3B1 + (7 * i + j) % 24) for j in range(5)) for i in range(60)]  # words no model spells
    (root / "greek.txt").write_text("".join(" ".join(greek[(i + k) % 60] for k in range(8)) + "\n" for i in range(40)))
    assert asr_main(["model", "init", "--preset", "tiny", "--out", str(root / "m32")]) == 0
    assert asr_main(["vocab", "--train", str(root / "data" / "es" / "train.jsonl"), "--out", str(root / "proc")]) == 0
    _broken_models(root)
    return root


def _broken_models(root: Path) -> None:
    """Copies of MODEL: weights cut short (a half-copied checkpoint), and weights without the CTC head under a
    pretraining config (an `asr pretrain` output with a processor beside it: decoded with a random head before)."""
    import shutil

    from safetensors.torch import load_file, save_file

    for name in ("cut", "headless"):
        shutil.copytree(MODEL, root / name)
    weights = root / "cut" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    headless = root / "headless"
    tensors = load_file(str(headless / "model.safetensors"))
    save_file({k: v for k, v in tensors.items() if not k.startswith("lm_head")}, str(headless / "model.safetensors"))
    config = json.loads((headless / "config.json").read_text())
    (headless / "config.json").write_text(json.dumps(config | {"architectures": ["Wav2Vec2ForPreTraining"]}))


TEST = "--manifest {w}/data/es/test.jsonl"
TRAIN = "train --model {w}/m32 --processor {w}/proc --train_manifest {w}/data/es/train.jsonl --output_dir {w}/t"
LM = "lm build --text {w}/data/es/lm_text.txt --processor {model}"
CASES = {
    "decode, no durations": ("decode --model {model} --manifest {w}/nodur.jsonl --out {w}/o --no-cache",
                             "nodur.jsonl:1: no duration"),
    "decode, missing audio": ("decode --model {model} --manifest {w}/missing.jsonl --out {w}/o --no-cache",
                              "audio file {w}/nope.flac not found"),
    "decode, --out a file": (f"decode --model {{model}} {TEST} --out {{w}}/afile/x",
                             "--out {w}/afile/x: cannot write there"),
    "decode, no such model": (f"decode --model {{w}}/nothing {TEST} --out {{w}}/o", "nothing: no such folder"),
    "decode, model without tokenizer": (f"decode --model {{w}}/m32 {TEST} --out {{w}}/o", "m32: cannot load"),
    "decode, weights cut short": (f"decode --model {{w}}/cut {TEST} --out {{w}}/o", "cut: cannot load a CTC model"),
    "decode, no CTC head": (f"decode --model {{w}}/headless {TEST} --out {{w}}/o",
                            "no CTC head (lm_head.bias, lm_head.weight): its config names Wav2Vec2ForPreTraining"),
    "decode, --beam-width 0": (f"decode --model {{model}} {TEST} --out {{w}}/o --decoder beam --beam-width 0",
                               "--beam-width 0: expected at least 1"),
    "decode, --alpha-grid abc": (f"decode --model {{model}} {TEST} --out {{w}}/o --alpha-grid abc",
                                 "--alpha-grid 'abc'"),
    # every beam score infinite, the search's order arbitrary, no error
    "decode, --alpha 1e308": (f"decode --model {{model}} {TEST} --out {{w}}/o --decoder beam_lm --lm {{w}}/nlm "
                              "--alpha 1e308", "--alpha 1e+308: expected a number from -1000 to 1000"),
    "decode, --beta-grid 0,1e308": (f"decode --model {{model}} {TEST} --out {{w}}/o --beta-grid 0,1e308",
                                    "--beta-grid '0,1e308': expected numbers from -1000 to 1000"),
    "decode, --tuned-from and --gamma": (f"decode --model {{model}} {TEST} --out {{w}}/o --decoder beam --tuned-from "
                                         "{w}/r.json --gamma 1", "--gamma goes without --tuned-from"),  # was dropped
    # options a decode would ignore were taken silently
    "decode, --workers with greedy": (f"decode --model {{model}} {TEST} --out {{w}}/o --workers 4",
                                      "greedy would ignore them"),
    "decode, --gamma without --rescore": (f"decode --model {{model}} {TEST} --out {{w}}/o --decoder beam --gamma 1",
                                          "--gamma goes with --rescore"),
    "decode, a grid without --tune": (f"decode --model {{model}} {TEST} --out {{w}}/o --decoder beam --beta-grid 0,1",
                                      "--beta-grid goes with --tune beta"),
    "decode, every reference empty": ("decode --model {model} --manifest {w}/emptyref.jsonl --out {w}/o --no-cache",
                                      "every reference is empty"),
    "prepare, --out a file": ("data prepare --source jsonl:{w}/nodur.jsonl --lang es --out {w}/afile/y",
                              "--out {w}/afile/y: cannot write there"),
    "subset, --hours -1": ("data subset {w}/data/es/train.jsonl --hours -1 --out {w}/s.jsonl",
                           "--hours -1.0: expected a number of hours > 0"),
    "synth, --workers 0": ("data synth --langs es --hours 0.01 --out {w}/s --workers 0", "--workers 0: expected"),
    "lm build, --order 1": (f"{LM} --order 1 --out {{w}}/lm1", "--order 1: KenLM builds orders 2 to"),
    "lm build, --quantize 26": (f"{LM} --order 3 --quantize 26 --out {{w}}/lmq", "--quantize 26: KenLM quantizes"),
    "lm build, --dev without words": (f"{LM} --order 3 --dev {{w}}/nowords.txt --out {{w}}/lm2", "no words after"),
    "lm build, --out a file": (f"{LM} --order 3 --out {{w}}/afile/z", "cannot write there"),
    # R46: lmplz's own errors, naming no option (--memory=-1 asked malloc for 5e18 bytes)
    "lm build, --memory=-1": (f"{LM} --order 3 --memory=-1 --out {{w}}/lmm", "--memory '-1': expected a whole number"),
    "lm build, --memory 1.5G": (f"{LM} --order 3 --memory 1.5G --out {{w}}/lmm", "--memory '1.5G': expected"),
    "lm build, --processor missing": ("lm build --text {w}/data/es/lm_text.txt --processor {w}/no/such --out {w}/lmz",
                                      "no/such: no such folder"),  # R50: "no asr_text.json", after a hub note
    "lm build, --memory 200%": (f"{LM} --order 3 --memory 200% --out {{w}}/lmm", "--memory '200%': expected"),
    "lm build, --memory 1000": (f"{LM} --order 3 --memory 1000 --out {{w}}/lmm", "--memory '1000': expected"),
    "lm build, --prune 1,0": (f"{LM} --order 3 --prune 1,0 --out {{w}}/lmp", "--prune 1,0: thresholds may not fall"),
    # only a note at build time: a recipe found it at its decode stage, after the training
    "lm build, words the model cannot write": ("lm build --text {w}/greek.txt --processor {model} --order 2 --out "
                                               "{w}/lmg", "of 24 LM words use characters the model cannot write"),
    "decode, a Transformer LM as --lm": (f"decode --model {{model}} {TEST} --out {{w}}/o --decoder beam_lm --lm "
                                         "{w}/nlm", "nlm: a Transformer LM (asr lm train), not an n-gram"),
    "decode, an id starting with ;;": ("decode --model {model} --manifest {w}/comment.jsonl --out {w}/o --no-cache",
                                       "ids cannot start with ';;'"),  # sclite passed the utterance over
    "decode, --out over the manifest": ("decode --model {model} --manifest {w}/dd/hyp.jsonl --out {w}/dd --no-cache",
                                        "the decode would write over it"),  # it was replaced by hypotheses
    "decode, --chunk-seconds inf": (f"decode --model {{model}} {TEST} --out {{w}}/o --chunk-seconds inf",
                                    "--chunk-seconds inf: expected 0 or a number of seconds from 1"),  # not JSON
    "prepare, a summary.json of another kind": ("data prepare --source jsonl:{w}/nodur.jsonl --lang es --out {w}/po",
                                                "holds a corpus prepared from an unknown source"),
    "merge, an empty manifest": ("data merge {w}/empty.jsonl --out {w}/m.jsonl", "empty.jsonl: no utterances"),
    "prepare, a column option of another source": ("data prepare --source jsonl:{w}/nodur.jsonl --lang es --out "
                                                   "{w}/p2 --text-column x", "--text-column goes with hf or"),
    # a list whose first number is negative, as the README writes it, read as the option's value
    "synth, --level-dbfs -35,-15": ("data synth --langs es --hours 0.01 --out {w}/s3 --level-dbfs -35,-15 "
                                    "--speed-factors 9", "--speed-factors '9': expected numbers from 0.5 to 2"),
    "decode, --beta-grid -1,0,2": (f"decode --model {{model}} {TEST} --out {{w}}/o --decoder beam --beta-grid -1,0,2",
                                   "--beta-grid goes with --tune beta"),
    "vocab, --out a file": ("vocab --train {w}/data/es/train.jsonl --out {w}/afile/v", "--out {w}/afile/v: cannot"),
    "leaderboard, nothing there": ("leaderboard {w}/nothing --out {w}/lb", "no results.json found"),
    "model init, adapters without stable norm": ("model init --preset tiny --norm layer --adapter-dim 8 --out {w}/ad",
                                                  "adapter layers (MMS) exist in the stable-norm transformer only"),
    "lm attach, --out a file": ("lm attach --model {w}/m32 --lm {w}/nolm --out {w}/afile", "afile: a file, not a"),
    "lm attach, model without processor": ("lm attach --model {w}/m32 --lm {w}/nolm --out {w}/att",
                                           "m32: cannot load a CTC model and processor"),
    "model init, data2vec-audio stable": ("model init --preset tiny --family data2vec-audio --norm stable --out {w}/d",
                                          "norm stable does not exist for it"),  # was built post-norm, silently
    "train, eval_steps 0": (f"{TRAIN} --eval_steps 0", "eval_steps: expected at least 1"),
    "train, save_steps 0": (f"{TRAIN} --save_steps 0", "save_steps: expected at least 1"),
    "train, scalar tri_stage_ratios": (f"{TRAIN} --tri_stage_ratios 0.5", "tri_stage_ratios: expected three"),
    "train, new_head_init without new_head": (f"{TRAIN} --new_head_init random",  # R34: taken, recorded, unread
                                              "new_head_init random goes with new_head"),
    "train, another head size": (TRAIN, "(32 outputs); set new_head=true"),
    "train, output_dir a file": (f"{TRAIN}/../afile/t --new_head", "cannot write there"),
    "train, a YAML key no name": (f"{TRAIN} --config {{w}}/on.yaml", "on.yaml: the key True is no name"),
    "train, a YAML key twice": (f"{TRAIN} --config {{w}}/twice.yaml", "the key 'learning_rate' is given twice"),
    "train, a list for a path": (f"{TRAIN} --config {{w}}/list.yaml", "test_manifest: expected text, got the list"),
    "train, a leading 0": (f"{TRAIN} --config {{w}}/octal.yaml", "010: YAML reads a leading 0 as octal"),
    "train, cache_audio_hours -1": (f"{TRAIN} --cache_audio_hours -1", "cache_audio_hours: expected 0 or more"),
    "train, --config twice": (f"{TRAIN} --config {{w}}/on.yaml --config {{w}}/list.yaml", "--config given twice"),
    "train, learning_rate 0": (f"{TRAIN} --learning_rate 0", "learning_rate: expected more than 0"),  # no step's
    "train, learning_rate 1e39": (f"{TRAIN} --learning_rate 1e39", "expected more than 0 and at most 1000"),
    "train, a 401-digit float": (f"{TRAIN} --max_minutes 1{'0' * 400}", "max_minutes: expected float"),  # Overflow
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(w, case, capsys):
    command, message = CASES[case]
    argv = command.format(w=w, model=MODEL).split()
    capsys.readouterr()
    assert asr_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message.format(w=w) in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1


@pytest.mark.parametrize(
    ("sent", "status", "said"),
    # SIGTERM (a scheduler's stop) ended the process silently, its partial outputs left behind
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_and_sigterm_are_one_line(w, sent, status, said):
    out = w / f"interrupted-{said}"
    cmd = [sys.executable, "-m", "asr", "data", "synth", "--langs", "es", "--hours", "0.3", "--workers", "1",
           "--out", str(out)]  # fmt: skip
    # as a foreground job: a test run started in the background (`cmd &`) ignores SIGINT, and children inherit that
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(out.rglob("*.flac")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, sent)  # Ctrl-C reaches the terminal's process group; kill and schedulers stop the group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status and "Traceback" not in err and f"asr data synth: {said}" in err, err


def test_a_command_called_in_process_gives_the_callers_sigterm_handling_back():
    """A review: a notebook or script that called a command's main() kept its handler (SIGTERM raised there as a
    KeyboardInterrupt ever after); SIGTERM is a command's stop only while it runs, and a caller's own is kept."""
    from asr.errors import Terminated, run_reporting_errors

    def stopped() -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return 0

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert run_reporting_errors("asr test", stopped) == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def own(signum: int, frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, own)
    try:
        assert run_reporting_errors("asr test", lambda: 0) == 0 and signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stopped_before_its_initializer_ran() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # as a pool's terminate() or a scheduler may, right after the fork
    from asr.errors import default_termination

    default_termination()
    time.sleep(30)


def test_a_worker_stopped_before_its_initializer_ran_ends_by_the_stop():
    """A SIGTERM that reached a new pool worker before its initializer ran the parent's handler in it, or was
    lost where the handler changed as it arrived: `asr data synth` hung in 1 of many SIGTERM runs (the worker
    lived on, its pool waited for it). Held from the fork to the initializer, the stop ends it."""
    import multiprocessing

    from asr.errors import _terminate, stops_held

    previous = signal.signal(signal.SIGTERM, _terminate)  # the parent's, as run_reporting_errors sets it
    try:
        with stops_held():
            worker = multiprocessing.get_context("fork").Process(target=_stopped_before_its_initializer_ran)
            worker.start()
        worker.join(20)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert worker.exitcode == -signal.SIGTERM  # 1 before: Terminated raised in the worker, with a traceback


def test_write_errors_name_their_file_and_other_errors_keep_their_own(tmp_path):
    """A review: every RuntimeError inside a write (a computation's shape error, a CUDA assert surfacing at
    .cpu()) was reported as "not written ... free on its disk". Only a library's write failure is relabelled."""
    import soundfile

    from asr.errors import writing

    path = tmp_path / "out"
    for err in (soundfile.LibsndfileError(2), RuntimeError("[enforce fail at inline_container.cc:672] . unexpected "
                "pos 3595392 vs 3595280"), OSError(28, "No space left on device")):  # fmt: skip
        with pytest.raises(OSError) as caught, writing(path):
            raise err
        assert caught.value.filename == str(path)
    for err in (RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"), NotImplementedError("x")):
        with pytest.raises(type(err)) as caught, writing(path):
            raise err
        assert caught.value is err


def test_a_folder_on_a_file_system_without_locks_is_written_unheld(tmp_path, monkeypatch):
    """Locks (a second writer refused) where the file system has them; where it has none (some FUSE mounts
    answer flock with ENOLCK or EOPNOTSUPP) a command writes as it did before locks, rather than failing."""
    import errno
    import fcntl

    from asr.folders import write_whole

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert write_whole(tmp_path / "out", lambda folder: (folder / "a").write_text("x")) == 1
    assert (tmp_path / "out" / "a").read_text() == "x" and not (tmp_path / "out.partial").exists()


def test_an_os_error_names_its_files_as_text(capsys):
    """A review: `asr lm attach` on a full disk named a file given as bytes as b'/.../lm.bin'."""
    from asr.errors import run_reporting_errors

    def full() -> int:
        raise OSError(28, "No space left on device", b"/tmp/lm.bin", None, "/tmp/m/lm.bin")

    assert run_reporting_errors("asr lm", full) == 2
    assert capsys.readouterr().err == "asr lm: error: /tmp/lm.bin -> /tmp/m/lm.bin: No space left on device\n"


def test_files_that_cannot_be_written_once_work_started_are_one_line(w, capsys):
    """A folder in the way of an output (found after the network pass) was a traceback; an earlier decode's
    results.json stayed beside the new hypotheses, which the leaderboard took for one decode."""
    from asr.decode.cli import main as decode_main

    manifest = w / "data" / "es" / "test.jsonl"
    out = w / "blocked"
    (out / "hyp.jsonl").mkdir(parents=True)
    (out / "results.json").write_text("{}")
    args = [
        "--model",
        str(Path(__file__).resolve().parent.parent / "models" / "synth-ctc-tiny"),
        "--manifest",
        str(manifest),
        "--out",
        str(out),
    ]
    assert decode_main(args) == 2
    err = capsys.readouterr().err
    assert f"{out / 'hyp.jsonl'}: Is a directory" in err and "Traceback" not in err
    assert not (out / "results.json").exists() and not (out / "score").exists()  # a review: score/ was left empty


def test_a_score_report_never_replaces_its_input(w, capsys):
    from asr.scoring.cli import main as score_main

    hyp = w / "scored.jsonl"
    hyp.write_text('{"id": "u_1", "ref": "a b", "hyp": "a"}\n', encoding="utf-8")
    assert score_main([str(hyp), "--json", str(hyp)]) == 2  # it was written over, exit 0
    assert "is an input of this score" in capsys.readouterr().err and hyp.read_text().startswith('{"id"')
    report = w / "report"
    report.mkdir()
    (report / "score.json").write_text(hyp.read_text())
    assert score_main([str(report / "score.json"), "--report-dir", str(report)]) == 2  # --report-dir's too
    assert "an input of this score" in capsys.readouterr().err and hyp.read_text().startswith('{"id"')
    assert sorted(p.name for p in report.iterdir()) == ["score.json"]
    (report / "char.pra").mkdir()  # the reports before it were replaced, the rest left: a mix of two scores
    assert score_main([str(hyp), "--report-dir", str(report)]) == 2
    assert "char.pra: a folder where a report is written" in capsys.readouterr().err
    assert sorted(p.name for p in report.iterdir()) == ["char.pra", "score.json"]
    (report / "char.pra").rmdir()
    (report / "word.pra.part").write_text(hyp.read_text())  # the name a report is first written under
    assert score_main([str(report / "word.pra.part"), "--format", "jsonl", "--report-dir", str(report)]) == 2
    assert "an input of this score" in capsys.readouterr().err
    (report / "word.pra.part").unlink()
    assert score_main([str(hyp), "--report-dir", str(report)]) == 0
    assert score_main([str(hyp), "--report-dir", str(report), "--level", "word"]) == 0  # char.*: another score's
    assert sorted(p.name for p in report.iterdir()) == ["score.json", "word.dtl", "word.pra", "word.sys"]


def test_a_transcript_id_that_is_no_string_is_refused(w, capsys):
    """A null id was scored as the utterance "None" (a manifest refuses it)."""
    from asr.scoring.cli import main as score_main

    for value in ("null", "5", '""'):
        (w / "ids.jsonl").write_text(f'{{"id": {value}, "ref": "a", "hyp": "a"}}\n', encoding="utf-8")
        assert score_main([str(w / "ids.jsonl")]) == 2
        assert f"ids.jsonl:1: 'id' is {value}, expected a non-empty string" in capsys.readouterr().err


def test_a_closed_standard_output_is_refused(w):
    """A review: `asr score hyp.jsonl >&-` printed its tables nowhere and exited 0."""
    hyp = w / "closed.jsonl"
    hyp.write_text('{"id": "u_1", "ref": "a b", "hyp": "a"}\n', encoding="utf-8")
    proc = subprocess.run(["bash", "-c", f'"{sys.executable}" -m asr score "{hyp}" >&-'], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert (
        proc.returncode == 2
        and proc.stderr == "asr score: error: standard output is closed; send it to a file or /dev/null\n"
    ), proc.stderr


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_full_standard_output_is_named(w, unbuffered):
    """A review: `asr score ... > /dev/full` (a full disk under a redirection) said "error: No space left on
    device", naming nothing; with Python's buffered standard output a small report failed only at the
    interpreter's last flush: "Exception ignored", exit 120."""
    hyp = w / "full.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | {"PYTHONUNBUFFERED": unbuffered}
    for lines in (1, 4000):
        hyp.write_text("".join(f'{{"id": "u{i}", "ref": "a b", "hyp": "a"}}\n' for i in range(lines)), encoding="utf-8")
        proc = subprocess.run(["bash", "-c", f'"{sys.executable}" -m asr score "{hyp}" > /dev/full'],
                              capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
        assert proc.returncode == 2, (lines, proc.stderr)
        assert proc.stderr == "asr score: error: standard output: No space left on device\n", (lines, proc.stderr)


def test_a_json_report_that_cannot_be_written_whole_leaves_the_earlier_one(w, tmp_path):
    """R65: `asr score --json` and `asr data check --json` wrote in place: a full disk (here a file size limit)
    or a kill left a cut JSON where the earlier report was."""
    hyp = w / "reported.jsonl"
    hyp.write_text("".join(f'{{"id": "u{i}", "ref": "a b", "hyp": "a"}}\n' for i in range(200)), encoding="utf-8")
    report = tmp_path / "score.json"
    report.write_text('{"earlier": 1}\n')
    proc = subprocess.run(["bash", "-c", f'ulimit -f 4; "{sys.executable}" -m asr score "{hyp}" --json "{report}"'],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "File too large" in proc.stderr, proc.stderr
    assert report.read_text() == '{"earlier": 1}\n' and sorted(tmp_path.iterdir()) == [report]


def test_text_a_locale_without_utf_8_cannot_write_is_escaped_or_one_line(w, tmp_path):
    """R44: with PYTHONIOENCODING=ascii (or LC_ALL=C and PYTHONUTF8=0) a non-ASCII speaker in asr score's
    table was a UnicodeEncodeError traceback, exit 1 (asr vocab's characters, the leaderboard's α too): escaped
    as standard error escapes it; a non-ASCII audio path, which libsndfile takes in the locale's encoding, is
    one line."""
    trn = tmp_path / "r.trn"
    trn.write_text("ça va (spkä-1)\n", encoding="utf-8")
    ascii_out = os.environ | {"PYTHONIOENCODING": "ascii"}
    proc = subprocess.run([sys.executable, "-m", "asr", "score", str(trn), str(trn)], capture_output=True, text=True,
                          timeout=60, env=ascii_out)  # fmt: skip
    assert proc.returncode == 0 and "| spk\\xe4 |" in proc.stdout, proc.stderr
    c_locale = os.environ | {"LC_ALL": "C", "PYTHONUTF8": "0"}
    proc = subprocess.run([sys.executable, "-m", "asr", "data", "synth", "--langs", "es", "--hours", "0.01", "--out",
                           str(tmp_path / "ä")], capture_output=True, text=True, timeout=120, env=c_locale)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith(f"asr data synth: error: '{tmp_path}/\\xe4/es/audio/") and last.endswith(
        ".flac': a name this locale's encoding (ascii) cannot write; run with a UTF-8 locale (LC_ALL=C.UTF-8) or "
        "PYTHONUTF8=1"
    )
    # R48: a file name of bytes that are not UTF-8, written into the JSON report (a traceback under LC_ALL=C too)
    odd = os.fsdecode(bytes(tmp_path / "r") + b"\xff.trn")
    Path(odd).write_text("a b (s-1)\n", encoding="utf-8")
    for env, advice in ((os.environ, "rename it"), (c_locale, "PYTHONUTF8=1")):  # (R55: the advice untested)
        proc = subprocess.run([sys.executable, "-m", "asr", "score", odd, odd, "--json", str(tmp_path / "o.json")],
                              capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and "r\\\\xff.trn': a name" in proc.stderr, (
            proc.stderr
        )
        assert proc.stderr.rstrip().endswith(advice), proc.stderr


def test_output_piped_into_a_command_that_stops_reading_ends_quietly(w):
    """A review: `asr train --help | head -1` was a traceback (BrokenPipeError), and a score cut short exited 1,
    `asr data check`'s status; both end as a command SIGPIPE ended: 141, nothing on stderr."""
    hyp = w / "long.jsonl"
    hyp.write_text("".join(f'{{"id": "u{i}", "ref": "a b c", "hyp": "a b"}}\n' for i in range(4000)), encoding="utf-8")
    for command in (f'"{sys.executable}" -m asr train --help', f'"{sys.executable}" -m asr score "{hyp}"'):
        proc = subprocess.run(["bash", "-c", f"{command} | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.stdout == "141\n" and proc.stderr == "", (command, proc.stdout, proc.stderr)


def test_bad_options_and_help_return_a_status_to_a_caller_in_the_same_process(capsys):
    """argparse's SystemExit reached a notebook calling asr.cli.main (asr train and pretrain returned 2)."""
    assert (asr_main(["decode", "--bogus"]), asr_main(["nonsense"]), asr_main(["score", "--help"])) == (2, 2, 0)
    assert "the following arguments are required: --model" in capsys.readouterr().err
    for command in ("train", "pretrain"):  # R62: help after other options was an unknown key 'help'
        assert asr_main([command, "--config", "f.yaml", "--help"]) == 0 and "keys:" in capsys.readouterr().out
    checked = ["train", "--check-options", "--model", "m", "--processor", "p", "--train_manifest", "t"]
    assert asr_main([*checked, "--learning_rate", "-h"]) == 2  # R63: a value -h printed the help, exit 0
    assert "learning_rate" in capsys.readouterr().err
    assert asr_main([*checked, "--max_steps"]) == 2  # R73: "got True" for a value not typed
    assert "max_steps: expected a whole number, got True (a --key given without a value is true" in (
        capsys.readouterr().err
    )
    for key in ("output_dir", "dev_manifest"):  # R79: `--output_dir $EMPTY` trained into ./true
        assert asr_main([*checked, f"--{key}", "--max_steps", "2"]) == 2
        assert f"--{key}: expected a value after it" in capsys.readouterr().err
    assert asr_main([*checked, "--resume"]) == 0  # a choice of auto, true and false: true


def test_an_empty_model_folder_and_memory_a_machine_lacks_are_one_line(tmp_path, monkeypatch, capsys):
    """R47: `asr model init --out ''` wrote a model into the current folder, beside what it held; a size asked for
    that the machine lacks (num_negatives 10**9, --adapter-dim 10**9) was numpy's or torch's traceback."""
    monkeypatch.chdir(tmp_path)
    for command in (["model", "init", "--processor", str(MODEL)], ["decode", "--model", str(MODEL), "--manifest",
                    "m.jsonl"], ["leaderboard", "r"], ["data", "synth", "--langs", "en"],
                    ["data", "prepare", "--source", "jsonl:m.jsonl", "--lang", "en"], ["data", "asterisk", "en"],
                    ["lm", "build", "--text", "t.txt", "--normalize", "none"], ["vocab", "--train", "m.jsonl"],
                    ["lm", "train", "--text", "t.txt", "--normalize", "none"], ["lm", "attach", "--model", "m",
                    "--lm", "l"], ["score", "r.trn", "h.trn", "--report-dir"], ["decode", "--model", str(MODEL),
                    "--manifest", "m.jsonl", "--out", "o", "--logits-cache"]):  # fmt: skip
        option = command.pop() if command[-1].startswith("--") else "--out"  # R55: score's wrote into this folder
        assert asr_main([*command, option, ""]) == 2, command  # decode, leaderboard, data too (R48)
        assert f"argument {option}: expected a folder, got an empty value" in capsys.readouterr().err
    for command in (["score", "r.trn", "h.trn", "--json"], ["data", "check", "m.jsonl", "--json"],
                    ["data", "subset", "m.jsonl", "--hours", "1", "--out"],
                    ["data", "merge", "a", "b", "--out"]):  # fmt: skip
        assert asr_main([*command, ""]) == 2  # R55: score's wrote no report, exit 0; R60: the others named "."
        assert f"argument {command[-1]}: expected a file, got an empty value" in capsys.readouterr().err
    for command, option, what in ((["vocab", "--out", "o", "--train"], "--train", "a file"),  # named "." before
                                  (["score", ""], "REF", "a file"), (["data", "check", ""], "manifest", "a file"),
                                  (["lm", "ppl", "--text", "t", "--lm", ""], "--lm", "a folder"),
                                  (["decode", "--manifest", "m", "--model", ""], "--model", "a model folder or hub id"),
                                  (["model", "init", "--out", "o", "--encoder-from", ""], "--encoder-from",
                                   "a model folder or hub id"),  # R69: these went on as if not given, exit 0
                                  (["leaderboard", "--out", "o", "r", ""], "results", "a file"),
                                  (["lm", "train", "--text", "t", "--out", "o", "--normalize", "none", "--from", ""],
                                   "--from", "a model folder or hub id"),
                                  (["lm", "build", "--text", "t", "--out", "o", "--processor", ""], "--processor",
                                   "a model folder or hub id"),
                                  (["decode", "--manifest", "m", "--model", "m", "--adapter", ""], "--adapter",
                                   "a language code"),  # R72: a decode's hypotheses scored with none; a traceback
                                  (["score", "r.trn", "--normalize", ""], "--normalize", "a normaliser name"),
                                  (["lm", "build", "--text", "t", "--out", "o", "--normalize", ""], "--normalize",
                                   "a normaliser name")):  # fmt: skip
        assert asr_main([*command, ""] if command[-1] else command) == 2, command
        assert f"argument {option}: expected {what}, got an empty value" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    import torch

    def too_large(*args, **kwargs):
        return torch.empty(2**62, dtype=torch.uint8)  # torch's CPU allocator: RuntimeError

    # R51: a stop or a full disk after the weights left them without a processor, and the rerun refused the folder
    from asr.model.folder import ModelFolder

    def full(*args) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(ModelFolder, "copy_text_config", full)
        assert asr_main(["model", "init", "--processor", str(MODEL), "--out", str(tmp_path / "m")]) == 2
    assert list(tmp_path.iterdir()) == []  # nothing, no part
    assert asr_main(["model", "init", "--processor", str(MODEL), "--out", str(tmp_path / "m")]) == 0
    written = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"asr_text.json", "config.json", "model.safetensors", "vocab.json"} <= written and len(written) > 4
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    assert asr_main(["model", "init", "--processor", str(MODEL), "--out", str(tmp_path / "notes")]) == 2
    assert "notes holds files (todo.txt); give an empty or new --out" in capsys.readouterr().err
    # R52: a file as --out was replaced by the model folder; an empty folder lost its mode (a folder replaced whole)
    assert asr_main(["model", "init", "--out", str(tmp_path / "notes" / "todo.txt")]) == 2
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"
    (tmp_path / "shared").mkdir(mode=0o2770)
    (tmp_path / "shared").chmod(0o2770)
    assert asr_main(["model", "init", "--out", str(tmp_path / "shared")]) == 0
    assert (tmp_path / "shared").stat().st_mode & 0o7777 == 0o2770
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["config.json", "model.safetensors"]
    (tmp_path / "killed" / ".init-abc").mkdir(parents=True)  # a killed init's staging folder (R55: untested)
    (tmp_path / "killed" / ".init-abc" / "model.safetensors").write_bytes(b"part")
    assert asr_main(["model", "init", "--out", str(tmp_path / "killed")]) == 0
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == ["config.json", "model.safetensors"]
    capsys.readouterr()
    monkeypatch.setattr("asr.model.cli.init_model", too_large)
    assert asr_main(["model", "init", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("asr model init: error: out of memory (") and err.count("\n") == 1, err


def test_negative_number_lists_are_joined_to_their_option_only():
    from asr.cli import joined_negative_lists
    from asr.train.cli import parse_args

    argv = ["--beta-grid", "-.5,0,.5", "--x", "-1e-1,0", "--", "-1,2", "--y", "-3", "--z=-1,2", "--w", "-1,2"]
    assert joined_negative_lists(argv) == ["--beta-grid=-.5,0,.5", "--x=-1e-1,0", "--", "-1,2", "--y", "-3",
                                           "--z=-1,2", "--w=-1,2"]  # fmt: skip
    # one negative value in scientific notation: `--beta -1e-3` was "expected one argument"
    from asr.decode.cli import build_parser

    args = build_parser("asr decode").parse_args(
        ["--model", "m", "--manifest", "x", "--out", "o", "--beta", "-1e-3", "--alpha", "-2"]
    )
    assert (args.beta, args.alpha) == (-1e-3, -2)
    # asr train and pretrain read --key=value (the joined form was a key of its own)
    assert parse_args(["--tri_stage_ratios=-0.1,0.5,0.6", "--resume"])[1] == {"tri_stage_ratios": "-0.1,0.5,0.6",
                                                                             "resume": True}  # fmt: skip
    from asr.errors import InputError

    for empty in (["--config", ""], ["--config="]):  # R55: no file was read, exit 0
        with pytest.raises(InputError, match="--config: expected a file, got an empty value"):
            parse_args(empty)


def test_a_model_folder_carrying_code_of_its_own_is_refused_without_a_prompt(tmp_path):
    """A review: a model folder from elsewhere whose config.json names code of its own (auto_map) got
    transformers' "Do you wish to run the custom code? [y/N]" at a terminal, one keystroke from running it; no
    such code is ever run: a one-line refusal, asked nothing."""
    import pty
    import shutil

    model = tmp_path / "custom"
    shutil.copytree(MODEL, model)
    _carry_code_of_its_own(model)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "a_1", "audio": "x.wav", "text": "x", "duration": 1.0}) + "\n")
    (tmp_path / "x.wav").write_bytes(b"")
    terminal, other = pty.openpty()  # a terminal on stdin: where transformers asks
    proc = subprocess.run([sys.executable, "-m", "asr", "decode", "--model", str(model), "--manifest", str(manifest),
                           "--out", str(tmp_path / "out"), "--no-cache"], stdin=other, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    os.close(terminal), os.close(other)
    assert proc.returncode == 2 and "contains custom code" in proc.stderr
    assert "wish to run" not in proc.stdout + proc.stderr


def _carry_code_of_its_own(model: Path) -> None:
    """Makes the model folder `model` name code of its own for every Auto class (auto_map), code that ends the
    process when it is imported."""
    config = json.loads((model / "config.json").read_text())
    auto = {"AutoConfig": "custom.Config", "AutoModel": "custom.Model", "AutoModelForCTC": "custom.CTC",
            "AutoModelForCausalLM": "custom.LM"}  # fmt: skip
    config |= {"model_type": "custom_wav", "auto_map": auto}
    (model / "config.json").write_text(json.dumps(config))
    (model / "custom.py").write_text("raise SystemExit('custom code ran')\n")


@pytest.mark.parametrize("load", ["train", "encoder", "processor", "neural_lm"])
def test_the_training_and_lm_loads_run_no_code_of_a_model_folder(tmp_path, monkeypatch, load):
    """The same refusal where `asr train`, `asr model init --encoder-from` and `--processor` (R67: its "y" ran a
    tokenizer's own code) and a neural LM load a model; a "y" waiting on standard input (transformers reads its
    answer from any stdin, a pipe too) would have run the folder's code had any of them left transformers to ask."""
    import io
    import shutil

    from asr.errors import InputError

    model = tmp_path / "custom"
    shutil.copytree(MODEL, model)
    _carry_code_of_its_own(model)
    tokenizer = json.loads((model / "tokenizer_config.json").read_text())
    tokenizer |= {"tokenizer_class": "Custom", "auto_map": {"AutoTokenizer": ["custom.Tokenizer", None]}}
    (model / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    with pytest.raises(InputError, match="contains custom code"):
        if load == "processor":
            from asr.model.init import init_model

            init_model("tiny", tmp_path / "out", processor_dir=model)
        elif load == "train":
            from asr.train.config import TrainConfig
            from asr.train.modeling import model_config

            model_config(TrainConfig(model=str(model), processor=str(MODEL), train_manifest="x.jsonl"))
        elif load == "encoder":
            from transformers import AutoModelForCTC

            from asr.model.init import copy_feature_encoder

            copy_feature_encoder(AutoModelForCTC.from_pretrained(MODEL), str(model))
        else:
            from lm.neural import NeuralLM

            NeuralLM.load(str(model))


def test_a_command_called_from_a_thread_runs_without_taking_signals():
    """Python takes signal handlers in its main thread only: a command called from a worker thread (a notebook's
    background job) was "signal only works in main thread" (found by a mutation review)."""
    import threading

    from asr.errors import run_reporting_errors

    returned: list[int] = []
    thread = threading.Thread(target=lambda: returned.append(run_reporting_errors("asr test", lambda: 0)))
    thread.start()
    thread.join()
    assert returned == [0] and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_model_init_refuses_a_processor_text_config_linked_out_of_its_folder(tmp_path):
    """R69: `asr model init --processor` copied a planted ``asr_text.json -> ~/.ssh/id_rsa`` into the new model
    folder, the one users publish."""
    import shutil

    from asr.errors import InputError
    from asr.model.init import init_model

    processor, secret = tmp_path / "proc", tmp_path / "id_rsa"
    shutil.copytree(MODEL, processor)
    secret.write_text("PRIVATE KEY")
    (processor / "asr_text.json").unlink()
    (processor / "asr_text.json").symlink_to(secret)
    with pytest.raises(InputError, match=r"asr_text\.json: a link to .*id_rsa, outside"):
        init_model("tiny", tmp_path / "out", processor_dir=processor)
    assert not (tmp_path / "out").exists()
