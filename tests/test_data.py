"""Loaders, checks and `asr data prepare/check` on real audio (espeak-ng), with every bad case counted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.data.cli import main as data_main
from asr.data.manifest import read_manifest
from asr.data.sources import SourceOptions, load_source
from asr.errors import InputError

ASR = [sys.executable, "-m", "asr"]


def speak(path: Path, text: str, voice: str = "en") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), "--stdin"], input=text, text=True, check=True)
    return path


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audio")
    files = {f"u{i}": speak(d / f"u{i}.wav", text) for i, text in enumerate(["hello there", "good morning", "yes"])}
    stereo, rate = sf.read(files["u0"], dtype="float32")
    sf.write(d / "stereo.flac", np.stack([stereo, stereo], axis=1), rate)  # 2 channels, 22.05 kHz
    sf.write(d / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    (d / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    return {**files, "stereo": d / "stereo.flac", "empty": d / "empty.wav", "corrupt": d / "corrupt.wav"}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_lines_of_white_space_in_a_manifest_are_passed_over_as_blank_lines(tmp_path):
    """A mutation review: a line of spaces read as invalid JSON would pass."""
    from asr.data.manifest import read_manifest

    rows = [{"id": f"a_{i}", "audio": "a.flac", "text": "x", "duration": 1.0} for i in (1, 2)]
    path = tmp_path / "m.jsonl"
    path.write_text(f"{json.dumps(rows[0])}\n \t \n\n{json.dumps(rows[1])}\n", encoding="utf-8")
    assert [u.id for u in read_manifest(path)] == ["a_1", "a_2"]


def test_prepare_counts_every_filtered_item(tmp_path, audio):
    rows = [
        {"id": "a_1", "audio": str(audio["u0"]), "text": "Hello there!"},
        {"id": "a_2", "audio": str(audio["stereo"]), "text": "hello there"},
        {"id": "a_3", "audio": str(audio["u1"]), "text": "?!"},
        {"id": "a_4", "audio": str(tmp_path / "nope.wav"), "text": "x"},
        {"id": "a_5", "audio": str(audio["empty"]), "text": "nothing"},
        {"id": "a_6", "audio": str(audio["corrupt"]), "text": "broken"},
        {"id": "a_7", "audio": str(audio["u2"]), "text": "this transcript is far too long for one short yes"},
        {"id": "a_1", "audio": str(audio["u1"]), "text": "again"},
    ]
    out = tmp_path / "out"
    src = _jsonl(tmp_path / "train.jsonl", rows)
    assert data_main(["prepare", "--source", f"jsonl:{src}", "--lang", "en", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())["splits"]["train"]
    assert summary["items"] == 8 and summary["kept"] == 2
    assert summary["filtered"] == {
        "empty transcript": 1, "missing audio file": 1, "empty audio": 1, "unreadable audio": 1,
        "transcript too long for CTC": 1, "duplicate id": 1,
    }  # fmt: skip
    assert summary["converted_on_load"] == {"resampled": 2, "downmixed": 1}
    kept = read_manifest(out / "train.jsonl")
    assert [u.id for u in kept] == ["a_1", "a_2"] and kept[0].duration > 0.5
    # the kept files' hours (a mutation review: rounded to 0.01 h, a small corpus read 0.0)
    seconds = sf.info(audio["u0"]).duration + sf.info(audio["stereo"]).duration
    assert summary["hours"] == pytest.approx(seconds / 3600, abs=2 * 0.0005 / 3600)  # R54: unrounded (ms durations)
    rejected = [json.loads(line) for line in (out / "train.rejected.jsonl").read_text().splitlines()]
    assert {r["id"]: r["reason"] for r in rejected}["a_6"] == "unreadable audio"
    # R45: in the source's line order (a Kaldi folder's lines reversed gave other files): by id, ties by name
    assert [r["id"] for r in rejected] == sorted(r["id"] for r in rejected)
    assert list(summary["filtered"]) == sorted(summary["filtered"])


def test_check_exit_codes(tmp_path, audio):
    seconds = sf.info(audio["u0"]).duration
    good = _jsonl(tmp_path / "good.jsonl", [{"id": "s_1", "audio": str(audio["u0"]), "text": "hello there",
                                             "duration": seconds}])  # fmt: skip
    bad = _jsonl(tmp_path / "bad.jsonl", [{"id": "s_1", "audio": str(audio["u0"]), "text": "", "duration": seconds}])
    (tmp_path / "broken.jsonl").write_text('{"id": "x"\n')
    codes = [subprocess.run([*ASR, "data", "check", str(p), "--json", str(p.with_suffix(".report.json"))],
                            capture_output=True, text=True) for p in (good, bad)]  # fmt: skip
    assert [c.returncode for c in codes] == [0, 1]
    assert "s_1: empty transcript" in codes[1].stdout
    # the same record as <split>.rejected.jsonl's lines: the refused item can be read without the manifest
    report = json.loads(bad.with_suffix(".report.json").read_text())
    assert report["rejected"] == [
        {"id": "s_1", "reason": "empty transcript", "detail": "", "audio": str(audio["u0"]), "text": ""}
    ]
    proc = subprocess.run([*ASR, "data", "check", str(tmp_path / "broken.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 2 and "broken.jsonl:1: invalid JSON" in proc.stderr and "Traceback" not in proc.stderr
    # the report's folder is made, as every output folder is; a folder given as the report is one line, exit 2
    new = tmp_path / "reports" / "good.json"
    assert subprocess.run([*ASR, "data", "check", str(good), "--json", str(new)], capture_output=True).returncode == 0
    assert json.loads(new.read_text())["rejected"] == []
    # '-': the report on standard output (as asr score's), the listing on stderr (a file named '-' was written)
    proc = subprocess.run(
        [*ASR, "data", "check", str(bad), "--json", "-"], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 1 and json.loads(proc.stdout)["rejected"] == report["rejected"]
    assert "s_1: empty transcript" in proc.stderr and not (tmp_path / "-").exists()
    proc = subprocess.run([*ASR, "data", "check", str(good), "--json", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"--json {tmp_path}: a folder; give the report's file name" in proc.stderr


def test_everything_failing_is_an_error(tmp_path):
    src = _jsonl(tmp_path / "train.jsonl", [{"id": "a_1", "audio": "missing.wav", "text": "x"}])
    proc = subprocess.run(
        [*ASR, "data", "prepare", "--source", f"jsonl:{src}", "--lang", "en", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "every utterance of split 'train' failed the checks" in proc.stderr
    assert "the first, a_1: missing audio file (" in proc.stderr  # the folder goes: its rejected list with it
    from asr.data.prepare import check_and_write
    from asr.text import default_normalizer

    with pytest.raises(InputError, match=r"every utterance of split 'dev' failed the checks \{\}$"):  # not IndexError
        check_and_write({"dev": []}, tmp_path / "e", default_normalizer("en"), "x", {})


def test_a_wav_whose_header_was_never_finished_is_named_so(tmp_path, audio):
    """A review: a WAV whose data chunk says 0 bytes (a recorder stopped before finishing its header) was
    rejected as "empty audio" with no word on the audio that follows it."""
    data = bytearray(audio["u0"].read_bytes())
    at = data.find(b"data")
    data[at + 4 : at + 8] = bytes(4)
    (tmp_path / "unfinished.wav").write_bytes(bytes(data))
    rows = [{"id": "a_1", "audio": str(audio["u0"]), "text": "fine"},
            {"id": "a_2", "audio": str(tmp_path / "unfinished.wav"), "text": "lost"}]  # fmt: skip
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"jsonl:{_jsonl(tmp_path / 'train.jsonl', rows)}", "--lang", "en",
                      "--out", str(out)]) == 0  # fmt: skip
    (rejected,) = [json.loads(line) for line in (out / "train.rejected.jsonl").read_text().splitlines()]
    follow = len(data) - at - 8
    assert rejected["reason"] == "empty audio" and rejected["detail"].startswith(
        f"its header says 0 samples, {follow} bytes follow it"
    )


def test_kaldi_dir_with_segments(tmp_path, audio, capsys):
    data = tmp_path / "data" / "dev"
    data.mkdir(parents=True)
    (data / "wav.scp").write_text(f"rec1 {audio['u0']}\nrec2 {audio['u1']}\n")
    (data / "segments").write_text("spk1-rec1-a rec1 0.0 0.6\nspk1-rec1-b rec1 0.5 0.8\nspk2-rec2 rec2 0 0.9\n")
    (data / "text").write_text("spk1-rec1-a hello\nspk1-rec1-b there\nspk2-rec2 good morning\n")
    (data / "utt2spk").write_text("spk1-rec1-a spk1\nspk1-rec1-b spk1\nspk2-rec2 spk2\n")
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out", str(out)]) == 0
    utts = read_manifest(out / "dev.jsonl")
    assert [(u.id, u.speaker, u.offset) for u in utts] == [
        ("spk1-rec1-a", "spk1", 0.0), ("spk1-rec1-b", "spk1", 0.5), ("spk2-rec2", "spk2", 0.0),
    ]  # fmt: skip
    assert abs(utts[1].duration - 0.3) < 0.01
    # tab-separated tables, and an utterance with a recording but no line in `text`: counted and listed
    for name in ("wav.scp", "segments", "text", "utt2spk"):
        (data / name).write_text(
            "".join(line.replace(" ", "\t", 1) + "\n" for line in (data / name).read_text().splitlines())
        )
    (data / "segments").write_text((data / "segments").read_text() + "spk2-rec2-b rec2 0.1 0.5\n")
    assert data_main(["prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out", str(tmp_path / "o2")]) == 0
    rejected = [json.loads(line) for line in (tmp_path / "o2" / "dev.rejected.jsonl").read_text().splitlines()]
    assert [(r["id"], r["reason"]) for r in rejected] == [("spk2-rec2-b", "empty transcript")]
    assert (rejected[0]["offset"], round(rejected[0]["duration"], 3)) == (0.1, 0.4)  # where in the recording
    err = capsys.readouterr().err
    assert f"note: {data / 'text'}: 1 utterance(s) of segments have no line here, e.g. 'spk2-rec2-b'" in err
    for name in ("wav.scp", "text"):  # as Windows editors save them: the BOM read as part of the first id
        (data / name).write_bytes(b"\xef\xbb\xbf" + (data / name).read_bytes())
    assert data_main(["prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out", str(tmp_path / "bom")]) == 0
    assert read_manifest(tmp_path / "bom" / "dev.jsonl")[0].id == "spk1-rec1-a"
    # --out in the source manifest's folder would overwrite it: refused
    source = tmp_path / "o2" / "dev.jsonl"
    before = source.read_text()
    assert data_main(["prepare", "--source", f"jsonl:{source}", "--lang", "en", "--out", str(tmp_path / "o2")]) == 2
    assert source.read_text() == before
    for spec in (f"jsonl:{source}", str(source)):  # one source written two ways: the second was "another source"
        assert data_main(["prepare", "--source", spec, "--lang", "en", "--out", str(tmp_path / "o3")]) == 0


def test_kaldi_paths_are_read_from_the_current_folder_and_ids_get_their_speaker(tmp_path, audio, monkeypatch):
    """As Kaldi reads wav.scp (they were read from DIR); ids without their speaker get it, as other sources'."""
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    (tmp_path / "wav").mkdir()
    (tmp_path / "wav" / "r0.wav").write_bytes(audio["u0"].read_bytes())
    (data / "wav.scp").write_text("r0 wav/r0.wav\n")
    (data / "text").write_text("r0 hello\n")
    (data / "utt2spk").write_text("r0 spkA\n")
    monkeypatch.chdir(tmp_path)
    utts = load_source("kaldi:data/train", "en", tmp_path / "o", SourceOptions())["train"]
    assert [(u.id, u.speaker, u.audio) for u in utts] == [("spkA_r0", "spkA", str(tmp_path / "wav" / "r0.wav"))]


