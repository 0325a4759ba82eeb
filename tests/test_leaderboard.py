"""The leaderboard's numbers: which system is best in the paired tests, the WERs its table shows, which rows are
flagged as not comparable, and results.csv against results.json, on decodes whose error counts are set by hand
(one real `asr decode` of two utterances, copied and edited as the leaderboard checks them: seconds, no training)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from asr.data.cli import main as data_main
from asr.decode.cli import main as decode_main
from asr.leaderboard.cli import main as leaderboard_main

MODEL = Path(__file__).resolve().parent.parent / "models" / "synth-ctc-tiny"
NORMALIZER = "lower-nopunct@1"  # the shipped model's (asr_text.json): what its decode scores with
# Word errors (all substitutions) per utterance, the two test utterances in id order, and the WER they make
# (the utterances have 13 and 12 reference words: 25 in all). The best is neither first nor last by name.
SYSTEMS = {
    "team/alpha": ((3, 3), 0.24),  # 6 / 25
    "team/bravo": ((1, 1), 0.08),  # 2 / 25: the best
    "team/charlie": ((8, 8), 0.64),  # 16 / 25
}


@pytest.fixture(scope="module")
def decode(tmp_path_factory) -> Path:
    """One greedy decode of a two-utterance Spanish test set with the shipped tiny model."""
    root = tmp_path_factory.mktemp("leaderboard")
    synth = ["synth", "--langs", "es", "--hours", "0.02", "--noise-prob", "0", "--reverb-prob", "0"]
    assert data_main([*synth, "--out", str(root / "data")]) == 0
    manifest = root / "data" / "es" / "test.jsonl"
    args = ["--model", str(MODEL), "--manifest", str(manifest), "--out", str(root / "decode"), "--no-cache"]
    assert decode_main(args) == 0
    return root / "decode"


def _totals(counts: list[list[int]]) -> dict[str, float]:
    """score.json's word totals of per-utterance [C, S, D, I] counts."""
    c, s, d, i = (sum(column) for column in zip(*counts, strict=True))
    return {"N": c + s + d, "C": c, "S": s, "D": d, "I": i, "E": s + d + i, "rate": (s + d + i) / (c + s + d)}


def _system(
    decode: Path, folder: Path, model: str, errors: tuple[int, ...], normalizer: str = NORMALIZER, level: str = "word"
) -> float:
    """A copy of `decode` as another model's decode with `errors` substitutions per utterance (in id order) at
    `level` (word or char), scored with `normalizer`: results.json, its scores and score/score.json (utterances,
    speakers, totals) all agree, as the leaderboard checks. Returns the level's rate."""
    if not folder.exists():
        shutil.copytree(decode, folder)
    score = json.loads((folder / "score" / "score.json").read_text(encoding="utf-8"))
    ids = sorted(score["utterances"])
    assert len(ids) == len(errors)
    for utt, wrong in zip(ids, errors, strict=True):
        units = sum(score["utterances"][utt][level][:3])  # C + S + D: the reference's words (characters)
        score["utterances"][utt][level] = [units - wrong, wrong, 0, 0]
    hyps = [json.loads(line) for line in (folder / "hyp.jsonl").read_text(encoding="utf-8").splitlines()]
    speakers = {row["id"]: row["speaker"] for row in hyps}
    for speaker, levels in score["speakers"].items():
        levels[level] |= _totals([score["utterances"][u][level] for u in ids if speakers[u] == speaker])
    totals = _totals([score["utterances"][u][level] for u in ids])
    score[level] |= totals
    score["normalizer"] = normalizer
    (folder / "score" / "score.json").write_text(json.dumps(score), encoding="utf-8")
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    results[{"word": "wer", "char": "cer"}[level]], results["normalizer"] = totals["rate"], normalizer
    results["model"]["path"] = model
    results["scores"][level] |= totals
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return totals["rate"]


