"""The character vocabulary of a train split, as a Wav2Vec2Processor."""
