import pytest
from textualize_cues import voice

from extractors.schema import SpeakerBaseline, VoiceSegment
from textualize import prosody, speaker


@pytest.mark.parametrize(
    ("z", "word"),
    [
        (0.0, None),
        (0.44, None),
        (0.5, "slightly high"),
        (0.9, "slightly high"),
        (1.0, "high"),
        (1.3, "high"),
        (1.9, "high"),
        (2.0, "very high"),
        (-0.5, "slightly low"),
        (-1.3, "low"),
        (-2.5, "very low"),
    ],
)
def test_level_word(z: float, word: str | None) -> None:
    assert prosody.level_word(z, "high", "low") == word


@pytest.mark.parametrize(
    ("slope", "word"),
    [
        (0.0, "steady"),
        (0.4, "steady"),
        (0.5, "slightly rising"),
        (1.0, "rising"),
        (2.1, "rising"),
        (4.0, "steeply rising"),
        (-0.7, "slightly falling"),
        (-1.5, "falling"),
    ],
)
def test_trend_word(slope: float, word: str) -> None:
    assert prosody.trend_word(slope) == word


@pytest.mark.parametrize(
    ("rate", "word"),
    [
        (2.0, "very slow"),
        (2.5, "slow"),
        (3.5, "moderate"),
        (4.5, "fast"),
        (5.1, "fast"),
        (5.5, "very fast"),
    ],
)
def test_rate_word(rate: float, word: str) -> None:
    assert prosody.rate_word(rate) == word


def test_pitch_phrase_high_and_rising() -> None:
    assert prosody.pitch_phrase(1.3, 2.1) == "pitch high and rising (+1.3 SD, +2.1 st/s)"
    assert prosody.pitch_phrase(0.1, -0.1) == "pitch typical and steady (+0.1 SD, -0.1 st/s)"
    assert prosody.pitch_phrase(None, None) is None


def test_speaker_baseline_wording() -> None:
    lines = prosody.clip_lines(voice(baseline_source="speaker:alice"), duration_s=6.0)
    assert lines[0] == "pitch high and rising for this speaker (+1.3 SD, +2.1 st/s)"
    assert "loud for this speaker (+1.0 SD)" in lines
    assert "speaking rate fast (5.1 syll/s)" in lines


def test_clip_baseline_wording() -> None:
    v = voice(baseline_source="clip")
    lines = prosody.clip_lines(v, duration_s=6.0)
    # The clip is its own baseline: no clip-level pitch/loudness level, only the trend.
    assert lines[0] == "pitch rising over the clip (+2.1 st/s)"
    assert not any("for this speaker" in line for line in lines)
    out = prosody.voice_lines(v, duration_s=6.0)
    assert out[0] == "baseline: this clip"
    assert "voiced segments, relative to this clip:" in out
    assert "  0.4-2.1 s: pitch high and rising (+1.3 SD, +2.1 st/s), loud (+1.1 SD)" in out


def test_baseline_phrase() -> None:
    assert prosody.baseline_phrase("speaker:bob") == "for this speaker"
    assert prosody.baseline_phrase("clip") == "relative to this clip"
    assert prosody.baseline_phrase("external") == "relative to the external baseline"


def test_backend_baseline_key_spelling() -> None:
    # The openSMILE backend writes pitch_mean/pitch_std (no _st suffix).
    baseline = {"pitch_mean": 33.7, "pitch_std": 2.0, "loudness_mean": 0.8, "loudness_std": 0.3}
    lines = prosody.clip_lines(voice(baseline_source="speaker:bob", baseline=baseline))
    assert lines[0] == "pitch high and rising for this speaker (+1.3 SD, +2.1 st/s)"
    ext = prosody.clip_lines(voice(baseline_source="external", baseline=baseline))
    assert ext[0] == "pitch high and rising relative to the external baseline (+1.3 SD, +2.1 st/s)"


def test_segment_descriptions() -> None:
    seg = VoiceSegment(0.4, 2.1, 36.3, 2.1, 1.3, 1.1, 1.1, 0.8)
    assert prosody.describe_segment(seg) == (
        "pitch high and rising (+1.3 SD, +2.1 st/s), loud (+1.1 SD)"
    )
    assert prosody.describe_segment(seg, numbers=False) == "pitch high and rising, loud"
    quiet = VoiceSegment(3.0, 4.0, None, None, None, 0.2, -2.2, 0.5)
    assert prosody.describe_segment(quiet) == "very quiet (-2.2 SD)"
    plain = VoiceSegment(3.0, 4.0, 30.0, 0.1, 0.2, 0.8, 0.1, 0.5)
    assert prosody.describe_segment(plain) is None


