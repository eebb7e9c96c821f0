"""Extractors: media decoding (PyAV), face/voice/speech backends, the typed Cues records."""