@pytest.fixture
def systems(decode: Path, tmp_path: Path) -> Path:
    """Three comparable systems (WER 24%, 8%, 64%) and a fourth, scored with another normaliser, at 0%."""
    for model, (errors, wer) in SYSTEMS.items():
        assert _system(decode, tmp_path / "decodes" / model.replace("/", "_"), model, errors) == pytest.approx(wer)
    assert _system(decode, tmp_path / "decodes" / "odd", "team/odd", (0, 0), normalizer="none@1") == 0.0
    return tmp_path / "decodes"


def _sections(text: str) -> dict[str, str]:
    """RESULTS.md's sections by heading."""
    parts = text.split("\n## ")
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in parts[1:]}


def test_paired_tests_name_the_lowest_wer_best_and_show_each_systems_wer(
    systems: Path, tmp_path: Path, two_are_enough
) -> None:
    """A mutation review: the paired tests' best could be the worst system (max for min), and their best and
    other WER columns could be swapped, with every test passing."""
    board = tmp_path / "board"
    assert leaderboard_main([str(systems), "--out", str(board), "--significance"]) == 0
    section = next(v for k, v in _sections((board / "RESULTS.md").read_text(encoding="utf-8")).items()
                   if k.startswith("Paired bootstrap tests"))  # fmt: skip
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| es/test")]  # fmt: skip
    # the flagged 0% row (another normaliser) is neither best nor tested; bravo (8%) is best against the others;
    # each of them has more errors than bravo in every utterance, so no resample finds it not worse: p < 0.001
    assert sorted(rows) == [
        ["es/test", "WER", "greedy (team/bravo, LM none)", "greedy (team/alpha, LM none)", "8.00", "24.00", "< 0.001"],
        [
            "es/test",
            "WER",
            "greedy (team/bravo, LM none)",
            "greedy (team/charlie, LM none)",
            "8.00",
            "64.00",
            "< 0.001",
        ],
    ]


def test_a_set_written_without_spaces_is_bounded_and_tested_on_cer(decode: Path, tmp_path: Path, two_are_enough):
    """A Chinese or Thai "word" is a phrase: the intervals and the paired tests were on WER, which called the
    system that gets one character of each phrase wrong the worse one."""
    for model, words, chars in (("team/phrases", (1, 1), (9, 9)), ("team/letters", (3, 3), (2, 2))):
        folder = tmp_path / "decodes" / model.replace("/", "_")
        _system(decode, folder, model, words)
        _system(decode, folder, model, chars, level="char")
        hyp = folder / "hyp.jsonl"  # the same references in Chinese (all systems: one test set)
        rows = [json.loads(line) for line in hyp.read_text(encoding="utf-8").splitlines()]
        chinese = "".join(json.dumps(r | {"ref": "今天天气很好我们去公园吧"}) + "\n" for r in rows)
        hyp.write_text(chinese, encoding="utf-8")
    board = tmp_path / "board"
    assert leaderboard_main([str(tmp_path / "decodes"), "--out", str(board), "--significance"]) == 0
    sections = _sections((board / "RESULTS.md").read_text(encoding="utf-8"))
    table = next(v for k, v in sections.items() if k == "WER / CER (%) with 95% bootstrap intervals on CER (text "
                 "written without spaces between words)")  # fmt: skip
    cells = next(line for line in table.splitlines() if line.startswith("| team/letters")).split("|")[-3:-1]
    assert "[" not in cells[0] and "[" in cells[1]  # WER bare, CER with its interval
    rate, low, high = map(float, cells[1].replace("[", " ").replace("]", " ").replace(",", " ").split())
    assert low <= rate <= high  # the CER's interval, from character counts (a mutant drew it from words')
    paired = next(v for k, v in sections.items() if k.startswith("Paired bootstrap tests"))
    row = next(line for line in paired.splitlines() if line.startswith("| es/test"))
    assert [c.strip() for c in row.strip("|").split("|")][1:3] == ["CER", "greedy (team/letters, LM none)"]
    whole = (board / "index.html").read_text(encoding="utf-8")
    assert "95% bootstrap intervals on CER" in whole  # the page says what its intervals are on, as RESULTS.md
    page = whole.split("Paired bootstrap tests")[1].split("</table>")[0]
    assert page.count("<th>") == len(page.split("</tr>")[1].split("<td>")) - 1 == 7  # its score column headed too
    # R85: the runs' details were on words (every speaker at WER 100%, whole phrases as the confusions)
    details = whole.split("<h2>Runs</h2>")[1]
    assert "<th>CER %</th>" in details and "<th>WER %</th>" not in details and " character errors</p>" in details


