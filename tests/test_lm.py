"""KenLM models built with the real lmplz/build_binary: files, perplexity, and bad input."""

from __future__ import annotations

import itertools
import json
import math
import random
import shutil
from pathlib import Path

import pytest

from asr.data.synth.texts import sentences
from asr.vocab.cli import main as vocab_main
from lm.cli import main as lm_main


@pytest.fixture(scope="module")
def english(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lm")
    texts, _ = sentences("en")
    random.Random(0).shuffle(texts)
    train, held_out = texts[:3000], texts[3000:3300]
    (root / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (root / "dev.txt").write_text("\n".join(held_out) + "\n", encoding="utf-8")
    rng = random.Random(1)
    shuffled = []
    for line in held_out:
        words = line.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    (root / "shuffled.txt").write_text("\n".join(shuffled) + "\n", encoding="utf-8")
    args = ["build", "--text", str(root / "train.txt"), "--order", "3", "--normalize", "en"]
    assert lm_main([*args, "--dev", str(root / "dev.txt"), "--out", str(root / "lm")]) == 0
    return {"root": root, "lm": root / "lm"}


def test_build_writes_a_loadable_kenlm_model(english):
    import hashlib

    import kenlm

    lm = english["lm"]
    info = json.loads((lm / "lm.json").read_text(encoding="utf-8"))
    assert info["order"] == 3 and info["normalizer"] == "en@4" and info["text"]["sentences"] == 3000
    # the normalised text's digest: what a decode's record of its LM tells two LMs' texts apart by
    text = (lm / "text.txt").read_bytes()
    assert info["text"]["sha256"] == hashlib.sha256(text).hexdigest()[:16]
    assert set(info["ngrams"]) == {"1", "2", "3"} and all(n > 0 for n in info["ngrams"].values())
    words = (lm / "unigrams.txt").read_text(encoding="utf-8").split()
    assert len(words) == info["vocabulary"] > 1000 and not {"<s>", "</s>", "<unk>"} & set(words)
    assert all(w == w.lower() for w in words)  # the en normaliser lower-cases the text
    arpa_model, binary_model = kenlm.Model(str(lm / "lm.arpa")), kenlm.Model(str(lm / "lm.bin"))
    assert arpa_model.order == binary_model.order == 3
    assert arpa_model.score("the cat is on the mat") == pytest.approx(
        binary_model.score("the cat is on the mat"), abs=1e-4
    )
    dev = info["dev"]
    assert dev["sentences"] == 300 and 0 < dev["oov_rate"] < 0.2 and dev["perplexity"] > dev["perplexity_no_oov"] > 1


def test_in_domain_text_has_lower_perplexity_than_shuffled_text(english, capsys):
    root = english["root"]
    results = {}
    for name in ("dev", "shuffled"):
        capsys.readouterr()
        assert (
            lm_main(["ppl", "--lm", str(english["lm"]), "--text", str(root / f"{name}.txt"), "--normalize", "en"]) == 0
        )
        results[name] = json.loads(capsys.readouterr().out)
    assert results["dev"]["oov"] == results["shuffled"]["oov"]  # the same words, in another order
    assert results["dev"]["perplexity"] < 0.7 * results["shuffled"]["perplexity"]
    # without a normaliser the LM's own is used; the same figures as asr lm build --dev, which used it too
    assert lm_main(["ppl", "--lm", str(english["lm"]), "--text", str(root / "dev.txt")]) == 0
    printed = capsys.readouterr()
    own = json.loads(printed.out)
    assert f"perplexity per word {own['perplexity']:.1f}," in printed.err  # and a line for a person (a review)
    built = json.loads((english["lm"] / "lm.json").read_text(encoding="utf-8"))["dev"]
    assert own["normalizer"] == "en@4" and own["perplexity"] == results["dev"]["perplexity"] == built["perplexity"]


def test_perplexity_with_another_normaliser_than_the_lms_is_refused(english, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("THE CAT, IS ON THE MAT.\n", encoding="utf-8")
    assert lm_main(["ppl", "--lm", str(english["lm"]), "--text", str(text), "--normalize", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "normalised with en@4, not none" in err and len(err.splitlines()) == 1
    text.write_text("!!! ...\n", encoding="utf-8")  # no words: refused, not a perplexity of null
    assert lm_main(["ppl", "--lm", str(english["lm"]), "--text", str(text)]) == 2
    assert "no words after normalisation (en@4)" in capsys.readouterr().err


def test_lines_that_normalise_to_nothing_are_counted_and_named(tmp_path, capsys):
    text, dev = tmp_path / "text.txt", tmp_path / "dev.txt"
    text.write_text("one two three\n!!! ???\n\nfour five six\n...\n", encoding="utf-8")  # the blank line is no text
    dev.write_text("one two\n--\n", encoding="utf-8")
    args = ["build", "--text", str(text), "--order", "2", "--normalize", "lower-nopunct", "--dev", str(dev)]
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 0
    out = capsys.readouterr().out
    assert f"text: 2 lines normalised to nothing, left out ({text}: 2)" in out
    assert f"dev: 1 line normalised to nothing, left out ({dev}: 1)" in out
    info = json.loads((tmp_path / "lm" / "lm.json").read_text(encoding="utf-8"))
    assert info["text"]["sentences"] == 2 and info["text"]["dropped_lines"] == {str(text): 2}
    assert info["dev"]["dropped_lines"] == {str(dev): 1}
    assert lm_main(["ppl", "--lm", str(tmp_path / "lm"), "--text", str(text), str(dev)]) == 0
    assert json.loads(capsys.readouterr().out)["dropped_lines"] == {str(text): 2, str(dev): 1}


def test_every_text_option_counts_and_a_manifest_is_known_in_any_spelling(tmp_path):
    """A second --text replaced the first (13,674 lines dropped without a word), and a manifest named .JSON or
    NeMo's .json was read as plain text: its keys and ids became LM words."""
    text, manifest = tmp_path / "text.txt", tmp_path / "train.JSON"
    text.write_text("one two three\nfour five six\n", encoding="utf-8")
    manifest.write_text(json.dumps({"id": "spk-u1", "audio": "a.wav", "text": "seven eight"}) + "\n")
    args = ["build", "--text", str(text), "--text", str(manifest), "--order", "2", "--normalize", "lower-nopunct"]
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 0
    info = json.loads((tmp_path / "lm" / "lm.json").read_text(encoding="utf-8"))
    assert info["text"]["files"] == {str(text): 2, str(manifest): 1}
    assert (tmp_path / "lm" / "text.txt").read_text().splitlines()[-1] == "seven eight"
    nemo = tmp_path / "nemo.json"  # NeMo's own lines have no id (refused as "manifest line without id, audio")
    nemo.write_text(json.dumps({"audio_filepath": "a.wav", "duration": 1.0, "text": "nine ten"}) + "\n")
    assert lm_main([*args, "--text", str(nemo), "--out", str(tmp_path / "lm2")]) == 0
    assert (tmp_path / "lm2" / "text.txt").read_text().splitlines()[-1] == "nine ten"


@pytest.mark.parametrize(
    ("lines", "extra", "message"),
    [
        ("", [], "empty"),
        ("!!! ???\n...\n", [], "no words left after normalisation with lower-nopunct@6"),
        ("one two three\n", ["--order", "7"], "KenLM builds orders 2 to 6"),
        ("one two three\n", ["--order", "1"], "KenLM builds orders 2 to 6"),
        ("hello\nworld\n", ["--order", "5"], "needs sentences of at least 3 words; the longest of"),
        ("a b c\n", ["--order", "2", "--prune", "0,0,1"], "3 thresholds for an order-2 model"),
        # R70: a crash's zero bytes after a line cut short: the half word and the zeros became words of the LM
        (
            "a b c\nd e f\nthe cat is on the ma" + "\0" * 64,
            [],
            "text.txt:3 holds the control character U+0000 (zero bytes: a file cut short by a crash?)",
        ),
    ],
)
def test_bad_text_is_reported(tmp_path, capsys, lines, extra, message):
    text = tmp_path / "text.txt"
    text.write_text(lines, encoding="utf-8")
    args = ["build", "--text", str(text), "--normalize", "lower-nopunct", "--out", str(tmp_path / "lm"), *extra]
    assert lm_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert err.startswith("asr lm build: error: ")  # as the other commands name themselves (was "asr lm:")


def test_an_lm_folder_whose_words_or_binary_lm_json_does_not_describe_is_refused(english, tmp_path):
    """R70: a unigrams.txt cut short, or another LM's lm.bin copied in, decoded to another WER (exit 0) with the
    original LM's description in results.json."""
    from asr.errors import InputError
    from lm.folder import LMFolder

    damaged = tmp_path / "lm"
    shutil.copytree(english["lm"], damaged)
    words = (damaged / "unigrams.txt").read_text(encoding="utf-8").splitlines()
    (damaged / "unigrams.txt").write_text("\n".join(words[: len(words) // 3]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"unigrams.txt: {len(words) // 3} words, lm.json says {len(words)}"):
        LMFolder.load(damaged)
    shutil.copy(english["lm"] / "unigrams.txt", damaged / "unigrams.txt")
    with (damaged / "lm.bin").open("r+b") as binary:
        binary.truncate(binary.seek(0, 2) // 2)
    with pytest.raises(InputError, match=r"lm.bin: \d+ bytes, lm.json says \d+ \(cut short"):
        LMFolder.load(damaged)
    (damaged / "lm.bin").write_bytes((english["lm"] / "lm.bin").read_bytes() + bytes(4096))  # KenLM loads it
    with pytest.raises(InputError, match=r"lm.bin: \d+ bytes, lm.json says \d+ \(cut short"):
        LMFolder.load(damaged)
    ppl = ["ppl", "--lm", str(damaged), "--text", str(english["root"] / "dev.txt")]  # R72: measured, exit 0
    assert lm_main(ppl) == 2


def test_text_that_is_not_utf8_is_named_by_its_line(tmp_path, capsys):
    """The error gave a position in a read buffer ("position 5088"), not the line."""
    text = tmp_path / "text.txt"
    text.write_bytes(b"one two three\n" * 20_000 + b"four \xff five\n" + b"six seven\n")
    assert lm_main(["build", "--text", str(text), "--normalize", "none", "--out", str(tmp_path / "lm")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{text}:20001: not valid UTF-8 text")
    text.write_bytes(b"one two\rthree four\rfive \xff six\r")  # lines as text mode reads them: a lone CR ends one
    assert lm_main(["build", "--text", str(text), "--normalize", "none", "--out", str(tmp_path / "lm")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{text}:3: not valid UTF-8 text")


def test_a_folder_that_is_not_an_lm_is_named(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("a b\n", encoding="utf-8")
    assert lm_main(["ppl", "--lm", str(tmp_path), "--text", str(text), "--normalize", "none"]) == 2
    assert f"{tmp_path}: not an LM folder" in capsys.readouterr().err


def test_an_out_folder_holding_something_else_is_not_replaced(english, tmp_path, capsys):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("important\n")
    text = english["root"] / "train.txt"
    assert lm_main(["build", "--text", str(text), "--order", "2", "--normalize", "en", "--out", str(precious)]) == 2
    assert "holds files that are not an LM" in capsys.readouterr().err and (precious / "notes.txt").is_file()
    args = ["train", "--text", str(text), "--normalize", "en", "--max-minutes", "0.01", "--out", str(english["lm"])]
    assert lm_main(args) == 2  # a Transformer LM over the n-gram's lm.json would describe the wrong model
    assert "holds a ngram LM" in capsys.readouterr().err


def test_words_the_model_cannot_write_are_named_at_build(tmp_path, capsys):
    from asr.model.init import init_model

    (tmp_path / "t.txt").write_text("नमस्ते दुनिया\nनमस्ते hello\n", encoding="utf-8")
    row = {"id": "a_1", "audio": "a.wav", "duration": 1.0, "text": "नमस्ते दुनिया", "speaker": "a", "lang": "hi"}
    (tmp_path / "train.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert vocab_main(["--train", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "p")]) == 0
    init_model("tiny", tmp_path / "m", tmp_path / "p")
    args = ["build", "--text", str(tmp_path / "t.txt"), "--order", "2", "--processor", str(tmp_path / "m")]
    # more than asr decode takes (5%): refused here, not at a recipe's decode stage after its training
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 2
    said = capsys.readouterr()
    assert "1 of 3 words use characters" in said.out and "asr decode refuses it" in said.err
    spellable = ["".join(w) for w in itertools.islice(itertools.product(sorted(set("नमस्तेदुनिया")), repeat=3), 40)]
    (tmp_path / "t.txt").write_text(" ".join(spellable) + " hello\n", encoding="utf-8")  # 1 in 41 words: named
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 0
    assert "1 of " in capsys.readouterr().out
    # a refused rebuild leaves the LM that was there (it had replaced it before saying no)
    before = (tmp_path / "lm" / "lm.bin").read_bytes()
    (tmp_path / "t.txt").write_text("hello world\nhello there\n", encoding="utf-8")
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 2
    assert (tmp_path / "lm" / "lm.bin").read_bytes() == before and "nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("lm")) == ["lm"]
    # R91: the word delimiter is a space to the decoder: with the shipped models' normaliser, which keeps "|",
    # "नम|स्ते" was a word the model could write
    vocab = ["--train", str(tmp_path / "train.jsonl"), "--normalize", "lower-nopunct@1", "--out", str(tmp_path / "p2")]
    assert vocab_main(vocab) == 0
    init_model("tiny", tmp_path / "m2", tmp_path / "p2")
    (tmp_path / "t2.txt").write_text(" ".join(spellable) + " नम|स्ते\n", encoding="utf-8")
    piped = ["build", "--text", str(tmp_path / "t2.txt"), "--order", "2", "--processor", str(tmp_path / "m2")]
    assert lm_main([*piped, "--out", str(tmp_path / "lm2")]) == 0
    assert "1 of 41 words use characters" in capsys.readouterr().out
    (tmp_path / "m" / "vocab.json").write_text("{bad", encoding="utf-8")  # a traceback
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 2
    assert f"{tmp_path / 'm' / 'vocab.json'}: not a readable vocabulary" in capsys.readouterr().err


def test_a_transformer_lm_trains_loads_and_scores_per_word(english, tmp_path, capsys, group_umask):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lm.neural import NeuralLM

    root, out = english["root"], tmp_path / "neural"
    args = ["train", "--text", str(root / "train.txt"), "--normalize", "en", "--dev", str(root / "dev.txt")]
    assert lm_main([*args, "--max-minutes", "5", "--max-steps", "40", "--out", str(out)]) == 0  # not load-bound
    info = json.loads((out / "lm.json").read_text(encoding="utf-8"))
    assert group_umask(out) == {0o664}
    ngram = json.loads((english["lm"] / "lm.json").read_text(encoding="utf-8"))["dev"]
    dev = info["dev"]
    assert info["kind"] == "transformer" and info["normalizer"] == "en@4" and info["steps"] == 40
    # R34: two seeds' LMs had the same record (decodes' `rescoring` too), as had two texts of one size
    assert info["seed"] == 0 and len(info["text"]["sha256"]) == 16
    # one text, one digest: the n-gram's of the same file and normaliser (the Transformer's left out the last
    # line's end)
    assert info["text"]["sha256"] == json.loads((english["lm"] / "lm.json").read_text())["text"]["sha256"]
    assert info["epochs"] == round(40 * 32 / 3000, 2)  # sentences seen, not a started epoch counted whole
    # counted as KenLM counts: the same words, the same OOVs (the n-gram's vocabulary), </s> per sentence
    assert (dev["words"], dev["oov"], dev["sentences"]) == (ngram["words"], ngram["oov"], ngram["sentences"])
    assert 1 < dev["perplexity"] < info["vocabulary"]  # far better than uniform after a few seconds
    said = capsys.readouterr()
    assert dev["perplexity_no_oov"] > 1 and "without OOV words" in said.out
    # the phases before and after the bar are said (reading the text took 20 s at 5M words without a word)
    assert "reading and normalising 1 text file(s)" in said.err and "dev perplexity of 3" in said.err
    # R44: redrawn every step into a log (40 here); LOG_INTERVAL apart now (the first and last, a few between)
    assert said.err.count("train LM:") <= 2 + info["minutes"] * 60 / 10, said.err.count("train LM:")
    assert lm_main(["ppl", "--lm", str(out), "--text", str(root / "dev.txt")]) == 0  # the Transformer LM's own
    ppl = json.loads(capsys.readouterr().out)
    assert ppl["kind"] == "transformer" and ppl["perplexity"] == pytest.approx(dev["perplexity"], rel=1e-6)
    AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    lm = NeuralLM.load(str(out))
    good, shuffled = lm.log_probs(["the cat is on the mat", "mat the on is cat the"])
    assert good > shuffled
    # a sentence longer than the context is scored whole (in windows), not cut: every word costs something
    words = ["the", "cat", "is", "on", "the", "mat", "and", "the", "dog", "is", "in", "the", "house"] * 6
    assert len(words) + 2 > lm.context
    whole, cut = lm.log_probs([" ".join(words), " ".join(words[: lm.context - 2])])
    assert whole < cut - 1
    assert sum(lm._windowed(lm.tokens("the cat is on the mat"))) == pytest.approx(good, abs=1e-3)
    # without OOV words, by hand: the <unk> tokens' own scores left out, as KenLM's perplexity_no_oov does (this
    # model's <unk> is trained as a likely word, KenLM's is not: the figure with OOVs favoured the Transformer)
    import torch

    ids = lm.tokens("the cat zzz is on the mat")
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(input_ids=torch.tensor([ids])).logits[0, :-1], -1)
    scores = logp.gather(-1, torch.tensor(ids[1:]).unsqueeze(-1)).squeeze(-1)
    known = scores[torch.tensor(ids[1:]) != lm.tokenizer.unk_token_id]
    assert 0 < len(known) < len(ids) - 1  # "zzz" at least is out of the vocabulary
    expected = math.exp(-float(known.mean()))
    assert lm.perplexity(["the cat zzz is on the mat"])["perplexity_no_oov"] == pytest.approx(expected, rel=1e-5)
    # words are looked up whole, as KenLM does: "a<s>b" was three tokens, "<pad>" a known word
    assert lm.tokens("the a<s>b <pad> cat") == lm.tokens("the zzz zzz cat") and lm.unknown_words("a<s>b <pad>") == 2
    # weights cut short are one line (a SafetensorError traceback)
    cut = tmp_path / "cut"
    shutil.copytree(out, cut)
    (cut / "model.safetensors").write_bytes((cut / "model.safetensors").read_bytes()[:1000])
    capsys.readouterr()
    assert lm_main(["ppl", "--lm", str(cut), "--text", str(root / "dev.txt")]) == 2
    assert f"{cut}: cannot load a causal LM" in capsys.readouterr().err
    # --from: continue training any causal LM folder (here, this one)
    assert lm_main([*args, "--max-minutes", "0.05", "--from", str(out), "--out", str(tmp_path / "more")]) == 0
    more = json.loads((tmp_path / "more" / "lm.json").read_text())
    assert more["from"] == str(out) and more["steps"] > 0  # no --max-steps: no step limit (0 steps, once)


def test_a_transformer_lm_trained_again_replaces_its_folder_whole_or_not_at_all(english, tmp_path, monkeypatch, capsys):
    from transformers import PreTrainedTokenizerBase

    out = tmp_path / "neural"
    args = ["train", "--text", str(english["root"] / "train.txt"), "--max-minutes", "0.02", "--out", str(out)]
    assert lm_main([*args, "--normalize", "en"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", interrupted)  # the weights are written by then
    assert lm_main([*args, "--normalize", "none"]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # lm.json describes the weights beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neural", "neural.checkpoint"]  # the rerun's, no partial
    monkeypatch.chdir(out)  # it would be replaced under the shell standing in it
    assert lm_main([*args[:-1], ".", "--normalize", "en"]) == 2
    assert "--out .: the current folder or one above it" in capsys.readouterr().err


def test_lm_text_is_read_as_sentences_whatever_the_normaliser(english, tmp_path, capsys):
    """With --normalize none each line kept its newline (an empty sentence after every one: P(<s> </s>) was
    0.57), a byte-order mark became part of the first word, and a Transformer LM crashed on "<unk>" (lmplz
    stopped on it, naming no line: both LMs refuse it, naming the line)."""
    text = tmp_path / "none.txt"
    text.write_text("\ufeffthe cat sat on the mat\n\nthe dog sat on the mat\n   \na cat and a dog\n", encoding="utf-8")
    args = ["build", "--text", str(text), "--order", "3", "--normalize", "none", "--dev", str(text)]
    for out in ("lm", "fallback_lm"):  # "fallback" in a path is no sign of lmplz's fallback discounts
        assert lm_main([*args, "--out", str(tmp_path / out)]) == 0
    info, other = (json.loads((tmp_path / o / "lm.json").read_text()) for o in ("lm", "fallback_lm"))
    assert (info["text"]["sentences"], info["text"]["words"], info["dev"]["sentences"]) == (3, 17, 3)
    assert info["discount_fallback_used"] == other["discount_fallback_used"]
    assert "the" in (tmp_path / "lm" / "unigrams.txt").read_text(encoding="utf-8").split()
    (tmp_path / "lm.old").mkdir()  # an earlier run's leftover beside --out is neither in the way nor removed
    (tmp_path / "lm.old" / "keep").write_text("")
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 0 and (tmp_path / "lm.old" / "keep").exists()
    unk = tmp_path / "unk.txt"
    unk.write_text("the cat sat on the mat\nthe dog <unk> on the mat\n", encoding="utf-8")
    train = ["train", "--text", str(unk), "--normalize", "none", "--out", str(tmp_path / "nlm")]
    for command in (["build", *train[1:], "--order", "2"], [*train, "--max-minutes", "0.01"]):
        capsys.readouterr()
        assert lm_main(command) == 2
        assert f"{unk}:2: '<unk>' is a word language models reserve" in capsys.readouterr().err
    unk.write_text("the cat sat on the mat\nthe dog <pad> on the mat\n", encoding="utf-8")  # R91: counted otherwise
    assert lm_main(["build", *train[1:], "--order", "2"]) == 2
    assert f"{unk}:2: '<pad>' is a word language models reserve" in capsys.readouterr().err
    train[2] = str(text)
    assert lm_main([*train, "--max-minutes", "nan"]) == 2
    assert "--max-minutes nan: expected" in capsys.readouterr().err
    assert lm_main([*train, "--max-steps", "-1"]) == 2
    assert "--max-steps -1: expected" in capsys.readouterr().err
    binary = (tmp_path / "lm" / "lm.bin").read_bytes()
    (tmp_path / "lm" / "lm.bin").write_bytes(binary[: len(binary) // 2])  # truncated: lm.json's size says so
    assert lm_main(["ppl", "--lm", str(tmp_path / "lm"), "--text", str(text)]) == 2
    assert "bytes, lm.json says" in capsys.readouterr().err
    (tmp_path / "lm" / "lm.bin").write_bytes(b"x" * 100 + binary[100:])  # damaged at its size: KenLM's own error
    assert lm_main(["ppl", "--lm", str(tmp_path / "lm"), "--text", str(text)]) == 2
    assert "KenLM cannot load it" in capsys.readouterr().err


def test_a_causal_lm_whose_tokenizer_has_no_end_of_sentence_is_named(tmp_path, capsys):
    """`asr lm train --from` such a model was a TypeError from torch.full (its padding was None)."""
    from lm.neural import scratch_lm

    lm = scratch_lm(["a b c", "b c d"], 0)
    lm.tokenizer.eos_token = None
    lm.model.save_pretrained(tmp_path / "noeos")
    lm.tokenizer.save_pretrained(tmp_path / "noeos")
    (tmp_path / "text.txt").write_text("a b c\n", encoding="utf-8")
    args = ["train", "--text", str(tmp_path / "text.txt"), "--from", str(tmp_path / "noeos"), "--normalize", "none"]
    assert lm_main([*args, "--out", str(tmp_path / "out"), "--max-minutes", "0.01"]) == 2
    assert "noeos: its tokenizer has no end-of-sentence token" in capsys.readouterr().err


def test_an_lm_out_that_is_a_link_rebuilds_its_target(tmp_path):
    """The link was replaced by a folder of its own; the target kept the old LM."""
    text = tmp_path / "text.txt"
    text.write_text("one two three\nfour five six\none two six\n", encoding="utf-8")
    args = ["build", "--text", str(text), "--normalize", "lower-nopunct"]
    assert lm_main([*args, "--order", "2", "--out", str(tmp_path / "real")]) == 0
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert lm_main([*args, "--order", "3", "--out", str(tmp_path / "link")]) == 0
    assert (tmp_path / "link").is_symlink()
    assert json.loads((tmp_path / "real" / "lm.json").read_text(encoding="utf-8"))["order"] == 3


@pytest.mark.parametrize(("stop", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stopped_transformer_lm_run_goes_on_to_the_same_weights(english, tmp_path, monkeypatch, capsys, stop, status):
    """Found by a review: Ctrl-C lost the training (the rerun started at step 0), and a SIGTERM still did (R35).
    A stop in the middle of a step stops the run after it (saved mid-step, the rerun drew other dropout masks);
    the rerun goes on from the checkpoint, across epochs (200 sentences: 7 batches each), to the weights of a
    run never stopped."""
    import signal

    import torch

    from lm.neural import NeuralLM

    text = tmp_path / "few.txt"
    text.write_text("".join((english["root"] / "train.txt").read_text().splitlines(keepends=True)[:200]))
    args = ["train", "--text", str(text), "--normalize", "en", "--max-minutes", "5", "--max-steps", "20"]
    assert lm_main([*args, "--out", str(tmp_path / "whole")]) == 0
    calls, batch, update = [], NeuralLM.batch, torch.optim.AdamW.step

    def ctrl_c_in_the_ninth_step(self, *args, **kwargs):
        result = update(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 9:
            signal.raise_signal(getattr(signal, stop))  # the weights updated, the step not counted yet
        return result

    monkeypatch.setattr(torch.optim.AdamW, "step", ctrl_c_in_the_ninth_step)
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == status and len(calls) == 9
    monkeypatch.setattr(torch.optim.AdamW, "step", update)
    assert (tmp_path / "lm.checkpoint" / "state.pt").is_file() and not (tmp_path / "lm").exists()
    assert lm_main([*args, "--seed", "1", "--out", str(tmp_path / "lm")]) == 2  # other settings: named
    assert "with other settings (seed)" in capsys.readouterr().err
    state = (tmp_path / "lm.checkpoint" / "state.pt").read_bytes()
    (tmp_path / "lm.checkpoint" / "state.pt").write_bytes(b"garbage")  # one line, not a traceback
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("asr lm train: reading")]
    assert "not a readable checkpoint" in err and len(lines) == 1, err  # torch's was many
    (tmp_path / "lm.checkpoint" / "state.pt").write_bytes(state)
    calls.clear()
    monkeypatch.setattr(NeuralLM, "batch", lambda self, sentences: calls.append(1) or batch(self, sentences))
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 0
    assert "going on from" in capsys.readouterr().err and not (tmp_path / "lm.checkpoint").exists()
    assert len(calls) == 11  # the 9 steps done before the stop are not trained again
    info = json.loads((tmp_path / "lm" / "lm.json").read_text(encoding="utf-8"))
    assert info["steps"] == 20 and info["epochs"] == (2 * 200 + 6 * 32) / 200  # two epochs of 7 batches, 6 more
    whole, resumed = ((tmp_path / d / "model.safetensors").read_bytes() for d in ("whole", "lm"))
    assert whole == resumed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers are given back
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_transformer_lm_stopped_after_training_trains_no_step_again(english, tmp_path, monkeypatch):
    """Carried from a review: a stop during the dev perplexity (after the last step) fell back to the last
    5-minute checkpoint. Training ends with a checkpoint, and the rerun goes from there to the same LM."""
    from lm.neural import NeuralLM

    text, dev = tmp_path / "few.txt", tmp_path / "dev.txt"
    lines = (english["root"] / "train.txt").read_text().splitlines(keepends=True)
    text.write_text("".join(lines[:64]))
    dev.write_text("".join(lines[64:70]))
    args = ["train", "--text", str(text), "--dev", str(dev), "--normalize", "en", "--max-minutes", "5",
            "--max-steps", "3"]  # fmt: skip
    assert lm_main([*args, "--out", str(tmp_path / "whole")]) == 0
    perplexity, batch, calls = NeuralLM.perplexity, NeuralLM.batch, []

    def stopped(self, sentences):
        raise KeyboardInterrupt

    monkeypatch.setattr(NeuralLM, "perplexity", stopped)
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 130
    monkeypatch.setattr(NeuralLM, "perplexity", perplexity)
    monkeypatch.setattr(NeuralLM, "batch", lambda self, sentences: calls.append(1) or batch(self, sentences))
    assert lm_main([*args, "--out", str(tmp_path / "lm")]) == 0
    assert calls == [] and not (tmp_path / "lm.checkpoint").exists()
    info = json.loads((tmp_path / "lm" / "lm.json").read_text(encoding="utf-8"))
    assert info["schema"] == 1 and info["text"]["files"] == {str(text): 64}  # as an n-gram's lm.json
    whole, resumed = ((tmp_path / d / "model.safetensors").read_bytes() for d in ("whole", "lm"))
    assert whole == resumed


def test_sentences_longer_than_the_context_are_counted(tmp_path, capsys):
    """Found by a review: a 400-word line trained on its first 254 words without a word said. R69: called under a
    caller's inference_mode the training was a traceback, and a caller's float64 default wrote a float64 LM."""
    import torch
    from safetensors.torch import load_file

    text = tmp_path / "long.txt"
    text.write_text("a b c d\nb c d e\n" + " ".join(["a", "b", "c", "d"] * 100) + "\n", encoding="utf-8")
    args = ["train", "--text", str(text), "--normalize", "none", "--max-steps", "1", "--out", str(tmp_path / "lm")]
    torch.set_default_dtype(torch.float64)
    try:
        with torch.inference_mode():
            assert lm_main(args) == 0
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)
    weights = load_file(str(tmp_path / "lm" / "model.safetensors"))
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}
    assert "1 sentence(s) longer than the model's context (256 tokens)" in capsys.readouterr().err
    assert json.loads((tmp_path / "lm" / "lm.json").read_text(encoding="utf-8"))["text"]["cut_to_context"] == 1


def test_a_subword_lm_has_no_oov_words(tmp_path):
    """Found by a review: with a subword tokenizer (--from gpt2) the figure without OOV words was per token, and
    GPT-2's unk token is its eos, so every </s> was left out as an OOV word."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from lm.neural import NeuralLM

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    core.train_from_iterator(["the cat sat on the mat", "a dog ate the hat"] * 20, trainer)
    end = "<|endoftext|>"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=end, eos_token=end, unk_token=end)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt")
    tokenizer.save_pretrained(tmp_path / "gpt")
    result = NeuralLM.load(str(tmp_path / "gpt")).perplexity(["the catapult sat on the doormat", "the doggo"])
    assert result["oov"] == 0 and result["perplexity_no_oov"] == result["perplexity"]


def test_a_transformer_lm_checkpoint_on_a_full_disk_is_one_line_and_leaves_no_part(english, tmp_path, monkeypatch,
                                                                                     capsys):  # fmt: skip
    """Found by a review: torch's serialiser failing on a full disk was a traceback naming no file, and left
    state.pt.tmp filling the disk."""
    import torch

    def full(obj, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 15808 vs 15702")

    monkeypatch.setattr(torch, "save", full)
    text = tmp_path / "few.txt"
    text.write_text("".join((english["root"] / "train.txt").read_text().splitlines(keepends=True)[:64]))
    args = ["train", "--text", str(text), "--normalize", "en", "--max-steps", "2", "--out", str(tmp_path / "lm")]
    assert lm_main(args) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'lm.checkpoint' / 'state.pt'}: not written: [enforce fail" in err
    assert "Traceback" not in err and list((tmp_path / "lm.checkpoint").iterdir()) == []


def _normalized_lines(path, normalizer: str = "en") -> list[str]:
    """The non-empty lines of `path` through the normaliser, whitespace collapsed (as the LMs read them)."""
    from asr.text import get_normalizer

    normalize = get_normalizer(normalizer)
    lines = (" ".join(normalize(line).split()) for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def _kenlm_figures(model_path, sentences: list[str]) -> dict:
    """Corpus figures from KenLM's own scores, as its `query` program counts them: every token after <s>
    (the words and </s>) in the perplexity; without OOVs, their scores and their count left out."""
    import kenlm

    model = kenlm.Model(str(model_path))
    total = known_total = 0.0
    words = oov = tokens = 0
    for sentence in sentences:
        scores = list(model.full_scores(sentence, bos=True, eos=True))
        assert len(scores) == len(sentence.split()) + 1  # the words and </s>
        words += len(sentence.split())
        tokens += len(scores)
        flagged = sum(is_oov for _, _, is_oov in scores)
        assert flagged == sum(word not in model for word in sentence.split())  # OOV: a word out of the vocabulary
        oov += flagged
        total += sum(log10_prob for log10_prob, _, _ in scores)
        known_total += sum(log10_prob for log10_prob, _, is_oov in scores if not is_oov)
    # one sentence: the same definition as kenlm.Model.perplexity (words + </s>)
    first = sentences[0]
    one = sum(lp for lp, _, _ in model.full_scores(first, bos=True, eos=True)) / (len(first.split()) + 1)
    assert 10 ** (-one) == pytest.approx(model.perplexity(first), rel=1e-6)
    assert tokens == words + len(sentences)
    perplexity, no_oov = 10 ** (-total / tokens), 10 ** (-known_total / (tokens - oov))
    return {"sentences": len(sentences), "words": words, "oov": oov, "oov_rate": oov / words,
            "perplexity": perplexity, "perplexity_no_oov": no_oov}  # fmt: skip


def test_ngram_perplexity_and_oov_rate_are_kenlms_own(english, tmp_path, capsys):
    """A mutation review: nothing checked the n-gram figures' values. Counting </s> as a word as well as a token
    (dev perplexity 5.46 -> 4.12) and an OOV rate over tokens instead of words both passed. Here lm.json's dev
    figures and `asr lm ppl`'s are KenLM's own, computed from `kenlm.Model.full_scores` on the ARPA file."""
    root, lm = english["root"], english["lm"]
    built = json.loads((lm / "lm.json").read_text(encoding="utf-8"))["dev"]
    expected = _kenlm_figures(lm / "lm.arpa", _normalized_lines(root / "dev.txt"))
    assert expected["oov"] > 0 and expected["perplexity"] > expected["perplexity_no_oov"]
    for key in ("sentences", "words", "oov"):
        assert built[key] == expected[key], key
    for key in ("oov_rate", "perplexity", "perplexity_no_oov"):
        assert built[key] == pytest.approx(expected[key], rel=1e-5), key
    # by hand: 2 OOV words of 15 (17 tokens with the two </s>)
    text = tmp_path / "t.txt"
    text.write_text("It is not what you have.\nThe zzyzx is in the qwxvb of all people!\n", encoding="utf-8")
    capsys.readouterr()
    assert lm_main(["ppl", "--lm", str(lm), "--text", str(text)]) == 0
    said = json.loads(capsys.readouterr().out)
    expected = _kenlm_figures(lm / "lm.arpa", ["it is not what you have", "the zzyzx is in the qwxvb of all people"])
    assert (said["words"], said["oov"], expected["words"], expected["oov"]) == (15, 2, 15, 2)
    assert said["oov_rate"] == pytest.approx(2 / 15)
    for key in ("perplexity", "perplexity_no_oov"):
        assert said[key] == pytest.approx(expected[key], rel=1e-5), key


def test_transformer_lm_perplexity_is_per_token_as_kenlm_counts(english, tmp_path, capsys):
    """A mutation review: the Transformer LM's perplexity divided by the words alone (16.09 -> 32.22) and no test
    saw it; compared with the n-gram's it must count as KenLM does, words + </s> per sentence. Here the folder
    `asr lm train` wrote is scored with transformers directly: exp of the mean negative log-likelihood of every
    token after <s> (the words and </s>), OOV words as <unk>; without OOVs, the <unk> tokens' scores left out."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, out, dev = english["root"], tmp_path / "neural", tmp_path / "dev.txt"
    dev.write_text("".join((root / "dev.txt").read_text(encoding="utf-8").splitlines(keepends=True)[:60]))
    args = ["train", "--text", str(root / "train.txt"), "--normalize", "en", "--dev", str(dev), "--max-steps", "20"]
    assert lm_main([*args, "--out", str(out)]) == 0
    built = json.loads((out / "lm.json").read_text(encoding="utf-8"))["dev"]
    capsys.readouterr()
    assert lm_main(["ppl", "--lm", str(out), "--text", str(dev)]) == 0
    said = json.loads(capsys.readouterr().out)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(out).eval(), AutoTokenizer.from_pretrained(out)
    unk = tokenizer.unk_token_id
    total, known, tokens, words, oov = 0.0, 0.0, 0, 0, 0
    sentences = _normalized_lines(dev)
    for sentence in sentences:
        ids = tokenizer(sentence, add_special_tokens=False).input_ids
        assert len(ids) == len(sentence.split())  # a word-level tokenizer: a token a word
        ids = [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, :-1].double(), -1)
        scores = logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
        total += float(scores.sum())
        known += float(scores[torch.tensor(ids[1:]) != unk].sum())
        tokens += len(ids) - 1
        words += len(ids) - 2
        oov += ids.count(unk)
    assert tokens == words + len(sentences) and oov > 0
    perplexity, no_oov = math.exp(-total / tokens), math.exp(-known / (tokens - oov))
    expected = {"sentences": len(sentences), "words": words, "oov": oov, "oov_rate": oov / words,
                "perplexity": perplexity, "perplexity_no_oov": no_oov}  # fmt: skip
    for result in (built, said):
        for key in ("sentences", "words", "oov"):
            assert result[key] == expected[key], key
        for key in ("oov_rate", "perplexity", "perplexity_no_oov"):
            assert result[key] == pytest.approx(expected[key], rel=1e-4), key


def test_the_shortest_sentences_kenlm_builds_an_order_from(tmp_path, capsys):
    """A mutation review: the order check `longest + 2 < order` made `longest + 1 < order` refused `--order 4` on
    2-word sentences, which KenLM builds (<s> a b </s> is a 4-gram), and no test saw it. A sentence of k words is
    k + 2 tokens: 1-word sentences hold trigrams (order 3 builds) but no 4-gram (lmplz writes an empty 4-gram
    section: refused, by name)."""
    import kenlm

    text = tmp_path / "text.txt"
    args = ["build", "--text", str(text), "--normalize", "lower-nopunct"]
    text.write_text("hello world\nfoo bar\nhello bar\n", encoding="utf-8")
    assert lm_main([*args, "--order", "4", "--out", str(tmp_path / "two")]) == 0
    info = json.loads((tmp_path / "two" / "lm.json").read_text(encoding="utf-8"))
    assert info["order"] == 4 and info["ngrams"]["4"] == 3  # <s> hello world </s>, <s> foo bar </s>, ...
    assert kenlm.Model(str(tmp_path / "two" / "lm.bin")).order == 4
    text.write_text("hello\nworld\nhello\n", encoding="utf-8")
    assert lm_main([*args, "--order", "3", "--out", str(tmp_path / "one")]) == 0
    assert json.loads((tmp_path / "one" / "lm.json").read_text(encoding="utf-8"))["ngrams"]["3"] == 2
    capsys.readouterr()
    assert lm_main([*args, "--order", "4", "--out", str(tmp_path / "one4")]) == 2
    assert f"--order 4 needs sentences of at least 2 words; the longest of {text} has 1" in capsys.readouterr().err
    assert not (tmp_path / "one4").exists()


def test_prune_takes_one_threshold_per_order(english, tmp_path, capsys):
    """A mutation review: the thresholds check `>` made `>=` refused `--order 3 --prune 0,0,1` (lmplz takes one
    threshold per order), and no test saw it. It builds, pruning singleton trigrams; four thresholds for an
    order-3 model are refused as lmplz refuses them."""
    train = english["root"] / "train.txt"
    args = ["build", "--text", str(train), "--order", "3", "--normalize", "en"]
    assert lm_main([*args, "--prune", "0,0,1", "--out", str(tmp_path / "pruned")]) == 0
    info = json.loads((tmp_path / "pruned" / "lm.json").read_text(encoding="utf-8"))
    full = json.loads((english["lm"] / "lm.json").read_text(encoding="utf-8"))  # the same text, not pruned
    assert info["options"]["prune"] == [0, 0, 1] and info["order"] == 3
    assert 0 < info["ngrams"]["3"] < full["ngrams"]["3"] and info["ngrams"]["1"] == full["ngrams"]["1"]
    capsys.readouterr()
    assert lm_main([*args, "--prune", "0,0,1,1", "--out", str(tmp_path / "over")]) == 2
    assert "--prune has 4 thresholds for an order-3 model" in capsys.readouterr().err
    assert not (tmp_path / "over").exists()


def test_a_second_build_into_an_out_being_written_is_refused(english, tmp_path, capsys):
    """A review: two `asr lm build` into one --out emptied each other's partial folder (lmplz aborted in one, a
    file went missing in the other). The partial folder is held while it is written; a second build is refused
    and leaves the first one's work alone, and a build after it replaces the LM whole."""
    from asr.folders import writing_alone

    out = tmp_path / "lm"
    args = ["build", "--text", str(english["root"] / "train.txt"), "--order", "2", "--normalize", "en"]
    with writing_alone(tmp_path / "lm.partial", "--out"):  # as the first build holds it
        (tmp_path / "lm.partial" / "lm.arpa").write_text("the first build's\n")
        assert lm_main([*args, "--out", str(out)]) == 2
        assert (tmp_path / "lm.partial" / "lm.arpa").read_text() == "the first build's\n" and not out.exists()
    assert f"--out {out}: another command is writing there now" in capsys.readouterr().err
    assert lm_main([*args, "--out", str(out)]) == 0  # the killed build's leftovers cleared
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm"] and (out / "lm.json").is_file()


def test_lm_build_names_each_kenlm_step_as_it_starts(tmp_path, capsys):
    """A review: `asr lm build` said nothing until it ended (minutes on a large text: normalising, lmplz,
    build_binary)."""
    (tmp_path / "text.txt").write_text("the cat sat\nthe cat ate\na cat sat\n", encoding="utf-8")
    assert lm_main(["build", "--text", str(tmp_path / "text.txt"), "--order", "2", "--normalize", "none",
                    "--out", str(tmp_path / "lm")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "lmplz: order 2 over 9 words" in err and "build_binary: " in err
    assert err.index("lmplz:") < err.index("build_binary:")


def test_an_lm_rebuilt_during_a_decode_is_not_mixed_into_it(english, tmp_path, monkeypatch):
    """A review: an LM rebuilt into its folder while a decode ran gave the decode the new n-gram under the old
    words and lm.json (the binary was opened by path when the beam search was built, and again at each tuning
    point). The binary is held from the folder's reading on; a folder replaced while it is read is refused."""
    import lm.folder
    from asr.errors import InputError
    from asr.folders import replace_folder
    from lm.folder import LMFolder
    from lm.perplexity import load

    def build(text: str, out: Path) -> Path:
        (tmp_path / f"{out.name}.txt").write_text(text, encoding="utf-8")
        args = ["build", "--text", str(tmp_path / f"{out.name}.txt"), "--order", "2", "--normalize", "en"]
        assert lm_main([*args, "--out", str(out)]) == 0
        return out

    first = build((english["root"] / "train.txt").read_text(encoding="utf-8"), tmp_path / "lm")
    held = LMFolder.load(first)
    sentence = " ".join(held.unigrams[:4])
    before = load(held.model_path).score(sentence)
    replace_folder(build("other words entirely\n" * 3, tmp_path / "other"), first)  # as a rebuild moves it in
    assert load(held.model_path).score(sentence) == before != load(first / "lm.bin").score(sentence)

    read_info = lm.folder.read_info

    def replaced_meanwhile(folder: Path) -> dict:
        info = read_info(folder)
        replace_folder(build("yet other words\n", tmp_path / "third"), folder)
        return info

    monkeypatch.setattr(lm.folder, "read_info", replaced_meanwhile)
    with pytest.raises(InputError, match="replaced while it was read"):
        LMFolder.load(first)


def test_text_and_dev_text_given_as_pipes_are_read_once(tmp_path):
    """R76: `--dev <(...)` was read for its check, then again for the perplexity: none, a traceback."""
    import shlex
    import subprocess
    import sys

    (tmp_path / "t.txt").write_text("a b c\nb c d\nc d e\na c e\n")
    (tmp_path / "d.txt").write_text("a b c\n")
    build = shlex.join([sys.executable, "-m", "asr", "lm", "build", "--order", "2", "--normalize", "none"])
    line = f"{build} --out {tmp_path / 'lm'} --text <(cat {tmp_path / 't.txt'}) --dev <(cat {tmp_path / 'd.txt'})"
    proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    dev = json.loads((tmp_path / "lm" / "lm.json").read_text())["dev"]
    assert dev["sentences"] == 1 and dev["perplexity"] > 1
