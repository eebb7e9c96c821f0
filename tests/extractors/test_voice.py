"""openSMILE voice backend on real speech, silence, music and noise, gain and pitch
changes; prosody only over VAD speech regions; segment_prosody."""

from __future__ import annotations

import json
import math
import sysconfig
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_wav

from extractors.base import VoiceBackend
from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia, decode_audio
from extractors.registry import create, names
from extractors.schema import VoiceCues
from extractors.voice.opensmile_backend import (
    F0_COL,
    LOUDNESS_COL,
    NO_SPEECH,
    OpenSmileVoiceBackend,
    segment_prosody,
    voiced_stretches,
)
from extractors.voice.vad import VadSettings, in_regions
from textualize.prosody import voice_lines

SUMMARY_KEYS = {
    "pitch_mean_st",
    "pitch_std_st",
    "pitch_slope_st_per_s",
    "pitch_range_st",
    "loudness_mean",
    "loudness_std",
    "loudness_slope_per_s",
    "jitter_local",
    "shimmer_db",
    "hnr_db",
    "voiced_fraction",
    "voiced_segments_per_s",
    "speaking_rate_syll_per_s",
    "mean_voiced_segment_s",
    "mean_unvoiced_segment_s",
    "voiced_s",
    "vad_speech_s",
}


@pytest.fixture(scope="module")
def backend() -> OpenSmileVoiceBackend:
    return OpenSmileVoiceBackend()


@pytest.fixture(scope="module")
def sample_voice(backend: OpenSmileVoiceBackend, sample_clip: ClipMedia) -> VoiceCues:
    return backend.extract(sample_clip)


def _finite_or_none(values) -> bool:  # type: ignore[no-untyped-def]
    return all(v is None or math.isfinite(v) for v in values)


def test_registered_and_protocol(backend: OpenSmileVoiceBackend) -> None:
    assert "opensmile" in names("voice")
    made = create("voice", "opensmile")
    assert isinstance(made, VoiceBackend)
    assert made.config() == {
        "feature_set": "eGeMAPSv02",
        "vad": "silero",
        "functionals": False,
        "vad_settings": VadSettings().config(),
    }
    assert made.config_hash() == backend.config_hash()
    assert backend.version.startswith("opensmile-")
    avail = backend.available()
    assert avail.ok, avail.detail
    with pytest.raises(ValueError, match="eGeMAPSv02"):
        OpenSmileVoiceBackend(feature_set="ComParE_2016")
    with pytest.raises(ValueError, match="silero, none"):
        OpenSmileVoiceBackend(vad="webrtc")
    # Options that change the output change the stage key.
    assert OpenSmileVoiceBackend(vad="none").config_hash() != backend.config_hash()
    assert OpenSmileVoiceBackend(functionals=True).config_hash() != backend.config_hash()
    assert "silero-vad" in avail.detail


def test_real_speech_summary(sample_voice: VoiceCues, sample_clip: ClipMedia) -> None:
    v = sample_voice
    duration = sample_clip.info.duration_s
    assert v.missing_reason is None
    assert v.backend == "opensmile"
    s = v.summary
    assert set(s) >= SUMMARY_KEYS
    assert _finite_or_none(s.values())
    # Adult telephone speech: semitones re 27.5 Hz (34.5 st is about 200 Hz).
    assert 15.0 < s["pitch_mean_st"] < 50.0
    assert 0.5 < s["pitch_std_st"] < 10.0
    assert 0.0 < s["pitch_range_st"] < 15.0
    assert 0.0 < s["voiced_fraction"] < 1.0
    # Talk starts at 6.7 s of 30 s, so at most ~3/4 of the frames can be voiced.
    assert s["voiced_fraction"] < 0.8
    assert s["loudness_mean"] > 0 and s["loudness_std"] > 0
    assert 0.0 < s["jitter_local"] < 0.2
    assert s["shimmer_db"] > 0 and s["hnr_db"] is not None
    assert 0.5 < s["voiced_segments_per_s"] < 6.0
    # ~110 syllables in ~22 s of talk: 3-7 syllables per second.
    assert 3.0 < s["speaking_rate_syll_per_s"] < 7.0
    assert s["mean_voiced_segment_s"] > 0 and s["mean_unvoiced_segment_s"] > 0
    assert s["duration_s"] == pytest.approx(duration, abs=0.05)

    # Frames: 10 ms rows with start times, the 25 LLDs, voiced F0 matching the summary.
    assert v.frames.columns[0] == "time_s"
    assert {F0_COL, LOUDNESS_COL, "jitterLocal_sma3nz", "HNRdBACF_sma3nz"} <= set(v.frames)
    assert len(v.frames) == pytest.approx(duration / 0.01, rel=0.02)
    assert np.allclose(np.diff(v.frames["time_s"].to_numpy()), 0.01, atol=1e-3)
    f0 = v.frames[F0_COL].to_numpy()
    in_speech = in_regions(v.frames["time_s"].to_numpy(), v.speech_regions)
    voiced = (f0 > 0) & in_speech
    assert np.mean(f0[voiced]) == pytest.approx(s["pitch_mean_st"], abs=0.01)
    assert s["voiced_s"] == pytest.approx(voiced.sum() * 0.01, abs=0.01)
    # No voiced frame in the first 6 s: the recording is silent until 6.7 s.
    assert not (f0[v.frames["time_s"].to_numpy() < 6.0] > 0).any()
    assert v.functionals == {}  # the 88 functionals are a second pass, off by default
    # JSON-safe: no NaN/inf anywhere in the stored part.
    json.dumps(v.to_dict(), allow_nan=False)


