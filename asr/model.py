"""`asr model init`: a randomly initialised wav2vec2 CTC model of a preset size, written as a local checkpoint.

There is no model hub here, so training can start from a local folder exactly as it would from
``facebook/wav2vec2-xls-r-300m``. Presets: ``tiny`` (about 0.9 M parameters, trainable on 2 CPU cores),
``small`` (about 7 M) and ``base`` (the wav2vec2-base architecture, 95 M). tiny and small use layer-norm
feature extraction (``feat_extract_norm="layer"``), so they take attention masks and padded batches give
the same result as single utterances.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.errors import InputError, run_reporting_errors

PRESETS: dict[str, dict] = {
    "tiny": {
        "hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 384,
        "conv_dim": (64, 64, 64, 64, 64, 64, 64), "num_conv_pos_embeddings": 32, "num_conv_pos_embedding_groups": 4,
        "feat_extract_norm": "layer", "do_stable_layer_norm": True,
    },
    "small": {
        "hidden_size": 256, "num_hidden_layers": 6, "num_attention_heads": 4, "intermediate_size": 1024,
        "conv_dim": (256,) * 7, "num_conv_pos_embeddings": 64, "num_conv_pos_embedding_groups": 8,
        "feat_extract_norm": "layer", "do_stable_layer_norm": True,
    },
    "base": {},  # transformers' Wav2Vec2Config defaults are wav2vec2-base
}  # fmt: skip


def init_model(preset: str, out_dir: Path, processor_dir: Path | None = None, seed: int = 0) -> int:
    """Writes config + safetensors weights (+ the processor) to `out_dir`; returns the parameter count."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC, Wav2Vec2Processor

    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    torch.manual_seed(seed)
    settings = dict(PRESETS[preset])
    processor = None
    if processor_dir is not None:
        processor = Wav2Vec2Processor.from_pretrained(str(processor_dir))
        settings |= {"vocab_size": len(processor.tokenizer), "pad_token_id": processor.tokenizer.pad_token_id}
    config = Wav2Vec2Config(**settings, ctc_loss_reduction="mean")
    model = Wav2Vec2ForCTC(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    if processor is not None:
        processor.save_pretrained(str(out_dir))
    return sum(p.numel() for p in model.parameters())


def main(argv: list[str] | None = None, prog: str = "asr model") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("init", help="write a randomly initialised wav2vec2 CTC model")
    p.add_argument("--preset", choices=list(PRESETS), default="tiny")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--processor", type=Path, help="size the CTC head to this processor's vocabulary and copy it")
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def run() -> int:
        count = init_model(args.preset, args.out, args.processor, args.seed)
        print(f"{args.preset} wav2vec2 CTC model, {count / 1e6:.2f} M parameters, written to {args.out}")
        return 0

    return run_reporting_errors(f"{prog} {args.action}", run)


if __name__ == "__main__":
    sys.exit(main())
