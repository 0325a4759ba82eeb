"""Self-supervised wav2vec 2.0 pretraining (`asr pretrain`) on unlabeled manifests."""