def test_a_kaldi_text_splits_at_ascii_white_space_and_refuses_control_characters(tmp_path, audio):
    """As Kaldi and asr score read it: a no-break space after the id, or at a transcript's end, is text (it was
    split and trimmed on, so the prepared corpus and asr score read two ids); a control character no normaliser
    removes (a cp1252 apostrophe read as Latin-1) became a token of the vocabulary."""
    data = tmp_path / "d"
    data.mkdir()
    (data / "wav.scp").write_text(f"r0 {audio['u0']}\nr1 {audio['u0']}\n")
    (data / "text").write_text("r0 hello\u00a0world\u3000\nr1\tplain words\n", encoding="utf-8")
    utts = load_source(f"kaldi:{data}", "en", tmp_path / "o", SourceOptions())["train"]
    assert [u.text for u in utts] == ["hello\u00a0world\u3000", "plain words"]
    (data / "text").write_text("r0 hello\nr1 don\x92t\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"d/text:2: the transcript holds the control character U\+0092"):
        load_source(f"kaldi:{data}", "en", tmp_path / "o2", SourceOptions())


def test_corpus_ids_rewritten_for_the_files_they_name_are_said(tmp_path, audio, capsys):
    """A review: 'A/B-1' became 'A-B-1' without a word, and scoring against the corpus's own text then failed;
    so an audiofolder's id column (its file names are no ids: rewritten without a note)."""
    data = tmp_path / "d"
    data.mkdir()
    (data / "wav.scp").write_text(f"A/B-1 {audio['u0']}\nok-2 {audio['u0']}\n")
    (data / "text").write_text("A/B-1 hello\nok-2 there\n")
    utts = load_source(f"kaldi:{data}", "en", tmp_path / "o", SourceOptions())["train"]
    assert sorted(u.id for u in utts) == ["A-B-1", "ok-2"]
    err = capsys.readouterr().err
    assert "text: 1 utterance id(s) rewritten" in err and "'A/B-1' -> 'A-B-1'" in err
    root = tmp_path / "af"
    root.mkdir()
    for name in ("a b.wav", "c.wav"):
        (root / name).write_bytes(audio["u0"].read_bytes())
    (root / "metadata.csv").write_text("file_name,text\na b.wav,one\nc.wav,two\n")
    assert [u.id for u in load_source(f"audiofolder:{root}", "en", tmp_path / "o2", SourceOptions())["train"]] == [
        "a-b",
        "c",
    ]
    assert "rewritten" not in capsys.readouterr().err
    (root / "metadata.csv").write_text("file_name,text,id\na b.wav,one,x (1)\nc.wav,two,c\n")
    assert [u.id for u in load_source(f"audiofolder:{root}", "en", tmp_path / "o3", SourceOptions())["train"]] == [
        "x-1-",
        "c",
    ]
    assert f"note: {root}: 1 utterance id(s) rewritten" in capsys.readouterr().err


def test_odd_values_and_names_of_real_corpora_are_read_as_their_loaders_read_them(tmp_path, audio, monkeypatch):
    """R49: an audiofolder JSONL's speaker 0 was no speaker and its id 0 the file's name, a list a speaker
    "['a', 'b']"; --split was ignored beside split folders; Kaldi's test_clean went into train."""
    root = tmp_path / "af" / "train"
    root.mkdir(parents=True)
    for name in ("a.wav", "b.wav"):
        (root / name).write_bytes(audio["u0"].read_bytes())
    rows = [{"file_name": "a.wav", "text": "one", "speaker_id": 0, "id": 0},
            {"file_name": "b.wav", "text": "two", "speaker_id": 1, "id": 1}]  # fmt: skip
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    utts = load_source(f"audiofolder:{root.parent}", "en", tmp_path / "o", SourceOptions())["train"]
    assert [(u.id, u.speaker) for u in utts] == [("0", "0"), ("1", "1")]
    with pytest.raises(InputError, match=r"--split test: .* has split folders \(train\)"):
        load_source(f"audiofolder:{root.parent}", "en", tmp_path / "o", SourceOptions(split="test"))
    rows[1]["speaker_id"] = ["a", "b"]
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"metadata.jsonl:2: its speaker_id is \['a', 'b'\], not one value"):
        load_source(f"audiofolder:{root.parent}", "en", tmp_path / "o", SourceOptions())
    fleurs = tmp_path / "fleurs"  # both transcripts: the original one (README), not the normalised one
    fleurs.mkdir()
    (fleurs / "a.wav").write_bytes(audio["u0"].read_bytes())
    (fleurs / "metadata.csv").write_text('file_name,transcription,raw_transcription\na.wav,hello world,"Hi, World!"\n')
    (read,) = load_source(f"audiofolder:{fleurs}", "en", tmp_path / "o", SourceOptions())["train"]
    assert read.text == "Hi, World!"
    for name, split in (("test_clean", "test"), ("train_dev", "dev"), ("test_eval92", "test"), ("contest", "train")):
        data = tmp_path / name
        data.mkdir()
        (data / "wav.scp").write_text(f"s-1 {audio['u0']}\n")
        (data / "text").write_text("s-1 hello\n")
        assert list(load_source(f"kaldi:{data}", "en", tmp_path / "o", SourceOptions())) == [split], name
    monkeypatch.chdir(tmp_path / "test_clean")  # R52: kaldi:. was train, kaldi:../test_clean test
    assert list(load_source("kaldi:.", "en", tmp_path / "o", SourceOptions())) == ["test"]


def test_a_common_voice_release_folder_is_read_as_the_hubs_loader_read_it(tmp_path, audio):
    """TSVs without quoting (a quote is a character), clips as MP3, client_id as speaker; dev.tsv is dev."""
    root = tmp_path / "cv-corpus-21.0" / "fi"
    (root / "clips").mkdir(parents=True)
    samples, rate = sf.read(audio["u0"], dtype="float32")
    header = "client_id\tpath\tsentence_id\tsentence\tup_votes\n"
    for n, split in enumerate(("train", "dev", "test")):
        sf.write(root / "clips" / f"common_voice_fi_{n}.mp3", samples, rate, format="MP3")
        (root / f"{split}.tsv").write_text(header + f'spk{n}\tcommon_voice_fi_{n}.mp3\tx{n}\t"Hyvä" {split}\t2\n')
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"commonvoice:{root}", "--lang", "fi", "--out", str(out)]) == 0
    dev = read_manifest(out / "dev.jsonl")
    assert [(u.id, u.speaker, u.text) for u in dev] == [("spk1_common_voice_fi_1", "spk1", '"Hyvä" dev')]
    args = ["--lang", "fi", "--out", str(tmp_path / "o2")]
    assert data_main(["prepare", "--source", f"commonvoice:{root}", "--splits", "train,validated", *args]) == 2
    (root / "dev.tsv").write_text(header)  # header only, as small languages ship it: left out unless named
    assert set(load_source(f"commonvoice:{root}", "fi", tmp_path / "o4", SourceOptions())) == {"train", "test"}
    with pytest.raises(InputError, match=r"no utterances in dev\.tsv for split validation"):
        load_source(f"commonvoice:{root}", "fi", tmp_path / "o4", SourceOptions(splits=("train", "validation")))
    (root / "dev.tsv").write_text(header + "spk1\tcommon_voice_fi_1.mp3\n")  # short rows: no sentence, no clip
    assert load_source(f"commonvoice:{root}", "fi", tmp_path / "o5", SourceOptions())["dev"][0].text == ""
    (root / "dev.tsv").write_text(header + "spk1\n")  # a TypeError traceback
    with pytest.raises(InputError, match=r"dev\.tsv:2: no path"):
        load_source(f"commonvoice:{root}", "fi", tmp_path / "o5", SourceOptions())
    # R88: a client_id holding a control character was prepared into ids and speakers every later command refused
    (root / "dev.tsv").write_text(header + "sp\x07k\tcommon_voice_fi_1.mp3\tx1\thei\t2\n")
    with pytest.raises(InputError, match=r'the dev utterance "sp\\u0007k_common_voice_fi_1" holds the control '
                                         r"character U\+0007"):  # fmt: skip
        load_source(f"commonvoice:{root}", "fi", tmp_path / "o6", SourceOptions())
    (root / "dev.tsv").write_text(header)
    (root / "test.tsv").write_text(header + "spk\tcommon_voice_fi_2.mp3\tx\ta\tb\t2\n")
    with pytest.raises(InputError, match=r"test.tsv:2: 6 fields, the header has 5"):
        load_source(f"commonvoice:{root}", "fi", tmp_path / "o3", SourceOptions())


def test_audiofolder_with_split_folders(tmp_path, audio, capsys):
    root = tmp_path / "folder"
    for split, key in (("train", "u0"), ("eval", "u1"), ("val", "u1")):  # as datasets names them: test, dev
        (root / split).mkdir(parents=True)
        (root / split / "a.wav").write_bytes(audio[key].read_bytes())
        (root / split / "metadata.csv").write_text(
            f"file_name,transcription,speaker_id\na.wav,text of {split},s{split}\n"
        )
    (root / "train" / "unlisted.WAV").write_bytes(audio["u0"].read_bytes())  # left out without a word
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"audiofolder:{root}", "--lang", "en", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"note: {root}: 1 audio file(s) that no metadata row names are left out" in err
    assert f"e.g. {root / 'train' / 'unlisted.WAV'}" in err
    assert [u.text for u in read_manifest(out / "train.jsonl")] == ["text of train"]  # val and eval were train
    assert [u.id for u in read_manifest(out / "test.jsonl")] == ["seval_a"]
    assert [u.id for u in read_manifest(out / "dev.jsonl")] == ["sval_a"]
    # a transcript with an unquoted comma: refused naming the line (the rest of the row was dropped)
    (root / "val" / "metadata.csv").write_text("file_name,transcription\na.wav,yes, I said no\n")
    with pytest.raises(InputError, match=r"val/metadata.csv:2: 3 fields, the header has 2"):
        load_source(f"audiofolder:{root}", "en", tmp_path / "o3", SourceOptions())
    (root / "val" / "metadata.csv").write_text("file_name,transcription,\na.wav,yes\n")  # fewer fields: fine
    assert load_source(f"audiofolder:{root}", "en", tmp_path / "o3", SourceOptions())["dev"][0].text == "yes"
    (root / "val" / "metadata.csv").write_text('file_name,transcription\na.wav,"yes, I said no"\n')
    quoted = load_source(f"audiofolder:{root}", "en", tmp_path / "o3", SourceOptions())
    assert quoted["dev"][0].text == "yes, I said no"
    # two files of one name in two folders are two utterances; a missing --id-column and a file outside are named
    for folder in ("s1", "s2"):
        (root / "train" / folder).mkdir()
        (root / "train" / folder / "1.wav").write_bytes(audio["u0"].read_bytes())
    (root / "train" / "metadata.csv").write_text("file_name,transcription\ns1/1.wav,one\ns2/1.wav,two\n")
    assert data_main(["prepare", "--source", f"audiofolder:{root}", "--lang", "en", "--out", str(tmp_path / "o")]) == 0
    assert [u.id for u in read_manifest(tmp_path / "o" / "train.jsonl")] == ["s1-1", "s2-1"]
    args = ["prepare", "--source", f"audiofolder:{root}", "--lang", "en", "--out", str(tmp_path / "o2")]
    assert data_main([*args, "--id-column", "nosuch"]) == 2
    (root / "train" / "metadata.csv").write_text(f"file_name,transcription\n../../{audio['u0'].name},x\n")
    assert data_main(args) == 2


