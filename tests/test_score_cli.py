"""`asr score` end to end: JSON layout, missing and extra ids, exit codes, reports, start-up cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asr.cli import main as asr_main
from asr.scoring.report import display_width

ASR = [sys.executable, "-m", "asr"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _score(capsys, *args: str) -> dict:
    assert asr_main(["score", *map(str, args), "--json", "-"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_layout_and_missing_hypotheses(tmp_path, capsys):
    ref = _write(tmp_path / "ref.txt", "a_1 the cat sat\na_2 on the mat\nb_1 hello\n")
    hyp = _write(tmp_path / "hyp.txt", "a_1 the cat sit\nb_1 hello\n")
    report = _score(capsys, ref, hyp)
    assert report["word"] | {"unit": None} == {
        "N": 7, "C": 3, "S": 1, "D": 3, "I": 0, "E": 4, "rate": 4 / 7,
        "sentences": 3, "sentence_errors": 2, "unit": None,
    }  # fmt: skip
    assert report["utterances"]["a_2"] == {"word": [0, 0, 3, 0], "char": [0, 0, 8, 0]}
    assert report["missing_hyp"] == ["a_2"]
    assert report["speakers"]["a"]["word"]["N"] == 6
    assert report["speakers"]["b"]["char"]["rate"] == 0.0
    assert (report["compat"], report["normalizer"]) == ("sclite", "none@1")


def test_hypotheses_read_from_standard_input_score_as_their_file_does(tmp_path):
    """`asr score REF -` read a file named '-' (as `--json -` writes standard output, and sclite's tools read it)."""
    ref = _write(tmp_path / "ref.txt", "a_1 the cat sat\na_2 on the mat\n")
    hyp = _write(tmp_path / "hyp.trn", "the cat sit (a_1)\non mat (a_2)\n")
    piped = subprocess.run([*ASR, "score", str(ref), "-", "--json", "-"], input=hyp.read_text(), capture_output=True,
                           text=True, cwd=tmp_path, check=True)  # fmt: skip
    read = subprocess.run([*ASR, "score", str(ref), str(hyp), "--json", "-"], capture_output=True, text=True)
    counts = [{k: json.loads(p.stdout)[k] for k in ("word", "char", "utterances")} for p in (piped, read)]
    assert counts[0] == counts[1] and counts[0]["word"]["E"] == 2
    both = subprocess.run([*ASR, "score", "-", "-"], input="a_1 x\n", capture_output=True, text=True)
    assert both.returncode == 2 and "REF and HYP cannot both be standard input" in both.stderr
    pairs = '{"id": "a_1", "ref": "the cat", "hyp": "the hat"}\n'  # one JSONL holding both
    one = subprocess.run([*ASR, "score", "-", "--json", "-"], input=pairs, capture_output=True, text=True, check=True)
    assert json.loads(one.stdout)["word"]["E"] == 1
    # a decode's hyp.jsonl was scored without the decode's normaliser (its results.json is beside the file)
    decoded = '{"id": "a_1", "ref": "The cat.", "hyp": "the cat", "am_seconds": 0.1}\n'
    piped = subprocess.run([*ASR, "score", str(ref), "-"], input=decoded, capture_output=True, text=True)
    assert piped.returncode == 2 and "standard input holds an asr decode's hyp.jsonl" in piped.stderr


def test_each_standard_input_a_caller_gives_is_read_anew(tmp_path, monkeypatch, capsys):
    """R68: a second `asr score REF -` in one process (a caller's next standard input) scored the first one's."""
    import io

    ref = _write(tmp_path / "ref.trn", "a b (s1-u1)\n")
    for hyp, wer in (("a b (s1-u1)\n", "0.00%"), ("x y (s1-u1)\n", "100.00%")):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(hyp.encode())))
        assert asr_main(["score", str(ref), "-", "--level", "word"]) == 0
        assert f"WER {wer}" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("a x (s1-u1)\n"))  # R69: a text stream had no buffer: a traceback
    assert asr_main(["score", str(ref), "-", "--level", "word"]) == 0 and "WER 50.00%" in capsys.readouterr().out
    closed = subprocess.run([*ASR, "score", str(ref), "-"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            preexec_fn=lambda: os.close(0))  # fmt: skip
    assert closed.returncode == 2 and closed.stderr == "asr score: error: -: cannot read: standard input is closed\n"


def test_empty_references_give_undefined_rates(tmp_path, capsys):
    ref = _write(tmp_path / "ref.trn", "(u_1)\n(u_2)\n")
    hyp = _write(tmp_path / "hyp.trn", "extra words (u_1)\n(u_2)\n")
    report = _score(capsys, ref, hyp)
    assert report["word"]["N"] == 0 and report["word"]["I"] == 2
    assert report["word"]["rate"] is None and report["char"]["rate"] is None
    assert report["utterances"]["u_1"]["word"] == [0, 0, 0, 2]


def test_single_jsonl_with_ref_and_hyp(tmp_path, capsys):
    path = _write(tmp_path / "hyp.jsonl", '{"id": "s_1", "ref": "Hello, World!", "hyp": "hello world"}\n')
    assert _score(capsys, path)["word"]["E"] == 2
    assert _score(capsys, path, "--normalize", "lower-nopunct")["word"]["E"] == 0


def test_speakers_named_in_jsonl_are_scored_by_name_as_the_decode_scored_them(tmp_path, capsys):
    """A hyp.jsonl of ids without the speaker's prefix (a jsonl: source) was scored by id prefix: its per-speaker
    table differed from the decode's own score.json."""
    rows = [{"id": "u0", "ref": "a b", "hyp": "a b", "speaker": "anna"},
            {"id": "u4", "ref": "c d", "hyp": "c", "speaker": "bob"},
            {"id": "x-1", "ref": "e", "hyp": "e"},
            {"id": "u5", "ref": "f", "hyp": "f", "speaker": "John Smith"},  # the decode's tables: John_Smith
            {"id": "u6", "ref": "g", "hyp": "g", "speaker": "John_Smith"},
            {"id": "y-2", "ref": "h", "hyp": "h", "speaker": "  "}]  # fmt: skip
    path = _write(tmp_path / "hyp.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    speakers = _score(capsys, path)["speakers"]
    assert sorted(speakers) == ["John_Smith", "anna", "bob", "x", "y"] and speakers["bob"]["word"]["D"] == 1
    assert speakers["John_Smith"]["word"]["N"] == 2


def test_jiwer_compat_and_single_level(tmp_path, capsys):
    ref = _write(tmp_path / "r.txt", "u_1 one two three four five\n")
    hyp = _write(tmp_path / "h.txt", "u_1 four five six seven eight\n")
    report = _score(capsys, ref, hyp, "--compat", "jiwer", "--level", "word")
    assert "char" not in report and report["word"]["S"] == 5 and report["compat"] == "jiwer"


@pytest.mark.parametrize(
    ("ref", "hyp", "extra", "message"),
    [
        ("u_1 a\n", "u_1 a\nu_9 b\n", [], "hyp.txt: utterance id 'u_9' is not in the references"),
        ("u_1 a\nu_1 b\n", "u_1 a\n", [], "ref.txt:2: duplicate utterance id 'u_1'"),
        ("u_1 a\n", "u_1 a\n", ["--normalize", "nope"], "unknown normalizer 'nope'"),
        ("u_1 a\n", "u_1 a\n", ["--level", "word,phone"], "--level 'word,phone'"),
        ("", "u_1 a\n", [], "ref.txt: no utterances"),
        ("u_1 a\n", "u_1 a\n", ["--json", "/proc/nope/x.json"], "/proc/nope: cannot write"),
        # a Kaldi text whose lines end in "(...)" is read as trn: the error says how both files were read
        ("u_1 a b\n", "u_1 a b (laughs)\n", [], "(the files were read as kaldi and trn; --format names"),
        # valid JSON, but half a character: a traceback when the report was written out
        ('{"id": "u_1", "ref": "a \\ud83d b"}\n', "u_1 a b\n", [], "ref.txt:1: a lone UTF-16 surrogate escape"),
        # R70: the last of two values was scored (and a manifest's the last "text"), exit 0
        ('{"id": "u_1", "ref": "a b", "ref": "c"}\n', "u_1 a b\n", [], "ref.txt:1: the key 'ref' twice in one object"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, ref, hyp, extra, message):
    _write(tmp_path / "ref.txt", ref)
    _write(tmp_path / "hyp.txt", hyp)
    proc = subprocess.run([*ASR, "score", "ref.txt", "hyp.txt", *extra], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("asr score: error: ") and message in proc.stderr


def test_score_does_not_import_torch_or_transformers():
    code = (
        "import sys; from asr.cli import main; main(['score', 'examples/ref.trn', 'examples/hyp.trn']); "
        "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_subcommands():
    proc = subprocess.run([*ASR, "--help"], capture_output=True, text=True, check=True)
    assert "score" in proc.stdout
    proc = subprocess.run([*ASR, "score", "--help"], capture_output=True, text=True, check=True)
    assert "--compat" in proc.stdout and "--report-dir" in proc.stdout


def _help(*command: str) -> str:
    """`asr COMMAND --help`, its white space joined."""
    proc = subprocess.run([*ASR, *command, "--help"], capture_output=True, text=True, check=True)
    return " ".join(proc.stdout.split())


def test_help_shows_each_options_default_once():
    """A review: `asr data synth --help` and `asr decode --help` gave no default for most options."""
    subset_help = _help("data", "subset")
    assert "--seed SEED of the utterances' order (default: 0)" in subset_help  # 0 is shown, though 0 == False
    assert "(default: None)" not in subset_help and "(default: False)" not in subset_help
    decode_help = _help("decode")
    assert "hypotheses kept at each frame (default: 100)" in decode_help
    assert "LM weight (default 0.5)" in decode_help and "(default: 0.5)" not in decode_help  # said once


def test_report_dir_aligns_columns_by_display_width(tmp_path, capsys):
    ref = _write(tmp_path / "ref.txt", "hi_1 मैं घर जा रहा हूँ\nja_1 東京 に 行く\nfi_1 hyvää päivää\n")
    hyp = _write(tmp_path / "hyp.txt", "hi_1 मैं घर रही हूँ\nja_1 東京 へ 行く よ\nfi_1 hyvaa päivää\n")
    out = tmp_path / "rep"
    assert asr_main(["score", str(ref), str(hyp), "--report-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "char.dtl", "char.pra", "char.sys", "score.json", "word.dtl", "word.pra", "word.sys",
    ]  # fmt: skip
    pra = (out / "word.pra").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(pra):
        if line.startswith("REF:"):
            rows = pra[i : i + 3]
            # every column starts at the same display column in REF, HYP and Eval
            starts = [{display_width(r[:k]) for k in range(1, len(r)) if r[k - 1] == " " and r[k] != " "} for r in rows]
            assert starts[2] <= starts[0] and starts[0] == starts[1], rows
    assert "रहा ==> रही" in (out / "word.dtl").read_text(encoding="utf-8")
    sys_text = (out / "word.sys").read_text(encoding="utf-8")
    assert "| Sum  |    3 |" in sys_text


def test_single_non_jsonl_file_is_refused(tmp_path):
    _write(tmp_path / "ref.txt", "u_1 a\n")
    proc = subprocess.run([*ASR, "score", "ref.txt"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "ref.txt: HYP is missing" in proc.stderr


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\u2028"])
def test_a_transcript_ending_in_non_ascii_whitespace_scores_as_sclite_does(tmp_path, capsys, space):
    """str.strip() took the character off the last word; sclite keeps it (one substitution, not a match)."""
    from tests.conftest import SCLITE

    ref = _write(tmp_path / "ref.trn", f"a b{space} (s-1)\n")
    hyp = _write(tmp_path / "hyp.trn", "a b (s-1)\n")
    command = [str(SCLITE), "-r", str(ref), "trn", "-h", str(hyp), "trn", "-i", "rm", "-e", "utf-8", "-s", "-o", "pra"]
    sclite = subprocess.run([*command, "stdout"], capture_output=True, text=True, check=True).stdout
    assert "Scores: (#C #S #D #I) 1 1 0 0" in sclite
    assert _score(capsys, ref, hyp, "--level", "word")["utterances"]["s-1"]["word"] == [1, 1, 0, 0]
    kaldi = _write(tmp_path / "ref.txt", f"s-1 a b{space}\n")
    assert _score(capsys, kaldi, _write(tmp_path / "hyp.txt", "s-1 a b\n"), "--level", "word")["word"]["S"] == 1


def test_a_trn_id_holding_a_space_is_read_as_sclite_reads_it(tmp_path, capsys):
    """R57: (spk b-004) was no trn id: a .trn file was refused ("no '(id)' at the end"), a .txt one read as Kaldi
    text, its first words the ids and the (ids) scored as words (WER 20.00% of 10 where sclite says 22.2% of 9).
    R61: such a file without the suffix may be either (Kaldi text ending in (a b) was read as trn): asked."""
    from tests.conftest import SCLITE

    for suffix, extra in ((".trn", ()), (".txt", ("--format", "trn"))):
        ref = _write(tmp_path / f"ref{suffix}", "alpha b c (spkA-001)\nbeta e (spkA-002)\ndelta y z w (spk b-004)\n")
        hyp = _write(tmp_path / f"hyp{suffix}", "alpha b c (spkA-001)\nbeta e (spkA-002)\ndelta y (spk b-004)\n")
        report = _score(capsys, ref, hyp, "--level", "word", *extra)
        assert (report["word"]["N"], report["word"]["E"], sorted(report["utterances"])) == (
            9,
            2,
            ["spk b-004", "spkA-001", "spkA-002"],
        )
    assert asr_main(["score", str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt")]) == 2
    assert "one with a space inside ('delta y z w (spk b-004)'): trn ids" in capsys.readouterr().err
    command = [str(SCLITE), "-r", str(tmp_path / "ref.trn"), "trn", "-h", str(tmp_path / "hyp.trn"), "trn", "-i",
               "rm", "-s", "-o", "sum", "stdout"]  # fmt: skip
    summary = " ".join(
        subprocess.run(command, capture_output=True, text=True, check=True).stdout.replace("|", " ").split()
    )
    assert "Sum/Avg 3 9 77.8 0.0 22.2 0.0 22.2" in summary and "spk b 1 4 50.0" in summary
    assert _score(capsys, tmp_path / "ref.trn", tmp_path / "hyp.trn")["speakers"]["spk b"]["word"]["N"] == 4


def test_the_python_api_refuses_an_utterance_id_given_twice():
    """Found by a review: score_corpus kept the last of two pairs with one id, the other lost from the counts."""
    from asr.errors import InputError
    from asr.scoring.corpus import score_corpus

    with pytest.raises(InputError, match="utterance id 'u' is given 2 times; ids must be unique"):
        score_corpus([("u", "a b", "a b"), ("u", "c d", "x y")])
    both = score_corpus([("u", "a b", "a b"), ("v", "c d", "x y")])
    assert (both.totals["word"].counts.C, both.totals["word"].counts.S, both.totals["word"].sentences) == (2, 2, 2)


def test_an_insertion_alone_makes_a_sentence_error_and_both_sides_are_normalised():
    """By hand (a mutation review found neither asserted): "a b" read as "a b c" is a sentence in error with no
    substitution or deletion; a hypothesis in capitals and a reference with punctuation meet once normalised."""
    from asr.scoring.align import Counts
    from asr.scoring.corpus import score_corpus, score_normalized
    from asr.text import get_normalizer

    totals = score_corpus([("u_1", "a b", "a b c"), ("u_2", "a", "a")]).totals["word"]
    assert (totals.sentences, totals.sentence_errors, totals.counts) == (2, 1, Counts(C=3, I=1))
    score = score_normalized([("u", "Hello, World!", "HELLO world")], get_normalizer("lower-nopunct"))
    assert score.totals["word"].counts == Counts(C=2)


def test_display_width_of_ascii_is_wcwidths():
    """ASCII text is measured by its length (wcswidth per character was most of a report's time); a control
    character, which wcswidth counts as no column (NUL) or cannot measure, is not printable ASCII."""
    from wcwidth import wcswidth

    for text in ("plain words", "a\x00b", "tab\there", "x" * 50, "", "日本 abc"):
        expected = wcswidth(text)
        assert display_width(text) == (expected if expected >= 0 else len(text)), repr(text)


def test_the_scores_come_last_in_one_line_after_the_tables_and_reports(tmp_path, capsys):
    """A review: with 500 speakers the WER was on line 2 and the CER on line 1,012 of 2,021; the last lines were
    a table's Sum row of counts and the report paths."""
    ref = _write(tmp_path / "ref.txt", "a_1 the cat sat\na_2 on the mat\nb_1 hello\n")
    hyp = _write(tmp_path / "hyp.txt", "a_1 the cat sit\na_2 on the mat\nb_1 hello\n")
    assert asr_main(["score", str(ref), str(hyp), "--report-dir", str(tmp_path / "r")]) == 0
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last == "WER 14.29%, CER 4.55% (3 utterances)"  # 1 of 7 words; 1 of 22 letters (i for a), by hand


def test_reports_that_cannot_be_written_leave_no_folder_they_made(tmp_path, monkeypatch, capsys):
    """R51: a full disk left the empty report folder `--report-dir` had made."""
    ref = _write(tmp_path / "ref.txt", "a_1 the cat sat\n")

    def full(texts: dict) -> None:
        raise OSError(28, "No space left on device", str(next(iter(texts))))

    monkeypatch.setattr("asr.scoring.report.write_together", full)
    assert asr_main(["score", str(ref), str(ref), "--report-dir", str(tmp_path / "new" / "r")]) == 2
    assert "No space left on device" in capsys.readouterr().err and not (tmp_path / "new").exists()


def test_a_pipe_given_as_a_file_is_scored_whole(tmp_path):
    """R75: a process substitution's first lines were read ahead, to tell a decode's hypotheses, and were
    missing from the scoring (WER 100%, exit 0)."""
    import shlex

    ref = _write(tmp_path / "ref.txt", "u1 a b c\nu2 d e f\nu3 g h i\n")
    hyp = _write(tmp_path / "hyp.txt", "u1 a b c\nu2 d e x\nu3 g h i\n")
    for extra in ("", " --normalize none"):
        line = f"{shlex.join([*ASR, 'score', str(ref)])} <(cat {shlex.quote(str(hyp))}) --level word{extra}"
        proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True)
        assert proc.returncode == 0 and "WER 11.11%" in proc.stdout, proc.stderr
    # R76: a pipe read again (to guess its format, for HYP) gave nothing, and a FIFO waited for ever
    both = _write(tmp_path / "both.jsonl", "".join(json.dumps({"id": f"u{i}", "ref": "a b", "hyp": "a b"}) + "\n"
                                                   for i in range(3)))  # fmt: skip
    score = shlex.join([*ASR, "score", "--level", "word"])
    for line, wer in ((f"{score} --format jsonl <(cat {both})", "WER 0.00%"),
                      (f"{score} <(cat {ref}) <(cat {hyp})", "WER 11.11%")):  # fmt: skip
        proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True)
        assert proc.returncode == 0 and wer in proc.stdout, proc.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    line = f"(cat {ref} > {fifo} &); {shlex.join([*ASR, 'score', str(fifo), str(hyp), '--level', 'word'])}"
    proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "WER 11.11%" in proc.stdout, proc.stderr
    one = subprocess.run([*ASR, "score", "-", "/dev/stdin"], input=ref.read_text(), capture_output=True, text=True)
    assert one.returncode == 2 and "cannot both be standard input ('-') or one pipe" in one.stderr


def test_a_rate_is_rounded_alike_in_every_place_it_is_written(tmp_path, capsys):
    """R77: 23 errors in 160 words were WER 14.37% in the headline (``100 * 0.14375`` is 14.3749...) and 14.38
    in the Sum row and the .dtl, which compute ``100 * 23 / 160``; the leaderboard and decode printed 14.37."""
    from asr.scoring.report import percent

    words = [[f"w{i}x{j}" for j in range(10)] for i in range(16)]
    hyps = [["zz" if 10 * i + j < 23 else word for j, word in enumerate(ws)] for i, ws in enumerate(words)]
    ref = _write(tmp_path / "ref.txt", "".join(f"s{i % 2}-u{i} {' '.join(ws)}\n" for i, ws in enumerate(words)))
    hyp = _write(tmp_path / "hyp.txt", "".join(f"s{i % 2}-u{i} {' '.join(ws)}\n" for i, ws in enumerate(hyps)))
    assert asr_main(["score", str(ref), str(hyp), "--level", "word", "--report-dir", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("WER 14.38% (16 utterances)")
    assert (
        "Percent Total Error       =   14.38%"
        in (tmp_path / "r" / "word.dtl").read_text().replace("  14.38", "   14.38")
        or "14.38% (23)" in (tmp_path / "r" / "word.dtl").read_text()
    )
    assert [percent(e / 160) for e in (23, 49, 51)] == ["14.38", "30.62", "31.88"]