def test_segments_capped_most_salient_by_time() -> None:
    segs = [
        VoiceSegment(0.0, 1.0, None, None, 0.6, None, None, 0.5),
        VoiceSegment(1.0, 2.0, None, None, 2.5, None, None, 0.5),
        VoiceSegment(2.0, 3.0, None, None, -1.5, None, None, 0.5),
    ]
    lines = prosody.voice_lines(voice(segments=segs), max_segments=2)
    assert "voiced segments, for this speaker (2 of 3 notable shown):" in lines
    seg_lines = [line for line in lines if line.startswith("  ")]
    assert seg_lines == [
        "  1.0-2.0 s: pitch very high (+2.5 SD)",
        "  2.0-3.0 s: pitch low (-1.5 SD)",
    ]


def test_voice_quality_only_with_speaker_baseline() -> None:
    summary: dict[str, float | None] = {"hnr_db": 4.0, "shimmer_db": 1.6, "jitter_local": 0.02}
    baseline = {"hnr_db": 8.0, "shimmer_db": 1.1, "jitter_local": 0.02}
    speaker = voice(baseline_source="speaker:a", summary=summary, baseline=baseline, segments=[])
    assert prosody.voice_quality_lines(speaker) == [
        "voice breathy for this speaker (HNR -4.0 dB, shimmer +0.5 dB)"
    ]
    clip = voice(baseline_source="clip", summary=summary, baseline=baseline, segments=[])
    assert prosody.voice_quality_lines(clip) == []


def test_voice_rough_and_tense() -> None:
    base = {"hnr_db": 8.0, "shimmer_db": 1.1, "jitter_local": 0.02}
    rough = voice(summary={"hnr_db": 8.0, "shimmer_db": 1.5, "jitter_local": 0.04}, baseline=base)
    assert prosody.voice_quality_lines(rough) == [
        "voice rough, irregular for this speaker (jitter x2.0, shimmer +0.4 dB)"
    ]
    tense = voice(summary={"hnr_db": 12.0, "shimmer_db": 1.0, "jitter_local": 0.014}, baseline=base)
    assert prosody.voice_quality_lines(tense) == [
        "voice possibly tense for this speaker (HNR +4.0 dB, jitter x0.7)"
    ]
    usual = voice(summary=dict(base), baseline=base)
    assert prosody.voice_quality_lines(usual) == []


def test_none_and_nan_summary_values_are_skipped() -> None:
    v = voice(
        summary={"pitch_mean_st": None, "speaking_rate_syll_per_s": float("nan")}, segments=[]
    )
    assert prosody.voice_lines(v) == ["no usable acoustic measures"]


def test_voice_missing_reason() -> None:
    v = voice(summary={}, segments=[], missing_reason="no voiced frames (silence)")
    assert prosody.voice_lines(v) == ["not available: no voiced frames (silence)"]


def test_no_speech_gives_no_prosody_even_with_a_summary() -> None:
    # Music: the backend keeps the frames and a summary, but nothing is a voice.
    v = voice(baseline_source="clip", missing_reason="no speech in the audio (music or noise)")
    assert prosody.voice_lines(v) == ["not available: no speech in the audio (music or noise)"]
    spk = SpeakerBaseline("spk1", 5, 40.0, 33.7, 2.0, 0.8, 0.3)
    rebased = prosody.with_speaker_baseline(v, spk)
    assert prosody.voice_lines(rebased) == [
        "not available: no speech in the audio (music or noise)"
    ]


def _spk(n_clips: int = 5, **kw: float) -> SpeakerBaseline:
    values = {
        "voiced_s": 41.23,
        "pitch_mean": 33.7,
        "pitch_std": 2.0,
        "loudness_mean": 0.8,
        "loudness_std": 0.3,
        "speaking_rate_syll_per_s": 5.1,
        "hnr_db": 11.0,
        "jitter_local": 0.02,
        "shimmer_db": 0.7,
    }
    values.update(kw)
    return SpeakerBaseline("spk1", n_clips, **values)  # type: ignore[arg-type]


def test_speaker_baseline_rescores_segments_and_says_whose() -> None:
    clip = voice(baseline_source="clip", baseline={"pitch_mean": 35.0, "pitch_std": 1.0})
    clip.segments[0].pitch_z = 1.3  # as the extractor scored it against the clip
    out = prosody.with_speaker_baseline(clip, _spk())
    assert out is not clip and clip.baseline_source == "clip"  # the input is not changed
    assert out.baseline_source == "speaker:spk1" and out.speaker == _spk()
    first, second = out.segments
    assert first.pitch_z == pytest.approx((36.3 - 33.7) / 2.0)
    assert first.loudness_z == pytest.approx((1.1 - 0.8) / 0.3, abs=1e-4)
    assert second.pitch_z == pytest.approx((33.8 - 33.7) / 2.0)
    assert (first.pitch_mean_st, first.start_s) == (36.3, 0.4)  # absolute values kept
    lines = prosody.voice_lines(out, duration_s=6.0)
    assert lines[0] == "baseline: 5 other clips of speaker spk1 (41.2 s of voiced speech)"
    assert lines[1] == "pitch high and rising for this speaker (+1.3 SD, +2.1 st/s)"
    assert "loud for this speaker (+1.0 SD)" in lines
    # Voice quality needs the speaker: HNR 8 vs 11 dB, shimmer 1.1 vs 0.7 dB.
    assert "voice breathy for this speaker (HNR -3.0 dB, shimmer +0.4 dB)" in lines
    assert "voiced segments, for this speaker:" in lines


