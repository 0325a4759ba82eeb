"""asr: fine-tune, decode and score CTC speech recognisers."""

__version__ = "0.1.0"
