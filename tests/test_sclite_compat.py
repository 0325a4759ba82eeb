"""The sclite cost model against the real NIST sclite: identical alignments, per utterance and in total."""

from __future__ import annotations

import json

import pytest

from asr.scoring.align import Counts, align_ops, tokenize
from asr.scoring.cli import main as score_main
from tests.conftest import random_pairs, sclite_alignments, write_trn


@pytest.mark.parametrize("level", ["word", "char"])
def test_alignments_equal_sclite(tmp_path, level):
    triples = random_pairs(seed=2026, count=3000)
    expected = sclite_alignments(tmp_path, triples, char=level == "char")
    assert len(expected) == len(triples)
    mismatches = [
        (utt_id, ref, hyp, ops, expected[utt_id])
        for utt_id, ref, hyp in triples
        if (ops := align_ops(tokenize(ref, level), tokenize(hyp, level))) != expected[utt_id]
    ]
    assert mismatches == []


def test_asr_score_totals_equal_sclite(tmp_path, capsys):
    triples = random_pairs(seed=7, count=800)
    ref = write_trn(tmp_path / "ref.trn", triples, 1)
    hyp = write_trn(tmp_path / "hyp.trn", triples, 2)
    assert score_main([str(ref), str(hyp), "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    for level in ("word", "char"):
        (tmp_path / level).mkdir()
        sclite = sclite_alignments(tmp_path / level, triples, char=level == "char")
        total = sum((Counts.from_ops(ops) for ops in sclite.values()), Counts())
        assert {k: report[level][k] for k in "NCSDI"} == {k: getattr(total, k) for k in "NCSDI"}
        for utt_id, ops in sclite.items():
            assert report["utterances"][utt_id][level] == Counts.from_ops(ops).as_list(), utt_id


def test_speakers_are_the_id_prefixes_sclite_groups_by(tmp_path):
    """sclite -i rm cuts at the first '-' where the id has one, else at the first '_' (asr cut at whichever came
    first, so TED-LIUM ids such as AlGore_2006-0000000-0001234 grouped two talks as one speaker). An id with
    neither is left out here: sclite files it under the speaker before it, asr makes it its own. An id that
    starts with a separator has the empty speaker, in both (asr cut at the next separator)."""
    import re
    import subprocess

    from asr.scoring.corpus import speaker_of
    from tests.conftest import SCLITE

    ids = ["AlGore_2006-0000000-0001234", "AlGore_2009-0001300-0002000", "x_y_z", "p-q_r", "1272-128104-0000",
           "-a_b", "_q"]  # fmt: skip
    ref, hyp = (write_trn(tmp_path / f"{n}.trn", [(i, "a b", "a b") for i in ids], 1) for n in ("ref", "hyp"))
    subprocess.run([str(SCLITE), "-r", str(ref), "trn", "-h", str(hyp), "trn", "-i", "rm", "-s", "-o", "sgml", "-O",
                    str(tmp_path), "-n", "s"], check=True, capture_output=True)  # fmt: skip
    sgml = (tmp_path / "s.sgml").read_text(encoding="utf-8")
    grouped = {i: spk for spk, body in re.findall(r'<SPEAKER id="([^"]*)">(.*?)</SPEAKER>', sgml, flags=re.S)
               for i in re.findall(r'<PATH id="\(([^)]*)\)"', body)}  # fmt: skip
    assert grouped == {i: speaker_of(i) for i in ids}


@pytest.mark.parametrize("level", ["word", "char"])
def test_unicode_spaces_are_characters_as_sclite_reads_them(tmp_path, level):
    triples = [("u1", "prix 10\u00a0000 euros", "prix 10 000 euros"), ("u2", "a\u3000b c", "a b\u2028c"),
               ("u3", "x\ty  z", "x y z")]  # fmt: skip
    expected = sclite_alignments(tmp_path, triples, char=level == "char")
    assert {u: align_ops(tokenize(r, level), tokenize(h, level)) for u, r, h in triples} == expected


def test_deletion_plus_insertion_preferred_to_substitutions():
    ops = align_ops(["one", "two", "three", "four", "five"], ["four", "five", "six", "seven", "eight"])
    assert Counts.from_ops(ops) == Counts(C=2, S=0, D=3, I=3)


@pytest.mark.parametrize(
    ("level", "expected"),
    # the shipped example as scored by sclite -s (word) and sclite -s -e utf-8 -c (char), see README
    [("word", {"N": 30, "S": 5, "D": 7, "I": 8}), ("char", {"N": 108, "S": 22, "D": 18, "I": 23})],
)
def test_shipped_example_matches_sclite_figures(capsys, level, expected):
    assert score_main(["examples/ref.trn", "examples/hyp.trn", "--level", level, "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)[level]
    assert {k: report[k] for k in expected} == expected