def test_real_speech_segments_and_baseline(sample_voice: VoiceCues) -> None:
    v = sample_voice
    assert v.baseline_source == "clip"
    assert v.baseline["pitch_mean"] == pytest.approx(v.summary["pitch_mean_st"])
    assert v.baseline["pitch_std"] > 0 and v.baseline["loudness_std"] > 0
    assert v.segments
    prev_end = 0.0
    for seg in v.segments:
        assert prev_end <= seg.start_s < seg.end_s <= 30.0
        assert seg.end_s - seg.start_s >= 0.2
        assert 0.0 < seg.voiced_fraction <= 1.0
        assert 15.0 < seg.pitch_mean_st < 50.0
        assert seg.pitch_z is not None and abs(seg.pitch_z) < 3
        assert seg.loudness_z is not None
        prev_end = seg.end_s
    # The first voiced stretch is the second "Hello?" at 7.63 s (sample.stm); the first,
    # quiet one at 6.68 s is too short for the VAD (see test_vad_keeps_prosody_...).
    assert 7.5 < v.segments[0].start_s < 7.8
    # Segment pitch is a weighted share of the clip mean: the z-scores straddle zero.
    zs = [seg.pitch_z for seg in v.segments]
    assert min(zs) < 0.5 and max(zs) > -0.5

    back = VoiceCues.from_dict(json.loads(json.dumps(v.to_dict())), frames=v.frames)
    assert back.segments == v.segments and back.summary == v.summary
    assert back.speech_regions == v.speech_regions and back.speaker is None
    # A record stored before speech regions and speakers existed still loads.
    old = {k: val for k, val in v.to_dict().items() if k not in ("speech_regions", "speaker")}
    assert VoiceCues.from_dict(old, frames=v.frames).speech_regions == []


def test_external_baseline(backend: OpenSmileVoiceBackend, sample_clip: ClipMedia) -> None:
    base = {"pitch_mean": 30.0, "pitch_std": 2.0, "loudness_mean": 0.1, "loudness_std": 0.1}
    v = backend.extract(sample_clip, baseline=base, baseline_source="speaker:diane")
    assert v.baseline_source == "speaker:diane"
    assert v.baseline == base
    for seg in v.segments:
        assert seg.pitch_z == pytest.approx((seg.pitch_mean_st - 30.0) / 2.0, abs=1e-3)
        assert seg.pitch_z > 0  # everyone here speaks above 30 st
        assert seg.loudness_z == pytest.approx((seg.loudness_mean - 0.1) / 0.1, abs=1e-3)


def test_louder_copy_reads_louder(
    backend: OpenSmileVoiceBackend,
    sample_voice: VoiceCues,
    loud_sample_clip: ClipMedia,
) -> None:
    loud = backend.extract(loud_sample_clip)
    assert loud.missing_reason is None
    assert loud.summary["loudness_mean"] > 1.5 * sample_voice.summary["loudness_mean"]
    # Gain does not move pitch.
    assert loud.summary["pitch_mean_st"] == pytest.approx(
        sample_voice.summary["pitch_mean_st"], abs=1.0
    )


def test_higher_voice_reads_higher(
    backend: OpenSmileVoiceBackend, espeak: Callable[..., Path]
) -> None:
    text = "I really cannot believe you did that again today."
    low = backend.extract(ClipMedia(espeak("pitch20", text, "-p", "20")))
    high = backend.extract(ClipMedia(espeak("pitch80", text, "-p", "80")))
    assert low.missing_reason is None and high.missing_reason is None
    assert high.summary["pitch_mean_st"] - low.summary["pitch_mean_st"] > 4.0
    assert len(low.segments) >= 1


