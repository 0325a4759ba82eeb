"""Causal Transformer language models (`asr lm train`, trained in `lm.neural_training`) on the same normalised
text as the n-gram, and their per-word perplexity, counted as KenLM counts it.

From scratch, the model is a small GPT-2 (2 layers, 128 wide: minutes of CPU) over the words of the training
text, the n-gram's vocabulary (words seen once are trained as ``<unk>`` half the time, so that ``<unk>`` gets a
probability for the words it will meet), saved with a `tokenizers` word-level tokenizer, so the folder loads
with ``AutoModelForCausalLM`` and ``AutoTokenizer``. ``--from`` fine-tunes any causal LM folder or hub id
(``gpt2``) with its own (subword) tokenizer instead.

Perplexity per word, as ``asr lm build --dev`` reports it for the n-gram: every sentence is scored from
``<s>`` through its words to ``</s>``, the log-probabilities are summed and divided by words + sentences (KenLM
counts ``</s>`` as a token); out-of-vocabulary words are scored as ``<unk>`` by both, and left out of
``perplexity_no_oov``. Compare the two LMs on that one: this ``<unk>`` is trained as a likely word, KenLM's
gets far less (a review: a mean probability of 0.063 against 10^-4.07), so with OOV words the figure favours
the Transformer. With a subword tokenizer a word's probability is the product of its pieces', so the division
is still by words.
"""

from __future__ import annotations

import functools
import math

from asr.errors import InputError
from lm.folder import LM_FILES

SPECIAL = ("<pad>", "<unk>", "<s>", "</s>")
INFO_FILE = LM_FILES["info"]
SCRATCH = {"n_embd": 128, "n_layer": 2, "n_head": 4}