def test_audiofolder_split_words_at_any_depth_open_quotes_and_jsonl_columns(tmp_path, audio):
    """A review: LibriSpeech-style folders (dev-clean, test-other) and corpus/test went into train, without a
    word (datasets splits them); an open quote took the next rows into one transcript, exit 0; a metadata.jsonl's
    columns were its first row's (later rows' speakers dropped)."""
    root = tmp_path / "folder"
    for folder, key in (("train-clean-100/19", "u0"), ("dev-clean/84", "u1"), ("corpus/test", "u2")):
        (root / folder).mkdir(parents=True)
        (root / folder / "a.wav").write_bytes(audio[key].read_bytes())
    rows = ["train-clean-100/19/a.wav,one", "dev-clean/84/a.wav,two", "corpus/test/a.wav,three"]
    (root / "metadata.csv").write_text("file_name,transcription\n" + "\n".join(rows) + "\n")
    splits = load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())
    assert {k: [(u.id, u.text) for u in v] for k, v in splits.items()} == {
        "train": [("19-a", "one")], "dev": [("84-a", "two")], "test": [("a", "three")]
    }  # fmt: skip
    for bad, line in (('"two\n', 3), ('"quoted" two\n', 3)):  # the rows after it were one transcript
        (root / "metadata.csv").write_text(f"file_name,transcription\n{rows[0]}\n{rows[1][:-3]}{bad}{rows[2]}\n")
        with pytest.raises(InputError, match=f"metadata.csv:{line}: "):
            load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())
    (root / "metadata.csv").unlink()
    lines = [{"file_name": "train-clean-100/19/a.wav", "text": "one"},
             {"file_name": "dev-clean/84/a.wav", "text": "two", "speaker": "ann"}]  # fmt: skip
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    splits = load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())
    assert [u.speaker for u in splits["dev"]] == ["ann"]


def test_audiofolder_metadata_parquet_and_audio_file_name_are_read_as_datasets_reads_them(tmp_path, audio):
    """R49: datasets' audiofolder reads metadata.parquet and an audio_file_name column; both were refused."""
    import pyarrow
    import pyarrow.parquet

    root = tmp_path / "folder"
    (root / "test").mkdir(parents=True)
    for name in ("a", "b"):
        (root / "test" / f"{name}.wav").write_bytes(audio["u0"].read_bytes())
    table = {"audio_file_name": ["test/a.wav", "test/b.wav"], "transcription": ["one", None], "speaker_id": [7, 0]}
    pyarrow.parquet.write_table(pyarrow.table(table), root / "metadata.parquet")
    splits = load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())
    assert [(u.id, u.text, u.speaker) for u in splits["test"]] == [("7_a", "one", "7"), ("0_b", "", "0")]
    (root / "metadata.parquet").write_bytes(b"PAR1 not a table")
    with pytest.raises(InputError, match=r"metadata.parquet: not a Parquet table"):
        load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())
    table["audio_file_name"][1] = None
    pyarrow.parquet.write_table(pyarrow.table(table), root / "metadata.parquet")
    with pytest.raises(InputError, match=r"metadata.parquet row 2: no audio_file_name"):
        load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())


def test_an_mp3_segment_is_the_files_own_samples(tmp_path):
    """A review: libsndfile's MP3 decoder, sought to a segment's offset, gave its first 70-245 ms silent or
    wrong (a Kaldi segment or a manifest offset into an MP3 lost the start of its speech, unnoticed)."""
    from asr.data.audio import load_audio

    t = np.arange(10 * 16000) / 16000
    sf.write(tmp_path / "long.mp3", (0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype("float32"), 16000)
    whole = load_audio(tmp_path / "long.mp3")
    for offset in (0.3, 4.3, 8.7):
        start = round(offset * 16000)
        segment = load_audio(tmp_path / "long.mp3", 16000, offset, 1.0)
        assert np.abs(segment - whole[start : start + 16000]).max() < 1e-6, offset


def test_hf_dataset_saved_to_disk_and_parquet(tmp_path, audio, capsys):
    datasets = pytest.importorskip("datasets")
    files = [str(audio[k]) for k in ("u0", "u1", "u2")]
    ds = datasets.Dataset.from_dict(
        {"audio": files, "sentence": ["hello there", "good morning", "yes"], "client_id": ["c1", "c2", "c1"]}
    ).cast_column("audio", datasets.Audio())
    datasets.DatasetDict({"train": ds, "validation": ds.select([1])}).save_to_disk(str(tmp_path / "saved"))
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"hf:{tmp_path / 'saved'}", "--lang", "en", "--out", str(out)]) == 0
    train = read_manifest(out / "train.jsonl")
    assert [(u.id, u.speaker) for u in train] == [("c1_u0", "c1"), ("c1_u2", "c1"), ("c2_u1", "c2")]
    assert (out / train[0].audio).is_file() and [u.text for u in read_manifest(out / "dev.jsonl")] == ["good morning"]
    args = ["prepare", "--source", f"hf:{tmp_path / 'saved'}", "--lang", "en"]
    assert data_main([*args, "--splits", "train", "--out", str(tmp_path / "only")]) == 0  # --splits, as on the hub
    assert sorted(p.name for p in (tmp_path / "only").glob("*.jsonl")) == ["train.jsonl", "train.rejected.jsonl"]
    assert data_main([*args, "--split", "nosuch", "--out", str(tmp_path / "none")]) == 2
    assert data_main([*args, "--splits", "train,tset", "--out", str(tmp_path / "typo")]) == 2  # was skipped silently
    # the default three spelled out are named too (the Common Voice recipe's stage 1 passed without a test split)
    assert data_main([*args, "--splits", "train,validation,test", "--out", str(tmp_path / "named")]) == 2
    ds.save_to_disk(str(tmp_path / "test"))  # one Dataset: its split is its folder's name, as for jsonl and kaldi
    assert data_main(["prepare", "--source", f"hf:{tmp_path / 'test'}", "--lang", "en", "--out", str(out / "t")]) == 0
    assert (out / "t" / "test.jsonl").is_file() and not (out / "t" / "train.jsonl").exists()

    ds.to_parquet(str(tmp_path / "pq" / "train.parquet"))
    out2 = tmp_path / "out2"
    assert data_main(["prepare", "--source", f"hf:{tmp_path / 'pq'}", "--lang", "en", "--out", str(out2)]) == 0
    assert len(read_manifest(out2 / "train.jsonl")) == 3
    # R49: a hub layout's split named dev (MLS's) was left out without a word (validation was asked for)
    for split in ("train", "dev"):
        ds.to_parquet(str(tmp_path / "mls" / "data" / f"{split}-00000-of-00001.parquet"))
    for row, split in enumerate(("train", "validation", "dev")):  # R52: both (refused as one split twice):
        ds.select([row]).to_parquet(str(tmp_path / "both" / "data" / f"{split}-00000-of-00001.parquet"))
    both = load_source(f"hf:{tmp_path / 'both'}", "en", tmp_path / "o_both", SourceOptions())
    assert sorted(both) == ["dev", "train"] and [u.text for u in both["dev"]] == ["good morning"]  # validation's
    out3 = tmp_path / "out3"
    assert data_main(["prepare", "--source", f"hf:{tmp_path / 'mls'}", "--lang", "en", "--out", str(out3)]) == 0
    assert sorted(p.name for p in out3.glob("*.jsonl")) == ["dev.jsonl", "dev.rejected.jsonl", "train.jsonl",
                                                           "train.rejected.jsonl"]  # fmt: skip
    # an id column's ids that cannot be file names are rewritten with a note (scoring against them would fail)
    ds.add_column("id", ["a/1", "b 2", "c"]).save_to_disk(str(tmp_path / "ids"))
    capsys.readouterr()
    utts = load_source(f"hf:{tmp_path / 'ids'}", "en", tmp_path / "o_ids", SourceOptions())["train"]
    assert [u.id for u in utts] == ["c1_a-1", "c2_b-2", "c1_c"]
    assert "2 utterance id(s) rewritten" in capsys.readouterr().err


def test_a_hub_datasets_eval_split_beside_its_test_split_is_another_split(tmp_path, audio):
    """Only an audiofolder's folders are named as datasets names them (eval: test); a DatasetDict with test and
    eval was refused ("splits test, eval are all test") whatever --split said."""
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"audio": [str(audio["u0"])], "sentence": ["hi"]}).cast_column(
        "audio", datasets.Audio()
    )
    datasets.DatasetDict({"train": ds, "test": ds, "eval": ds}).save_to_disk(str(tmp_path / "dd"))
    assert set(load_source(f"hf:{tmp_path / 'dd'}", "en", tmp_path / "o", SourceOptions())) == {"train", "test"}


def test_an_id_keeps_its_speaker_prefix_only_before_a_separator():
    from asr.data.sources import speaker_prefixed

    assert (
        speaker_prefixed("19", "19-198-0000") == "19-198-0000" and speaker_prefixed("19", "198-0001") == "19_198-0001"
    )


def test_hf_missing_text_column_is_named(tmp_path, audio):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"audio": [str(audio["u0"])], "words": ["hi"]}).cast_column(
        "audio", datasets.Audio()
    )
    ds.save_to_disk(str(tmp_path / "saved"))
    proc = subprocess.run(
        [*ASR, "data", "prepare", "--source", f"hf:{tmp_path / 'saved'}", "--lang", "en", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "no text column" in proc.stderr


def test_hf_datasets_that_cannot_be_prepared_are_one_line(tmp_path, audio, capsys):
    """A validation and a dev split (one was lost: both are dev), decoded audio arrays (an ImportError
    traceback from torchcodec) and a dataset with a loading script (a RuntimeError traceback)."""
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"audio": [str(audio["u0"])], "sentence": ["hi"]}).cast_column(
        "audio", datasets.Audio()
    )
    datasets.DatasetDict({"train": ds, "validation": ds, "dev": ds}).save_to_disk(str(tmp_path / "both"))
    samples, rate = sf.read(audio["u0"], dtype="float32")
    arrays = datasets.Dataset.from_dict({"audio": [{"array": samples, "sampling_rate": rate}], "sentence": ["hi"]})
    arrays.save_to_disk(str(tmp_path / "arrays"))
    (tmp_path / "scripted").mkdir()
    (tmp_path / "scripted" / "scripted.py").write_text("import datasets\n")
    for name, audio_values in (("numbers", [1]), ("lists", [[0.1, 0.2]])):  # pyarrow cast tracebacks
        datasets.Dataset.from_dict({"audio": audio_values, "sentence": ["hi"]}).save_to_disk(str(tmp_path / name))
    ds.add_column("id", [None]).save_to_disk(str(tmp_path / "nullid"))  # its id was "None"
    (tmp_path / "mixed").mkdir()  # parquet files of other columns (a DatasetGenerationError traceback)
    for n, column in enumerate(("sentence", "text")):
        table = datasets.Dataset.from_dict({"audio": [audio["u0"].read_bytes()], column: ["hi"]})
        table.to_parquet(str(tmp_path / "mixed" / f"train-{n}.parquet"))
    (tmp_path / "card").mkdir()  # a dataset card's YAML that does not parse (a yaml traceback: R52, R55)
    datasets.Dataset.from_dict({"audio": [audio["u0"].read_bytes()], "sentence": ["hi"]}).to_parquet(
        str(tmp_path / "card" / "train.parquet")
    )
    (tmp_path / "card" / "README.md").write_text("---\nconfigs: [a: b\n---\n")
    for source, message in (("both", "splits validation, dev are all dev"), ("arrays", "holds decoded arrays"),
                            ("card", "while parsing a flow sequence"),
                            ("mixed", "because column names don't match"), ("nullid", "row 0: its id (id) is null"),
                            ("scripted", "Dataset scripts are no longer supported"),
                            ("numbers", "column 'audio' is not audio (its type: Value('int64'))"),
                            ("lists", "column 'audio' is not audio")):  # fmt: skip
        args = ["prepare", "--source", f"hf:{tmp_path / source}", "--lang", "en", "--out", str(tmp_path / "o" / source)]
        capsys.readouterr()
        assert data_main(args) == 2 and message in capsys.readouterr().err


