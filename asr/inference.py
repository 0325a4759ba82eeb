"""THE forward pass of a CTC model: the one path that training's dev/test scoring and `asr decode` share.

It owns loading a model with its processor (and an MMS-style language adapter), the attention-mask rule,
batching, the forward pass and cutting each output to its own frames. In float32 on a CPU, results do not depend
on how utterances are batched, for every wav2vec2-family architecture (on a GPU the kernels, chosen by the
batch's shape, change the last bits: README, benchmarks/gpu_check.py):

- models whose feature encoder normalises each frame (``feat_extract_norm="layer"``: wav2vec2-large, XLS-R,
  MMS, HuBERT-large, WavLM-large, Data2VecAudio) take attention masks;
- models with a group-normalised first convolution (``feat_extract_norm="group"``: wav2vec2-base, HuBERT-base,
  WavLM-base) take no masks and the group norm spans the padding (transformers documents that they are fed
  zero-padded input without masks).

Padded batches of different lengths are used only where the architecture matrix in the tests shows them to be
exact (`pads_exactly`: masked wav2vec2, HuBERT and WavLM). Every other model gets batches of utterances with
exactly the same number of samples: group-norm models, and Data2VecAudio, whose stack of positional
convolutions carries the padding into the last ~50 frames even with a mask. The rules come from the model's
config, never from a processor file, and the processor is set to agree with them when loaded (so a processor
saved beside the model states what the model needs).
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from asr.data.audio import check_duration, read_utterance_audio
from asr.data.manifest import Utterance
from asr.errors import InputError
from asr.hub import refuse_unfound
from asr.progress import progress_bar

CHUNK_SECONDS = 30.0  # recordings longer than this run through the network in overlapping chunks
# padded audio seconds per network batch where none is given (0): on 2 CPU cores 30 s batches ran the shipped
# models at 1.3-1.4x the RTFx of one utterance at a time and 2.0-2.3x that of 160-240 s batches, whose
# activations leave the caches (benchmarks/batch_seconds_bench.py); an accelerator is fed large batches
DEFAULT_BATCH_SECONDS = {"cpu": 30.0, "accelerator": 160.0}
# what a batch-seconds option of 0 means, for help texts
ZERO_BATCH_SECONDS_HELP = "0: {cpu:g} on a CPU, {accelerator:g} on a GPU".format(**DEFAULT_BATCH_SECONDS)
T = TypeVar("T")


def batch_seconds(requested: float, device_type: str) -> float:
    """`requested`, or the default of a device of `device_type` ("cpu", "cuda", ...) where it is 0."""
    return requested or DEFAULT_BATCH_SECONDS["cpu" if device_type == "cpu" else "accelerator"]


def chunk_spans(length: int, chunk: int) -> Iterator[tuple[int, int, int, int]]:
    """(start, end, left context, right context) in samples of the chunks of a recording of `length` samples:
    `chunk` samples each, neighbours overlapping by a sixth of a chunk on each side (transformers' chunking)."""
    stride = chunk // 6
    step = chunk - 2 * stride
    for start in range(0, length, step):
        end = min(start + chunk, length)
        last = end >= length
        yield start, end, 0 if start == 0 else stride, 0 if last else stride
        if last:
            return


def gloo_on_cpus() -> bool:
    """Whether this process is one of several that `accelerate launch` started on a machine without GPUs:
    accelerate 1.15 leaves each alone there (DistributedType.NO) unless asked for the CPU, which makes them one
    gloo group."""
    import torch

    return not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def raised_together(work: Callable[[], T], state) -> T:
    """`work()` in every process of `state` (an Accelerator or PartialState; all of them call this): an
    `InputError` in any of them (audio that cannot be read) is raised in all, with the first one's line. Raised
    in one process alone, it left the others in their next collective, which ended in a traceback."""
    try:
        value, error = work(), None
    except InputError as err:
        value, error = None, err
    if state.num_processes > 1:
        import torch
        from accelerate.utils import gather_object, reduce

        if reduce(torch.tensor(float(error is not None), device=state.device), "sum"):
            error = InputError(gather_object([str(error)] if error else [])[0])
    if error is not None:
        raise error
    return value


@contextmanager
def ieee_float32_convolutions(device, dtype) -> Iterator[None]:
    """cuDNN's convolutions in IEEE float32 while a float32 model runs on a GPU. PyTorch runs them in TF32 by
    default (a 10-bit mantissa), whose rounding follows the kernel chosen for the batch's shape: measured on an
    H200, 2 of 347 dev hypotheses of a trained model changed between batches of 160 and 20 s with TF32, none
    without it (README, "GPU"). The setting is the process's: threads running GPU passes at once may meet it."""
    import torch

    if device.type != "cuda" or dtype != torch.float32:
        yield
        return
    # PyTorch 2.9's API where it exists (reading the legacy allow_tf32 after it is set raises), else the legacy one
    conv = getattr(torch.backends.cudnn, "conv", None)
    owner, name, off = (
        (conv, "fp32_precision", "ieee") if conv is not None else (torch.backends.cudnn, "allow_tf32", False)
    )
    before = getattr(owner, name)
    setattr(owner, name, off)
    try:
        yield
    finally:
        setattr(owner, name, before)


def uses_attention_mask(config) -> bool:
    """Whether a model takes attention masks: its feature encoder normalises per frame (layer norm).

    Configs without ``feat_extract_norm`` (Data2VecAudio) always use layer norm in their feature encoder.
    """
    return getattr(config, "feat_extract_norm", "layer") == "layer"


#: model types whose masked, padded batches give the outputs of single utterances (tests/test_architectures.py)
EXACT_PADDING = ("wav2vec2", "hubert", "wavlm")


def pads_exactly(config) -> bool:
    """Whether utterances of different lengths can share a padded batch without changing any output (not with
    an output adapter, ``add_adapter``: its convolutions see the padding; a review measured 0.21 in log-prob)."""
    return (
        uses_attention_mask(config) and config.model_type in EXACT_PADDING and not getattr(config, "add_adapter", False)
    )


@dataclass
class Posteriors:
    """Log-probabilities (frames x tokens) per utterance id, and the network seconds spent on each."""

    logprobs: dict[str, np.ndarray]
    am_seconds: dict[str, float]


def manifest_audio(base: Path, rate: int, check: bool = False) -> Callable[[Utterance], np.ndarray]:
    """Reads an utterance's samples (its segment, for one with an offset) relative to the manifest folder;
    `check`: audio other than its stated duration is one line (`check_duration`)."""

    def read(utt: Utterance) -> np.ndarray:
        samples = read_utterance_audio(utt.id, utt.audio_path(base), rate, utt.offset or 0.0, utt.segment_duration)
        return check_duration(utt.id, samples, rate, utt.duration) if check else samples

    return read


def _not_a_ctc_model(name: str) -> str:
    """A hint for a folder whose config names no CTC architecture (an `asr pretrain` output), else ""."""
    try:
        architectures = json.loads((Path(name) / "config.json").read_text(encoding="utf-8")).get("architectures")
    except (OSError, ValueError, AttributeError):
        return ""
    if not architectures or any(a.endswith("ForCTC") for a in architectures):
        return ""
    return f": its config names {', '.join(architectures)}, not a CTC model; fine-tune it with 'asr train'"


def check_loaded(name: str, model, processor, info: dict) -> None:
    """One line for a model this path cannot run: one that reads features other than the raw waveform (no
    convolutional feature encoder), whose weights leave part of the network random (a config naming another
    architecture loaded every encoder weight as missing; ``masked_spec_embed`` is used in training only), or hold
    feature-encoder or transformer weights it does not use (layer-norm weights under a config saying group norm:
    another network). Pretraining's weights outside them (quantizer, projections) are dropped, as they should."""
    config = model.config
    inputs = getattr(processor.feature_extractor, "model_input_names", ["input_values"])
    if not all(hasattr(config, key) for key in ("conv_kernel", "conv_stride")) or "input_values" not in inputs:
        # a w2v-bert model beside a wav2vec2 processor was said to read input_values, not the waveform (R59)
        reads = f"reads {inputs}" if "input_values" not in inputs else "has no convolutional feature encoder"
        raise InputError(f"{name}: a {config.model_type} model {reads}, not the raw waveform through a "
                         "convolutional feature encoder: asr runs the wav2vec2 family (wav2vec2, HuBERT, WavLM, "
                         "Data2VecAudio, SEW, UniSpeech, conformer)")  # fmt: skip
    if missing := sorted(k for k in info["missing_keys"] if not k.endswith("masked_spec_embed")):
        raise InputError(f"{name}: its weights lack {len(missing)} of the model's ({_some(missing)}): they would be "
                         "random; is config.json this checkpoint's?")  # fmt: skip
    body = tuple(f"{model.base_model_prefix}.{part}." for part in ("feature_extractor", "encoder"))
    if unused := sorted(k for k in info["unexpected_keys"] if k.startswith(body)):
        raise InputError(f"{name}: its weights hold {len(unused)} that the model's config has no place for "
                         f"({_some(unused)}): is config.json this checkpoint's?")  # fmt: skip


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")


def _check_head(name: str, config, tokenizer, head: str = "its CTC head") -> None:
    """One line for a processor that is not the CTC head's (`head`: which one, an adapter's): another number of
    tokens, or another blank."""
    if len(tokenizer) != config.vocab_size:
        raise InputError(f"{name}: its tokenizer has {len(tokenizer)} tokens, {head} {config.vocab_size} "
                         "outputs: the processor is not this model's")  # fmt: skip
    if config.pad_token_id is not None and tokenizer.pad_token_id != config.pad_token_id:
        raise InputError(f"{name}: its tokenizer's blank (pad) is token {tokenizer.pad_token_id}, the model's "
                         f"{config.pad_token_id}: the processor is not this model's")  # fmt: skip


def load_checked(name: str, adapter: str | None = None, with_lm: bool = True):
    """A CTC model (float32) and its processor from a folder or hub id, with `adapter`'s weights, refused in one
    line where this path would run it wrongly: no CTC head, weights that leave part of it random or that it does
    not use, a processor that is not its head's (`asr decode` and `asr lm attach` alike). `with_lm` False reads
    the processor without an LM attached to it (what `asr lm attach` replaces, readable or not)."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCTC, AutoProcessor, Wav2Vec2Processor

    refuse_unfound(name)
    try:
        # no code of the model's own is run (a folder from elsewhere may carry some): a one-line refusal
        processor = (AutoProcessor if with_lm else Wav2Vec2Processor).from_pretrained(name, trust_remote_code=False)
        # in float32, cast after the weights' hash: a bf16 decode of a model is a decode of the same weights
        model, info = AutoModelForCTC.from_pretrained(name, dtype=torch.float32, output_loading_info=True,
                                                      trust_remote_code=False)  # fmt: skip
    except (OSError, ValueError, TypeError, RuntimeError, SafetensorError) as err:  # TypeError: no tokenizer
        # files; RuntimeError: weights of other sizes than the config's
        lacking = " (it has no vocab.json)" if Path(name).is_dir() and not (Path(name) / "vocab.json").exists() else ""
        raise InputError(f"{name}: cannot load a CTC model and processor ({str(err).splitlines()[0]}){lacking}"
                         f"{_not_a_ctc_model(name)}") from None  # fmt: skip
    if head := sorted(key for key in info["missing_keys"] if key.startswith("lm_head")):  # a random head: WER ~100%
        raise InputError(f"{name}: its weights hold no CTC head ({', '.join(head)}){_not_a_ctc_model(name)}")
    check_loaded(name, model, processor, info)
    if adapter:
        from asr.model.adapters import load_adapter

        load_adapter(model, processor, name, adapter)
    _check_head(name, model.config, processor.tokenizer, f"adapter {adapter!r}'s head" if adapter else "its CTC head")
    return model, processor


class CTCInference:
    """A CTC model (in eval mode) with its processor; `log_probs` runs it over utterances in batches."""

    def __init__(
        self, model, processor, chunk_seconds: float = CHUNK_SECONDS, weights: str | None = None,
        adapter: str | None = None,
    ) -> None:  # fmt: skip
        self.model, self.processor, self.chunk_seconds = model, processor, chunk_seconds
        self.weights = weights  # `weights_digest` of the model as `load` read it
        self.adapter = adapter  # the language adapter it runs, where known (`load`)
        self.attention_mask = uses_attention_mask(model.config)
        self.padding = pads_exactly(model.config)
        processor.feature_extractor.return_attention_mask = self.attention_mask
        self.rate = processor.feature_extractor.sampling_rate

    @classmethod
    def load(
        cls,
        name: str,
        device: str = "cpu",
        dtype: str = "float32",
        adapter: str | None = None,
        chunk_seconds: float = CHUNK_SECONDS,
    ) -> CTCInference:
        """A model folder or hub id with its processor (`load_checked`); `adapter` loads that language's adapter
        weights (``adapter.<lang>.safetensors``, as transformers' ``load_adapter`` reads them; without it,
        `adapter` names the file equal to the built-in adapter, where one is); recordings longer than
        `chunk_seconds` (0: none; else at least 1) run in overlapping chunks."""
        import torch

        if chunk_seconds and chunk_seconds < 1:  # a chunk's context of a frame or two misses the receptive field
            raise ValueError(f"chunk_seconds {chunk_seconds}: expected 0 or at least 1")
        from asr.model.adapters import built_in_adapter

        model, processor = load_checked(name, adapter)
        weights, adapter = weights_digest(model), adapter or built_in_adapter(model, name)
        model = model.to(device=device, dtype=getattr(torch, dtype)).eval()
        return cls(model, processor, chunk_seconds, weights, adapter)

    @property
    def frame_samples(self) -> int:
        """Samples per output frame: the feature encoder's total stride, times the output adapter's where the
        model has one (``add_adapter``: ``adapter_stride`` per adapter layer, as the model's output lengths)."""
        config = self.model.config
        adapter = config.adapter_stride**config.num_adapter_layers if getattr(config, "add_adapter", False) else 1
        return math.prod(config.conv_stride) * adapter

    @property
    def frame_seconds(self) -> float:
        """Seconds between two output frames."""
        return self.frame_samples / self.rate

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype

    def batch_seconds(self, requested: float) -> float:
        """`requested`, or the device's default where it is 0 (DEFAULT_BATCH_SECONDS)."""
        return batch_seconds(requested, self.device.type)

    def batches(self, utts: list[Utterance], batch_seconds: float) -> list[list[Utterance]]:
        """Longest first, padded length within `batch_seconds`; equal durations only where padding is not
        exact (`forward` splits further by exact sample counts)."""
        ordered = sorted(utts, key=lambda u: (-u.duration, u.id))
        out: list[list[Utterance]] = []
        for utt in ordered:
            batch = out[-1] if out else None
            fits = batch is not None and batch[0].duration * (len(batch) + 1) <= batch_seconds
            if fits and (self.padding or self._samples(utt) == self._samples(batch[0])):
                batch.append(utt)
            else:
                out.append([utt])
        return out

    def checked(self, utt: Utterance, samples: np.ndarray) -> np.ndarray:
        """`samples`, or one line naming the utterance where they are too few for one output frame, or where the
        manifest's duration (which hours and RTFx are counted from) is not the audio's (NaN or Inf samples are
        `read_utterance_audio`'s)."""
        check_duration(utt.id, samples, self.rate, utt.duration)
        if len(samples) < (needed := self.min_samples):
            raise InputError(f"utterance {utt.id}: {len(samples)} samples of audio, fewer than the {needed} "
                             f"({needed / self.rate * 1000:.0f} ms) the model needs for one frame")  # fmt: skip
        return samples

    @functools.cached_property
    def min_samples(self) -> int:
        """The samples one output frame needs: the feature encoder's receptive field."""
        kernels, strides = self.model.config.conv_kernel, self.model.config.conv_stride
        return 1 + sum((k - 1) * math.prod(strides[:i]) for i, k in enumerate(kernels))

    def _samples(self, utt: Utterance) -> int:
        return round(utt.duration * self.rate)

    def forward(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Log-probabilities (frames x tokens, float32) of each array, cut to its own frames."""
        if not arrays:
            return []
        if self.padding:
            return self._forward(arrays)
        out: list[np.ndarray | None] = [None] * len(arrays)
        for length in dict.fromkeys(len(a) for a in arrays):  # equal lengths only: no padding at all
            rows = [i for i, a in enumerate(arrays) if len(a) == length]
            for i, x in zip(rows, self._forward([arrays[i] for i in rows]), strict=True):
                out[i] = x
        return out

    def _forward(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        fe = self.processor.feature_extractor
        features = fe(arrays, sampling_rate=self.rate, padding=True, return_tensors="pt", return_attention_mask=True)
        inputs = {"input_values": features.input_values.to(self.device, self.dtype)}
        if self.attention_mask:
            inputs["attention_mask"] = features.attention_mask.to(self.device)
        with torch.inference_mode(), ieee_float32_convolutions(self.device, self.dtype):
            logits = self.model(**inputs).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1).cpu().numpy()
            frames = self.model._get_feat_extract_output_lengths(features.attention_mask.sum(-1)).tolist()
        return [logprobs[i, : int(n)] for i, n in enumerate(frames)]

    def log_probs(
        self,
        utts: list[Utterance],
        audio: Callable[[Utterance], np.ndarray],
        batch_seconds: float,
        desc: str | None = None,
    ) -> Posteriors:
        """Log-probabilities of `utts`, batched under `batch_seconds` (0: the device's default); network time
        split over a batch by duration. `desc` shows a progress bar in audio seconds."""
        batch_seconds = self.batch_seconds(batch_seconds)
        was_training = self.model.training
        self.model.eval()
        post, done = Posteriors({}, {}), 0.0
        with progress_bar(
            total=round(sum(u.duration for u in utts)), desc=desc, unit="audio s", disable=desc is None
        ) as bar:
            for batch in self.batches(utts, batch_seconds):
                start = time.perf_counter()
                arrays = [self.checked(u, audio(u)) for u in batch]
                # a long recording's chunks move the bar as they go (it sat at 0 for the whole recording)
                moved = functools.partial(_moved_to, bar, done)
                outputs = self._batch_log_probs(arrays, batch_seconds, moved)
                seconds = time.perf_counter() - start
                batch_audio = sum(u.duration for u in batch)
                for utt, logprobs in zip(batch, outputs, strict=True):
                    post.logprobs[utt.id] = logprobs
                    post.am_seconds[utt.id] = seconds * utt.duration / max(batch_audio, 1e-9)
                done += batch_audio
                bar.update(round(done) - bar.n)  # each batch's rounded seconds added up ran past the total
        self.model.train(was_training)
        return post

    def _batch_log_probs(
        self, arrays: list[np.ndarray], batch_seconds: float, advance: Callable[[float], object] | None = None
    ) -> list[np.ndarray]:
        """`forward` for a batch; a recording longer than `chunk_seconds` runs on its own, in chunks (`advance`
        told the seconds of it done after each group of them)."""
        long = [bool(self.chunk_seconds) and len(a) > self.chunk_seconds * self.rate for a in arrays]
        if not any(long):
            return self.forward(arrays)
        short = iter(self.forward([a for a, is_long in zip(arrays, long, strict=True) if not is_long]))
        return [
            self.long_log_probs(a, batch_seconds, advance) if is_long else next(short)
            for a, is_long in zip(arrays, long, strict=True)
        ]

    def long_log_probs(
        self, samples: np.ndarray, batch_seconds: float, advance: Callable[[float], object] | None = None
    ) -> np.ndarray:
        """Log-probabilities of a long recording in bounded memory: overlapping chunks of `chunk_seconds` with
        `chunk_seconds / 6` of context on each side (as transformers' ASR pipeline with chunk_length_s and its
        default stride), at most `batch_seconds` of chunks at a time; each chunk's context frames are dropped and
        the rest joined. Chunks start on the frame grid and each keeps the frames between its own boundaries, so
        the joined frames are as many as an unchunked run's, and word times do not drift. `advance`, where given,
        is told the seconds done after each group of chunks."""
        hop = self.frame_samples
        # chunks, contexts and steps whole frames long (a chunk a multiple of 6 frames), so every chunk's frames
        # lie on the unchunked run's frame grid
        chunk = max(1, round(self.chunk_seconds * self.rate / (6 * hop))) * 6 * hop
        chunks = list(chunk_spans(len(samples), chunk))
        per_batch = max(1, int(batch_seconds * self.rate // chunk))  # the chunk as rounded to frames
        kept = []
        for k in range(0, len(chunks), per_batch):
            group = chunks[k : k + per_batch]
            outputs = self.forward([samples[a:b] for a, b, _, _ in group])
            for (a, b, left, right), logprobs in zip(group, outputs, strict=True):
                end = len(logprobs) if right == 0 else math.ceil((b - a - right) / hop)
                kept.append(logprobs[math.ceil(left / hop) : end])
            if advance is not None:
                advance(group[-1][1] / self.rate)
        return np.concatenate(kept)

    def parameters(self) -> int:
        """The network's parameter count."""
        return sum(p.numel() for p in self.model.parameters())


def _moved_to(bar, before: float, seconds: float) -> None:
    """Moves a bar counting audio seconds to `before` + `seconds` (never back)."""
    bar.update(max(0, round(before + seconds) - bar.n))


def weights_digest(model) -> str:
    """A hash of a model's weights (its state dict: the adapter's included): tells a model retrained in place
    from its earlier self, and one folder named two ways from two models."""
    import hashlib

    import torch

    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:16]
