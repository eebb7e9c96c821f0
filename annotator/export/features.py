"""Typed ``datasets.Features`` of each configuration of the Hub export.

``video`` is ``Video(decode=False)``: a struct of ``bytes`` and a ``path`` relative to the
export, so loading needs neither torchcodec nor ffmpeg. A ``datasets`` without that type
(before 4.0) gets the same struct as plain fields (``VIDEO_TYPED`` says which).
"""

from __future__ import annotations

from typing import Any

CONFIGS = ("captions", "track2", "track3", "reviews", "drafts")
DEFAULT_CONFIG = "captions"


def _video() -> tuple[Any, bool]:
    from datasets import Value

    try:
        from datasets import Video

        return Video(decode=False), True
    except (ImportError, TypeError):
        return {"bytes": Value("binary"), "path": Value("string")}, False


def video_typed() -> bool:
    return _video()[1]


def features(config: str) -> Any:
    """The ``datasets.Features`` of ``config`` (one of ``CONFIGS``)."""
    from datasets import Features, List, Value

    text, flag, number = Value("string"), Value("bool"), Value("float64")
    integer, stamp, words = Value("int64"), Value("timestamp[us]"), List(Value("string"))
    if config == "captions":
        return Features(
            {
                "name": text, "file_name": text, "sha256": text, "video": _video()[0],
                "duration_s": number, "has_audio": flag, "has_video": flag, "partial": flag,
                "missing": text, "speaker_id": text, "split": text, "transcript": text,
                "cue_text": text, "readable_cue_text": text, "textualizer_version": text,
                "visual_clues": text, "acoustic_clues": text, "lexical_clues": text,
                "reasoning": text, "caption": text, "openset": words, "valence": number,
                "arousal": number, "review_status": text, "reviewed": flag,
                "adjudicated": flag, "annotator": text, "annotators": words,
                "review_version": integer, "reviewed_at": stamp, "agreement": number,
                "draft_id": integer, "draft_status": text, "draft_caption": text,
                "draft_openset": words, "draft_valence": number, "draft_arousal": number,
                "confidence": number, "grounding_rate": number, "model_id": text,
                "backend": text, "prompt_version": text,
            }
        )  # fmt: skip
    if config == "track2":
        return Features({"name": text, "openset": text})
    if config == "track3":
        return Features({"name": text, "reason": text})
    if config == "reviews":
        return Features(
            {
                "name": text, "sha256": text, "split": text, "review_id": integer,
                "annotator": text, "kind": text, "source": text, "version": integer,
                "status": text, "current": flag, "stands": flag, "time_spent_s": number,
                "notes": text, "reject_reason": text, "saved_at": stamp, "draft_id": integer,
                "caption_before": text, "caption_after": text, "labels_before": words,
                "labels_after": words, "valence_before": number, "valence_after": number,
                "arousal_before": number, "arousal_after": number,
            }
        )  # fmt: skip
    if config == "drafts":
        return Features(
            {
                "name": text, "sha256": text, "split": text, "draft_id": integer,
                "config_hash": text, "sample_index": integer, "model_id": text,
                "backend": text, "prompt_version": text, "status": text, "valid": flag,
                "error_message": text, "chosen": flag, "used": flag, "caption": text,
                "labels": words, "valence": number, "arousal": number, "confidence": number,
                "model_confidence": number, "grounding_rate": number,
                "ungrounded_clues": words, "prompt_tokens": integer,
                "completion_tokens": integer, "latency_s": number, "sampling": text,
                "raw_output": text, "created_at": stamp,
            }
        )  # fmt: skip
    raise ValueError(f"unknown configuration {config!r}; known: {', '.join(CONFIGS)}")