def test_a_set_of_a_few_utterances_gets_no_intervals_or_tests(systems: Path, tmp_path: Path) -> None:
    """R85: on one utterance the board printed [75.0, 75.0] and p < 0.001 (a bootstrap of a few utterances
    claims what no exact test over them could: a sign test's least p over n is 2^-n)."""
    board = tmp_path / "board"
    assert leaderboard_main([str(systems), "--out", str(board), "--significance"]) == 0
    text = (board / "RESULTS.md").read_text(encoding="utf-8")
    sections = _sections(text)
    table = next(v for k, v in sections.items() if k.startswith("WER / CER (%)"))
    assert "[" not in table.split("\n\n")[1] and "- es/test: 2 utterances, fewer than 10: no bootstrap " in table
    paired = next(v for k, v in sections.items() if k.startswith("Paired bootstrap tests"))
    assert paired.strip() == "None: no test set of 10 utterances or more has two comparable systems."
    rows = json.loads((board / "results.json").read_text(encoding="utf-8"))
    none = {"metric": "wer", "interval": None, "best": False, "p_value": None, "resamples": 1000}
    assert all(r["significance"] == none for r in rows)


def test_intervals_and_paired_tests_reach_results_json_and_csv(systems: Path, tmp_path: Path, two_are_enough):
    """R85: --significance put its intervals and p-values in RESULTS.md and index.html only, and neither said
    the seed, the one side or that several tests go uncorrected."""
    board = tmp_path / "board"
    assert leaderboard_main([str(systems), "--out", str(board), "--significance"]) == 0
    rows = {r["model"]: r["significance"] for r in json.loads((board / "results.json").read_text(encoding="utf-8"))}
    assert rows["team/bravo"]["best"] and rows["team/bravo"]["p_value"] is None
    assert rows["team/alpha"]["p_value"] == rows["team/charlie"]["p_value"] == 0.0 and not rows["team/alpha"]["best"]
    assert rows["team/odd"]["p_value"] is None and not rows["team/odd"]["best"]  # flagged: not tested
    for model, test in rows.items():
        low, high = test["interval"]
        assert low <= json.loads((board / "results.json").read_text())[0]["wer"] or model != "team/alpha"
        assert low <= high
    with open(board / "results.csv", encoding="utf-8", newline="") as f:
        csv_rows = {r["model"]: r for r in csv.DictReader(f)}
    for model, test in rows.items():
        row = csv_rows[model]
        assert float(row["es/test WER 95% low"]) == pytest.approx(100 * test["interval"][0], abs=1e-4)
        assert float(row["es/test WER 95% high"]) == pytest.approx(100 * test["interval"][1], abs=1e-4)
        assert float(row["es/test WER 95% low"]) <= float(row["es/test WER"]) <= float(row["es/test WER 95% high"])
    # R88: 0.000 where the tables print < 0.001 (none of the resamples)
    assert [csv_rows[m]["es/test p (other not worse)"] for m in sorted(csv_rows)] == ["< 0.001", "best", "< 0.001", ""]
    text = (board / "RESULTS.md").read_text(encoding="utf-8")
    note = "(seed 0) in which the other system is not worse than the best, one-sided towards the best, which is "
    assert note in text and "the 2 tests are not corrected for their number" in text
    assert note in (board / "index.html").read_text(encoding="utf-8")


def test_a_lone_system_is_its_columns_best_and_no_empty_table_is_printed(decode: Path, tmp_path, two_are_enough):
    """R88: the only system of a column was not its best in results.json, and RESULTS.md printed an empty
    table of paired tests with the method's note under it."""
    board = tmp_path / "board"
    assert leaderboard_main([str(decode), "--out", str(board), "--significance"]) == 0
    assert json.loads((board / "results.json").read_text(encoding="utf-8"))[0]["significance"]["best"]
    paired = next(v for k, v in _sections((board / "RESULTS.md").read_text()).items() if k.startswith("Paired"))
    assert paired.strip() == "None: no test set of 10 utterances or more has two comparable systems."
    assert "None: no test set of 10" in (board / "index.html").read_text(encoding="utf-8")


