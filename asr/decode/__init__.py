"""Decoding: acoustic model log-probabilities (cached per split), CTC decoders, LM weight tuning, results."""