def test_silence(backend: OpenSmileVoiceBackend, silent_clip: ClipMedia) -> None:
    v = backend.extract(silent_clip)
    assert v.missing_reason is not None and "silence" in v.missing_reason
    assert v.summary["voiced_fraction"] == 0.0
    assert v.summary["pitch_mean_st"] is None and v.summary["loudness_mean"] is None
    assert v.segments == []
    assert len(v.frames) > 0  # the frames are still there, all unvoiced
    json.dumps(v.to_dict(), allow_nan=False)


def test_no_audio_stream(backend: OpenSmileVoiceBackend, video_only_clip: ClipMedia) -> None:
    assert not video_only_clip.info.has_audio
    v = backend.extract(video_only_clip)
    assert v.missing_reason == "no audio stream"
    assert list(v.frames.columns) == ["time_s"] and v.frames.empty


# -- segment_prosody, the pure function -------------------------------------------------
def _synthetic_frames() -> pd.DataFrame:
    """0-1 s voiced rising 2 st/s from 30 st (0.2 s unvoiced gap inside), 1.5-1.64 s a
    0.15 s blip, 2-3 s voiced flat 36 st, then unvoiced."""
    t = np.round(np.arange(400) * 0.01, 2)
    f0 = np.zeros_like(t)
    loud = np.full_like(t, 0.05)
    first = (t < 1.0) & ~((t >= 0.4) & (t < 0.6))
    f0[first] = 30.0 + 2.0 * t[first]
    loud[first] = 0.5
    blip = (t >= 1.5) & (t < 1.65)
    f0[blip] = 40.0
    loud[blip] = 2.0
    second = (t >= 2.0) & (t < 3.0)
    f0[second] = 36.0
    loud[second] = 1.0
    return pd.DataFrame({"time_s": t, F0_COL: f0, LOUDNESS_COL: loud})


def test_voiced_stretches_split_and_drop() -> None:
    spans = voiced_stretches(_synthetic_frames())
    # The 0.2 s gap does not split; the 0.5 s gap does; the 0.15 s blip is dropped.
    assert spans == [(0.0, 1.0), (2.0, 3.0)]


def test_segment_prosody_values() -> None:
    frames = _synthetic_frames()
    base = {"pitch_mean": 33.0, "pitch_std": 3.0, "loudness_mean": 0.75, "loudness_std": 0.25}
    first, second = segment_prosody(frames, base)
    assert (first.start_s, first.end_s) == (0.0, 1.0)
    assert first.voiced_fraction == pytest.approx(0.8)
    assert first.pitch_mean_st == pytest.approx(30.99, abs=1e-3)  # 30 + 2 * mean(t)
    assert first.pitch_slope_st_per_s == pytest.approx(2.0, abs=1e-3)
    assert first.pitch_z == pytest.approx((30.99 - 33.0) / 3.0, abs=1e-3)
    assert first.loudness_mean == pytest.approx(0.5)
    assert first.loudness_z == pytest.approx(-1.0)
    assert (second.start_s, second.end_s) == (2.0, 3.0)
    assert second.pitch_mean_st == pytest.approx(36.0)
    assert second.pitch_slope_st_per_s == pytest.approx(0.0, abs=1e-6)
    assert second.pitch_z == pytest.approx(1.0)
    assert second.loudness_z == pytest.approx(1.0)
    assert second.voiced_fraction == 1.0


def test_segment_prosody_given_segments_and_no_baseline() -> None:
    frames = _synthetic_frames()
    (seg,) = segment_prosody(frames, None, segments=[(2.0, 2.5)])
    assert (seg.start_s, seg.end_s) == (2.0, 2.5)
    assert seg.pitch_mean_st == pytest.approx(36.0)
    assert seg.pitch_z is None and seg.loudness_z is None
    # An unvoiced span keeps its place with no pitch; a span outside the frames is skipped.
    (unvoiced,) = segment_prosody(frames, None, segments=[(3.2, 3.8)])
    assert unvoiced.voiced_fraction == 0.0 and unvoiced.pitch_mean_st is None
    assert segment_prosody(frames, None, segments=[(10.0, 11.0)]) == []
    assert segment_prosody(frames.iloc[0:0], None) == []