def test_the_same_utterances_over_other_audio_are_another_test_set(decode: Path, tmp_path: Path) -> None:
    """R85: a noisy copy of a corpus (the same ids and references, other audio) was one test set with the clean
    one: one column, and a paired test between systems that heard different audio."""
    import numpy as np
    import soundfile as sf

    from asr.data.manifest import read_utterances
    from asr.decode.results import audio_content

    data = decode.parent / "data" / "es"
    copy = tmp_path / "noisy_data" / "es"  # es/test, as the clean one
    shutil.copytree(data, copy)
    manifest = data / "test.jsonl"
    assert audio_content(read_utterances(manifest), data) == audio_content(read_utterances(copy / "test.jsonl"), copy)
    utt = read_utterances(copy / "test.jsonl")[0]
    samples, rate = sf.read(utt.audio_path(copy))
    sf.write(utt.audio_path(copy), samples + np.random.default_rng(0).normal(0, 0.05, len(samples)), rate)
    noisy = tmp_path / "noisy"
    args = ["--model", str(MODEL), "--manifest", str(copy / "test.jsonl"), "--out", str(noisy), "--no-cache"]
    assert decode_main(args) == 0
    clean = json.loads((decode / "results.json").read_text(encoding="utf-8"))["test_set"]["audio_content"]
    assert json.loads((noisy / "results.json").read_text(encoding="utf-8"))["test_set"]["audio_content"] != clean
    board = tmp_path / "board"
    assert leaderboard_main([str(decode), str(noisy), "--out", str(board)]) == 0  # one system: it was refused
    columns = {r["test_set"] for r in json.loads((board / "results.json").read_text(encoding="utf-8"))}
    assert len(columns) == 2 and all(c.startswith("es/test [2 utt ") for c in columns)
    assert "results under this name hold other utterances or audio" in (board / "RESULTS.md").read_text()