def test_hf_audio_paths_relative_to_the_current_folder_are_found(tmp_path, audio, monkeypatch):
    """They were resolved against --out: every file present, every one rejected as missing."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.chdir(audio["u0"].parent)
    ds = datasets.Dataset.from_dict({"audio": [audio["u0"].name], "sentence": ["hello there"]})
    ds.save_to_disk(str(tmp_path / "relative"))
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"hf:{tmp_path / 'relative'}", "--lang", "en", "--out", str(out)]) == 0
    assert [Path(u.audio) for u in read_manifest(out / "train.jsonl")] == [audio["u0"]]


@pytest.mark.parametrize(("suffix", "fmt"), [(".ogg", "OGG"), (".mp3", "MP3"), (".flac", "FLAC"), (".wav", "WAV")])
def test_codecs_decode_to_mono_16k(tmp_path, audio, suffix, fmt):
    from asr.data.audio import load_audio

    samples, rate = sf.read(audio["u0"], dtype="float32")
    stereo = np.stack([samples, 0.5 * samples], axis=1)
    path = tmp_path / f"x{suffix}"
    sf.write(path, stereo, rate, format=fmt, **({"subtype": "VORBIS"} if fmt == "OGG" else {}))
    out = load_audio(path)
    assert out.ndim == 1 and out.dtype == np.float32
    assert abs(len(out) - len(samples) * 16000 / rate) < 0.05 * 16000  # mp3 adds encoder padding
    assert np.max(np.abs(out)) > 0.1


def test_a_failed_rerun_leaves_the_embedded_audio_behind_the_manifests_as_it_was(tmp_path, audio):
    """The audio a dataset embeds was written into OUT/audio/<split>/ before the checks: a rerun that failed them
    left the earlier manifests over other audio."""
    datasets = pytest.importorskip("datasets")

    def saved(train: list[str], dev: str, name: str) -> Path:
        def split(files: list[str]):
            ids = [f"x{i}" for i in range(len(files))]
            ds = datasets.Dataset.from_dict({"audio": files, "sentence": ["hello"] * len(files), "id": ids})
            return ds.cast_column("audio", datasets.Audio())

        splits = {"train": split(train), "validation": split([dev])}
        datasets.DatasetDict(splits).save_to_disk(str(tmp_path / name))
        return tmp_path / name

    out = tmp_path / "out"
    u0, u1 = str(audio["u0"]), str(audio["u1"])
    args = ["prepare", "--lang", "en", "--out", str(out), "--source"]
    assert data_main([*args, f"hf:{saved([u0], u0, 'v1')}"]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in sorted((out / "audio").rglob("*.*"))}
    assert [str(p) for p in before] == ["audio/dev/x0.wav", "audio/train/x0.wav"]
    shutil.rmtree(tmp_path / "v1")
    assert data_main([*args, f"hf:{saved([u1, u1], str(audio['empty']), 'v1')}"]) == 2  # dev: every utterance fails
    assert {p.relative_to(out): p.read_bytes() for p in sorted((out / "audio").rglob("*.*"))} == before
    assert not (out / "staged.part").exists() and len(read_manifest(out / "train.jsonl")) == 1
    shutil.rmtree(tmp_path / "v1")
    assert data_main([*args, f"hf:{saved([u1, u1], u1, 'v1')}"]) == 0
    after = sorted(str(p.relative_to(out)) for p in (out / "audio").rglob("*.*"))
    assert after == ["audio/dev/x0.wav", "audio/train/x0.wav", "audio/train/x1.wav"]
    assert (out / "audio" / "train" / "x0.wav").read_bytes() == Path(u1).read_bytes()
    assert not (out / "staged.part").exists()
    assert data_main([*args, f"hf:{tmp_path / 'v1'}", "--splits", "train"]) == 0  # dev's audio goes with dev.jsonl
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["train"] and not (out / "dev.jsonl").exists()
    other = tmp_path / "other"
    (other / "audio").mkdir(parents=True)
    assert data_main([*args[:-2], str(other), "--source", f"hf:{tmp_path / 'v1'}"]) == 2  # whose audio folder?


def test_hub_ids_are_made_safe_and_colliding_ids_refused_before_anything_is_written(tmp_path, audio):
    datasets = pytest.importorskip("datasets")
    files = [str(audio[k]) for k in ("u0", "u1")]

    def saved(ids: list[str], name: str) -> Path:
        ds = datasets.Dataset.from_dict({"audio": files, "sentence": ["hello there", "good morning"], "id": ids})
        ds.cast_column("audio", datasets.Audio()).save_to_disk(str(tmp_path / name))
        return tmp_path / name

    out = tmp_path / "corpus" / "out"
    source = saved(["../../escaped", "ok"], "hostile")
    assert data_main(["prepare", "--source", f"hf:{source}", "--lang", "en", "--out", str(out)]) == 0
    assert not list(tmp_path.glob("escaped*")) and not list((tmp_path / "corpus").glob("escaped*"))
    written = sorted(p.relative_to(out).as_posix() for p in (out / "audio").rglob("*.*"))
    assert written == ["audio/train/escaped.wav", "audio/train/ok.wav"]

    clash = tmp_path / "clash_out"
    source = saved(["a b", "a-b"], "clash")
    proc = subprocess.run([*ASR, "data", "prepare", "--source", f"hf:{source}", "--lang", "en", "--out", str(clash)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "ids 'a b' and 'a-b' both become 'a-b'" in proc.stderr
    assert not (clash / "audio").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"id": "a", "audio": "x.wav", "text": None, "duration": 1}, "'text' is null, expected a string"),
        ({"id": "a", "audio": "x.wav", "text": 4711, "duration": 1}, "'text' is 4711, expected a string"),
        ({"id": None, "audio": "x.wav", "text": "t", "duration": 1}, "'id' is null, expected a non-empty string"),
        ({"id": "a b", "audio": "x.wav", "text": "t", "duration": 1}, "'id' is \"a b\": ids cannot hold whitespace"),
        # a terminal ran an id's escape sequences where a listing printed it (a title set, colours changed)
        ({"id": "a\x1bc", "audio": "x.wav", "text": "t", "duration": 1}, "'id' is \"a\\\\u001bc\": ids cannot"),
        # R82: a NUL in a speaker crashed sclite on ref.stm
        (
            {"id": "a", "audio": "x.wav", "text": "t", "speaker": "a\x00b", "duration": 1},
            "'speaker' is \"a\\\\u0000b\"",
        ),
        ({"id": "a", "audio": "x.wav", "text": "t", "duration": "long"}, "'duration' is \"long\", expected a number"),
        ({"id": "a", "audio": "x.wav", "text": "t", "duration": [1]}, "'duration' is [1], expected a number"),
        ({"id": "a", "audio": "x.wav", "text": "t", "duration": -1.0}, "'duration' is -1.0, expected a number"),
        (
            {"id": "a", "audio": "x.wav", "text": "t", "duration": 0},
            "'duration' is 0; 'asr data prepare jsonl:FILE' writes",
        ),
        ({"id": "a", "audio": "x.wav", "text": "t", "duration": 1, "offset": -2}, "'offset' is -2, expected"),
        # no normaliser removed them: invisible tokens in the vocabulary (a cp1252 apostrophe read as Latin-1)
        (
            {"id": "a", "audio": "x.wav", "text": "don\x92t", "duration": 1},
            r"'text' holds the control character U\+0092 \(U\+0080-U\+009F: Windows-1252 text read as Latin-1\?\)",
        ),
        (
            {"id": "a", "audio": "x.wav", "text": "a\x7fb", "duration": 1},
            r"'text' holds the control character U\+007F;",
        ),
    ],
)
def test_manifest_fields_of_the_wrong_type_are_one_line_errors(tmp_path, line, message):
    path = _jsonl(tmp_path / "m.jsonl", [{"id": "ok", "audio": "x.wav", "text": "fine", "duration": 1}, line])
    with pytest.raises(InputError, match=f"m.jsonl:2: {message}".replace("[", r"\[").replace("]", r"\]")):
        read_manifest(path)


def test_audio_given_as_a_manifest_is_named_so(audio):
    """It was "cannot read: 'utf-8' codec can't decode byte 0xac in position 29"."""
    with pytest.raises(InputError, match=r"u0.wav:1: not valid UTF-8 \(byte 0x\w\w\); not a JSONL file\? .*asr data "
                                         "prepare --source audiofolder:DIR"):  # fmt: skip
        read_manifest(audio["u0"])


def test_a_manifest_in_latin1_or_utf16_is_named_as_such(tmp_path):
    """A Latin-1 manifest was told it might be audio; a UTF-16 one (Notepad's "Unicode") was 'byte 0xff'."""
    line = '{"id": "a", "audio": "a.wav", "text": "caf\u00e9", "duration": 1}\n'
    (tmp_path / "latin1.jsonl").write_bytes(line.encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1.jsonl:1: not valid UTF-8 \(byte 0xe9\)$"):
        read_manifest(tmp_path / "latin1.jsonl")
    (tmp_path / "utf16.jsonl").write_bytes(line.encode("utf-16"))
    with pytest.raises(InputError, match=r"utf16.jsonl: UTF-16 text \(its byte-order mark\); save it as UTF-8"):
        read_manifest(tmp_path / "utf16.jsonl")


def test_audiofolder_rows_without_transcription_are_filtered_and_without_file_name_refused(tmp_path, audio):
    root = tmp_path / "folder"
    root.mkdir()
    for name in ("a", "b"):
        (root / f"{name}.wav").write_bytes(audio["u0"].read_bytes())
    _jsonl(root / "metadata.jsonl", [{"file_name": "a.wav", "transcription": "hello there"},
                                     {"file_name": "b.wav", "transcription": None}])  # fmt: skip
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"audiofolder:{root}", "--lang", "en", "--out", str(out)]) == 0
    assert [u.text for u in read_manifest(out / "train.jsonl")] == ["hello there"]
    assert json.loads((out / "summary.json").read_text())["splits"]["train"]["filtered"] == {"empty transcript": 1}
    _jsonl(root / "metadata.jsonl", [{"file_name": "a.wav", "transcription": "x"}, {"transcription": "y"}])
    proc = subprocess.run([*ASR, "data", "prepare", "--source", f"audiofolder:{root}", "--lang", "en", "--out",
                           str(tmp_path / "o2")], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "metadata.jsonl:2: no file_name" in proc.stderr


def test_truncated_and_non_finite_audio_is_filtered_and_bad_kaldi_segments_refused(tmp_path, audio):
    wav = audio["u0"].read_bytes()
    (tmp_path / "truncated.wav").write_bytes(wav[: len(wav) // 3])  # the header still promises all of it
    samples, rate = sf.read(audio["u1"], dtype="float32")
    samples[100] = np.nan
    sf.write(tmp_path / "nan.wav", samples, rate, subtype="FLOAT")
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 4 * 16000).astype(np.float32)
    sf.write(tmp_path / "whole.mp3", noise, 16000, format="MP3")
    mp3 = (tmp_path / "whole.mp3").read_bytes()
    (tmp_path / "cut.mp3").write_bytes(mp3[: len(mp3) // 2])  # its Xing tag still counts 4 s (it was kept whole)
    # VBR MP3s without their Xing header: libsndfile guesses the length from the first frame's bit rate and reads
    # no further; a loud first frame made 4.1 s read as 0.99 s (kept whole), a silent one 4.6 s promised as 8.5 s
    tone = 0.05 * np.sin(2 * np.pi * 440 * np.arange(3 * 16000) / 16000).astype(np.float32)
    for name, samples in (("loud", np.concatenate([noise[:16000], tone])), ("quiet", np.concatenate([tone * 0, tone]))):
        sf.write(tmp_path / f"{name}.mp3", samples, 16000, format="MP3")
        mp3 = (tmp_path / f"{name}.mp3").read_bytes()
        (tmp_path / f"{name}.mp3").write_bytes(mp3[mp3.find(b"\xff\xf3", 4) :])  # from the frame after it (MPEG-2)
    sf.write(tmp_path / "whole.opus", noise, 16000, format="OGG", subtype="OPUS")
    opus = (tmp_path / "whole.opus").read_bytes()  # Ogg holds no length: a cut one was kept at what was left
    (tmp_path / "cut.opus").write_bytes(opus[: opus.rfind(b"OggS", 0, len(opus) // 2)])  # at a page's start too
    (tmp_path / "tagged.opus").write_bytes(opus + b"TAG" + bytes(125))  # an ID3v1 tag after its pages: whole
    (tmp_path / "chained.opus").write_bytes(opus + opus)  # libsndfile reads the first stream alone
    rows = [{"id": "a_1", "audio": str(audio["u0"]), "text": "hello there"},
            {"id": "a_2", "audio": str(tmp_path / "truncated.wav"), "text": "hello there"},
            {"id": "a_3", "audio": str(tmp_path / "nan.wav"), "text": "good morning"},
            {"id": "a_4", "audio": str(tmp_path / "whole.mp3"), "text": "noise"},
            {"id": "a_5", "audio": str(tmp_path / "cut.mp3"), "text": "noise"},
            {"id": "a_6", "audio": str(tmp_path / "whole.opus"), "text": "noise"},
            {"id": "a_7", "audio": str(tmp_path / "cut.opus"), "text": "noise"},
            {"id": "a_8", "audio": str(tmp_path / "loud.mp3"), "text": "noise"},
            {"id": "a_9", "audio": str(tmp_path / "quiet.mp3"), "text": "noise"},
            {"id": "a_10", "audio": str(tmp_path / "tagged.opus"), "text": "noise"},
            {"id": "a_11", "audio": str(tmp_path / "chained.opus"), "text": "noise"}]  # fmt: skip
    proc = subprocess.run([*ASR, "data", "check", str(_jsonl(tmp_path / "m.jsonl", rows))], capture_output=True,
                          text=True)  # fmt: skip
    assert proc.returncode == 1
    assert "a_2: truncated audio" in proc.stdout and "a_3: non-finite samples" in proc.stdout
    assert "a_5: truncated audio" in proc.stdout and proc.stdout.count("a_4: ") == 1  # its missing duration only
    assert "a_7: truncated audio (an Ogg stream cut short" in proc.stdout and proc.stdout.count("a_6: ") == 1
    assert "a_8: truncated audio (its MP3 frames hold 4.10 s, libsndfile reads 0.99 s: a VBR file" in proc.stdout
    assert "a_9: no duration stated (6.0" in proc.stdout and proc.stdout.count("a_9: ") == 1
    assert proc.stdout.count("a_10: ") == 1 and "a_11: truncated audio (chained Ogg streams" in proc.stdout

    data = tmp_path / "kaldi"
    data.mkdir()
    (data / "wav.scp").write_text(f"rec1 {audio['u0']}\n")
    (data / "text").write_text("u1 hello\n")
    for segments, message in (("u1 rec1 0.8 0.2\n", "ends at 0.2 s, not after its start 0.8 s"),
                              ("u1 rec1 0.5 0.5\n", "ends at 0.5 s, not after its start 0.5 s"),  # empty
                              ("u1 rec1\n", "expected: recording start end")):  # fmt: skip
        (data / "segments").write_text(segments)
        proc = subprocess.run([*ASR, "data", "prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out",
                               str(tmp_path / "o")], capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_merge_subset_and_vocab_refuse_what_they_cannot_do_before_writing(tmp_path, audio, capsys):
    from asr.vocab.cli import main as vocab_main

    rows = [{"id": f"a_{i}", "audio": str(audio["u0"]), "duration": 1.0, "text": "hello there"} for i in range(3)]
    manifest = _jsonl(tmp_path / "m.jsonl", rows)
    piped = _jsonl(tmp_path / "p.jsonl", [{**rows[0], "text": "a|b c", "lang": "xx"}])  # '|' kept by lower-nopunct
    special = _jsonl(tmp_path / "special.jsonl", [{**rows[0], "text": "hello <s> world", "lang": "xx"}])
    twice = _jsonl(tmp_path / "twice.jsonl", [rows[0], rows[1], rows[0]])
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "folder" / "fifo")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(b"")
    (tmp_path / "hub").mkdir()  # a downloaded model: weights in another format, and a vocab.json
    for name in ("config.json", "pytorch_model.bin", "vocab.json"):
        (tmp_path / "hub" / name).write_text("{}")
    for main, args, message in (
        (data_main, ["merge", str(manifest), "--out", str(tmp_path / "folder")], "cannot write the manifest"),
        # R46: a FIFO (or, as root, /dev/null) was replaced by the manifest, exit 0; '' and '.' were tracebacks
        (data_main, ["merge", str(manifest), "--out", str(tmp_path / "folder" / "fifo")], "fifo: not a regular file"),
        (data_main, ["subset", str(manifest), "--hours", "0.0001", "--out", "."], ".: cannot write the manifest"),
        (data_main, ["subset", str(manifest), "--hours", "nan", "--out", str(tmp_path / "s.jsonl")], "--hours nan"),
        (
            data_main,
            ["subset", str(twice), "--hours", "0.0001", "--out", str(tmp_path / "s.jsonl")],
            "twice.jsonl: utterance id 'a_0' more than once",
        ),
        (
            data_main,
            ["merge", str(manifest), str(tmp_path / "." / "m.jsonl"), "--out", str(tmp_path / "s.jsonl")],
            "m.jsonl: given twice",
        ),  # it said "utterance id 'a_0' more than once"
        (
            data_main,
            ["subset", str(manifest), "--hours", "0.00084", "--out", str(tmp_path / "s.jsonl")],
            "it holds 0.000833333 h (0.05 min)",
        ),  # "0.00084 asked for, it holds 0.001 h"
        (vocab_main, ["--train", str(manifest), "--out", str(tmp_path / "v"), "--sampling-rate", "-5"], "-5"),
        (vocab_main, ["--train", str(manifest), "--out", str(tmp_path / "v"), "--check", "nope.jsonl"], "nope.jsonl"),
        (vocab_main, ["--train", str(manifest), "--out", str(tmp_path / "model")], "holds a model"),
        # lower-nopunct@4 kept symbols (| < >; @5 turns them into spaces): the word delimiter in a transcript, and
        # '<s>', which the tokenizer read as its BOS token
        (
            vocab_main,
            ["--train", str(piped), "--out", str(tmp_path / "v"), "--normalize", "lower-nopunct@4"],
            "--normalize lower-nopunct@4+ignore=|",
        ),
        (
            vocab_main,
            ["--train", str(special), "--out", str(tmp_path / "v"), "--normalize", "lower-nopunct@4"],
            "'<s>', a special token",
        ),
        # a processor is written whole: a folder of other files would be replaced
        (vocab_main, ["--train", str(manifest), "--out", str(tmp_path)], "no processor holds (folder, hub, m"),
        (vocab_main, ["--train", str(manifest), "--out", str(manifest)], "m.jsonl: not a folder"),
        (vocab_main, ["--train", str(manifest), "--out", str(tmp_path / "hub")], "holds a model (config.json, py"),
        (vocab_main, ["--train", str(manifest), "--out", "."], "the current folder or one above it"),
    ):
        assert main(args) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "v").exists() and not (tmp_path / "s.jsonl").exists()
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["config.json", "pytorch_model.bin", "vocab.json"]


def test_a_manifest_written_through_a_link_writes_its_target(tmp_path, audio):
    """`asr data merge --out LINK` replaced the link with a file and left its target as it was."""
    rows = [{"id": "a_1", "audio": str(audio["u0"]), "duration": 1.0, "text": "hello there"}]
    manifest = _jsonl(tmp_path / "m.jsonl", rows)
    (tmp_path / "shared.jsonl").write_text("old\n")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "shared.jsonl")
    assert data_main(["merge", str(manifest), "--out", str(tmp_path / "link.jsonl")]) == 0
    assert (tmp_path / "link.jsonl").is_symlink() and "hello there" in (tmp_path / "shared.jsonl").read_text()


def test_a_byte_that_is_not_utf8_is_named_by_its_line_whatever_ends_the_lines(tmp_path):
    for end in (b"\n", b"\r\n", b"\r"):
        path = tmp_path / "m.jsonl"
        path.write_bytes(end.join([b'{"id": "a"}', b'{"id": "b"}', b'{"text": "caf\xe9"}']) + end)
        with pytest.raises(InputError, match=r"m.jsonl:3: not valid UTF-8 \(byte 0xe9\)"):
            read_manifest(path)


def test_an_interrupted_vocab_leaves_the_earlier_processor_whole(tmp_path, audio, monkeypatch):
    """asr vocab wrote its files in place: an interrupted rerun left a new vocab.json beside the old
    asr_text.json, a processor that trains or scores its characters as [UNK]."""
    import asr.vocab.build
    from asr.vocab.cli import main as vocab_main

    rows = [{"id": f"a_{i}", "audio": str(audio["u0"]), "duration": 1.0, "text": "hello there"} for i in range(3)]
    manifest = _jsonl(tmp_path / "m.jsonl", rows)
    out = tmp_path / "p"
    assert vocab_main(["--train", str(manifest), "--out", str(out)]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    other = ["--train", str(manifest), "--out", str(out), "--normalize", "lower-nopunct+ignore=h"]
    monkeypatch.setattr(asr.vocab.build, "write_text_config", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    assert vocab_main(other) == 130  # interrupted after vocab.json and the tokenizer, before asr_text.json
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl", "p"]  # nothing left beside it
    monkeypatch.undo()
    assert vocab_main(other) == 0 and '"h"' not in (out / "vocab.json").read_text()
    assert "+ignore=h" in (out / "asr_text.json").read_text()


def test_a_mix_of_languages_needs_a_named_normalizer(tmp_path, audio, capsys):
    """`asr vocab` and `asr data check` applied the first utterance's language's rules to every language."""
    from asr.text import read_text_config
    from asr.vocab.cli import main as vocab_main

    rows = [{"id": f"u{i}", "audio": str(audio["u0"]), "duration": 1.0, "text": "Hello there", "lang": lang}
            for i, lang in enumerate(("en", "ru", "ru"))]  # fmt: skip
    manifest = _jsonl(tmp_path / "m.jsonl", rows)
    for main, args in ((vocab_main, ["--train", str(manifest), "--out", str(tmp_path / "v")]),
                       (data_main, ["check", str(manifest)])):  # fmt: skip
        assert main(args) == 2
        assert "m.jsonl: utterances of several languages whose normalisers differ (ru (2), en (1))" in (
            capsys.readouterr().err
        )
    assert not (tmp_path / "v").exists()
    assert vocab_main(["--train", str(manifest), "--out", str(tmp_path / "v"), "--normalize", "lower-nopunct"]) == 0
    assert read_text_config(tmp_path / "v") == {"normalizer": "lower-nopunct@6", "lang": ""}  # not the first's "en"


def test_an_out_prepared_from_another_source_is_refused_and_a_segment_needs_a_duration(tmp_path, audio, capsys):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    one = _jsonl(tmp_path / "a" / "train.jsonl", [{"id": "a_1", "audio": str(audio["u0"]), "text": "hello"}])
    two = _jsonl(tmp_path / "b" / "train.jsonl", [{"id": "b_1", "audio": str(audio["u1"]), "text": "there"}])
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"jsonl:{one}", "--lang", "en", "--out", str(out)]) == 0
    assert data_main(["prepare", "--source", f"jsonl:{two}", "--lang", "en", "--out", str(out)]) == 2
    assert "holds a corpus prepared from jsonl:" in capsys.readouterr().err
    relative = os.path.relpath(one)  # the same file written another way is the same source (it was refused)
    assert data_main(["prepare", "--source", relative, "--lang", "en", "--out", str(out)]) == 0
    from asr.data.sources import canonical_source

    assert canonical_source(f"hf:{os.path.relpath(tmp_path)}") == f"hf:{tmp_path.resolve()}"  # a saved dataset
    assert canonical_source("hf:org/name:cfg") == "hf:org/name:cfg"  # a hub id
    segment = _jsonl(tmp_path / "s.jsonl", [{"id": "s_1", "audio": str(audio["u0"]), "text": "x", "offset": 0.5}])
    assert data_main(["check", str(segment)]) == 2
    assert "an 'offset' without a 'duration'" in capsys.readouterr().err


def test_a_failed_prepare_gives_its_claim_up(tmp_path, audio, capsys):
    """A mistyped source left a summary.json naming it, which refused the corrected command."""
    good = _jsonl(tmp_path / "good.jsonl", [{"id": "a_1", "audio": str(audio["u0"]), "text": "hello"}])
    (tmp_path / "made").mkdir()
    for out in (tmp_path / "new", tmp_path / "made"):
        assert (
            data_main(["prepare", "--source", f"jsonl:{tmp_path}/typo.jsonl", "--lang", "en", "--out", str(out)]) == 2
        )
        assert out.exists() == (out.name == "made") and not (out / "summary.json").exists()  # its own folder goes
        assert data_main(["prepare", "--source", f"jsonl:{good}", "--lang", "en", "--out", str(out)]) == 0
    capsys.readouterr()
    args = ["prepare", "--source", f"jsonl:{good}", "--out", str(tmp_path / "l")]
    assert data_main([*args, "--lang", "english"]) == 2  # took lower-nopunct without a word
    assert "--lang 'english': expected a language code" in capsys.readouterr().err
    assert data_main([*args, "--lang", "xx"]) == 0
    assert "--lang xx has no normaliser of its own: lower-nopunct" in capsys.readouterr().err


def test_a_prepare_interrupted_before_its_summary_runs_again(tmp_path, audio, monkeypatch):
    """Interrupted after its manifests were moved in, before summary.json: the claim was given up over them, and
    the same command was refused from then on ("holds manifests but no summary.json")."""
    import asr.data.prepare as prepare

    good = _jsonl(tmp_path / "good.jsonl", [{"id": "a_1", "audio": str(audio["u0"]), "text": "hello"}])
    args = ["prepare", "--source", f"jsonl:{good}", "--lang", "en", "--out", str(tmp_path / "o")]
    write = prepare._write_summary

    def interrupted(out_dir: Path, summary: dict) -> None:
        if summary["splits"]:  # the claim is written, the corpus's summary is not
            raise KeyboardInterrupt
        write(out_dir, summary)

    monkeypatch.setattr(prepare, "_write_summary", interrupted)
    assert data_main(args) == 130 and (tmp_path / "o" / "train.jsonl").exists()
    monkeypatch.undo()
    assert data_main(args) == 0 and json.loads((tmp_path / "o" / "summary.json").read_text())["splits"]


def test_files_written_together_all_move_in_when_stopped_and_leave_no_part_when_a_move_fails(tmp_path, monkeypatch):
    """A Ctrl-C among the moves left some files new and others old (and, before, their parts in the way of later
    runs): the stop takes effect once every file is in, also where another thread (torch's) takes the signal (a
    review: a signal mask on the main thread held nothing back then). A move that fails leaves no part behind."""
    import os
    import signal
    import threading
    import time

    from asr.folders import write_together

    moves, replace = [], Path.replace
    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()  # a thread that may take the signal

    def stopped_in_the_first(self: Path, target: Path) -> Path:
        moves.append(target)
        if len(moves) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # to the process, as a terminal's Ctrl-C
            time.sleep(0.2)
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", stopped_in_the_first)
    with pytest.raises(KeyboardInterrupt):
        write_together({tmp_path / "a": "1", tmp_path / "b": "2"})
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"a": "1", "b": "2"}

    def failing_second(self: Path, target: Path) -> Path:
        moves.append(target)
        if len(moves) == 4:
            raise OSError(28, "No space left on device")
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", failing_second)
    with pytest.raises(OSError):
        write_together({tmp_path / "a": "3", tmp_path / "b": "4"})
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"a": "3", "b": "2"}  # b.part was left
    monkeypatch.undo()

    def failing_writer(part: Path) -> None:
        part.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as err:  # a file that fails to be written: none moves in (a mutation review)
        write_together({tmp_path / "a": "5", tmp_path / "b": failing_writer})
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"a": "3", "b": "2"}
    assert err.value.filename == str(tmp_path / "b")  # named: a full disk's write error names no file
    (tmp_path / "b").unlink()
    (tmp_path / "b").mkdir()  # a folder where a file goes: none moves in (the first did, before)
    with pytest.raises(IsADirectoryError):
        write_together({tmp_path / "a": "6", tmp_path / "b": "7"})
    assert (tmp_path / "a").read_text() == "3" and not list(tmp_path.glob("*.part"))


def test_what_is_moved_into_place_is_on_the_disk_first(tmp_path, monkeypatch):
    """R70: files renamed into place unflushed could be zeros after a power loss (a checkpoint's weights were):
    every file of a folder written whole, and each file written together, is flushed before its rename."""
    import os

    from asr.folders import write_together, write_whole

    flushed, fsync, replace = [], os.fsync, Path.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (flushed.append(os.readlink(f"/proc/self/fd/{fd}")), fsync(fd)))

    def moved(self: Path, target: Path) -> Path:
        assert str(self) in flushed  # on the disk before its new name is
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", moved)
    write_together({tmp_path / "a": "1", tmp_path / "b": "2"})
    out = tmp_path / "out"
    write_whole(out, lambda folder: [(folder / name).write_text(name) for name in ("x", "y")])
    partial = str(out) + ".partial"
    assert {f"{partial}/x", f"{partial}/y", partial} <= set(flushed) and (out / "y").read_text() == "y"


def test_a_folder_of_a_long_name_is_replaced_whole_and_a_full_disk_is_named(tmp_path):
    """A 245-byte --out could never be replaced: its set-aside name passed the 255-byte limit, and the complete
    new folder was stranded in <out>.partial."""
    from asr.folders import write_whole

    out = tmp_path / ("ह" * 81 + "ab")  # 245 bytes
    for text in ("old", "new"):
        write_whole(out, lambda folder, text=text: (folder / "f").write_text(text))
    assert (out / "f").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == [out.name]

    def full(folder: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as err:
        write_whole(out, full)
    assert err.value.filename == str(out) and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_segment_past_the_end_of_its_file_says_so(tmp_path, audio):
    """libsndfile's words were "Internal psf_fseek() failed"."""
    from asr.data.audio import read_utterance_audio

    length = sf.info(str(audio["u0"])).duration
    with pytest.raises(InputError, match=rf"utterance s_1: .*offset {length + 1:g} s is past the end of the"):
        read_utterance_audio("s_1", audio["u0"], 16000, length + 1, 0.5)


def test_audio_that_may_not_be_read_says_so(tmp_path, monkeypatch):
    """libsndfile's words were "System error." for a file it may not open (made so for os.access, as tests run
    as root too, who may read anything)."""
    import os

    from asr.data.audio import read_utterance_audio

    closed = tmp_path / "closed.wav"
    closed.write_bytes(b"RIFF")
    closed.chmod(0)
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != closed and access(path, mode))
    with pytest.raises(InputError, match=rf"utterance s_1: cannot read {closed}: permission denied$"):
        read_utterance_audio("s_1", closed, 16000)


def test_audiofolder_ids_come_from_the_path_under_the_split_and_collisions_are_refused(tmp_path, audio, capsys):
    """One metadata file per folder, each listing 1.wav, gave both the id "1": one was dropped as a duplicate."""
    root = tmp_path / "folder"
    for folder in ("s1", "s2"):
        (root / "train" / folder).mkdir(parents=True)
        (root / "train" / folder / "1.wav").write_bytes(audio["u0"].read_bytes())
        (root / "train" / folder / "metadata.csv").write_text("file_name,transcription\n1.wav,one\n")
    args = ["prepare", "--source", f"audiofolder:{root}", "--lang", "en"]
    (root / "train" / "s2" / "1.wav").unlink()  # a link in the folder to audio kept elsewhere is the folder's
    (root / "train" / "s2" / "1.wav").symlink_to(audio["u1"])
    assert data_main([*args, "--out", str(tmp_path / "o")]) == 0
    assert [u.id for u in read_manifest(tmp_path / "o" / "train.jsonl")] == ["s1-1", "s2-1"]
    (root / "train" / "s1" / "1.flac").write_bytes(audio["u1"].read_bytes())  # x.wav beside x.flac: one id
    (root / "train" / "s1" / "metadata.csv").write_text("file_name,transcription\n1.wav,one\n1.flac,two\n")
    assert data_main([*args, "--out", str(tmp_path / "o2")]) == 2
    assert "both become 's1-1'" in capsys.readouterr().err
    # R30: one file listed twice said "ids 'train/s1/1.wav' and 'train/s1/1.wav' both become 's1-1'"
    (root / "train" / "s1" / "metadata.csv").write_text("file_name,transcription\n1.wav,one\n1.wav,one again\n")
    assert data_main([*args, "--out", str(tmp_path / "o2")]) == 2
    said = f"{root / 'train' / 's1' / 'metadata.csv'}:3: 1.wav is listed again (first at "
    assert said in capsys.readouterr().err
    (root / "train" / "s1" / "metadata.jsonl").write_text('{"file_name": "1.wav", "transcription": "a"}\n["x"]\n')
    (root / "train" / "s1" / "metadata.csv").unlink()
    assert data_main([*args, "--out", str(tmp_path / "o3")]) == 2  # was an AttributeError traceback
    assert "metadata.jsonl:2: not an object" in capsys.readouterr().err


def test_prepare_claims_its_out_before_it_reads_and_never_writes_outside_it(tmp_path, audio, capsys, monkeypatch):
    rows = [{"id": f"a_{i}", "audio": str(audio["u0"]), "text": "hello"} for i in range(2)]
    (tmp_path / "src").mkdir(), (tmp_path / "stray").mkdir()
    src = _jsonl(tmp_path / "src" / "train.jsonl", rows)
    args = ["prepare", "--lang", "en"]
    assert data_main([*args, "--source", str(src), "--out", str(tmp_path / "src")]) == 2  # a bare path too
    assert "would replace the source manifest" in capsys.readouterr().err and len(src.read_text().splitlines()) == 2
    assert data_main([*args, "--source", f"jsonl:{src}", "--split", "../escaped", "--out", str(tmp_path / "o")]) == 2
    assert "split '../escaped': expected a name" in capsys.readouterr().err
    assert not (tmp_path / "escaped.jsonl").exists()
    stray = _jsonl(tmp_path / "stray" / "dev.jsonl", rows)
    assert data_main([*args, "--source", f"jsonl:{src}", "--out", str(stray.parent)]) == 2
    assert "holds manifests but no summary.json" in capsys.readouterr().err
    failing = _jsonl(tmp_path / "failing.jsonl", [{**rows[0], "audio": str(tmp_path / "gone.wav")}])
    assert data_main([*args, "--source", f"jsonl:{failing}", "--out", str(tmp_path / "f")]) == 2
    assert not (tmp_path / "f").exists()  # no corpus made: not the failed source's (test_a_failed_prepare_...)
    assert data_main([*args, "--source", f"jsonl:{src}", "--out", str(tmp_path / "f")]) == 0
    assert data_main([*args, "--source", f"jsonl:{failing}", "--out", str(tmp_path / "f")]) == 2
    assert "holds a corpus prepared from jsonl:" in capsys.readouterr().err  # a corpus made: its source's
    summary = json.loads((tmp_path / "f" / "summary.json").read_text())  # R53: an earlier version's relative
    (tmp_path / "f" / "summary.json").write_text(json.dumps(summary | {"source": "jsonl:src/train.jsonl"}))  # source
    monkeypatch.chdir(tmp_path)  # where it names this source: taken for it, whichever folder it was relative to
    assert data_main([*args, "--source", f"jsonl:{src}", "--out", str(tmp_path / "f")]) == 2
    assert "prepared from jsonl:src/train.jsonl, which an earlier version recorded relative" in capsys.readouterr().err


def test_check_refuses_stated_durations_that_are_not_the_audios_and_no_output_replaces_an_input(tmp_path, audio):
    seconds = sf.info(audio["u0"]).duration
    rows = [{"id": f"a_{i}", "audio": str(audio["u0"]), "text": "hello", "duration": d}
            for i, d in enumerate((seconds, seconds + 3.0, 0))]  # fmt: skip
    rows.append({"id": "a_3", "audio": str(audio["u0"]), "text": "hello"})
    manifest = _jsonl(tmp_path / "m.jsonl", rows)
    assert data_main(["check", str(manifest), "--json", str(tmp_path / "r.json")]) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    # a duration missing or 0 is unusable: train, decode, subset and merge refuse the manifest
    assert [(r["id"], r["reason"]) for r in report["rejected"]] == [
        ("a_1", "duration differs from the audio"),
        ("a_2", "no duration stated"),
        ("a_3", "no duration stated"),
    ]
    assert data_main(["check", str(manifest), "--json", str(manifest)]) == 2
    assert data_main(["subset", str(manifest), "--hours", "0.0001", "--out", str(manifest)]) == 2
    assert len(manifest.read_text().splitlines()) == len(rows)


def test_a_rerun_that_fails_leaves_the_earlier_corpus_whole(tmp_path, audio, capsys):
    """A rerun removed every manifest before it read the source: a source gone for a moment, or a split that
    failed, left the folder empty; a split that failed after another was written left that one unlisted."""
    root = tmp_path / "cv"
    (root / "clips").mkdir(parents=True)
    header = "client_id\tpath\tsentence\n"
    for split in ("train", "dev", "test"):
        (root / "clips" / f"{split}.wav").write_bytes(audio["u0"].read_bytes())
        (root / f"{split}.tsv").write_text(header + f"spk_{split}\t{split}.wav\thello there\n")
    out = tmp_path / "out"
    args = ["prepare", "--source", f"commonvoice:{root}", "--lang", "en", "--out", str(out)]
    assert data_main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    root.rename(tmp_path / "unmounted")
    assert data_main(args) == 2 and "none of train.tsv" in capsys.readouterr().err
    (tmp_path / "unmounted").rename(root)
    (root / "test.tsv").write_text(header + "spk_t\tnot_extracted.wav\thello there\n")  # dev, then test fails
    assert data_main(args) == 2 and "every utterance of split 'test' failed" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert data_main([*args, "--splits", "train"]) == 0  # the splits it no longer has go
    assert sorted(p.name for p in out.iterdir()) == ["summary.json", "train.jsonl", "train.rejected.jsonl"]


def test_ids_never_start_a_comment_and_hf_values_that_are_no_id_are_refused(tmp_path, audio, capsys):
    """';;u1' was kept by prepare and refused by every later command; a list speaker became "['spk']"; an
    empty saved split and a damaged dataset_dict.json were tracebacks."""
    kaldi = tmp_path / "kd"
    kaldi.mkdir()
    (kaldi / "wav.scp").write_text(f";;u1 {audio['u0']}\nu2 {audio['u1']}\n")
    (kaldi / "text").write_text(";;u1 hello there\nu2 good morning\n")
    assert data_main(["prepare", "--source", f"kaldi:{kaldi}", "--lang", "en", "--out", str(tmp_path / "k")]) == 0
    assert [u.id for u in read_manifest(tmp_path / "k" / "train.jsonl")] == ["u1", "u2"]
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"audio": [str(audio["u0"])], "sentence": ["hi"]}).cast_column(
        "audio", datasets.Audio()
    )
    ds.add_column("speaker", [["spk"]]).save_to_disk(str(tmp_path / "listed"))
    datasets.DatasetDict({"train": ds, "test": ds.select([])}).save_to_disk(str(tmp_path / "emptysplit"))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "dataset_dict.json").write_text("{}")
    state = json.loads((tmp_path / "listed" / "state.json").read_text())
    shutil.copytree(tmp_path / "listed", tmp_path / "halfstate")
    (tmp_path / "halfstate" / "state.json").write_text(json.dumps({k: v for k, v in state.items() if k != "_split"}))
    for source, message in (("listed", "row 0: its speaker is ['spk'], not one value"),
                            ("emptysplit", "a split of no rows"),
                            ("half", "dataset_dict.json has no 'splits'"),
                            ("halfstate", "state.json has no '_split'")):  # fmt: skip
        args = ["prepare", "--source", f"hf:{tmp_path / source}", "--lang", "en", "--out", str(tmp_path / "o" / source)]
        assert data_main(args) == 2 and message in capsys.readouterr().err