# -- speech only: the VAD keeps prosody off music, noise and silence ---------------------
def test_vad_keeps_prosody_inside_speech_regions(
    sample_voice: VoiceCues, sample_utterances: list[tuple[float, float, str]]
) -> None:
    v = sample_voice
    regions = v.speech_regions
    # Talk starts with a quiet "Hello?" at 6.68 s (sample.stm): Silero scores it above
    # 0.5 for only 0.13 s, as it does the onset of a plucked note, so the 0.2 s minimum
    # drops both. The answer "Hello?" at 7.63 s starts the speech; nothing before it is.
    assert 7.4 < regions[0][0] < 7.65
    assert regions[-1][1] == pytest.approx(30.0, abs=0.05)
    # Every other reference utterance has its middle inside a speech region.
    mids = np.array([(a + b) / 2 for a, b, _ in sample_utterances[1:]])
    assert in_regions(mids, regions).all()
    # Every voiced segment lies inside one region; its voiced frames are in speech.
    for seg in v.segments:
        assert any(a - 1e-6 <= seg.start_s and seg.end_s <= b + 0.011 for a, b in regions), seg
    assert v.summary["vad_speech_s"] == pytest.approx(sum(b - a for a, b in regions), abs=0.01)
    assert 20.0 < v.summary["vad_speech_s"] < 24.5  # ~23 s of talk in 30 s


def test_functionals_option_describes_the_speech(
    sample_clip: ClipMedia, sample_voice: VoiceCues
) -> None:
    v = OpenSmileVoiceBackend(functionals=True).extract(sample_clip)
    assert len(v.functionals) == 88
    f = v.functionals
    # The summary is computed from the LLDs; it agrees with openSMILE's own functionals
    # of the speech (joined regions) within a few percent.
    assert f["F0semitoneFrom27.5Hz_sma3nz_amean"] == pytest.approx(
        sample_voice.summary["pitch_mean_st"], abs=0.1
    )
    assert f["HNRdBACF_sma3nz_amean"] == pytest.approx(sample_voice.summary["hnr_db"], rel=0.05)
    assert f["shimmerLocaldB_sma3nz_amean"] == pytest.approx(
        sample_voice.summary["shimmer_db"], rel=0.1
    )
    assert f["jitterLocal_sma3nz_amean"] == pytest.approx(
        sample_voice.summary["jitter_local"], rel=0.2
    )
    assert v.summary == sample_voice.summary


def _melody(seconds: float = 6.0) -> np.ndarray:
    """Plucked-string-like notes (7 harmonics, 5 Hz vibrato, decaying), 3 per second."""
    sr = AUDIO_SAMPLE_RATE
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    notes = [220.0, 246.9, 261.6, 293.7, 329.6, 349.2, 392.0, 440.0]
    step = int(0.33 * sr)
    for i, start in enumerate(range(0, len(t), step)):
        tt = t[start : start + step] - t[start]
        vib = 1 + 0.01 * np.sin(2 * np.pi * 5 * tt)
        for h in range(1, 8):
            out[start : start + step] += (
                np.sin(2 * np.pi * notes[i % 8] * h * vib * tt) / h * np.exp(-3 * tt)
            )
    return 0.3 * out / np.abs(out).max()


def _pluck_melody() -> np.ndarray | None:
    """A real plucked-string recording from CPython's test data, replayed at 8 pitches."""
    path = Path(sysconfig.get_paths()["stdlib"]) / "test" / "audiodata" / "pluck-pcm16.wav"
    if not path.is_file():
        return None
    note = decode_audio(path)
    parts = []
    for ratio in (1.0, 1.12, 1.26, 1.33, 1.5, 1.68, 1.89, 2.0) * 2:
        idx = np.arange(0, len(note) - 1, ratio)
        parts.append(np.interp(idx, np.arange(len(note)), note))
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("kind", ["melody", "white_noise", "pluck_recording"])
def test_music_and_noise_are_not_a_voice(
    backend: OpenSmileVoiceBackend, clips_dir: Path, kind: str
) -> None:
    rng = np.random.default_rng(0)
    if kind == "melody":
        audio = _melody()
    elif kind == "white_noise":
        audio = 0.1 * rng.standard_normal(5 * AUDIO_SAMPLE_RATE)
    else:
        pluck = _pluck_melody()
        if pluck is None:
            pytest.skip("CPython's test/audiodata is not installed here")
        audio = pluck
    v = backend.extract(ClipMedia(write_wav(clips_dir / f"{kind}.wav", audio)))
    if kind != "white_noise":
        # openSMILE alone would have called most of it voiced: the notes have an F0.
        f0 = v.frames[F0_COL].to_numpy()
        assert (f0 > 0).mean() > 0.3
    assert v.speech_regions == []
    assert v.missing_reason == NO_SPEECH
    assert v.segments == [] and v.baseline == {}
    assert v.summary["pitch_mean_st"] is None and v.summary["voiced_s"] == 0.0
    assert len(v.frames) > 0  # the LLDs are kept
    assert voice_lines(v) == [f"not available: {NO_SPEECH}"]


