"""Hand-built Cues for the textualize tests (textualize is pure, so no extractors run)."""

from __future__ import annotations

import math

import pandas as pd

from extractors.schema import (
    AUEvent,
    Cues,
    FaceCues,
    MediaInfo,
    SpeechCues,
    SpeechSegment,
    VoiceCues,
    VoiceSegment,
    Word,
)


def media(duration_s: float = 6.0, *, has_video: bool = True) -> MediaInfo:
    return MediaInfo(
        path="/data/clips/sample_001.mp4",
        sha256="0" * 64,
        size_bytes=123_456,
        duration_s=duration_s,
        has_video=has_video,
        has_audio=True,
        fps=25.0,
    )


def face(
    events: list[AUEvent] | None = None,
    *,
    n_frames: int = 40,
    n_with_face: int = 38,
    au_confidence: dict[str, float] | None = None,
    max_faces: int = 1,
    warnings: list[str] | None = None,
    missing_reason: str | None = None,
) -> FaceCues:
    times = [i * 0.15 for i in range(n_frames)]
    found = [i < n_with_face for i in range(n_frames)]
    frames = pd.DataFrame(
        {
            "time_s": times,
            "face_found": found,
            "n_faces": [1 if f else 0 for f in found],
            "AU06": [1.0 if f else math.nan for f in found],
            "AU12": [2.0 if f else math.nan for f in found],
        }
    )
    if events is None:
        events = [
            AUEvent("AU12", onset_s=1.2, apex_s=2.0, offset_s=2.8, peak_intensity=4.1),
            AUEvent("AU06", onset_s=1.4, apex_s=2.0, offset_s=2.6, peak_intensity=2.0),
        ]
    return FaceCues(
        backend="test",
        backend_version="0",
        config_hash="x",
        frames=frames,
        au_confidence=au_confidence if au_confidence is not None else {"AU06": 0.9, "AU12": 0.95},
        events=events,
        n_frames=n_frames,
        n_frames_with_face=n_with_face,
        max_faces=max_faces,
        warnings=warnings or [],
        missing_reason=missing_reason,
    )


def voice(
    *,
    baseline_source: str = "speaker:alice",
    summary: dict[str, float | None] | None = None,
    baseline: dict[str, float] | None = None,
    segments: list[VoiceSegment] | None = None,
    missing_reason: str | None = None,
) -> VoiceCues:
    if summary is None:
        summary = {
            "pitch_mean_st": 36.3,  # +1.3 SD against the baseline below
            "pitch_std_st": 2.2,
            "pitch_slope_st_per_s": 2.1,
            "pitch_range_st": 9.0,
            "loudness_mean": 1.1,  # +1.0 SD
            "loudness_std": 0.3,
            "loudness_slope_per_s": 0.0,
            "jitter_local": 0.02,
            "shimmer_db": 1.1,
            "hnr_db": 8.0,
            "voiced_fraction": 0.6,
            "voiced_segments_per_s": 3.0,
            "speaking_rate_syll_per_s": 5.1,
            "mean_voiced_segment_s": 0.25,
            "mean_unvoiced_segment_s": 0.2,
        }
    if baseline is None:
        baseline = {
            "pitch_mean_st": 33.7,
            "pitch_std_st": 2.0,
            "loudness_mean": 0.8,
            "loudness_std": 0.3,
            "jitter_local": 0.02,
            "shimmer_db": 1.1,
            "hnr_db": 8.0,
        }
    if segments is None:
        segments = [
            VoiceSegment(0.4, 2.1, 36.3, 2.1, 1.3, 1.1, 1.1, 0.8),
            VoiceSegment(2.6, 3.4, 33.8, 0.1, 0.1, 0.8, 0.0, 0.7),
        ]
    return VoiceCues(
        backend="test",
        backend_version="0",
        config_hash="x",
        frames=pd.DataFrame({"time_s": [0.0, 0.01]}),
        summary=summary,
        baseline=baseline,
        baseline_source=baseline_source,
        segments=segments,
        missing_reason=missing_reason,
    )


def speech(words: list[Word] | None = None, *, missing_reason: str | None = None) -> SpeechCues:
    if words is None:
        words = [
            Word("I", 0.5, 0.6, 0.99),
            Word("can't", 0.6, 0.9, 0.98),
            Word("believe", 0.9, 1.5, 0.97),
            Word("it!", 1.5, 2.2, 0.95),
            Word("Really?", 3.0, 3.6, 0.4),
        ]
    segments = []
    if words:
        segments = [
            SpeechSegment(" ".join(w.text for w in words), words[0].start_s, words[-1].end_s)
        ]
    return SpeechCues(
        backend="test",
        backend_version="0",
        config_hash="x",
        model="tiny",
        language="en",
        words=words,
        segments=segments,
        aligned=True,
        missing_reason=missing_reason,
    )


def full_cues() -> Cues:
    return Cues(media=media(), face=face(), voice=voice(), speech=speech())