def test_a_subset_stops_at_the_first_utterance_that_reaches_its_hours_and_a_smaller_one_is_inside_it(audio, tmp_path):
    """By hand (a mutation review found it unasserted): ten 1 s utterances, 4.5 s asked for: five of them."""
    from asr.data.manifest import subset_hours

    rows = [{"id": f"s{i}", "audio": str(audio["u0"]), "text": "hello", "duration": 1.0} for i in range(10)]
    manifest = _jsonl(tmp_path / "m.jsonl", rows)
    large, total = subset_hours(manifest, 4.5 / 3600, seed=7)
    small, _ = subset_hours(manifest, 2.5 / 3600, seed=7)
    assert (len(large), len(small), total) == (5, 3, 10.0)
    assert {u.id for u in small} < {u.id for u in large}


@pytest.mark.parametrize("subtype", ["GSM610", "G721_32", "NMS_ADPCM_16"])
def test_telephone_codecs_libsndfile_reads_front_to_back_decode_whole_and_in_segments(tmp_path, subtype):
    """A review: a WAV of these codecs (not seekable in libsndfile) was refused as "unreadable audio (frames must be
    specified for non-seekable files)" by every command, though soundfile.read decodes it."""
    from asr.data.audio import load_audio

    rng = np.random.default_rng(0)
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, (0.1 * rng.standard_normal(8000)).astype(np.float32), 8000, subtype=subtype)
    whole, _ = sf.read(path, dtype="float32")
    assert np.array_equal(load_audio(path, 8000), whole)
    assert np.array_equal(load_audio(path, 8000, offset=0.25, duration=0.5), whole[2000:6000])
    assert np.array_equal(load_audio(path, 8000, offset=0.5), whole[4000:])


