"""Model folders and randomly initialised wav2vec2-family CTC models."""
