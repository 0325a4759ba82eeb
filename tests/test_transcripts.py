"""Reading Kaldi, TSV, trn and JSONL transcripts, format detection, and one-line errors for bad files."""

from __future__ import annotations

import pytest

from asr.errors import InputError
from asr.scoring.transcripts import read_transcripts

EXPECTED = {"spk1_a": "hello  world", "spk1_b": "", "spk2_c": "päivää"}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("text", "spk1_a hello  world\nspk1_b\n\nspk2_c päivää\n"),
        ("ref.txt", "spk1_a\thello  world\nspk1_b\t\nspk2_c\tpäivää\n"),
        ("hyp.trn", ";; comment\nhello  world (spk1_a)\n(spk1_b)\npäivää (spk2_c)\n"),
        ("noext", "hello  world (spk1_a)\r\n(spk1_b)\r\npäivää (spk2_c)\r\n"),
        ("mac.txt", "spk1_a hello  world\rspk1_b\r\rspk2_c päivää\r"),  # CR-only line ends
        ("h.jsonl", '{"id": "spk1_a", "hyp": "hello  world"}\n{"id": "spk1_b", "hyp": ""}\n'
                    '{"id": "spk2_c", "hyp": "päivää", "ref": "x"}\n'),
    ],
)  # fmt: skip
def test_formats_are_detected_and_read(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert read_transcripts(path, "hyp") == EXPECTED


def test_jsonl_reference_reads_ref_then_text(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a", "text": "manifest"}\n{"id": "b", "ref": "r", "text": "t", "hyp": "h"}\n')
    assert read_transcripts(path, "ref") == {"a": "manifest", "b": "r"}


def test_bom_and_unicode_line_separators_inside_text(tmp_path):
    path = tmp_path / "k.txt"
    path.write_bytes("\ufeffu1 a\x85b\u2028c\nu2 d\n".encode())
    assert read_transcripts(path) == {"u1": "a\x85b\u2028c", "u2": "d"}


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("dup.txt", b"u1 a\nu2 b\nu1 c\n", r"dup.txt:3: duplicate utterance id 'u1' \(first on line 1\)"),
        ("bad.txt", b"u1 a\nu2 \xff\n", r"bad.txt:2: not valid UTF-8"),
        ("bad.trn", b"a b (u1)\nno id here\n", r"bad.trn:2: no '\(id\)' at the end"),
        ("bad.jsonl", b'{"id": "u1", "hyp": "a"}\n{"id": "u2", \n', r"bad.jsonl:2: invalid JSON"),
        ("nohyp.jsonl", b'{"id": "u1", "text": "a"}\n', r"nohyp.jsonl:1: no 'hyp' field"),
        ("bad.tsv", b"u1\ta\nu2 b\n", r"bad.tsv:2: no tab"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        read_transcripts(path, "hyp")


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [  # as asr decode writes them (ref.stm, hyp.ctm), and the same lines under a name that says nothing
        ("ref.stm", "u1 1 spk 0.000 1.606 <o> la casa es roja\n", "STM"),
        ("hyp.ctm", "u1 1 0.020 0.120 la\nu1 1 0.180 0.080 casa\n", "CTM"),
        ("ref.txt", "u1 1 spk 0.000 1.606 la casa es roja\nu2 1 spk 0.000 2.1 el perro\n", "STM"),
        ("hyp.txt", "u1 1 0.020 0.120 la\nu1 1 0.180 0.080 casa 0.93\n", "CTM"),
    ],
)
def test_timed_files_are_refused_not_read_as_kaldi_text(tmp_path, name, data, kind):
    """Read as Kaldi text, an STM's channel, speaker and times were scored as reference words (WER 96.77%
    against 94.74% on three utterances), with exit 0."""
    path = tmp_path / name
    path.write_text(data, encoding="utf-8")
    with pytest.raises(InputError, match=rf"{name}: a {kind} file, scored by time: 'sclite -r ref.stm stm"):
        read_transcripts(path)


def test_kaldi_text_with_numbers_is_still_kaldi_text(tmp_path):
    path = tmp_path / "text"
    path.write_text("u1 the 2 3 cats\nu2 one two\n", encoding="utf-8")
    assert read_transcripts(path) == {"u1": "the 2 3 cats", "u2": "one two"}


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nothere.txt: cannot read: No such file"):
        read_transcripts(tmp_path / "nothere.txt")


def test_a_tsv_header_line_is_refused_not_scored(tmp_path):
    """A header "id<TAB>text" in both files was scored as an utterance whose words were "text"."""
    path = tmp_path / "ref.tsv"
    path.write_text("id\ttext\nu1\tla casa\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"ref.tsv:1: a header line \('id\\ttext'\); tsv transcripts have none"):
        read_transcripts(path)
    path.write_text("u1\tla casa\nid\tel perro\n", encoding="utf-8")  # an utterance named "id" further down
    assert read_transcripts(path) == {"u1": "la casa", "id": "el perro"}


def test_a_tsv_line_with_a_third_column_is_refused_not_scored(tmp_path):
    path = tmp_path / "ref.tsv"
    path.write_text("u1\thello world\t1.52\n", encoding="utf-8")  # the duration was scored as a word
    with pytest.raises(InputError, match=r"ref.tsv:1: more than two tab-separated columns"):
        read_transcripts(path)
