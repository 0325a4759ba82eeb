"""recipes/synth/run.sh end to end on a small setting, stage skipping, --force, resuming after a kill, and the
leaderboard page in a real headless browser."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asr.decode.results import DecodeResult, content_id
from asr.leaderboard.collect import Run
from asr.leaderboard.export import wall_clock_shares
from asr.scoring.cli import main as score_main

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "recipes" / "synth" / "run.sh"
START = ROOT / "recipes" / "synth" / "make_start_checkpoint.sh"
ARTIFACTS = ROOT / "test-artifacts"


GRIDS = ["--alpha-grid", "0.5,1", "--beta-grid", "0,1.5"]  # asr decode's: 8 and 10 values


def small(exp: Path, *extra: str) -> list[str]:
    """A few minutes on 2 cores: a tiny Spanish corpus, 30 training steps, small tuning grids."""
    return ["bash", str(RUN), "--lang", "es", "--hours", "0.05", "--exp", str(exp),
            "--results-md", str(exp / "RESULTS.md"), "--max_steps", "30", "--max_minutes", "2",
            "--eval_steps", "15", "--save_steps", "15", *GRIDS, *extra]  # fmt: skip


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> dict:
    exp = tmp_path_factory.mktemp("recipe") / "exp with space"
    proc = subprocess.run(small(exp), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"exp": exp, "out": proc.stdout}


def test_the_recipe_runs_every_stage_and_logs_them(recipe):
    exp = recipe["exp"]
    for n, name in enumerate(["data", "vocab", "lm", "train", "decode", "leaderboard"], 1):
        assert f"stage {n} ({name}): done" in recipe["out"]
        assert (exp / ".done" / f"{n}.{name}").exists()
    logs = list((exp / "logs").glob("run.*.log"))
    assert len(logs) == 1 and "stage 6 (leaderboard): done" in logs[0].read_text(encoding="utf-8")
    assert (exp / "RESULTS.md").read_text(encoding="utf-8") == (exp / "leaderboard" / "RESULTS.md").read_text()
    # 0.05 h of seed 0: the first sentences of the order, which the checkpoint's 0.5-0.75 h corpora trained on
    assert "dev and test sentences are among those the starting checkpoint trained on" in recipe["out"]


def test_leaderboard_numbers_equal_asr_score_on_the_written_hypotheses(recipe, capsys):
    exp = recipe["exp"]
    rows = json.loads((exp / "leaderboard" / "results.json").read_text(encoding="utf-8"))
    assert len(rows) == 6 and {r["decoder"].split(" ")[0] for r in rows} == {"greedy", "beam", "beam_lm"}
    for row in rows:
        folder = Path(row["results"]).parent
        capsys.readouterr()
        assert score_main([str(folder / "hyp.jsonl"), "--normalize", row["normalizer"], "--json", "-"]) == 0
        score = json.loads(capsys.readouterr().out)
        assert (row["wer"], row["cer"]) == (score["word"]["rate"], score["char"]["rate"])
        assert row["git_revision"] == json.loads(Path(row["results"]).read_text())["git_revision"]
    csv_lines = (exp / "leaderboard" / "results.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == 4 and "es/test WER" in csv_lines[0]  # three systems, two test sets
    exports = list((exp / "leaderboard" / "open_asr").glob("MODEL_*_DATASET_es_test.jsonl"))
    assert len(exports) == 3
    first = json.loads(exports[0].read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"audio_filepath", "duration", "time", "text", "pred_text"}
    for row in rows:  # the Open ASR leaderboard's RTFx, sum of durations over sum of times, is the decode's
        run = Run(Path(row["results"]), DecodeResult.read(Path(row["results"])))
        audio = sum(h["duration"] for h in run.hypotheses)
        assert audio / sum(wall_clock_shares(run)) == pytest.approx(run.result.timing["rtfx"], rel=0.05)


def test_a_second_run_skips_finished_stages_and_force_redoes_one(recipe, tmp_path):
    exp = recipe["exp"]
    # through a link to the checkout: every stage was "made with other settings" (its model's path spelled so)
    (tmp_path / "checkout").symlink_to(ROOT)
    linked = [str(tmp_path / "checkout" / RUN.relative_to(ROOT)) if a == str(RUN) else a for a in small(exp)]
    again = subprocess.run(linked, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "WARNING" not in again.stdout
    assert all(f"stage {n} (" in again.stdout and "skipped" in again.stdout for n in range(1, 7))
    assert ": start" not in again.stdout
    before = (exp / ".done" / "6.leaderboard").stat().st_mtime_ns
    forced = subprocess.run(small(exp, "--stage", "6", "--force"), capture_output=True, text=True, timeout=300)
    assert forced.returncode == 0 and "stage 6 (leaderboard): start" in forced.stdout
    assert "stage 5" not in forced.stdout and (exp / ".done" / "6.leaderboard").stat().st_mtime_ns > before


def test_a_recipe_killed_in_a_stage_finishes_without_redoing_finished_stages(recipe, tmp_path):
    exp = tmp_path / "exp"
    for name in ("data", "processor", "lm"):  # stages 1-3 as the recipe's run left them: the kill is in stage 4
        shutil.copytree(recipe["exp"] / name, exp / name)
    (exp / ".done").mkdir()
    for marker in ("1.data", "2.vocab", "3.lm"):
        shutil.copy(recipe["exp"] / ".done" / marker, exp / ".done" / marker)
    proc = subprocess.Popen(small(exp, "--stop-stage", "4"), stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not (exp / "train" / "checkpoint-15").exists() and time.monotonic() < deadline:  # half-way through
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (exp / ".done" / "4.train").exists()
    rerun = subprocess.run(small(exp, "--stop-stage", "4"), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-2000:]
    for n, name in enumerate(["data", "vocab", "lm"], 1):
        assert f"stage {n} ({name}): done before, skipped" in rerun.stdout
    assert "stage 4 (train): done" in rerun.stdout
    info = json.loads((exp / "train" / "run_info.json").read_text())
    # resumed, to the end of its 30 steps or of its 2 minutes (26 steps on a loaded machine)
    assert info["resumed_from"] == "checkpoint-15" and (info["steps"] == 30 or info["minutes"] >= 2)


def test_the_leaderboard_page_renders_in_a_headless_browser(recipe, tmp_path):
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,2400"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get((recipe["exp"] / "leaderboard" / "index.html").as_uri())
        table = driver.find_element(By.CSS_SELECTOR, "table.sortable")
        assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 3
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) >= 3
        assert all(driver.execute_script("return arguments[0].naturalWidth", img) > 100 for img in images)
        wer_column = table.find_elements(By.TAG_NAME, "th")[6]  # es/test WER
        wer_column.click()
        values = [float(r.find_elements(By.TAG_NAME, "td")[6].text.split()[0])
                  for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]  # fmt: skip
        assert values == sorted(values)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "leaderboard.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        # a system with no result on a test set sorts last both ways (it came first, above the best system)
        from asr.leaderboard.cli import main as leaderboard_main

        dev_only = tmp_path / "dev_only" / "greedy" / "dev"
        shutil.copytree(recipe["exp"] / "decode" / "greedy" / "dev", dev_only)
        results = json.loads((dev_only / "results.json").read_text())
        (dev_only / "results.json").write_text(json.dumps(results | {"model": results["model"] | {"path": "x/y"}}))
        board = tmp_path / "board"
        assert leaderboard_main([str(recipe["exp"] / "decode"), str(tmp_path / "dev_only"), "--out", str(board)]) == 0
        driver.get((board / "index.html").as_uri())
        table = driver.find_element(By.CSS_SELECTOR, "table.sortable")
        for _ in range(2):
            table.find_elements(By.TAG_NAME, "th")[6].click()
            cells = [
                r.find_elements(By.TAG_NAME, "td")[6].text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
            ]
            assert cells[-1] == "-" and "-" not in cells[:-1]
    finally:
        driver.quit()


def test_model_cards_carry_parseable_model_index(recipe, tmp_path):
    import yaml

    from asr.leaderboard.collect import collect
    from asr.leaderboard.export import model_card

    model = tmp_path / "model"
    shutil.copytree(recipe["exp"] / "train" / "model", model)
    card = model_card(model, collect([str(recipe["exp"] / "decode")]))
    meta = yaml.safe_load(card.read_text(encoding="utf-8").split("---")[1])
    results = meta["model-index"][0]["results"]
    assert len(results) == 5 and {m["type"] for r in results for m in r["metrics"]} == {"wer", "cer"}
    # beam_lm on es/dev, whose LM weights were tuned there, was indexed as a result like the held-out ones
    assert not any(r["dataset"]["name"] == "es/dev" and "beam_lm" in r["metrics"][0]["name"] for r in results)
    marked = [line for line in card.read_text(encoding="utf-8").splitlines() if line.endswith(" † |")]
    assert len(marked) == 1 and "| es/dev | beam_lm" in marked[0]
    (model / "README.md").write_text("my own card\n")
    assert model_card(model, []) is None and (model / "README.md").read_text() == "my own card\n"
    (model / "README.md").write_bytes(b"caf\xe9\n")  # someone's card in Latin-1: left alone (a traceback before)
    assert model_card(model, []) is None and (model / "README.md").read_bytes() == b"caf\xe9\n"


def test_a_result_tuned_on_its_own_test_set_by_any_name_is_marked_and_not_indexed(recipe, tmp_path):
    """--tuned-from carries the tuning manifest as the first decode spelled it: a result tuned on its own test
    file, named another way (a link), went into the card's model-index as held out (RESULTS.md marked it). The
    tuning set is recognised by its utterances."""
    import yaml

    from asr.decode.cli import main as decode_main
    from asr.leaderboard.collect import collect
    from asr.leaderboard.export import model_card

    model = tmp_path / "model"
    shutil.copytree(recipe["exp"] / "train" / "model", model)
    test = Path(json.loads((recipe["exp"] / "decode" / "beam_lm" / "test" / "results.json").read_text())["test_set"]
                ["manifest"])  # fmt: skip
    (tmp_path / "link").symlink_to(test.parent, target_is_directory=True)
    common = ["--model", str(model), "--decoder", "beam_lm", "--lm", str(recipe["exp"] / "lm"), "--beam-width", "8"]
    tuned = [*common, "--manifest", str(tmp_path / "link" / "test.jsonl"), "--tune", "alpha", "--tune-on", "test"]
    assert decode_main([*tuned, "--alpha-grid", "0.5,1", "--out", str(tmp_path / "a")]) == 0
    reused = ["--tuned-from", str(tmp_path / "a" / "results.json"), "--out", str(tmp_path / "b" / "beam_lm")]
    assert decode_main([*common, "--manifest", str(test), *reused]) == 0
    card = model_card(model, collect([str(tmp_path / "b")])).read_text(encoding="utf-8")
    assert yaml.safe_load(card.split("---")[1])["model-index"][0]["results"] == []
    assert next(line for line in card.splitlines() if line.startswith("| es/test | beam_lm")).endswith(" † |")


def test_a_killed_leaderboards_building_folder_is_cleared_by_the_next_run(recipe, tmp_path, capsys):
    """A SIGKILL left --out/.building-*, which no run removed and every later one named as a leaderboard output
    passed over; a card written in place and interrupted was an empty README.md, "not ours" from then on."""
    from asr.leaderboard.cli import main as leaderboard_main

    decodes = tmp_path / "decodes"
    shutil.copytree(recipe["exp"] / "decode", decodes)
    stale = decodes / "board" / ".building-4194305-x1"  # above Linux's largest process id: killed
    shutil.copytree(recipe["exp"] / "leaderboard", stale)
    running = decodes / "board" / f".building-{os.getpid()}-x2"  # another run's, still writing: kept
    running.mkdir()
    assert leaderboard_main([str(decodes), "--out", str(decodes / "board")]) == 0
    assert "passed over" not in capsys.readouterr().out and not stale.exists() and running.exists()


def test_a_model_folder_named_model_in_the_current_folder_keeps_its_name():
    """`--model model`, run from inside a training folder, was labelled "." on the board and in its exports."""
    from asr.leaderboard.collect import model_label

    assert [model_label(p) for p in ("model", "exp/hi/train/model", "exp/best", "facebook/x")] == [
        "model", "exp/hi/train", "exp/best", "facebook/x"
    ]  # fmt: skip


def test_decodes_naming_one_model_folder_two_ways_make_one_card_with_both(recipe, tmp_path):
    """Cards were kept per path as written: the second spelling's card replaced the first's, both counted."""
    from asr.leaderboard.cli import main as leaderboard_main

    model = tmp_path / "model"
    shutil.copytree(recipe["exp"] / "train" / "model", model)
    greedy = _copy_decode(recipe, tmp_path / "a", "greedy", **{"model.path": str(model)})
    beam = _copy_decode(recipe, tmp_path / "b", "beam", **{"model.path": str(tmp_path / "a" / ".." / "model")})
    assert leaderboard_main([str(greedy), str(beam), "--out", str(tmp_path / "board"), "--model-cards"]) == 0
    rows = [line for line in (model / "README.md").read_text(encoding="utf-8").splitlines() if "| es/test |" in line]
    assert sorted(row.split(" | ")[1].split(" ")[0] for row in rows) == ["beam", "greedy"]


def test_the_checkpoint_card_scores_each_test_set_as_its_decode_does(recipe, tmp_path):
    model, exp = tmp_path / "model", recipe["exp"]
    shutil.copytree(exp / "train" / "model", model)
    info, greedy = exp / "train" / "run_info.json", exp / "decode" / "greedy"
    card = [sys.executable, str(ROOT / "recipes" / "synth" / "model_card.py"), str(model), str(info), str(info),
            str(greedy / "dev" / "results.json")]  # fmt: skip
    assert subprocess.run([*card, str(greedy)], capture_output=True, text=True).returncode == 0
    text = (model / "README.md").read_text(encoding="utf-8")
    for split in ("dev", "test"):
        results = json.loads((greedy / split / "results.json").read_text())
        utterances, wer = results["test_set"]["utterances"], 100 * results["wer"]
        row = f"| {split} | espeak-ng test variants | {utterances} | {wer:.2f} |"
        assert row in text, text
    (tmp_path / "decodes" / "test").mkdir(parents=True)  # an interrupted decode: no results.json
    refused = [(card, tmp_path / "none", "no test decodes"), (card, tmp_path / "decodes", "results.json"),
               (card, exp / "decode" / "beam", "a beam decode")]  # fmt: skip
    other = tmp_path / "other"  # decodes of another model's weights
    shutil.copytree(ROOT / "models" / "synth-ctc-tiny", other)
    refused.append(([*card[:2], str(other), *card[3:]], greedy, "whose weights are not MODEL_DIR's"))
    for command, decodes, message in refused:
        proc = subprocess.run([*command, str(decodes)], capture_output=True, text=True)
        assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def _leaderboard_rows(exp: Path) -> list[dict]:
    return json.loads((exp / "leaderboard" / "results.json").read_text(encoding="utf-8"))


QUICK = ["--max_steps", "8", "--max_minutes", "1", "--eval_steps", "8", "--save_steps", "8"]
ONE_POINT = ["--alpha-grid", "0.5", "--beta-grid", "1.5", "--gamma-grid", "0.5"]  # the defaults alone: tuned once


def test_the_common_voice_recipe_runs_on_a_local_stand_in_dataset(recipe, tmp_path):
    """The hub path (`asr data prepare --source hf:...`) with a save_to_disk folder in Common Voice's layout, up to
    the LM (the later stages are the synthetic recipe's, tested by its test)."""
    import datasets

    from asr.data.manifest import read_manifest

    data = recipe["exp"] / "data" / "es"
    splits = {}
    for ours, theirs in (("train", "train"), ("dev", "validation"), ("test", "test")):
        utts = read_manifest(data / f"{ours}.jsonl")
        splits[theirs] = datasets.Dataset.from_dict({
            "client_id": [u.speaker for u in utts], "path": [Path(u.audio).name for u in utts],
            "audio": [str(u.audio_path(data)) for u in utts], "sentence": [u.text for u in utts],
        }).cast_column("audio", datasets.Audio())  # fmt: skip
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "cv_es"))
    exp = tmp_path / "exp"
    cmd = ["bash", str(ROOT / "recipes" / "common_voice" / "run.sh"), "--lang", "es", "--dataset",
           f"hf:{tmp_path / 'cv_es'}", "--model", str(ROOT / "models" / "synth-ctc-tiny"), "--train-config",
           str(ROOT / "recipes" / "synth" / "conf" / "train_cpu.yaml"), "--exp", str(exp),
           "--results-md", str(tmp_path / "RESULTS.md"), *QUICK]  # fmt: skip
    proc = subprocess.run([*cmd, "--stop-stage", "3"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert json.loads((exp / "lm" / "lm.json").read_text(encoding="utf-8"))["normalizer"] == "es@4"
    prepared = read_manifest(exp / "data" / "cv_es" / "train.jsonl")
    assert sorted(u.text for u in prepared) == sorted(u.text for u in read_manifest(data / "train.jsonl"))
    folder = tmp_path / "af_es"  # an audiofolder: splits in folders (the recipe's --splits refused it)
    for ours, theirs in (("train", "train"), ("dev", "validation"), ("test", "test")):
        (folder / theirs).mkdir(parents=True)
        rows = []
        for u in read_manifest(data / f"{ours}.jsonl"):
            (folder / theirs / Path(u.audio).name).symlink_to(u.audio_path(data))
            rows.append(json.dumps({"file_name": Path(u.audio).name, "sentence": u.text}) + "\n")
        (folder / theirs / "metadata.jsonl").write_text("".join(rows))
    af = [*cmd[: cmd.index("--dataset")], "--dataset", f"audiofolder:{folder}", "--exp", str(tmp_path / "af"),
          "--stop-stage", "1"]  # fmt: skip
    proc = subprocess.run(af, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [len(read_manifest(tmp_path / "af" / "data" / "cv_es" / f"{s}.jsonl")) for s in ("train", "dev", "test")] \
        == [len(read_manifest(data / f"{s}.jsonl")) for s in ("train", "dev", "test")]  # fmt: skip


def test_the_asterisk_recipe_prepares_the_real_recordings(tmp_path):
    """Its own stage (data) and the vocabulary and LM on it; the later stages are the synthetic recipe's, tested
    by its test (the whole recipe here cost a minute of the suite)."""
    from asr.data.manifest import read_manifest

    exp = tmp_path / "exp"
    cmd = ["bash", str(ROOT / "recipes" / "asterisk" / "run.sh"), "--lang", "it", "--exp", str(exp),
           "--results-md", str(tmp_path / "RESULTS.md"), "--stop-stage", "3", *QUICK]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert all(read_manifest(exp / "data" / "asterisk_it" / f"{split}.jsonl") for split in ("train", "dev", "test"))
    for folder in (exp / "processor" / "asr_text.json", exp / "lm" / "lm.json"):
        assert json.loads(folder.read_text(encoding="utf-8"))["normalizer"] == "it@4"


def test_the_librispeech_grid_runs_in_miniature_on_the_synthetic_corpus(tmp_path):
    exp = tmp_path / "exp"
    cmd = ["bash", str(ROOT / "recipes" / "librispeech" / "run.sh"), "--corpus", "synth", "--hours", "0.25",
           "--subsets", "10min", "--nlm-minutes", "0.1", "--exp", str(exp),
           "--results-md", str(tmp_path / "RESULTS.md"), *QUICK, *ONE_POINT]  # fmt: skip
    # ONE_POINT: the weights are tuned once (the search itself is the recipe fixture's): the suite's slowest test
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    rows = _leaderboard_rows(exp)
    sets = {"synth/dev_clean", "synth/dev_other", "synth/test_clean", "synth/test_other"}
    assert {r["test_set"] for r in rows} == sets and len(rows) == 12  # the paper's three LM columns on four sets
    assert {r["lm"] for r in rows} == {"none", "4-gram", "4-gram + Transformer"}
    for lm in ("4-gram", "4-gram + Transformer"):  # each tuned once on dev_other, reused on the other three
        tuned = [json.loads(Path(r["results"]).read_text())["tuning"] for r in rows if r["lm"] == lm]
        assert len({json.dumps(t["best"]) for t in tuned}) == 1 and sum("reused_from" in t for t in tuned) == 3
    assert all("gamma" in t["best"] for t in tuned)
    header = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "synth/test_other WER" in header and "0.17 h" in header
    bad = subprocess.run([*cmd, "--subsets", "10min 2h"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--subsets: unknown subset '2h'" in bad.stderr  # before stage 1, not at 2
    bad = subprocess.run([*cmd, "--subsets", "1h", "--hours", "1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--hours 1 gives about 0.7 h of train audio; give --hours 1.43" in bad.stderr


def test_a_run_in_another_exp_publishes_no_results_file(recipe):
    """A run with --exp and no --results-md copied its RESULTS.md over the tracked recipes/synth/RESULTS.md."""
    published = ROOT / "recipes" / "synth" / "RESULTS.md"
    before = published.read_bytes()
    cmd = ["bash", str(RUN), "--lang", "es", "--exp", str(recipe["exp"]), "--stage", "6", "--force"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "RESULTS.md ->" not in proc.stdout and published.read_bytes() == before


def test_results_that_are_not_comparable_are_flagged_not_mixed(recipe, tmp_path, two_are_enough):
    from asr.leaderboard.cli import main as leaderboard_main

    other = tmp_path / "other" / "greedy" / "test"
    shutil.copytree(recipe["exp"] / "decode" / "greedy" / "test", other)
    results = json.loads((other / "results.json").read_text(encoding="utf-8"))
    results["normalizer"], results["model"]["path"] = "none@1", "someone/else-model"
    (other / "results.json").write_text(json.dumps(results), encoding="utf-8")
    score = json.loads((other / "score" / "score.json").read_text(encoding="utf-8"))
    (other / "score" / "score.json").write_text(json.dumps(score | {"normalizer": "none@1"}), encoding="utf-8")
    board = tmp_path / "board"
    assert leaderboard_main([str(recipe["exp"] / "decode"), str(tmp_path / "other"), "--out", str(board)]) == 0
    text = (board / "RESULTS.md").read_text(encoding="utf-8")
    assert "es/test: normaliser none@1, scoring sclite (the column uses es@4, sclite)" in text and " †" in text
    rows = json.loads((board / "results.json").read_text(encoding="utf-8"))
    assert [r["model"] for r in rows if r["flag"]] == ["someone/else-model"]
    # a flagged row with the lowest WER is neither the best of the paired tests nor tested
    results["wer"] = 0.0
    (other / "results.json").write_text(json.dumps(results), encoding="utf-8")
    perfect = {u: {level: [sum(c[:3]), 0, 0, 0] for level, c in counts.items()} for u, counts in
               score["utterances"].items()}  # fmt: skip
    (other / "score" / "score.json").write_text(json.dumps(score | {"normalizer": "none@1", "utterances": perfect}))
    assert leaderboard_main([str(recipe["exp"] / "decode"), str(tmp_path / "other"), "--out", str(board),
                             "--significance"]) == 0  # fmt: skip
    tests = (board / "RESULTS.md").read_text(encoding="utf-8").split("## Paired bootstrap tests")[1]
    tests = tests.split("## Environment")[0]
    assert tests.count("| es/test | WER | beam_lm") == 2 and "†" not in tests
    page = (board / "index.html").read_text(encoding="utf-8")  # the page has what RESULTS.md has
    assert "Paired bootstrap tests" in page and "[" in page.split("<h2>WER / CER (%)</h2>")[1].split("</table>")[0]
    # the board's own results.json in a searched folder is passed over on the next run
    inside = recipe["exp"] / "decode" / "board_inside"
    for _ in range(2):
        assert leaderboard_main([str(recipe["exp"] / "decode"), "--out", str(inside)]) == 0
    shutil.rmtree(inside)
    # decodes under --out are results like any other (all were dropped without a word); a decode's own folder
    # as --out is refused (its results.json was written over)
    tree = tmp_path / "tree"
    shutil.copytree(recipe["exp"] / "decode", tree / "decode")
    assert leaderboard_main([str(tree), "--out", str(tree)]) == 0
    decoded = len(list((recipe["exp"] / "decode").rglob("results.json")))
    assert len(json.loads((tree / "results.json").read_text(encoding="utf-8"))) == decoded
    one = next((tree / "decode").rglob("hyp.jsonl")).parent
    assert leaderboard_main([str(tree / "decode"), "--out", str(one)]) == 2
    assert json.loads((one / "results.json").read_text(encoding="utf-8"))["schema"]  # still the decode's
    # a glob of folders finds the results.json files below them; a damaged score.json is one line
    assert leaderboard_main([str(recipe["exp"] / "decode" / "*"), "--out", str(tmp_path / "globbed")]) == 0
    (other / "score" / "score.json").write_text('{"utterances": ')
    assert leaderboard_main([str(tmp_path / "other"), "--out", str(tmp_path / "b2"), "--significance"]) == 2


def test_test_sets_are_told_apart_by_content_and_no_export_is_overwritten(recipe, tmp_path, two_are_enough):
    from asr.leaderboard.cli import main as leaderboard_main

    smaller = tmp_path / "smaller" / "greedy" / "test"  # es/test with one utterance fewer, another model
    shutil.copytree(recipe["exp"] / "decode" / "greedy" / "test", smaller)
    lines = (smaller / "hyp.jsonl").read_text(encoding="utf-8").splitlines()
    (smaller / "hyp.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    score = json.loads((smaller / "score" / "score.json").read_text(encoding="utf-8"))
    del score["utterances"][json.loads(lines[-1])["id"]]  # as a decode of the smaller set counts them
    (smaller / "score" / "score.json").write_text(json.dumps(score), encoding="utf-8")
    results = json.loads((smaller / "results.json").read_text(encoding="utf-8"))
    results["model"]["path"] = "someone/else-model"
    c, s, d, i = (sum(column) for column in zip(*(u["word"] for u in score["utterances"].values()), strict=True))
    results["wer"] = (s + d + i) / (c + s + d)  # as its score.json counts it: the leaderboard checks
    (smaller / "results.json").write_text(json.dumps(results), encoding="utf-8")
    twin = tmp_path / "twin" / "beam_lm" / "test"  # the same model and decoder with another LM folder
    shutil.copytree(recipe["exp"] / "decode" / "beam_lm" / "test", twin)
    results = json.loads((twin / "results.json").read_text(encoding="utf-8"))
    results["lm"]["order"], results["decoder"]["alpha"] = 3, 0.1234
    (twin / "results.json").write_text(json.dumps(results), encoding="utf-8")
    other_lm = tmp_path / "other_lm" / "beam_lm" / "test"  # all the same but the LM folder: another system
    shutil.copytree(recipe["exp"] / "decode" / "beam_lm" / "test", other_lm)
    results = json.loads((other_lm / "results.json").read_text(encoding="utf-8"))
    results["lm"]["path"] = "exp/es/lm_bigger"
    (other_lm / "results.json").write_text(json.dumps(results), encoding="utf-8")
    board = tmp_path / "board"
    folders = [str(recipe["exp"] / "decode"), str(tmp_path / "smaller"), str(tmp_path / "twin"), str(other_lm)]
    assert leaderboard_main([*folders, "--out", str(board), "--significance"]) == 0
    rows = json.loads((board / "results.json").read_text(encoding="utf-8"))
    columns = {r["test_set"] for r in rows if r["test_set"].startswith("es/test")}
    assert len(columns) == 2 and all(f"[{n} utt " in " ".join(columns) for n in (len(lines), len(lines) - 1))
    report = (board / "RESULTS.md").read_text()
    assert "results under this name hold other utterances" in report and "†" not in report.split("## Commands")[0]
    tested = {line.split(" | ")[0].strip("| ") for line in report.split("## Paired bootstrap tests")[1].splitlines()}
    full = next(c for c in columns if f"[{len(lines)} utt " in c)
    assert full in tested  # the column of es/test with several systems has its paired tests (flagged away before)
    assert ", LM 4-gram (lm_bigger)) |" in report.split("## Paired bootstrap tests")[1]  # equal decoders told apart
    exports = sorted((board / "open_asr").glob("*_DATASET_es_test.jsonl"))
    assert len(exports) == 6  # greedy, beam, beam_lm, the twin's and the other LM's beam_lm, the smaller set's
    index = json.loads((board / "open_asr" / "index.json").read_text(encoding="utf-8"))  # R80: which is which
    assert {e["file"] for e in index} == {p.name for p in (board / "open_asr").glob("*.jsonl")}
    assert {e["test_set"] for e in index if e["file"] in {p.name for p in exports}} == columns
    assert any(r["lm"] == "4-gram (lm_bigger)" for r in rows)
    # the same ids with other transcripts are another test set, not the same column
    relabelled = tmp_path / "relabelled" / "greedy" / "test"
    shutil.copytree(recipe["exp"] / "decode" / "greedy" / "test", relabelled)
    rows_text = [json.loads(line) for line in (relabelled / "hyp.jsonl").read_text().splitlines()]
    (relabelled / "hyp.jsonl").write_text("".join(json.dumps(r | {"ref": r["hyp"]}) + "\n" for r in rows_text))
    results = json.loads((relabelled / "results.json").read_text(encoding="utf-8"))
    results["model"]["path"] = "someone/else-model"
    (relabelled / "results.json").write_text(json.dumps(results), encoding="utf-8")
    assert leaderboard_main([str(recipe["exp"] / "decode"), str(tmp_path / "relabelled"), "--out",
                             str(tmp_path / "board2")]) == 0  # fmt: skip
    rows = json.loads((tmp_path / "board2" / "results.json").read_text(encoding="utf-8"))
    assert len({r["test_set"] for r in rows if r["test_set"].startswith("es/test")}) == 2


def test_the_board_keeps_what_it_did_not_write_and_checks_each_decode_against_its_score(recipe, tmp_path, capsys):
    """Found by a review: --out's plots/ and open_asr/ went whole with a decode or notes inside; a decode's
    folder without its results.json (a decode running again) was dropped without a word; a score.json scored
    again with other settings gave intervals that missed their row's WER; one model folder named two ways made
    two rows, and a model retrained in place shared a row with its earlier self."""
    from asr.leaderboard.cli import main as leaderboard_main
    from asr.leaderboard.tables import markdown_row

    decodes = recipe["exp"] / "decode"
    tree = tmp_path / "tree"
    shutil.copytree(decodes / "greedy", tree / "plots" / "greedy")
    assert leaderboard_main([str(tree), "--out", str(tree)]) == 2
    assert "is not a leaderboard's output" in capsys.readouterr().err
    assert (tree / "plots" / "greedy" / "test" / "results.json").is_file() and not (tree / "RESULTS.md").exists()
    shutil.move(tree / "plots" / "greedy", tree / "greedy")
    assert leaderboard_main([str(tree), "--out", str(tree)]) == 0  # its own plots/ are replaced on a rerun
    assert leaderboard_main([str(tree), "--out", str(tree)]) == 0
    (tree / "greedy" / "test" / "results.json").unlink()
    capsys.readouterr()
    assert leaderboard_main([str(tree), "--out", str(tmp_path / "b1")]) == 0
    assert f"passed over 1 unfinished decode(s) (hyp.jsonl without results.json: running or stopped): " \
           f"{tree / 'greedy' / 'test'}" in capsys.readouterr().out  # fmt: skip
    rescored = _copy_decode(recipe, tmp_path / "rescored", "greedy")
    folder = rescored / "greedy" / "test"
    assert score_main([str(folder / "hyp.jsonl"), "--report-dir", str(folder / "score"), "--normalize", "none"]) == 0
    assert leaderboard_main([str(rescored), "--out", str(tmp_path / "b2"), "--significance"]) == 2
    assert "scored with normaliser none@1, scoring sclite; results.json beside it says es@4" in capsys.readouterr().err
    results = DecodeResult.read(decodes / "greedy" / "test" / "results.json")
    assert len(results.model["weights"]) == 16  # a hash of the weights decoded
    respelled = f"{Path(results.model['path']).parent}/./model/"
    respelled = _copy_decode(recipe, tmp_path / "respelled", "greedy", **{"model.path": respelled})
    assert leaderboard_main([str(decodes / "greedy" / "dev"), str(respelled), "--out", str(tmp_path / "b3")]) == 0
    rows = json.loads((tmp_path / "b3" / "results.json").read_text(encoding="utf-8"))
    assert len(rows) == 2 and len({r["decoder"] for r in rows}) == 1  # one system: one row, both columns
    retrained = _copy_decode(recipe, tmp_path / "retrained", "greedy", **{"model.weights": "0" * 16})
    assert leaderboard_main([str(decodes / "greedy" / "dev"), str(retrained), "--out", str(tmp_path / "b4")]) == 0
    rows = json.loads((tmp_path / "b4" / "results.json").read_text(encoding="utf-8"))
    weights = results.model["weights"]
    assert sorted(r["decoder"] for r in rows) == ["greedy [weights=0000000000000000]", f"greedy [weights={weights}]"]
    # a decode of an earlier version (no hash) is the model its path names where the other decodes agree on one
    earlier = _copy_decode(recipe, tmp_path / "earlier", "greedy", **{"model.weights": None})
    assert leaderboard_main([str(decodes / "greedy" / "dev"), str(earlier), "--out", str(tmp_path / "b5")]) == 0
    assert len(json.loads((tmp_path / "b5" / "results.json").read_text(encoding="utf-8"))) == 2
    unchunked = _copy_decode(recipe, tmp_path / "unchunked", "greedy", **{"model.chunk_seconds": None})  # R53: a
    assert leaderboard_main([str(decodes / "greedy" / "dev"), str(unchunked), "--out", str(tmp_path / "b7")]) == 0
    rows = json.loads((tmp_path / "b7" / "results.json").read_text(encoding="utf-8"))  # row 'chunk_seconds=None'
    assert len(rows) == 2 and {r["decoder"] for r in rows} == {"greedy"}
    assert leaderboard_main([str(decodes / "greedy" / "dev"), str(earlier), str(retrained), "--out",
                             str(tmp_path / "b6")]) == 0  # fmt: skip
    rows = json.loads((tmp_path / "b6" / "results.json").read_text(encoding="utf-8"))
    assert len({r["decoder"] for r in rows}) == 3  # two hashes for the path: the earlier decode is neither
    report = (recipe["exp"] / "leaderboard" / "RESULTS.md").read_text(encoding="utf-8")
    assert "- es/dev: the LM weights of the rows marked tuned were chosen on it" in report
    # a row tuned on test beside rows tuned on dev: each note names its own rows (the dev one blamed them all)
    tested = DecodeResult.read(decodes / "beam_lm" / "test" / "results.json").test_set["manifest"]
    rows = map(json.loads, (decodes / "beam_lm" / "test" / "hyp.jsonl").read_text(encoding="utf-8").splitlines())
    tuning = {"tuning.dev_manifest": tested, "tuning.dev_content": content_id((r["id"], r["ref"]) for r in rows)}
    on_test = _copy_decode(recipe, tmp_path / "on_test", **tuning, **{"decoder.beam_width": 7})
    assert leaderboard_main([str(decodes), str(on_test), "--out", str(tmp_path / "b8")]) == 0
    notes = [line for line in (tmp_path / "b8" / "RESULTS.md").read_text().splitlines() if "were chosen on" in line]
    assert len(notes) == 2 and "(beam 7)" not in notes[0] and "(beam 7)" in notes[1], notes
    assert notes[0].startswith("- es/dev: the LM weights of ") and notes[1].startswith("- es/test: the LM weights of ")
    # R31: beside a row tuned on a set not in the table, the dev note named "the rows marked tuned", that one too;
    # results.json and results.csv said nothing of which cells were tuned on their own set
    other = {"tuning.dev_manifest": "/elsewhere/dev.jsonl", "tuning.dev_content": "0123abcd", "decoder.beam_width": 9}
    elsewhere = _copy_decode(recipe, tmp_path / "elsewhere", **other)
    assert leaderboard_main([str(decodes), str(elsewhere), "--out", str(tmp_path / "b9")]) == 0
    notes = [line for line in (tmp_path / "b9" / "RESULTS.md").read_text().splitlines() if "were chosen on" in line]
    assert len(notes) == 1 and "rows marked tuned" not in notes[0] and "(beam 9)" not in notes[0], notes
    rows = json.loads((tmp_path / "b9" / "results.json").read_text(encoding="utf-8"))
    tuned = [(r["decoder"], r["test_set"]) for r in rows if r["tuned_on_it"]]
    assert len(tuned) == 1 and tuned[0][0].startswith("beam_lm") and tuned[0][1] == "es/dev", tuned
    flagged = [line for line in (tmp_path / "b9" / "results.csv").read_text().splitlines() if "tuned on it" in line]
    assert len(flagged) == 1 and flagged[0].endswith("es/dev: LM weights tuned on it"), flagged
    assert markdown_row(["a*b*", "<b>x</b>", "p < 0.001", "c\\"]) == "| a\\*b\\* | &lt;b>x&lt;/b> | p < 0.001 | c\\\\ |"
    tagged = _copy_decode(recipe, tmp_path / "tagged", "greedy", **{"test_set.name": "<img src=x>/test"})
    assert leaderboard_main([str(tagged), "--out", str(tmp_path / "b7")]) == 0
    report = (tmp_path / "b7" / "RESULTS.md").read_text(encoding="utf-8")  # a line outside the table kept the tag
    assert "<img" not in report and "per test set: &lt;img src=x>/test: es@4, sclite." in report


def test_results_with_a_field_of_another_type_are_one_line(recipe, tmp_path, capsys):
    """Found by a review: a results.json or score.json with a list for a map, a number for a string or counts
    as strings gave a traceback (AttributeError, TypeError) in place of the line naming the file."""
    from asr.leaderboard.cli import main as leaderboard_main

    damaged = {"test_set.manifest": 5, "model.train_info": [1], "decoder.name": None}
    for n, (key, value) in enumerate(damaged.items()):
        folder = _copy_decode(recipe, tmp_path / f"d{n}", "greedy", **{key: value})
        assert leaderboard_main([str(folder), "--out", str(tmp_path / f"b{n}")]) == 2, key
        assert f"{folder / 'greedy' / 'test' / 'results.json'}: " in capsys.readouterr().err
    score = _copy_decode(recipe, tmp_path / "s", "greedy") / "greedy" / "test" / "score" / "score.json"
    report = json.loads(score.read_text(encoding="utf-8"))
    for damage in ({"speakers": []}, {"utterances": {k: {**v, "word": [str(n) for n in v["word"]]} for k, v in
                                                     report["utterances"].items()}}):  # fmt: skip
        score.write_text(json.dumps(report | damage), encoding="utf-8")
        assert leaderboard_main([str(tmp_path / "s"), "--out", str(tmp_path / "bs"), "--significance"]) == 2
        assert f"{score}: not a score.json written by 'asr score'" in capsys.readouterr().err  # named results.json


def _copy_decode(recipe: dict, to: Path, decoder: str = "beam_lm", **changes) -> Path:
    """A copy of the recipe's `decoder` test decode in `to`, with results.json's `changes` (``"decoder.backend"``)."""
    folder = to / decoder / "test"
    shutil.copytree(recipe["exp"] / "decode" / decoder / "test", folder)
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        section, _, name = key.partition(".")
        results[section][name] = value
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return to


def test_systems_differing_in_any_setting_are_rows_of_their_own_and_a_failed_run_keeps_the_board(recipe, tmp_path):
    from asr.leaderboard.cli import main as leaderboard_main

    decodes = str(recipe["exp"] / "decode")
    settings = {"decoder.backend": "pyctcdecode", "model.dtype": "bfloat16", "versions.torch": "2.0.0"}
    other = _copy_decode(recipe, tmp_path / "br[1]", **settings)
    board = tmp_path / "board"
    assert leaderboard_main([decodes, str(other), "--out", str(board)]) == 0  # a folder with [ is no pattern
    rows = [r for r in json.loads((board / "results.json").read_text()) if r["decoder"].startswith("beam_lm")]
    assert sorted(r["decoder"].split(" [")[1] for r in rows if r["test_set"] == "es/test") == [
        "dtype=bfloat16, backend=pyctcdecode]",
        "dtype=float32, backend=ctcbeam]",
    ]
    assert all(" [" not in r["decoder"] for r in json.loads((board / "results.json").read_text()) if r not in rows)
    environment = (board / "RESULTS.md").read_text().split("## Environment")[1].split("## Commands")[0]
    assert "- 1 decode(s): " in environment and "torch 2.0.0" in environment  # not only the first run's versions
    # the dev decode of the recipe's beam_lm stays in the recipe's row, not in the copy's
    assert [r["test_set"] for r in rows if "pyctcdecode" in r["decoder"]] == ["es/test"]
    # a model named with | keeps the Markdown table's columns
    piped = _copy_decode(recipe, tmp_path / "piped", "greedy", **{"model.path": "team|x/model"})
    assert leaderboard_main([decodes, str(piped), "--out", str(board)]) == 0
    table = [line for line in (board / "RESULTS.md").read_text().splitlines() if line.startswith("| ")]
    assert len({line.replace("\\|", "").count("|") for line in table}) == 1 and any("team\\|x" in t for t in table)
    # a rerun with fewer systems leaves no export or plot of the old ones; a failed run leaves the board as it was
    assert leaderboard_main([str(recipe["exp"] / "decode" / "greedy"), "--out", str(board)]) == 0
    exports = {p.name for p in (board / "open_asr").iterdir()} - {"index.json"}
    assert all("greedy" in name for name in exports) and len(list(board.iterdir())) == 6
    before = {p.name: p.read_bytes() for p in board.iterdir() if p.is_file()}
    broken = _copy_decode(recipe, tmp_path / "broken", "greedy", **{"model.path": "x"})
    hyp = broken / "greedy" / "test" / "hyp.jsonl"
    hyp.write_text("".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "am_seconds"}) + "\n"
                           for line in hyp.read_text().splitlines()))  # fmt: skip
    assert leaderboard_main([decodes, str(broken), "--out", str(board)]) == 2
    assert {p.name: p.read_bytes() for p in board.iterdir() if p.is_file()} == before
    untuned = _copy_decode(recipe, tmp_path / "untuned", **{"tuning.dev_manifest": None})  # a traceback before
    assert leaderboard_main([decodes, str(untuned), "--out", str(board)]) == 2
    assert {p.name: p.read_bytes() for p in board.iterdir() if p.is_file()} == before
    assert len(list(board.iterdir())) == 6  # nothing half-built left behind


def test_results_copied_elsewhere_export_their_audio_and_old_ones_are_named_before_any_write(recipe, tmp_path):
    """The decode's manifest and model paths are as given to asr decode, relative to where it ran: hyp.jsonl
    records each utterance's audio file, so a leaderboard run from elsewhere needs neither."""
    copied = tmp_path / "copied" / "greedy" / "test"
    shutil.copytree(recipe["exp"] / "decode" / "greedy" / "test", copied)
    results = json.loads((copied / "results.json").read_text(encoding="utf-8"))
    results["test_set"]["manifest"], results["model"]["path"] = "data/es/test.jsonl", "exp/es/train/model"
    (copied / "results.json").write_text(json.dumps(results), encoding="utf-8")
    board = tmp_path / "board"
    cmd = [sys.executable, "-m", "asr", "leaderboard", str(copied), "copied", "--out", str(board), "--model-cards"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "model card: exp/es/train/model is not a folder from here" in proc.stdout
    assert "\n1 results -> " in proc.stdout  # the same results.json named absolute and relative: one run
    rows = [json.loads(line) for line in (copied / "hyp.jsonl").read_text(encoding="utf-8").splitlines()]
    (export,) = (board / "open_asr").glob("*.jsonl")
    exported = [json.loads(line)["audio_filepath"] for line in export.read_text(encoding="utf-8").splitlines()]
    assert exported == [r["audio"] for r in rows] and all(Path(a).is_file() for a in exported)
    # a decode of an earlier version (no audio in hyp.jsonl): one line naming it, and nothing written
    old = "".join(json.dumps({k: v for k, v in r.items() if k != "audio"}) + "\n" for r in rows)
    (copied / "hyp.jsonl").write_text(old, encoding="utf-8")
    proc = subprocess.run([*cmd[:7], str(tmp_path / "board2")], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{copied / 'results.json'}: its test set's manifest data/es/test.jsonl is not found" in proc.stderr
    assert not (tmp_path / "board2").exists()


def test_a_run_in_the_default_exp_with_options_of_its_own_publishes_no_results_file(recipe, tmp_path):
    """Training keys, --hours and the like make an experiment: such a run in the default exp/synth/es copied its
    RESULTS.md over recipes/synth/RESULTS.es.md (a review's stub run did so to the tracked RESULTS.md)."""
    published = ROOT / "recipes" / "synth" / "RESULTS.es.md"
    (tmp_path / "exp" / "synth").mkdir(parents=True)
    (tmp_path / "exp" / "synth" / "es").symlink_to(recipe["exp"])  # the default --exp, relative to the cwd
    cmd = ["bash", str(RUN), "--lang", "es", "--max_steps", "30", "--stage", "6", "--force"]
    before = published.read_bytes() if published.exists() else None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert "RESULTS.md not published" in proc.stdout and "RESULTS.md ->" not in proc.stdout
    finally:  # a failure puts the tracked file back as it was
        if before is None:
            published.unlink(missing_ok=True)
        else:
            published.write_bytes(before)


def test_recipe_options_never_run_code_and_bad_ones_stop_before_stage_1(tmp_path):
    planted = tmp_path / "planted"
    exp = tmp_path / "exp"
    for bad, message in (
        ([f"--x[$(touch {planted})]", "1"], "bad option name"),
        (["--stage", f"A[$(touch {planted})]"], "--stage A[$(touch"),
        (["--stop-stage", "1+1"], "expected a whole number"),
        (["--exp", ""], "--exp is empty"),
        (["--stage", "9"], "--stage 9 is past the last stage (6)"),
        (["--stage", "3", "--stop-stage", "2"], "--stage 3 is after --stop-stage 2"),
        (["--stop-stage", "09"], "--stop-stage 09: expected a whole number"),  # bash would read octal
        (["--learning-rat", "0.1"], "unknown option(s) --learning_rat"),
        (["--max_steps", "2.5"], "max_steps: expected a whole number, got 2.5"),  # names alone were checked
        (["--hours", "--force"], "option --hours needs a value"),  # set hours to '--force', forced nothing
        (["--hours=0.1"], "option --hours: give its value after a space (--hours 0.1)"),
        (["--data-seed", "00"], "--data-seed 00: expected a whole number"),  # seed 0's corpus, no marker said so
        (["--force=true"], "option --force takes no value"),
        (["--ngpu", "0"], "--num-processes 0: expected a whole number above 0"),  # 0 is a whole number
        (["--alpha-grid", "1..2"], "--alpha-grid 1..2: expected numbers from -1000 to 1000, comma-separated"),
        (["--beta-grid", "0,5000"], "--beta-grid 0,5000: expected numbers from"),  # both refused after training
    ):
        args = ["bash", str(RUN), "--lang", "es", *(["--exp", str(exp)] if "--exp" not in bad else []), *bad]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr, (bad, proc.stderr[-500:])
        assert not planted.exists() and not (exp / ".done").exists(), bad
    # a setting exported by the environment was used without being recorded or counted as given (published)
    for name in ("model", "lang"):
        proc = subprocess.run(["bash", str(RUN), "--exp", str(exp)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, name: "x"})  # fmt: skip
        assert proc.returncode == 2 and f"the environment exports '{name}'" in proc.stderr and not exp.exists()


def test_the_checkpoint_script_refuses_bad_options_in_one_line_before_any_stage(tmp_path):
    exp, tiny = tmp_path / "exp", str(ROOT / "models" / "synth-ctc-tiny")
    for bad, message in (
        (["--from", str(tmp_path)], "not a model folder of asr train"),
        (["--from", tiny, "--phase2", tiny], "--from and --phase2 exclude each other"),
        (["--learning-rate", "1"], "unknown option(s) --learning_rate"),  # the phases' configs hold the settings
        (["--model", "facebook/wav2vec2-xls-r-300m"], "unknown option --model"),  # another recipe's: was ignored
        (["--stage", "8"], "--stage 8 is past the last stage (7)"),
    ):
        proc = subprocess.run(["bash", str(START), str(exp), *bad], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, (bad, proc.stderr)
        assert not exp.exists(), bad


def test_the_checkpoint_script_skips_finished_stages_and_those_a_given_model_replaces(tmp_path):
    """A rerun after an interruption (2.3 hours of work) redoes only the stages without a marker."""
    exp = tmp_path / "exp"
    stages = ["clean_corpus", "phase1", "varied_corpus", "phase2", "more_english", "phase3", "card"]
    (exp / ".done").mkdir(parents=True)
    for n, name in enumerate(stages, 1):
        (exp / ".done" / f"{n}.{name}").touch()
    phase2 = ROOT / "models" / "synth-ctc-tiny"
    proc = subprocess.run(["bash", str(START), str(exp), "--phase2", str(phase2)], capture_output=True, text=True,
                          cwd=ROOT / "recipes", timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    said = [line[20:] for line in proc.stdout.splitlines() if " stage " in line]
    unknown = "; WARNING: it was made with settings an earlier version did not record"  # empty markers
    assert said == [
        f"stage {n} ({name}): skipped, --phase2 {phase2} replaces it"
        if n in (1, 2, 4)
        else f"stage {n} ({name}): done before, skipped (--force to redo){unknown}"
        for n, name in enumerate(stages, 1)
    ]


def test_a_phase_made_with_another_config_or_start_model_is_named_and_not_shipped(tmp_path):
    """Left by R83: the checkpoint script's phases recorded neither their config nor their start model, so a phase
    config edited in place, or another --from model, was "done before, skipped" without a word, and stage 7
    shipped the checkpoint as made with the edited one."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "recipes", checkout / "recipes")  # a config of its own to edit
    script, exp = checkout / "recipes" / "synth" / "make_start_checkpoint.sh", tmp_path / "exp"
    start = tmp_path / "start"
    shutil.copytree(ROOT / "models" / "synth-ctc-tiny", start)
    (start / "run_info.json").write_text("{}")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(script), str(exp), *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "ASR": "true"})  # fmt: skip

    assert run("--stop-stage", "4").returncode == 0
    assert run("--stop-stage", "4").stdout.count("WARNING") == 0
    marker = exp / ".done" / "2.phase1"  # R88: as the previous version wrote it, without the content
    recorded = marker.read_text()
    marker.write_text('declare -- from=""\ndeclare -- phase2=""\n')
    old = run("--stage", "7")
    assert old.returncode == 2 and "stage 2 (phase1) was made with train config and model content that an " \
        "earlier version did not record" in old.stdout, old.stdout  # fmt: skip
    marker.write_text(recorded)
    config = checkout / "recipes" / "synth" / "conf" / "start_checkpoint.yaml"
    config.write_text(config.read_text() + "seed: 1\n")
    edited = run("--stop-stage", "4").stdout
    assert "stage 2 (phase1): done before, skipped (--force to redo); WARNING: it was made with train config and " \
        "model content: 'recipes/synth/conf/start_checkpoint.yaml' " in edited, edited  # fmt: skip
    shipped = run("--stage", "7")
    refusal = f"{script}: the checkpoint would be written to models/synth-ctc-tiny-wide, but stage 2 (phase1) was made"
    assert shipped.returncode == 2 and refusal in shipped.stdout, shipped.stdout
    assert run("--stage", "2", "--stop-stage", "6", "--force").returncode == 0
    given = run("--phase2", str(start), "--stop-stage", "6").stdout  # the data stages read no model: not named
    warned = [line[20:] for line in given.splitlines() if "WARNING" in line]
    said = 'stage 6 (phase3): done before, skipped (--force to redo); WARNING: it was made with phase2="";train '
    assert len(warned) == 1 and warned[0].startswith(said), given
    assert run("--phase2", str(start), "--stage", "6", "--stop-stage", "6", "--force").returncode == 0
    (start / "config.json").write_text((start / "config.json").read_text().replace("{", '{"x": 1,', 1))
    changed = run("--phase2", str(start))
    assert changed.returncode == 2 and "but stage 6 (phase3) was made with train config and model content: " \
        "'recipes/synth/conf/start_checkpoint_wide.yaml' " in changed.stdout, changed.stdout  # fmt: skip
    assert f"'{start}/config.json' " in changed.stdout


def _start_checkpoint_stages(tmp_path: Path, exp: Path, *args: str) -> str:
    """make_start_checkpoint.sh EXP ARGS with a stub `asr` that prints its command line: the commands it ran."""
    stub = tmp_path / "asr"
    stub.write_text('#!/bin/sh\necho "asr $*"\n')
    stub.chmod(0o755)
    proc = subprocess.run(["bash", str(START), str(exp), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ASR": str(stub)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _finished_start_checkpoint(exp: Path, stages: int, run_first: bool = True) -> None:
    """Markers of the first `stages` stages, and phase 3's finished run (its run_info.json), written before the
    markers (`run_first`) or after them."""
    (exp / "wide").mkdir(parents=True)
    (exp / ".done").mkdir()
    if run_first:
        (exp / "wide" / "run_info.json").write_text("{}")
    names = ["clean_corpus", "phase1", "varied_corpus", "phase2", "more_english", "phase3"]
    for n, name in enumerate(names[:stages], 1):
        (exp / ".done" / f"{n}.{name}").touch()
    if not run_first:
        (exp / "wide" / "run_info.json").write_text("{}")


def test_a_second_run_on_an_exp_in_use_is_refused(tmp_path):
    """Found by a review: a recipe started twice on one EXP found the first run's stages done and trained into
    its folder; both published. The EXP is held while a run uses it (here by the test)."""
    from asr.folders import writing_alone

    exp = tmp_path / "exp"
    stub = tmp_path / "asr"
    stub.write_text('#!/bin/sh\necho "asr $*"\n')
    stub.chmod(0o755)
    command = ["bash", str(START), str(exp), "--stop-stage", "1"]
    with writing_alone(exp, "--exp"):
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, env={**os.environ, "ASR": str(stub)})
    assert proc.returncode == 2 and f"--exp {exp}: another run is using it now" in proc.stderr, proc.stderr
    assert "asr " not in proc.stdout
    # a file system without locks (flock fails otherwise than on a held lock): the run goes on, unheld, and says so
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "flock").write_text('#!/bin/sh\necho "flock: 9: Operation not supported" >&2\nexit 1\n')
    (tmp_path / "bin" / "flock").chmod(0o755)
    env = {**os.environ, "ASR": str(stub), "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and "cannot be locked here" in proc.stdout + proc.stderr and "asr " in proc.stdout


def test_a_phase_trained_again_after_an_earlier_one_was_redone_starts_afresh(tmp_path):
    """Phase 3 run again (its marker gone, as a redone phase 2 takes it) over its finished run resumed that run:
    asr train kept the old weights, never reading the new phase-2 encoder, and stage 7 shipped them."""
    exp = tmp_path / "exp"
    _finished_start_checkpoint(exp, 5)  # phase 2 finished after the run (as an earlier version left it)
    out = _start_checkpoint_stages(tmp_path, exp, "--stage", "6", "--stop-stage", "6")
    assert "asr train --model" in out and not (exp / "wide" / "run_info.json").exists()
    exp = tmp_path / "exp2"
    _finished_start_checkpoint(exp, 6, run_first=False)
    _start_checkpoint_stages(tmp_path, exp, "--stage", "4", "--stop-stage", "4", "--force")
    out = _start_checkpoint_stages(tmp_path, exp, "--stage", "5", "--stop-stage", "6")
    assert "asr train --model" in out and not (exp / "wide" / "run_info.json").exists()


def test_a_phase_stopped_after_its_run_finished_is_not_trained_again(tmp_path):
    """Stopped in the seconds between the run's run_info.json and the stage's marker, a training stage was
    taken for one redone: the finished run was removed and trained again from its first step."""
    exp = tmp_path / "exp"
    _finished_start_checkpoint(exp, 5, run_first=False)
    out = _start_checkpoint_stages(tmp_path, exp, "--stage", "6", "--stop-stage", "6")
    assert "asr train --model" in out and (exp / "wide" / "run_info.json").exists()  # asr train: nothing to do


def test_an_interrupted_forced_stage_is_redone(recipe, tmp_path):
    """--force deletes a stage's outputs before redoing it: its marker goes first, so a kill in between
    leaves the stage to be redone, never skipped."""
    exp = tmp_path / "exp"
    shutil.copytree(recipe["exp"], exp, symlinks=True)
    proc = subprocess.Popen(small(exp, "--stage", "6", "--force"), stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    seen = ""
    while "stage 6 (leaderboard): start" not in seen:
        seen += proc.stdout.readline()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (exp / ".done" / "6.leaderboard").exists()
    rerun = subprocess.run(small(exp, "--stage", "6"), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0 and "stage 6 (leaderboard): start" in rerun.stdout


def test_a_stage_run_again_makes_later_stages_stale_and_changed_settings_are_named(recipe, tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(recipe["exp"], exp, symlinks=True)
    skipped = subprocess.run(small(exp, "--stop-stage", "3", "--lm-order", "3"), capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert skipped.returncode == 0 and "stage 2 (vocab): done before, skipped (--force to redo)\n" in skipped.stdout
    assert (
        'stage 3 (lm): done before, skipped (--force to redo); WARNING: it was made with lm_order="4"' in skipped.stdout
    )
    redone = subprocess.run(small(exp, "--stage", "2", "--stop-stage", "2", "--force"), capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert redone.returncode == 0 and "stage 2 (vocab): done" in redone.stdout
    assert sorted(p.name for p in (exp / ".done").iterdir()) == ["1.data", "2.vocab"]  # the LM onwards: redo


STUB = """#!/usr/bin/env bash
# asr for the stage logic: says what it was asked and makes the files that the recipes copy
echo "asr $*"
cmd="$1 ${2-}"
[[ $cmd != "${STUB_FAILS:-none}"* ]] || { echo "asr $cmd: a failure" >&2; exit 3; }
[[ $cmd != "${STUB_WAITS:-none}"* ]] || { touch waiting; sleep 60 >/dev/null 2>&1 & wait; exit 143; }
[[ $cmd != "train "* || -z ${STUB_EDITS-} ]] || echo "# edited by $$" >>"$STUB_EDITS"  # while it trains
while (($#)); do
    case $1 in --out) out=$2 ;; --langs) langs=$2 ;; esac
    shift
done
case $cmd in
    leaderboard*) mkdir -p "$out" && echo "board of $$" >"$out/RESULTS.md" ;;
    "data merge") touch "$out" ;;
    "data synth") mkdir -p "$out/$langs" && touch "$out/$langs/lm_text.txt" ;;
esac
"""


def stubbed(tmp_path: Path, recipe: Path):
    """A runner of `recipe` with asr replaced by STUB (seconds, not minutes: the stage logic alone)."""
    stub = tmp_path / "stub_asr"
    stub.write_text(STUB)
    stub.chmod(0o755)

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(recipe), *args], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env={**os.environ, "ASR": str(stub), **env})  # fmt: skip

    return run


def test_every_recipes_help_lists_the_options_it_takes():
    """The recipes' --help omitted the shared options (--model, --train-config, --normalize, the grids) and the
    ASR/ACCELERATE overrides; the checkpoint script, which refuses them, lists only its own."""
    for recipe in [*sorted((ROOT / "recipes").glob("*/run.sh")), START]:
        text = subprocess.run(["bash", str(recipe), "--help"], capture_output=True, text=True, check=True).stdout
        shared = all(o in text for o in ("--model", "--train-config", "--normalize", "--alpha-grid", "ACCELERATE"))
        assert "Usage:" in text and shared == (recipe != START), recipe


def test_markers_naming_the_checkout_through_a_link_are_the_same_settings(tmp_path):
    """Markers written through a link to the checkout (before ROOT was its physical path) held every default path
    so: after the change, publishing refused each finished stage as "made with other settings"."""
    run, published = stubbed(tmp_path, RUN), tmp_path / "RESULTS.md"
    common = ("--lang", "es", "--exp", "e", "--results-md", str(published))
    assert run(*common).returncode == 0
    (tmp_path / "checkout").symlink_to(ROOT)
    for marker in (tmp_path / "e" / ".done").iterdir():
        marker.write_text(marker.read_text().replace(f'"{ROOT}/', f'"{tmp_path / "checkout"}/'))
    assert 'model="' + str(tmp_path / "checkout") in (tmp_path / "e" / ".done" / "4.train").read_text()
    again = run(*common)
    assert again.returncode == 0 and "WARNING" not in again.stdout, again.stdout[-2000:]
    moved = run(*common, "--model", str(tmp_path))  # another file: named as before
    assert moved.returncode == 2 and "but stage 4 (train) was made with model=" in moved.stdout


def test_a_recipe_runs_through_a_link_and_into_an_exp_named_like_an_option(tmp_path):
    """R44: run.sh reached through a link could not find common.sh ('command not found', exit 127); an --exp
    starting with '-' was read as mkdir's option."""
    (tmp_path / "run.sh").symlink_to(RUN)
    proc = stubbed(tmp_path, tmp_path / "run.sh")("--lang", "es", "--exp", "-e", "--stop-stage", "1")
    assert proc.returncode == 0 and "stage 1 (data): done" in proc.stdout, proc.stderr
    assert (tmp_path / "-e" / ".done" / "1.data").is_file()


def test_a_failed_stage_is_named_with_its_log(tmp_path):
    """A failed stage ended the recipe on the failing command's own line: neither the stage nor the log named."""
    run = stubbed(tmp_path, RUN)
    failed = run("--lang", "es", "--exp", "e", STUB_FAILS="train --model")
    log = next((tmp_path / "e" / "logs").glob("run.*.log"))
    line = f"stage 4 (train): failed (exit status 3); log: e/logs/{log.name}"
    assert failed.returncode == 3 and failed.stdout.rstrip().endswith(line) and line in log.read_text()
    assert "FAILED" not in run("--lang", "es", "--exp", "e", "--stop-stage", "2").stdout.upper()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stage_stopped_by_a_signal_to_the_whole_job_is_named(tmp_path, stop):
    """A SIGTERM to the recipe's process group (a scheduler ending the job, `timeout`) ended it with no line
    naming the stage: the EXIT trap saw status 0 (and tee, stopped too, took the last lines with it)."""
    stubbed(tmp_path, RUN)  # writes the stub
    proc = subprocess.Popen(["bash", str(RUN), "--lang", "es", "--exp", "e"], stdout=subprocess.PIPE, text=True,
                            cwd=tmp_path, env={**os.environ, "ASR": str(tmp_path / "stub_asr"),
                                               "STUB_WAITS": "train --model"}, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "waiting").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, stop)
    out, _ = proc.communicate(timeout=60)
    line = f"stage 4 (train): interrupted ({stop.name}, exit status {128 + stop}); log: "
    assert proc.returncode == 128 + stop and line in out, out[-500:]
    assert line in next((tmp_path / "e" / "logs").glob("run.*.log")).read_text()


def test_stages_before_the_first_selected_one_are_checked_and_mixed_results_are_never_published(tmp_path):
    """--stage N ran on whatever earlier stages had left: an experiment's model was published as the recipe's
    RESULTS.md by a later `--stage 5 --force`, and a redone data stage's old vocabulary and model were decoded."""
    run, published = stubbed(tmp_path, RUN), tmp_path / "RESULTS.md"
    common = ("--lang", "es", "--exp", "e", "--results-md", str(published))
    assert run(*common, "--max_steps", "3000").returncode == 0 and published.exists()
    before = published.read_text()
    mixed = run(*common, "--stage", "5", "--force")  # after begin_recipe, stderr is the log's too: stdout here
    assert mixed.returncode == 2 and "but stage 4 (train) was made with train overrides:" in mixed.stdout
    assert "'3000': run it again (--stage 4 --force)" in mixed.stdout
    assert ": start" not in mixed.stdout and published.read_text() == before
    redone = run(*common, "--stage", "4", "--force")
    assert redone.returncode == 0 and published.read_text() != before
    with (tmp_path / "e" / ".done" / "1.data").open("a") as marker:  # a setting an earlier version had
        marker.write('declare -- nlm_minutes="10"\n')
    assert "WARNING" not in run(*common).stdout
    marker = tmp_path / "e" / ".done" / "1.data"  # R53: a setting added since the marker's version (it was skipped
    marker.write_text("".join(x for x in marker.read_text().splitlines(True) if "data_seed=" not in x))  # silently)
    unrecorded = run(*common)  # publishing: refused, as for a setting changed
    assert (
        unrecorded.returncode == 2
        and "was made with data_seed that an earlier version did not record: run it" in unrecorded.stdout
    )
    assert run(*common, "--stage", "1", "--stop-stage", "1", "--force").returncode == 0
    later = run(*common, "--stage", "5")
    assert later.returncode == 2 and "stage 2 (vocab) has not finished in e" in later.stdout
    assert "run from stage 2" in later.stdout and ": start" not in later.stdout
    for marker in (tmp_path / "e" / ".done").iterdir():  # an earlier version's markers record no settings: its
        marker.write_text("")  # stages were skipped without a word, and its results published as this run's
    old = run(*common, "--stage", "6", "--force")
    unknown = "but stage 1 (data) was made with settings an earlier version did not record: run it again"
    assert old.returncode == 2 and unknown in old.stdout and ": start" not in old.stdout


def test_a_file_in_the_markers_folder_named_otherwise_is_no_marker_and_runs_nothing(tmp_path):
    """A review: a marker's name reached bash arithmetic, which runs a command substitution in an array subscript,
    so a file planted in a run folder from someone else (EXP/.done/stage[$(cmd)].x) ran cmd in every stage."""
    run, planted = stubbed(tmp_path, RUN), tmp_path / "planted"
    common = ("--lang", "es", "--exp", "e", "--results-md", str(tmp_path / "RESULTS.md"))
    assert run(*common).returncode == 0
    (tmp_path / "e" / ".done" / f"stage[$(touch {planted.name})].x").write_text("")
    for args in ((), ("--stage", "2", "--force"), ("--stage", "5", "--force"), "redo data"):
        if args == "redo data":  # a stage run again without --force: its outputs checked against earlier markers
            (tmp_path / "e" / ".done" / "1.data").unlink()
            args = ()
        proc = run(*common, *args)
        assert proc.returncode == 0 and not planted.exists(), (args, proc.stdout[-500:], proc.stderr[-500:])
        assert "common.sh: line" not in proc.stdout + proc.stderr  # no arithmetic on it either


def test_publishing_looks_at_what_each_stage_reads_and_refuses_before_any_stage(tmp_path):
    """A marker recorded every setting: --lm-order 3 once, the data stage kept every later run from publishing;
    so did an exported http_proxy that differed; a refusal could come after hours of a grid's new training."""
    run, published = stubbed(tmp_path, RUN), tmp_path / "R.md"
    common = ("--lang", "es", "--exp", "e", "--results-md", str(published))
    assert run(*common, "--lm-order", "3").returncode == 0
    again = run(*common, "--stage", "3", "--force")  # the LM, which reads --lm-order, made again
    assert again.returncode == 0 and "WARNING" not in again.stdout
    proxied = subprocess.run(["bash", str(RUN), *common, "--stage", "5", "--force"], capture_output=True, text=True,
                             cwd=tmp_path, env={**os.environ, "ASR": str(tmp_path / "stub_asr"),
                                                "http_proxy": "http://elsewhere:3128"})  # fmt: skip
    assert proxied.returncode == 0, proxied.stdout[-500:]
    grid = stubbed(tmp_path, ROOT / "recipes" / "librispeech" / "run.sh")
    board = ("--corpus", "synth", "--exp", "g", "--results-md", str(published))
    assert grid(*board, "--subsets", "10min", "--max_steps", "5").returncode == 0
    grown = grid(*board, "--subsets", "10min 1h")
    assert grown.returncode == 2 and ": start" not in grown.stdout  # before the 1h subset's training
    assert "stage 6 (train.train_10min) was made with train overrides: '--max_steps' '5'" in grown.stdout
    # R79: a train config edited in place was "done before, skipped" without a word, and published
    config = tmp_path / "conf [1]" / "train.yaml"  # R83: [ in a path was read as a pattern: no change found
    config.parent.mkdir()
    config.write_text("learning_rate: 1.0e-3\n")
    mine = ("--lang", "es", "--exp", "t", "--train-config", str(config))
    assert run(*mine, "--results-md", str(published)).returncode == 0
    config.write_text("learning_rate: 5.0e-3\n")
    edited = run(*mine, "--results-md", str(published))
    assert edited.returncode == 2 and f"stage 4 (train) was made with train config and model content: '{config}' " in (
        edited.stdout
    )
    kept = run(*mine)  # not published: skipped, and said
    assert "stage 4 (train): done before, skipped (--force to redo); WARNING: it was made with train config and " in (
        kept.stdout
    )
    edits = ("--lang", "es", "--exp", "d", "--train-config", str(config), "--results-md", str(published))
    assert run(*edits, STUB_EDITS=str(config)).returncode == 0  # R81: recorded at the end, as edited meanwhile
    assert run(*edits).returncode == 2
    (tmp_path / "models").mkdir()  # R81: a model reached through a link had no content recorded
    for name in ("v1", "v2"):
        shutil.copytree(
            ROOT / "models" / f"synth-ctc-tiny{'' if name == 'v1' else '-wide'}", tmp_path / "models" / name
        )
    (tmp_path / "current").symlink_to(tmp_path / "models" / "v1")
    linked = ("--lang", "es", "--exp", "l", "--model", str(tmp_path / "current"), "--results-md", str(published))
    assert run(*linked).returncode == 0
    (tmp_path / "current").unlink()
    (tmp_path / "current").symlink_to(tmp_path / "models" / "v2")
    swapped = run(*linked)
    assert swapped.returncode == 2 and f"'{tmp_path / 'current'}/config.json' " in swapped.stdout
    (tmp_path / "models" / "v2" / "model.safetensors").rename(tmp_path / "models" / "v2" / "pytorch_model.bin")
    assert run(*linked, "--stage", "4", "--force").returncode == 0
    (tmp_path / "models" / "v2" / "pytorch_model.bin").rename(tmp_path / "models" / "v2" / "model.safetensors")
    assert run(*linked).returncode == 2  # R83: the same bytes under another weights file: another model to load


def test_a_recipe_run_by_a_relative_path_ignores_cdpath(tmp_path):
    """With CDPATH=. exported, cd printed the folder it found: ROOT held two lines, and every default path too."""
    stubbed(tmp_path, RUN)  # writes the stub
    proc = subprocess.run(["bash", "recipes/synth/run.sh", "--exp", str(tmp_path / "c"), "--stop-stage", "2"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "ASR": str(tmp_path / "stub_asr"), "CDPATH": "."})  # fmt: skip
    assert proc.returncode == 0 and f"--config {ROOT}/recipes/synth/conf/train_cpu.yaml" in proc.stdout, proc.stderr


def test_a_grid_finished_by_an_earlier_version_keeps_its_subsets(tmp_path):
    run = stubbed(tmp_path, ROOT / "recipes" / "librispeech" / "run.sh")
    assert run("--corpus", "synth", "--exp", "g").returncode == 0
    done = tmp_path / "g" / ".done"
    for marker in done.glob("2.subset.*"):
        (tmp_path / "g" / "data" / "synth" / f"{marker.name[9:]}.jsonl").touch()  # the subsets it made
        marker.unlink()
    (done / "2.subsets").touch()  # one marker for all of them, as before
    again = run("--corpus", "synth", "--exp", "g")
    assert again.returncode == 0 and ": start" not in again.stdout  # every training and decode was redone


def test_a_grid_that_grows_runs_only_the_new_subset_and_its_leaderboard_reads_this_grid(tmp_path):
    run = stubbed(tmp_path, ROOT / "recipes" / "librispeech" / "run.sh")
    assert run("--corpus", "synth", "--subsets", "10min", "--exp", "g").returncode == 0
    grown = run("--corpus", "synth", "--subsets", "10min 1h", "--exp", "g")
    started = [line[20:] for line in grown.stdout.splitlines() if line.endswith(": start")]
    assert started == ["stage 2 (subset.train_1h): start", "stage 6 (train.train_1h): start",
                       "stage 7 (decode.train_1h): start", "stage 8 (leaderboard): start"]  # fmt: skip
    assert "asr leaderboard g/decode/10min g/decode/1h --out" in grown.stdout
    shrunk = run("--corpus", "synth", "--subsets", "10min", "--exp", "g")
    assert "stage 8 (leaderboard): done before, skipped (--force to redo); WARNING: it was made with reads: " \
           "'decode/10min' 'decode/1h'" in shrunk.stdout  # fmt: skip
    board = run("--corpus", "synth", "--subsets", "10min", "--exp", "g", "--stage", "8", "--force")
    assert "asr leaderboard g/decode/10min --out" in board.stdout  # not decode/1h, which this grid does not have


def test_recipe_options_that_would_be_ignored_or_override_its_wiring_are_refused(tmp_path):
    synth, librispeech = stubbed(tmp_path, RUN), stubbed(tmp_path, ROOT / "recipes" / "librispeech" / "run.sh")
    (tmp_path / "10min").touch()
    for run, args, message in (
        (synth, ["--train_manifest", "other.jsonl"], "--train_manifest: the recipe sets it for asr train itself"),
        (synth, ["--output-dir", "elsewhere"], "--output_dir: the recipe sets it for asr train itself"),
        (librispeech, ["--corpus", "synthetic"], "--corpus synthetic: expected librispeech or synth"),
        (librispeech, ["--hours", "2"], "--hours is for --corpus synth"),
        (librispeech, ["--lang", "fr"], "--lang is for --corpus synth"),  # LibriSpeech prepared as English
        (librispeech, ["--corpus", "synth", "--subsets", "1*"], "unknown subset '1*'"),  # globbed: 10min
        (synth, ["--model", ""], "option --model is empty"),  # the default model, without a word
        (synth, ["--lm-text", "missing.txt"], "--lm-text missing.txt: no such file"),  # at the LM stage
        # the recipes' own numbers: --nlm-minutes failed at stage 5, after the data and LM stages
        (librispeech, ["--corpus", "synth", "--nlm-minutes", "abc"], "--nlm-minutes abc: expected a number above 0"),
        (synth, ["--lm-order", "x"], "--lm-order x: expected a whole number"),
        (synth, ["--lm-order", "7"], "--lm-order 7: expected 2 to 6"),  # R62: it failed at stage 3, after the data
        (synth, ["--hours", "0"], "--hours 0: expected a number above 0"),
        # R34: taken, recorded in the decode stage's marker and read by no decode
        (
            synth,
            ["--gamma-grid", "0.1,0.2"],
            "--gamma-grid: this recipe rescores no n-best lists (its decoders: greedy beam beam_lm)",
        ),
    ):
        proc = run("--exp", "x", *args)
        assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, (args, proc.stderr)
        assert not (tmp_path / "x").exists()
    planted = tmp_path / "planted"  # --hours went into an awk program
    synth("--exp", "h", "--stop-stage", "1", "--hours", f'0.5) + system("touch {planted}") + (0')
    assert not planted.exists()
    (tmp_path / "extra.txt").touch()
    assert synth("--lang", "es", "--exp", "r", "--results-md", "new/R.md").returncode == 0  # cp failed at the end
    assert (tmp_path / "new" / "R.md").is_file()
    for folder in (tmp_path, tmp_path / "elsewhere"):  # the training's files named relative too (R55: untested)
        (folder / "mdl").mkdir(parents=True)
        (folder / "cfg.yaml").write_text("max_steps: 5\n")
    named = ("--train-config", "cfg.yaml", "--model", "mdl")
    used = synth("--lang", "es", "--exp", "u", "--stop-stage", "4", "--lm-text", "extra.txt", "--normalize", "none",
                 *named)  # fmt: skip
    assert used.returncode == 0 and "--normalize none" in used.stdout
    assert f"asr lm build --text u/data/es/lm_text.txt u/data/es/train.jsonl {tmp_path / 'extra.txt'}" in used.stdout
    # R44: the same relative name from another folder, another file: its stage was skipped as done with it
    (tmp_path / "elsewhere" / "extra.txt").write_text("other sentences\n")
    again = subprocess.run(
        [
            "bash",
            str(RUN),
            "--lang",
            "es",
            "--exp",
            str(tmp_path / "u"),
            "--stop-stage",
            "4",
            "--lm-text",
            "extra.txt",
            "--normalize",
            "none",
            *named,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path / "elsewhere",
        env={**os.environ, "ASR": str(tmp_path / "stub_asr")},
    )
    assert (
        "stage 3 (lm): done before, skipped (--force to redo); WARNING: it was made with "
        f'lm_text="{tmp_path / "extra.txt"}"' in again.stdout
    ), again.stdout
    assert (
        "stage 4 (train): done before, skipped (--force to redo); WARNING: it was made with "
        f'model="{tmp_path / "mdl"}";train_config="{tmp_path / "cfg.yaml"}"' in again.stdout
    ), again.stdout


def test_a_forced_data_stage_starts_afresh(tmp_path):
    """asr data synth refuses a folder holding a corpus of other settings: after --hours changed, the --force that
    the skip message advised failed (and had removed every marker)."""
    run = stubbed(tmp_path, RUN)
    assert run("--lang", "es", "--exp", "f", "--stop-stage", "1").returncode == 0
    (tmp_path / "f" / "data" / "es" / "old").touch()
    assert run("--lang", "es", "--exp", "f", "--stop-stage", "1", "--force", "--hours", "1").returncode == 0
    assert not (tmp_path / "f" / "data" / "es" / "old").exists()