def test_only_the_row_scored_unlike_the_majority_is_flagged(systems: Path, tmp_path: Path) -> None:
    """A mutation review: a column's setting taken from its least common rows flagged the three majority rows
    as not comparable (and left the odd one unflagged), with every test passing."""
    board = tmp_path / "board"
    assert leaderboard_main([str(systems), "--out", str(board)]) == 0
    rows = json.loads((board / "results.json").read_text(encoding="utf-8"))
    assert {r["model"]: bool(r["flag"]) for r in rows} == {
        "team/alpha": False,
        "team/bravo": False,
        "team/charlie": False,
        "team/odd": True,
    }
    flag = f"es/test: normaliser none@1, scoring sclite (the column uses {NORMALIZER}, sclite)"
    assert next(r["flag"] for r in rows if r["model"] == "team/odd") == flag
    text = (board / "RESULTS.md").read_text(encoding="utf-8")
    table = _sections(text)["WER / CER (%)"]
    marked = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| team/") and "†" in line]
    assert marked == ["team/odd"]
    assert f"es/test: {NORMALIZER}, sclite." in table and f"- {flag}" in table
    with open(board / "results.csv", encoding="utf-8", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert {r["model"]: r["flags"] for r in csv_rows} == {
        "team/alpha": "",
        "team/bravo": "",
        "team/charlie": "",
        "team/odd": flag,
    }


def test_results_csv_holds_wer_in_percent_as_results_json_and_results_md(systems: Path, tmp_path: Path) -> None:
    """A mutation review: results.csv could write WER as a fraction (0.2400) under a header and README that
    give it in percent, with every test passing; it must be 100 x results.json's fraction, RESULTS.md's figure."""
    board = tmp_path / "board"
    assert leaderboard_main([str(systems), "--out", str(board)]) == 0
    with open(board / "results.csv", encoding="utf-8", newline="") as f:
        csv_rows = {r["model"]: r for r in csv.DictReader(f)}
    assert {model: row["es/test WER"] for model, row in csv_rows.items()} == {
        "team/alpha": "24.0000",
        "team/bravo": "8.0000",
        "team/charlie": "64.0000",
        "team/odd": "0.0000",
    }
    json_rows = {r["model"]: r for r in json.loads((board / "results.json").read_text(encoding="utf-8"))}
    assert set(json_rows) == set(csv_rows)
    table = _sections((board / "RESULTS.md").read_text(encoding="utf-8"))["WER / CER (%)"]
    shown = {cells[1].strip(): cells[5].strip() for cells in (line.split("|") for line in table.splitlines())
             if len(cells) > 5 and cells[1].strip().startswith("team/")}  # fmt: skip
    for model, row in csv_rows.items():
        for metric in ("wer", "cer"):
            assert float(row[f"es/test {metric.upper()}"]) == pytest.approx(100 * json_rows[model][metric], abs=1e-4)
        assert shown[model].removesuffix(" †") == f"{float(row['es/test WER']):.2f}"
    assert json_rows["team/bravo"]["wer"] == pytest.approx(0.08)  # results.json: fractions, as the README says


def test_a_score_json_without_character_counts_is_one_line(systems: Path, tmp_path: Path, capsys) -> None:
    """A set written without spaces is tested on character counts, which were never checked: a score.json
    without them was a KeyError traceback."""
    score = systems / "team_alpha" / "score" / "score.json"
    report = json.loads(score.read_text(encoding="utf-8"))
    first = next(iter(report["utterances"].values()))
    del first["char"]
    score.write_text(json.dumps(report), encoding="utf-8")
    assert leaderboard_main([str(systems), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert "score.json: not a score.json written by 'asr score'" in err and len(err.strip().splitlines()) == 1


def test_a_full_disk_names_the_board_and_leaves_no_empty_folder(systems: Path, tmp_path: Path, monkeypatch, capsys):
    """R51: "error: No space left on device", naming nothing, and an empty --out left behind."""

    def full(*args, **kwargs) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("asr.leaderboard.tables.csv_text", full)
    board = tmp_path / "new" / "board"
    assert leaderboard_main([str(systems), "--out", str(board)]) == 2
    assert f"error: {board}: No space left on device" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_plots_leave_a_callers_pyplot_as_it_was(systems: Path, tmp_path: Path) -> None:
    """A review: the leaderboard and the training's learning curve switched the calling process's pyplot to Agg
    (a notebook's figures stopped showing); they draw on figures of their own, in matplotlib's default style."""
    import matplotlib.style

    from asr.train.plot import learning_curve

    backend = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        assert leaderboard_main([str(systems), "--out", str(tmp_path / "board")]) == 0
        assert learning_curve([{"minutes": 1.0, "dev_cer": 0.2, "dev_wer": 0.5}], tmp_path / "c.png", "run")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(backend)
    assert (tmp_path / "board" / "plots" / "wer_by_system.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    with matplotlib.style.context("dark_background"), matplotlib.rc_context({"figure.dpi": 42, "font.size": 14}):
        assert leaderboard_main([str(systems), "--out", str(tmp_path / "styled")]) == 0  # R68: drawn in its style
        assert learning_curve([{"minutes": 1.0, "dev_cer": 0.2, "dev_wer": 0.5}], tmp_path / "d.png", "run")
    for made, styled in (("board/plots/wer_by_system.png", "styled/plots/wer_by_system.png"), ("c.png", "d.png")):
        assert (tmp_path / made).read_bytes() == (tmp_path / styled).read_bytes()


def test_plot_labels_tell_systems_apart_and_log_bars_start_a_decade_below() -> None:
    """R54: two beam_lm systems of other LM weights were one label twice on the bar plots (the table tells
    them apart), and an autoscaled log axis drew RTFx 20.7 as an almost empty bar beside 20.9."""
    from asr.leaderboard.plots import _labels, log_bottom

    def system(decoder: str, model: str = "exp/a/model") -> dict[str, str]:
        return {"model": model, "labeled": "1.00 h", "lm": "3-gram", "decoder": decoder}

    a, b = system("beam_lm (beam 100) α=0.5 β=1.5"), system("beam_lm (beam 100) α=1 β=1.5")
    greedy = system("greedy", "exp/b/model")
    assert _labels([a, b, greedy], sep=" | ") == [
        "a/model | 3-gram | beam_lm (beam 100) α=0.5 β=1.5", "a/model | 3-gram | beam_lm (beam 100) α=1 β=1.5",
        "b/model | 3-gram | greedy",
    ]  # fmt: skip
    assert _labels([a, greedy], sep=" | ")[0] == "a/model | 3-gram | beam_lm"  # the table gives beam and weights
    assert (log_bottom([20.7, 20.9]), log_bottom([10.0, 350.0]), log_bottom([0.0])) == (10.0, 1.0, None)


def test_a_plot_of_labels_too_long_for_its_figure_warns_nothing(tmp_path: Path) -> None:
    """R56: from about 50 systems, tight_layout's two-line UserWarning reached stderr."""
    import warnings

    from asr.leaderboard.plots import _figure, _save

    fig = _figure((6.0, 4.0))
    ax = fig.subplots()
    ax.bar(range(3), [1, 2, 3])
    ax.set_xticks(range(3), ["\n".join(["a model", "an LM", "beam_lm α=0.5 β=1.5 tuned"] * 8)] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _save(fig, tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_decodes_in_linked_folders_are_read_once(systems: Path, tmp_path: Path) -> None:
    """A review: Path.rglob enters no linked folder, so decodes linked into the folder searched were left out
    unseen; a decode reached twice (its folder and a link to it) is one row."""
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "alpha").symlink_to(systems / "team_alpha")
    shutil.copytree(systems / "team_bravo", linked / "bravo")
    (linked / "bravo_again").symlink_to(linked / "bravo")
    assert leaderboard_main([str(linked), "--out", str(tmp_path / "board")]) == 0
    rows = json.loads((tmp_path / "board" / "results.json").read_text(encoding="utf-8"))
    assert sorted(row["wer"] for row in rows) == pytest.approx([0.08, 0.24])


def test_model_cards_go_only_into_model_folders_and_never_through_a_link(decode: Path, tmp_path: Path) -> None:
    """A review: --model-cards wrote README.md into any folder a results.json named (results are data from
    others), and through a README.md linked elsewhere (a dangling link's target was created)."""
    plain, model = tmp_path / "plain", tmp_path / "m<b>x"
    plain.mkdir()
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "README.md").symlink_to(tmp_path / "elsewhere.md")
    _system(decode, tmp_path / "decodes" / "a", str(plain), (1, 1))
    _system(decode, tmp_path / "decodes" / "b", str(model), (2, 2))
    assert leaderboard_main([str(tmp_path / "decodes"), "--out", str(tmp_path / "board"), "--model-cards"]) == 0
    assert not (plain / "README.md").exists() and not (tmp_path / "elsewhere.md").exists()
    (model / "README.md").unlink()  # a card of its own now: its heading, the folder's name, escaped
    assert leaderboard_main([str(tmp_path / "decodes"), "--out", str(tmp_path / "board2"), "--model-cards"]) == 0
    body = (model / "README.md").read_text(encoding="utf-8").split("\n---\n", 1)[1]  # after the YAML metadata
    assert "<b>" not in body and "# m&lt;b>x" in body


def test_results_md_holds_no_markup_from_the_results_it_reads(decode: Path, tmp_path: Path) -> None:
    """A review: results.json's git revision, date and versions went into RESULTS.md as they were (raw HTML), and
    a command holding ``` closed its code block, so what followed it was read as Markdown and HTML."""
    _system(decode, tmp_path / "decodes" / "a", "team/alpha", (1, 1))
    path = tmp_path / "decodes" / "a" / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    results |= {"git_revision": "<img src=x onerror=alert(1)>", "date": "<b>today</b>",
                "command": "asr decode\n```\n<script>alert(2)</script>\n```"}  # fmt: skip
    results["versions"] = {"torch": "<i>2</i>"}
    path.write_text(json.dumps(results), encoding="utf-8")
    assert leaderboard_main([str(tmp_path / "decodes"), "--out", str(tmp_path / "board")]) == 0
    text = (tmp_path / "board" / "RESULTS.md").read_text(encoding="utf-8")
    assert "<img" not in text and "<b>" not in text and "<i>" not in text
    block = text.split("\n   ````\n", 2)  # a fence longer than the command's own ```
    assert len(block) == 3 and "<script>alert(2)</script>" in block[1] and "<script>" not in block[0] + block[2]


def test_names_with_dollar_signs_are_drawn_as_written(decode: Path, tmp_path: Path) -> None:
    """A review: a test set or model named with $...$ was read as matplotlib's math notation: a traceback and no
    leaderboard for any run (the training's learning curve likewise)."""
    from asr.train.plot import learning_curve

    _system(decode, tmp_path / "decodes" / "a", r"team/a$\bad$", (1, 1))
    assert leaderboard_main([str(tmp_path / "decodes"), "--out", str(tmp_path / "board")]) == 0
    assert (tmp_path / "board" / "plots" / "wer_by_system.png").is_file()
    assert learning_curve([{"minutes": 1.0, "dev_cer": 0.2, "dev_wer": 0.5}], tmp_path / "c.png", r"a$\bad$ on $x$")


def test_a_training_over_several_processes_is_published_as_launched(decode: Path, tmp_path: Path) -> None:
    """A review: RESULTS.md gave `asr train ...` for a run of 2 processes, each step of which took both their
    batches: the command printed trained another model."""
    _system(decode, tmp_path / "decodes" / "a", "team/alpha", (1, 1))
    path = tmp_path / "decodes" / "a" / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    results["model"]["train_info"] = {"command": "asr train --config run.yaml", "num_processes": 2}
    path.write_text(json.dumps(results), encoding="utf-8")
    assert leaderboard_main([str(tmp_path / "decodes"), "--out", str(tmp_path / "board")]) == 0
    text = (tmp_path / "board" / "RESULTS.md").read_text(encoding="utf-8")
    assert "accelerate launch --multi_gpu --num_processes 2 -m asr train --config run.yaml" in text


def test_a_line_break_in_a_name_stays_inside_its_table_cell() -> None:
    """A review: a test set named after a folder with a newline split RESULTS.md's header row over three lines,
    and no table was rendered."""
    from asr.leaderboard.tables import markdown_text

    assert markdown_text("x\ny\r\nz|w") == "x&#10;y&#10;z\\|w"


def test_test_sets_whose_names_clean_to_one_get_distinct_dataset_names() -> None:
    """A review: 'n2/x y' and 'n2/x-y' were both DATASET_n2_x-y in the Open ASR files (the number went to the
    model part, so the pair read as two systems on one dataset); R80: names in other scripts were all "-", and
    numbered in the order of the board's test sets."""
    from asr.leaderboard.export import dataset_names, export_file_name

    names = dataset_names(["n2/x y", "n2/x-y", "n2/x y", "es/test", "plain", "मराठी/test", "कन्नड/test"])
    assert names["n2/x y"].startswith("n2_x-y-") and names["n2/x-y"] == "n2_x-y"  # a hash of the changed name
    assert names | {"n2/x y": "."} == {"n2/x y": ".", "n2/x-y": "n2_x-y", "es/test": "es_test", "plain": "data_plain",
                                       "मराठी/test": "मराठी_test", "कन्नड/test": "कन्नड_test"}  # fmt: skip
    assert dataset_names(["n2/x y"]) == {"n2/x y": names["n2/x y"]}  # R80: numbered, it moved with the board
    pair = dataset_names(["a_b/c", "a/b_c"])  # R81: both a_b_c, one system numbered "-2" as if it were another
    assert len(set(pair.values())) == 2 and all(n.startswith("a_b_c-") for n in pair.values())
    assert dataset_names(["a_b/c"]) == {"a_b/c": pair["a_b/c"]}  # R83: hashed only where a board held both
    long = export_file_name("m" * 200, "t" * 200)  # R80: "File name too long", and no board at all
    assert len(long.encode()) <= 255 and long != export_file_name("m" * 200, "t" * 201)


def test_a_killed_runs_building_folder_is_cleared_while_its_process_is_a_zombie(tmp_path: Path) -> None:
    """R65: a run killed with its parent stays a zombie for a while, which `kill(pid, 0)` finds: the rerun kept
    its building folder as a running run's."""
    import subprocess
    import sys
    import time

    from asr.leaderboard.cli import BUILDING, _clear_killed_runs

    ended = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: a zombie once it ends
    while Path(f"/proc/{ended.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    for pid in (ended.pid, running.pid):
        (tmp_path / f"{BUILDING}{pid}-x").mkdir()
    _clear_killed_runs(tmp_path)
    running.kill()
    ended.wait(), running.wait()
    assert [p.name for p in tmp_path.iterdir()] == [f"{BUILDING}{running.pid}-x"]


def test_a_test_set_named_like_another_sets_told_apart_column_gets_a_column_of_its_own() -> None:
    """R80: a set named ``es/test [2 utt 8b3e1801]`` (a folder's name may be anything) joined the column of the
    two-utterance es/test that a one-utterance es/test made that name for: two sets' figures in one column."""
    from dataclasses import dataclass
    from types import SimpleNamespace

    from asr.leaderboard.collect import name_columns

    @dataclass(frozen=True)
    class Named:  # what name_columns reads of a Run
        name: str
        content_id: str
        hypotheses: tuple
        column: str = ""

        @property
        def result(self) -> SimpleNamespace:
            return SimpleNamespace(test_set={"name": self.name})

    runs = [Named("es/test", "8b3e1801", (1, 2)), Named("es/test", "00000001", (1,)),
            Named("es/test [2 utt 8b3e1801]", "00000002", (1,))]  # fmt: skip
    columns = [r.column for r in name_columns(runs)]
    assert len(set(columns)) == 3, columns
    assert columns[0] == "es/test [2 utt 8b3e1801] [2 utt 8b3e1801]" and columns[1] == "es/test [1 utt 00000001]"


def test_names_read_back_from_results_md_as_they_are_written() -> None:
    """R80: a model folder named ``[click](https://x)`` was a link in RESULTS.md, ``__b__ ~~s~~ &amp;`` read
    "b s &", a test set ``# x`` a heading in the Commands list, a right-to-left override reversed the figures
    after it, and a blank line in the leaderboard's own command ended its code span (raw HTML after it)."""
    from html import escape

    from markdown_it import MarkdownIt

    from asr.leaderboard.tables import code_block, code_span, markdown_item, markdown_row

    names = ["m/[click](https://x)", "m/__b__ ~~s~~ &amp;", "# x/test", "1. a", "- b", "> c", "train_10min",
             "0.17 h", "-0.5", "x\u202eevil"]  # fmt: skip
    parser = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    table = "\n".join([markdown_row(["name"]), "|---|", *(markdown_row([n]) for n in names)])
    html = parser.render(table)
    cells = [c.split("</td>")[0] for c in html.split("<td>")[1:]]
    expected = [escape(n, quote=False).replace("\u202e", "\\u202e") for n in names]  # as HTML writes text
    assert cells == expected, cells
    for name in names[:6]:  # at the start of a list item, as the Commands list writes them
        item = parser.render(f"1. {markdown_item(name)}")
        assert item.count("<li>") == 1 and "<h1>" not in item and "<blockquote>" not in item, item
        assert item.endswith(f"<li>{escape(name, quote=False)}</li>\n</ol>\n"), item
    command = "asr leaderboard 'x\n\n<img src=x>\n# H'"
    span = parser.render(f"Generated by {code_span(command)} from 1")
    assert span.startswith("<p>Generated by <code>") and "<img" not in span and "<h1>" not in span, span
    block = code_block("asr decode --out a\r# H <img src=x>", "   ")
    block = parser.render(f"1. x\n\n{block}\n\n2. y")
    assert "<h1>" not in block and "<img" not in block and block.count("<li>") == 2, block  # R81: a lone \r
    assert "\\-" not in markdown_row(["-", "- b"])  # R81: a table's empty cell read "\-"
