"""speech backends; importing this package registers them (heavy imports stay lazy)."""

from extractors.speech import faster_whisper_backend, whisperx_backend  # noqa: F401