def test_kaldi_segments_read_as_kaldis_extract_segments_reads_them(tmp_path, audio, capsys):
    """A review: an end time of -1 (the recording's end) was refused; a segment a little past its file's end
    (Kaldi cuts up to 0.5 s) was filtered; a channel field was dropped unseen (both channels averaged)."""
    length = sf.info(audio["u0"]).duration
    data = tmp_path / "kaldi"
    data.mkdir()
    (data / "wav.scp").write_text(f"rec1 {audio['u0']}\nrec2 {audio['stereo']}\n")
    (data / "text").write_text("u1 hello there\nu2 there\nu3 there\nu4 hello\nu5 hello there\n")
    (data / "segments").write_text(f"u1 rec1 0.2 -1\nu2 rec1 0.5 {length + 0.3:.3f}\nu3 rec1 0.5 {length + 0.7:.3f}\n"
                                   "u4 rec1 0.0 0.6 0\nu5 rec1 0 -1\n")  # fmt: skip
    assert data_main(["prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out", str(tmp_path / "o")]) == 0
    kept = {u.id: u for u in read_manifest(tmp_path / "o" / "train.jsonl")}
    assert kept["u1"].offset == 0.2 and abs(kept["u1"].duration - (length - 0.2)) < 0.001
    assert kept["u5"].offset == 0.0 and abs(kept["u5"].duration - length) < 0.001  # the whole recording
    assert abs(kept["u2"].duration - (length - 0.5)) < 0.001 and abs(kept["u4"].duration - 0.6) < 0.001
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())["splits"]["train"]
    assert summary["filtered"] == {"segment outside the audio": 1} and "u3" not in kept
    assert summary["converted_on_load"]["segment cut at its file's end"] == 1
    for segments, said in (("u1 rec2 0.0 0.5 1\n", "(2 channel(s)); a manifest holds"),  # of a stereo file
                           ("u1 rec2 0.0 0.5 0\n", "remix 1"),
                           ("u1 rec1 0.0 0.5 1\n", "which has 1 (channels count from 0)")):  # fmt: skip
        (data / "segments").write_text(segments)
        assert data_main(["prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err
        assert f"segments: segment of 'u1' takes channel {segments[-2]} of" in err and said in err, err
    (data / "segments").write_text("u1 rec1 0.0 0.5\n")
    (data / "text").write_bytes("u0 ok\nu1 caf\xe9\n".encode("latin-1"))  # its line named, as a manifest's
    assert data_main(["prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out", str(tmp_path / "t")]) == 2
    assert f"{data / 'text'}:2: not valid UTF-8 (byte 0xe9)" in capsys.readouterr().err


def test_audiofolder_splits_linked_in_are_read_and_a_header_error_lists_the_columns(tmp_path, audio, capsys):
    """A review: a split folder that is a symbolic link was passed over unseen (Path.rglob does not enter linked
    folders); a metadata.csv written with semicolons was "no 'file_name' column", its columns unnamed."""
    elsewhere = tmp_path / "elsewhere" / "train"
    elsewhere.mkdir(parents=True)
    shutil.copy(audio["u0"], elsewhere / "a.wav")
    (elsewhere / "metadata.csv").write_text("file_name,transcription\na.wav,hello there\n")
    root = tmp_path / "corpus"
    (root / "test").mkdir(parents=True)
    shutil.copy(audio["u1"], root / "test" / "b.wav")
    (root / "test" / "metadata.csv").write_text("file_name,transcription\nb.wav,good morning\n")
    (root / "train").symlink_to(elsewhere)
    (root / "test" / "loop").symlink_to(root)  # a link back up the tree: read once
    splits = load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())
    assert {split: [u.text for u in utts] for split, utts in splits.items()} == {
        "train": ["hello there"], "test": ["good morning"]}  # fmt: skip
    (elsewhere / "metadata.csv").write_text("file_name;transcription\na.wav;hello there\n")
    with pytest.raises(
        InputError, match=r"no 'file_name' or 'audio_file_name' column \(its columns: 'file_name;transcription'\)"
    ):
        load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())


