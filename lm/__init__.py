"""N-gram language models: KenLM building, loading and perplexity (see issue 5)."""