def test_vad_none_treats_everything_as_speech(clips_dir: Path) -> None:
    v = OpenSmileVoiceBackend(vad="none").extract(
        ClipMedia(write_wav(clips_dir / "melody_novad.wav", _melody(3.0)))
    )
    assert v.speech_regions == [(0.0, 3.0)]
    assert v.missing_reason is None and v.summary["pitch_mean_st"] is not None


def test_music_before_speech_is_left_out(
    backend: OpenSmileVoiceBackend, clips_dir: Path, espeak: Callable[..., Path]
) -> None:
    speech = decode_audio(espeak("after_music", "I really cannot believe you did that again."))
    mixed = np.concatenate([_melody(3.0), speech]).astype(np.float32)
    v = backend.extract(ClipMedia(write_wav(clips_dir / "music_then_speech.wav", mixed)))
    alone = backend.extract(ClipMedia(write_wav(clips_dir / "speech_alone.wav", speech)))
    everything = OpenSmileVoiceBackend(vad="none").extract(
        ClipMedia(write_wav(clips_dir / "music_then_speech_novad.wav", mixed))
    )
    assert v.missing_reason is None
    assert v.speech_regions[0][0] >= 2.8  # the melody (0-3 s) is not speech
    assert all(seg.start_s >= 2.8 for seg in v.segments)
    # Pitch is the voice's (espeak ~22 st), not pulled up by the notes (220-440 Hz, 38-50 st).
    assert v.summary["pitch_mean_st"] == pytest.approx(alone.summary["pitch_mean_st"], abs=0.5)
    assert everything.summary["pitch_mean_st"] > v.summary["pitch_mean_st"] + 5.0


def test_vad_chunks_join_regions_across_the_cuts(
    sample_clip: ClipMedia, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extractors.voice import vad

    audio = sample_clip.audio()
    whole = vad.speech_regions(audio)
    assert len(whole) == 1  # one stretch of talk from 7.6 s to the end
    for chunk_s in (10.0, 13.0):  # cuts at 10/20 s and 13/26 s, inside the talk
        monkeypatch.setattr(vad, "CHUNK_S", chunk_s)
        cut = vad.speech_regions(audio)
        assert len(cut) == 1, (chunk_s, cut)
        assert cut[0] == pytest.approx(whole[0], abs=0.3)


def test_lld_in_chunks_equal_one_call(sample_clip: ClipMedia) -> None:
    """Long audio goes to openSMILE in pieces (bounded memory); with the 1 s context on
    each side the frames are the same as from one call, cut points included."""
    from extractors.voice import lld

    signal = lld.clean_signal(sample_clip.audio())
    whole = lld.low_level_descriptors(signal)
    pieces = lld.low_level_descriptors(signal, chunk_s=7.0)  # cuts at 7, 14, 21, 28 s
    assert len(whole) == len(pieces) == pytest.approx(3000, abs=5)
    assert (whole["time_s"].to_numpy() == pieces["time_s"].to_numpy()).all()
    for col in (F0_COL, LOUDNESS_COL, "jitterLocal_sma3nz", "F1frequency_sma3nz"):
        assert np.allclose(whole[col], pieces[col], atol=1e-4, equal_nan=True), col


def test_lld_on_threads_equal_one_call(sample_clip: ClipMedia) -> None:
    """Pieces run side by side on threads (cut at 15 s here) give the frames of one call,
    every column, NaN where one call has NaN; so the thread count stays out of the stage
    key."""
    from extractors.voice import lld
    from extractors.voice.opensmile_backend import OpenSmileVoiceBackend

    signal = lld.clean_signal(sample_clip.audio())
    whole = lld.low_level_descriptors(signal)
    threaded = lld.low_level_descriptors(signal, threads=2)
    assert list(threaded.columns) == list(whole.columns) and len(whole) > 2900
    for col in whole.columns:
        assert np.allclose(whole[col], threaded[col], atol=1e-4, equal_nan=True), col
    hashes = {OpenSmileVoiceBackend(cpu_threads=n).config_hash() for n in (0, 1, 2)}
    assert len(hashes) == 1
