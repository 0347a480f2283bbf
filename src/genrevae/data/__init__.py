"""Data sources, the embedded corpus, audio decoding and splits."""
