"""Pitch slopes need enough voice: pyannote's sample.wav cut short, and its real F0 frames
with an octave jump, as the F0 tracker makes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_wav

from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia, decode_audio
from extractors.schema import VoiceCues
from extractors.voice.opensmile_backend import OpenSmileVoiceBackend
from extractors.voice.summary import (
    F0_COL,
    HOP_S,
    SLOPE_MAX_ST_PER_S,
    SLOPE_MIN_VOICED_S,
    implausible_slopes,
    pitch_trend,
    segment_prosody,
    slope,
    voiced_mask,
)
from textualize import prosody


@pytest.fixture(scope="module")
def backend() -> OpenSmileVoiceBackend:
    return OpenSmileVoiceBackend()


def _cut(sample_wav: Path, clips_dir: Path, start: float, length: float) -> ClipMedia:
    audio = decode_audio(sample_wav)
    piece = audio[round(start * AUDIO_SAMPLE_RATE) : round((start + length) * AUDIO_SAMPLE_RATE)]
    return ClipMedia(write_wav(clips_dir / f"cut_{start}_{length}.wav", piece))


def _raw_slope(cues: VoiceCues) -> tuple[float, float]:
    """(voiced seconds, least-squares slope over them): what was stored before the limits."""
    voiced = voiced_mask(cues.frames, cues.speech_regions)
    t = cues.frames["time_s"].to_numpy(float)[voiced]
    f0 = cues.frames[F0_COL].to_numpy(float)[voiced]
    raw = slope(t, f0)
    assert raw is not None
    return float(voiced.sum() * HOP_S), raw


def _trend_words(lines: list[str]) -> list[str]:
    return [x for x in lines if any(w in x for w in ("rising", "falling", "steady", "st/s"))]


def test_short_voice_has_no_slope(
    backend: OpenSmileVoiceBackend, sample_wav: Path, clips_dir: Path
) -> None:
    """0.6 s of sample.wav from 7.5 s ("Hello?") has 0.43 s voiced: its least-squares
    slope is +21 st/s, a syllable's contour, and is neither stored nor worded."""
    cues = backend.extract(_cut(sample_wav, clips_dir, 7.5, 0.6))
    assert cues.missing_reason is None and len(cues.segments) == 1
    voiced_s, raw = _raw_slope(cues)
    assert 0.3 < voiced_s < SLOPE_MIN_VOICED_S
    assert abs(raw) > 10.0  # what used to be stored and worded "steeply rising"
    assert cues.summary["pitch_slope_st_per_s"] is None
    assert cues.segments[0].pitch_slope_st_per_s is None
    assert cues.segments[0].pitch_mean_st is not None  # the level is still there
    assert _trend_words(prosody.voice_lines(cues)) == []


def test_enough_voice_keeps_its_slope(
    backend: OpenSmileVoiceBackend, sample_wav: Path, clips_dir: Path
) -> None:
    """0.6 s from 8.5 s has 0.53 s voiced: a slope (-15.5 st/s, a falling "hello"),
    stored and worded."""
    cues = backend.extract(_cut(sample_wav, clips_dir, 8.5, 0.6))
    voiced_s, raw = _raw_slope(cues)
    assert voiced_s >= SLOPE_MIN_VOICED_S
    stored = cues.summary["pitch_slope_st_per_s"]
    assert stored is not None and stored == pytest.approx(raw, abs=1e-3)
    assert -SLOPE_MAX_ST_PER_S < stored < -10.0
    assert any("falling" in x for x in prosody.voice_lines(cues))
    assert not any("implausible" in w for w in cues.warnings)


def test_octave_jump_slope_is_left_out(
    backend: OpenSmileVoiceBackend, sample_clip: ClipMedia
) -> None:
    """sample.wav's real F0 frames over 0.55 s of talk (0.54 s voiced, -0.6 st/s), the
    first half dropped an octave (the tracker's halving error): +32 st/s, left out. An
    octave step in the middle of a stretch gives 1.5 x 12 st / length, so the limit
    catches it only in stretches up to ~0.6 s; longer ones dilute it below 30 st/s."""
    cues = backend.extract(sample_clip)
    frames = cues.frames.copy()
    span = (10.6, 11.15)
    t = frames["time_s"].to_numpy(float)
    voiced = voiced_mask(frames, cues.speech_regions)
    inside = (t >= span[0]) & (t < span[1]) & voiced
    assert inside.sum() * HOP_S >= SLOPE_MIN_VOICED_S
    before = slope(t[inside], frames[F0_COL].to_numpy(float)[inside])
    assert before is not None and abs(before) < SLOPE_MAX_ST_PER_S
    f0 = frames[F0_COL].to_numpy(float)
    first_half = inside & (t < 10.875)
    f0[first_half] -= 12.0
    frames[F0_COL] = f0
    jumped, why = pitch_trend(t[inside], f0[inside])
    assert jumped is None and why == "implausible"
    (seg,) = segment_prosody(frames, cues.baseline, [span], cues.speech_regions)
    assert seg.pitch_slope_st_per_s is None and seg.pitch_mean_st is not None
    ((s, e, value),) = implausible_slopes(frames, [span], cues.speech_regions)
    assert (s, e) == span and value > SLOPE_MAX_ST_PER_S
    # The whole clip's own slopes are all plausible: no warning on the real audio.
    assert not any("implausible" in w for w in cues.warnings)
    assert implausible_slopes(cues.frames, [span], cues.speech_regions) == []