def test_audio_shorter_than_a_frame_is_filtered_as_such(tmp_path, audio):
    """A review: 50 samples were "transcript too long for CTC (27 labels > 0 frames)"."""
    sf.write(tmp_path / "short.wav", np.full(50, 0.1, dtype=np.float32), 16000)
    rows = [{"id": "a_1", "audio": str(tmp_path / "short.wav"), "text": "hello there"},
            {"id": "a_2", "audio": str(audio["u0"]), "text": "hello there"}]  # fmt: skip
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"jsonl:{_jsonl(tmp_path / 'train.jsonl', rows)}", "--lang", "en",
                      "--out", str(out)]) == 0  # fmt: skip
    assert json.loads((out / "summary.json").read_text())["splits"]["train"]["filtered"] == {
        "audio shorter than a frame": 1}  # fmt: skip


def test_bracketed_tags_in_transcripts_are_counted_and_named(tmp_path, audio, capsys):
    """A review: Kaldi-style tags ([noise], <unk>) became the words "noise" and "unk" in training targets and
    references without a word said; they are counted in summary.json and named on stderr (the text is the
    user's to clean: a tag may also be speech, [laughter-yes])."""
    data = tmp_path / "kaldi"
    data.mkdir()
    (data / "wav.scp").write_text(f"u1 {audio['u0']}\nu2 {audio['u1']}\nu3 {audio['u2']}\n")
    (data / "text").write_text("u1 [noise] hello there <unk>\nu2 good morning [noise]\nu3 yes [sic, as said]\n")
    out = tmp_path / "out"
    assert data_main(["prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())["splits"]["train"]
    assert summary["bracketed_tags"] == {"[noise]": 2, "<unk>": 1}  # a bracket around words is no tag
    err = capsys.readouterr().err
    assert "2 transcript(s) hold bracketed tags ([noise] 2, <unk> 1)" in err and "([noise] as 'noise')" in err
    assert data_main(["check", str(out / "train.jsonl")]) == 0
    assert "2 transcript(s) hold bracketed tags" in capsys.readouterr().err


def test_a_file_of_no_audio_format_is_named_so(tmp_path):
    """A review: an empty or HTML ".mp3" was "File does not exist or is not a regular file (possibly a pipe?)",
    libsndfile's words for a file it has no format for."""
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "page.mp3").write_bytes(b"<html>404</html>")
    rows = [{"id": f"a_{name}", "audio": name, "text": "x", "duration": 1.0} for name in ("empty.mp3", "page.mp3")]
    assert data_main(["check", str(_jsonl(tmp_path / "m.jsonl", rows)), "--json", str(tmp_path / "r.json")]) == 1
    details = {r["id"]: r["detail"] for r in json.loads((tmp_path / "r.json").read_text())["rejected"]}
    assert details == {
        "a_empty.mp3": "an empty file", "a_page.mp3": "not audio in a format libsndfile reads (16 bytes)"}  # fmt: skip


def test_split_names_an_earlier_summary_lists_never_reach_outside_out(tmp_path, audio):
    """A review: summary.json's split names (data another person's folder may hold) made paths unchecked, so a
    planted {"splits": {"/elsewhere/x": {}}} had a rerun delete /elsewhere/x.jsonl (and rmtree a folder)."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "x.jsonl").write_text("mine\n")
    src = _jsonl(tmp_path / "train.jsonl", [{"id": "a_1", "audio": str(audio["u0"]), "text": "hello there"}])
    out = tmp_path / "out"
    out.mkdir()
    splits = {str(victim / "x"): {}, "../victim/x": {}, "old": {}}
    (out / "summary.json").write_text(json.dumps({"source": f"jsonl:{src}", "lang": "en", "splits": splits}))
    (out / "old.jsonl").write_text("")  # a split of this folder's that this run does not make: removed
    assert data_main(["prepare", "--source", f"jsonl:{src}", "--lang", "en", "--out", str(out)]) == 0
    assert (victim / "x.jsonl").read_text() == "mine\n" and not (out / "old.jsonl").exists()


def test_a_header_claiming_more_audio_than_memory_holds_is_unreadable_not_a_traceback(tmp_path, audio):
    """A review: a 100 KB FLAC whose STREAMINFO claims 2^36 samples had every command allocate 256 GiB (a
    MemoryError traceback in data check and decode)."""
    samples, rate = sf.read(audio["u0"], dtype="float32")
    sf.write(tmp_path / "huge.flac", samples, rate)
    data = bytearray((tmp_path / "huge.flac").read_bytes())
    assert data[:4] == b"fLaC"
    fields = int.from_bytes(data[18:26], "big")  # rate (20 bits), channels, bits, total samples (36 bits)
    data[18:26] = (fields | (1 << 36) - 1).to_bytes(8, "big")
    (tmp_path / "huge.flac").write_bytes(bytes(data))
    rows = [{"id": "a_1", "audio": "huge.flac", "text": "hello", "duration": 1.0}]
    assert data_main(["check", str(_jsonl(tmp_path / "m.jsonl", rows)), "--json", str(tmp_path / "r.json")]) == 1
    [rejected] = json.loads((tmp_path / "r.json").read_text())["rejected"]
    assert rejected["reason"] == "unreadable audio" and "more than memory holds" in rejected["detail"]


def test_data_check_lists_the_first_unusable_utterances_and_counts_the_rest(tmp_path, capsys):
    """A review: every unusable utterance was printed before the summary (1,250 lines at 100k utterances)."""
    from asr.data.cli import LISTED

    rows = [{"id": f"a_{i:02d}", "audio": "none.wav", "text": "x", "duration": 1.0} for i in range(LISTED + 5)]
    assert data_main(["check", str(_jsonl(tmp_path / "m.jsonl", rows))]) == 1
    out = capsys.readouterr().out.splitlines()
    assert sum(": missing audio file" in line for line in out) == LISTED
    assert "... and 5 more unusable (--json FILE lists them all)" in out
    assert f"0 of {LISTED + 5} utterances usable (0.000 h)" in out


def test_a_folder_reached_both_ways_is_found_under_its_own_name(tmp_path):
    """A review: files_under kept whichever name os.walk met first (a link's or the folder's), in the file
    system's order: an audiofolder's split and ids changed with it."""
    from asr.folders import files_under

    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "metadata.csv").write_text("")
    for name in ("a", "b", "zz"):  # names before and after "data"
        (tmp_path / name).symlink_to(tmp_path / "data" / "train")
    assert files_under(tmp_path) == [tmp_path / "data" / "train" / "metadata.csv"]


def test_a_long_recordings_stated_duration_may_be_off_by_a_second_at_most():
    """A review: 1% of a 20-minute recording let its manifest state 1190 s for 1201 s of audio; the words of
    the last 11 s were stamped as points at 1190 s in hyp.ctm."""
    from asr.data.audio import duration_differs

    assert not duration_differs(2.0, 2.04) and duration_differs(2.0, 2.06)  # 50 ms
    assert not duration_differs(60.0, 60.5) and duration_differs(60.0, 60.7)  # 1%
    assert duration_differs(1190.0, 1201.27) and not duration_differs(1190.0, 1190.9)  # at most 1 s


def test_links_planted_where_outputs_are_first_written_are_not_written_through(tmp_path):
    """A security review: a downloaded folder's `<report>.part` link had the report written into its target (a
    .pth file in site-packages runs at Python's start), and a linked `<out>.partial` had its target emptied."""
    from asr.folders import write_together, write_whole

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "r.txt.part").symlink_to(victim)
    write_together({tmp_path / "out" / "r.txt": "report"})
    assert victim.read_text() == "mine" and (tmp_path / "out" / "r.txt").read_text() == "report"
    assert not (tmp_path / "out" / "r.txt").is_symlink()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "a.txt").write_text("keep")
    (tmp_path / "m.partial").symlink_to(precious)
    write_whole(tmp_path / "m", lambda folder: (folder / "f").write_text("x"))
    assert (precious / "a.txt").read_text() == "keep" and (tmp_path / "m" / "f").read_text() == "x"
    assert not (tmp_path / "m").is_symlink()