def test_too_few_clips_keep_the_clip_baseline_and_say_so() -> None:
    clip = voice(baseline_source="clip", baseline={"pitch_mean": 35.0, "pitch_std": 1.0})
    out = prosody.with_speaker_baseline(clip, _spk(n_clips=2))
    assert out.baseline_source == "clip" and out.segments == clip.segments
    lines = prosody.voice_lines(out, duration_s=6.0)
    assert lines[0] == "baseline: this clip (fewer than 3 other clips of speaker spk1 with speech)"
    assert not any("for this speaker" in line for line in lines)
    assert "voiced segments, relative to this clip:" in lines
    # min_clips is the caller's option; a flat speaker (SD 0) is never used.
    assert prosody.with_speaker_baseline(clip, _spk(n_clips=2, min_clips=2)).speaker
    one = prosody.with_speaker_baseline(clip, SpeakerBaseline("spk1", 1, 2.0, 30.0, 0.0, 1.0, 0.1))
    assert one.baseline_source == "clip"
    assert prosody.voice_lines(one)[0] == (
        "baseline: this clip (fewer than 3 other clips of speaker spk1 with speech)"
    )
    only = prosody.with_speaker_baseline(clip, _spk(n_clips=0, min_clips=1))
    assert prosody.voice_lines(only)[0] == (
        "baseline: this clip (no other clip of speaker spk1 with speech)"
    )
    # The text key changes with the baseline only once it is used.
    assert speaker.key_of(_spk(n_clips=1)) == speaker.key_of(_spk(n_clips=2, voiced_s=9.0))
    assert speaker.key_of(_spk(n_clips=3)) != speaker.key_of(_spk(n_clips=4))
    assert prosody.with_speaker_baseline(clip, None) is clip


def test_pauses_variation_and_rate_vs_speaker() -> None:
    v = voice(
        summary={
            "pitch_std_st": 1.0,
            "speaking_rate_syll_per_s": 2.4,
            "mean_unvoiced_segment_s": 0.8,
            "voiced_fraction": 0.2,
        },
        baseline={"pitch_std_st": 2.0, "speaking_rate_syll_per_s": 4.0},
        segments=[],
    )
    assert prosody.clip_lines(v) == [
        "pitch less varied than usual for this speaker (1.0 st SD)",
        "speaking rate very slow (2.4 syll/s), slower than usual for this speaker (x0.6)",
        "long pauses (mean unvoiced stretch 0.8 s)",
        "little voicing (voiced 20% of the clip)",
    ]
    clip = voice(baseline_source="clip", summary={"pitch_std_st": 1.2}, segments=[])
    assert prosody.clip_lines(clip) == ["pitch variation narrow, monotone (1.2 st SD)"]


def test_no_slope_worded_from_short_or_implausible_cues() -> None:
    """Cues stored before the extractor's limits: -173.6 st/s over a 0.3 s segment and
    a clip slope from 0.4 s of voice are not worded; the levels still are."""
    short = VoiceSegment(1.0, 1.3, 36.3, -173.6, 1.3, 1.1, 1.1, 1.0)
    assert prosody.segment_slope(short) is None
    text = prosody.describe_segment(short)
    assert text == "pitch high (+1.3 SD), loud (+1.1 SD)"
    steep = VoiceSegment(2.0, 3.0, 33.8, 45.0, 0.1, 0.8, 0.0, 0.9)  # 0.9 s voiced, 45 st/s
    assert prosody.segment_slope(steep) is None
    assert prosody.describe_segment(steep) is None
    fine = VoiceSegment(2.0, 3.0, 33.8, -2.4, 0.1, 0.8, 0.0, 0.9)
    assert prosody.describe_segment(fine) == "pitch typical and falling (+0.1 SD, -2.4 st/s)"
    summary = dict(voice().summary, pitch_slope_st_per_s=-60.0, voiced_s=0.4)
    lines = prosody.clip_lines(voice(summary=summary, baseline_source="clip"))
    assert not any("st/s" in x or "falling" in x or "steady" in x for x in lines), lines
    summary["pitch_slope_st_per_s"], summary["voiced_s"] = -2.4, 0.4
    assert not any("st/s" in x for x in prosody.clip_lines(voice(summary=summary)))
    summary["voiced_s"] = 6.0
    lines = prosody.clip_lines(voice(summary=summary, baseline_source="clip"))
    assert "pitch falling over the clip (-2.4 st/s)" in lines
