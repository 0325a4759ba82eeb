"""The frozen feature encoder's output, computed once per train utterance and reused by every later epoch.

With ``freeze_feature_encoder`` the convolutional encoder is a fixed function of the audio, yet it runs again in
every step: on 2 CPU cores a tiny model's fine-tuning step takes 0.168 s with it and 0.097 s with its output
cached (`benchmarks/model_size_bench.py`). Only layer-norm encoders (``feat_extract_norm: layer``, as the
tiny/tiny-wide/small presets, large, XLS-R and MMS) trained with an attention mask qualify: each output frame
then depends on its utterance's samples alone, so a row computed in one batch equals the row of any other batch,
and padded frames are masked. Group-norm encoders (wav2vec2-base, HuBERT/WavLM base) normalise over the padded length.

Dev evaluation runs the same padded batches every time, so their encoder output is kept too, keyed by the batch's
samples: an evaluation of the English recipe's dev set (1,013 s of audio, the shipped checkpoint, 2 cores, 30 s
batches) takes 5.4-6.8 s with it and 8.5-9.3 s without (it took 17.7 s in the 240 s batches used before).
"""

from __future__ import annotations

import hashlib

import torch


def can_cache(model, attention_mask: bool) -> bool:
    """Whether `model`'s feature encoder output may be cached in a run (see the module docstring)."""
    config = model.config
    frozen = not any(p.requires_grad for p in model.base_model.feature_extractor.parameters())
    layer_norm = getattr(config, "feat_extract_norm", None) == "layer"
    # an output adapter (add_adapter) shortens the frames after the encoder; the lengths here would not know it
    return frozen and attention_mask and layer_norm and not getattr(config, "add_adapter", False)


class FeatureCache:
    """Takes over `model`'s feature encoder for the next forward pass after `prepare`; a pass in eval mode (dev
    evaluation) computes the output of a padded batch once and reuses it. The model's weights and state dict
    are untouched."""

    def __init__(self, model) -> None:
        self.model = model
        self.encoder = model.base_model.feature_extractor
        self.compute = self.encoder.forward
        self.rows: dict[tuple[str, float], torch.Tensor] = {}
        self.evaluated: dict[bytes, torch.Tensor] = {}
        self.pending: torch.Tensor | None = None
        self.encoder.forward = self._forward

    def _forward(self, input_values: torch.Tensor) -> torch.Tensor:
        if self.pending is not None:
            features, self.pending = self.pending, None
            return features
        if self.model.training:
            return self.compute(input_values)
        key = hashlib.blake2b(input_values.cpu().numpy().tobytes(), digest_size=16)
        key.update(repr((tuple(input_values.shape), input_values.dtype)).encode())
        digest = key.digest()
        if digest not in self.evaluated:
            self.evaluated[digest] = self.compute(input_values)
        return self.evaluated[digest].clone()

    def prepare(self, ids: list[tuple[str, float]], inputs: dict) -> None:
        """Sets the batch's encoder output (batch, channels, frames) for the next forward pass, computing the
        rows of utterances not seen before from the padded `inputs` (input_values and attention_mask), each from
        its own samples alone: computed inside a padded batch, a row differed in its last bits with the batch's
        width, so a resumed run (which fills the cache in other batches) was not bit-identical."""
        values, samples = inputs["input_values"], inputs["attention_mask"].sum(-1).tolist()
        lengths = self.model._get_feat_extract_output_lengths(inputs["attention_mask"].sum(-1)).tolist()
        for i, id_ in enumerate(ids):  # the encoder's weights are frozen, so no graph is recorded
            if id_ not in self.rows:
                self.rows[id_] = self.compute(values[i : i + 1, : samples[i]])[0, :, : lengths[i]].clone()
        width = int(self.model._get_feat_extract_output_lengths(values.shape[1]))
        first = self.rows[ids[0]]
        features = first.new_zeros((len(ids), first.shape[0], width))
        for i, id_ in enumerate(ids):
            features[i, :, : lengths[i]] = self.rows[id_]
        self.pending = features