def test_a_piped_manifest_resolves_its_audio_from_the_current_folder(tmp_path):
    """R76: `asr data check <(cat m.jsonl)` looked for its audio in /dev/fd: every utterance missing."""
    import shlex
    import subprocess

    sf.write(tmp_path / "s.wav", np.zeros(16000, dtype="float32"), 16000)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a_1", "audio": "s.wav", "text": "hi", "duration": 1.0}) + "\n")
    line = f"{shlex.join([*ASR, 'data', 'check'])} <(cat m.jsonl)"
    proc = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and "1 of 1 utterances usable" in proc.stdout, proc.stdout + proc.stderr


def test_the_control_character_pattern_is_category_cc_without_whitespace():
    """The hand-written pattern (fast on a large LM text) against its definition, over every code point."""
    import unicodedata

    from asr.data.manifest import _CONTROL

    defined = {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc" and not chr(c).isspace()}
    assert {chr(c) for c in range(0x110000) if _CONTROL.match(chr(c))} == defined


def test_librispeech_style_evaluation_folders_stay_apart_and_kaldi_leftovers_are_noted(tmp_path, audio, capsys):
    """R78: test-clean and test-other were pooled into one test set (scored as neither), exit 0; an audiofolder
    named test-clean was train; utterances only in utt2spk and recordings no segment cuts vanished unseen; a
    segment to its recording's end was written as the non-JSON `Infinity`; a FIFO named for a segment's channel
    hung the run; a byte-order mark inside a joined file stayed in an id."""
    root = tmp_path / "ls"
    for folder, key in (("train-clean-100", "u0"), ("train-clean-360", "u0"), ("test-clean", "u1"),
                        ("test-other", "u2")):  # fmt: skip
        (root / folder).mkdir(parents=True)
        shutil.copy(audio[key], root / folder / f"{folder}.wav")  # LibriSpeech's names: unique in the corpus
        (root / folder / "metadata.csv").write_text(f"file_name,text\n{folder}.wav,{folder}\n")
    with pytest.raises(InputError, match=r"the folders test-clean, test-other are all split test, and would be "):
        load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())
    shutil.rmtree(root / "test-other")
    splits = load_source(f"audiofolder:{root}", "en", tmp_path / "o", SourceOptions())
    assert [u.text for u in splits["train"]] == ["train-clean-100", "train-clean-360"]
    assert "split train pools the folders train-clean-100, train-clean-360" in capsys.readouterr().err
    assert set(load_source(f"audiofolder:{root / 'test-clean'}", "en", tmp_path / "o", SourceOptions())) == {"test"}
    # a pandas column of speakers with gaps is float: 103.0 and NaN
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"file_name": ["a.wav", "b.wav"], "text": ["one", "two"], "speaker_id": [103, None]})
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("a.wav", "b.wav"):
        shutil.copy(audio["u0"], flat / name)
    frame.to_parquet(flat / "metadata.parquet")
    utts = load_source(f"audiofolder:{flat}", "en", tmp_path / "o", SourceOptions())["train"]
    assert [(u.id, u.speaker) for u in utts] == [("103_a", "103"), ("b", "")]
    (flat / "metadata.parquet").unlink()  # R83: a manifest written with it, which every later command refused
    (flat / "metadata.csv").write_text("file_name,text,speaker_id\na.wav,one,ana\x07b\nb.wav,two,\n")
    with pytest.raises(InputError, match=r"metadata.csv:2: its speaker_id holds the control character U\+0007"):
        load_source(f"audiofolder:{flat}", "en", tmp_path / "o", SourceOptions())
    (flat / "metadata.csv").write_text('file_name,text,speaker_id\na.wav,one,"ana\tb"\nb.wav,two,\n')  # as manifests
    with pytest.raises(InputError, match=r"metadata.csv:2: its speaker_id holds the control character U\+0009"):
        load_source(f"audiofolder:{flat}", "en", tmp_path / "o", SourceOptions())

    data = tmp_path / "kaldi"
    data.mkdir()
    (data / "wav.scp").write_text(f"rec1 {audio['u0']}\nrec2 {audio['u1']}\n")
    (data / "segments").write_text("u1 rec1 0 0.5\nu2 rec1 0.2 -1\n")
    (data / "text").write_text("u1 hello\n")
    (data / "utt2spk").write_text("u1 u1\nu2 u2\nu3 u3\n")
    out = tmp_path / "k"
    assert data_main(["prepare", "--source", f"kaldi:{data}", "--lang", "en", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"note: {data / 'utt2spk'}: 1 utterance(s) with no line in text or segments are left out, e.g. 'u3'" in err
    assert f"note: {data / 'wav.scp'}: 1 recording(s) that no segment names are left out, e.g. 'rec2'" in err

    def strict(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    (rejected,) = (json.loads(line, parse_constant=strict) for line in (out / "train.rejected.jsonl").open())
    assert (rejected["id"], rejected["offset"], rejected["duration"]) == ("u2", 0.2, None)
    os.mkfifo(tmp_path / "fifo.wav")
    (data / "wav.scp").write_text(f"rec1 {tmp_path / 'fifo.wav'}\n")
    (data / "segments").write_text("u1 rec1 0 0.5 0\n")
    (data / "utt2spk").unlink()
    proc = subprocess.run([sys.executable, "-m", "asr", "data", "prepare", "--source", f"kaldi:{data}", "--lang", "en",
                           "--out", str(tmp_path / "f")], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "missing audio file" in proc.stderr, proc.stderr
    (data / "wav.scp").write_bytes(f"rec0 {audio['u0']}\n\ufeffrec1 {audio['u0']}\n".encode())  # two files, cat
    with pytest.raises(InputError, match=r"wav.scp:2: starts with a byte-order mark \(U\+FEFF\)"):
        load_source(f"kaldi:{data}", "en", tmp_path / "o", SourceOptions())