def word_tokenizer(sentences: list[str]):
    """A word-level tokenizer over the words of `sentences` (whitespace-split), as a transformers tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for s in sentences for w in s.split()} - set(SPECIAL))  # lm.text refuses them (RESERVED_WORDS)
    vocab = {token: i for i, token in enumerate([*SPECIAL, *words])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>")  # fmt: skip


class NeuralLM:
    """A causal LM and its tokenizer; scores sentences with natural-log probabilities."""

    def __init__(self, model, tokenizer) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.eos = tokenizer.eos_token_id
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos

    @classmethod
    def load(cls, name: str, device: str = "cpu") -> NeuralLM:
        """A causal LM and its tokenizer from a folder of `asr lm train` or a hub id, in eval mode on `device`."""
        from safetensors import SafetensorError
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from asr.hub import refuse_unfound

        refuse_unfound(name)
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=False)  # no code of its own is run
            model = AutoModelForCausalLM.from_pretrained(name, trust_remote_code=False).to(device)
        except (OSError, ValueError, SafetensorError) as err:  # SafetensorError: weights cut short
            raise InputError(f"{name}: cannot load a causal LM and its tokenizer: {str(err).splitlines()[0]}") from None
        if tokenizer.eos_token_id is None:  # sentences end in it, and it pads where the tokenizer has no pad
            raise InputError(f"{name}: its tokenizer has no end-of-sentence token (eos_token); set one to use it")
        return cls(model.eval(), tokenizer)

    def unknown_words(self, sentence: str) -> int:
        """How many of the sentence's tokens are the unknown token (words out of a word-level vocabulary)."""
        unk = self.tokenizer.unk_token_id
        return sum(1 for i in self.tokens(sentence)[1:-1] if i == unk) if unk is not None else 0

    @property
    def context(self) -> int:
        return self.model.config.max_position_embeddings

    @functools.cached_property
    def _words(self) -> dict[str, int] | None:
        """The word ids of a word-level tokenizer (`word_tokenizer`'s), to look words up whole, as KenLM does:
        its special tokens, registered as added tokens, split a word that holds one (``a<s>b``: three tokens)
        and made ``<pad>`` a known word. None for a subword tokenizer (``--from``)."""
        from tokenizers import models

        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None or not isinstance(backend.model, models.WordLevel):
            return None
        return {word: i for word, i in self.tokenizer.get_vocab().items() if word not in SPECIAL}

    def tokens(self, sentence: str) -> list[int]:
        """``<s>`` sentence ``</s>`` as token ids."""
        if self._words is None:
            return [self.bos, *self.tokenizer(sentence, add_special_tokens=False).input_ids, self.eos]
        unk = self.tokenizer.unk_token_id
        return [self.bos, *(self._words.get(word, unk) for word in sentence.split()), self.eos]

    def ids(self, sentence: str) -> list[int]:
        """`tokens`, cut to the model's context (training batches: a long sentence trains on its start)."""
        return self.tokens(sentence)[: self.context]

    def batch(self, sentences: list[str]):
        """Padded input ids and labels (-100 where there is padding) of a batch of sentences."""
        return self._padded([self.ids(s) for s in sentences])

    def _padded(self, rows: list[list[int]]):
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for k, row in enumerate(rows):
            ids[k, : len(row)] = torch.tensor(row)
            labels[k, : len(row)] = torch.tensor(row)
        device = next(self.model.parameters()).device
        return ids.to(device), labels.to(device)

    def log_probs(self, sentences: list[str], batch_size: int = 64) -> list[float]:
        """The natural-log probability of each sentence, ``</s>`` included, given ``<s>``."""
        return [sum(scores) for scores in self.token_log_probs(sentences, batch_size)]

    def token_log_probs(self, sentences: list[str], batch_size: int = 64) -> list[list[float]]:
        """Per sentence, the natural-log probability of each of its `tokens` after ``<s>`` (``</s>`` included)."""
        import torch

        tokens = {s: self.tokens(s) for s in sentences}  # each sentence tokenised once
        fits = [s for s in tokens if len(tokens[s]) <= self.context]
        scores = {}
        with torch.inference_mode():
            for k in range(0, len(fits), batch_size):
                ids, labels = self._padded([tokens[s] for s in fits[k : k + batch_size]])
                logits = self.model(input_ids=ids, attention_mask=(labels != -100).long()).logits[:, :-1].float()
                target = labels[:, 1:]
                token = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                rows = [row[keep].tolist() for row, keep in zip(token, target != -100, strict=True)]
                scores.update(zip(fits[k : k + batch_size], rows, strict=True))
            for sentence in tokens.keys() - scores.keys():
                scores[sentence] = self._windowed(tokens[sentence])
        return [scores[s] for s in sentences]

    def _windowed(self, ids: list[int]) -> list[float]:
        """The token log probabilities of a sentence longer than the context: windows of the context's length,
        each scoring the tokens after the previous window's with at least half a context of history."""
        import torch

        device = next(self.model.parameters()).device
        scores, position = [], 1  # the next token to score
        with torch.inference_mode():
            while position < len(ids):
                start = max(0, position - self.context // 2)
                window = torch.tensor([ids[start : start + self.context]], device=device)
                logp = torch.log_softmax(self.model(input_ids=window).logits[0, :-1].float(), -1)
                targets = window[0, 1:]
                scores += logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)[position - start - 1 :].tolist()
                position = start + window.shape[1]
        return scores

    def perplexity(self, sentences: list[str]) -> dict:
        """Per-word perplexity over words and ``</s>``, OOV words included (scored as ``<unk>``) and excluded,
        as KenLM counts both, and the OOV rate for a word vocabulary. Compare LMs on ``perplexity_no_oov``: this
        model's ``<unk>`` is trained as a likely word (words seen once), KenLM's is not, so the figure with OOV
        words favours this one."""
        if not sentences:
            return {"sentences": 0, "words": 0, "perplexity": None, "perplexity_no_oov": None}
        unk = self.tokenizer.unk_token_id
        total, known = 0.0, []  # known: the log probabilities of the words in the vocabulary, and of </s>
        for sentence, scores in zip(sentences, self.token_log_probs(sentences), strict=True):
            total += sum(scores)
            known += [lp for i, lp in zip(self.tokens(sentence)[1:], scores, strict=True) if i != unk]
        words = sum(len(s.split()) for s in sentences)
        oov = sum(self.unknown_words(s) for s in sentences)
        perplexity = math.exp(-total / (words + len(sentences)))
        # a token a word: known are the vocabulary's words and </s> (never empty); a subword tokenizer's pieces
        # spell every word (GPT-2's unk token is its eos, not an OOV word), so nothing is left out
        no_oov = math.exp(-sum(known) / len(known)) if self._words is not None else perplexity
        return {"sentences": len(sentences), "words": words, "oov": oov, "oov_rate": oov / words if words else 0.0,
                "perplexity": perplexity, "perplexity_no_oov": no_oov}  # fmt: skip


def scratch_lm(sentences: list[str], seed: int) -> NeuralLM:
    """A randomly initialised small GPT-2 over the words of `sentences`."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = word_tokenizer(sentences)
    longest = max(len(s.split()) for s in sentences) + 2
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=min(max(longest, 16), 256), bos_token_id=2,
                        eos_token_id=3, pad_token_id=0, **SCRATCH)  # fmt: skip
    return NeuralLM(GPT2LMHeadModel(config), tokenizer)
