"""N-gram language models with KenLM: building from text (lmplz, build_binary), perplexity, attaching to a model."""
