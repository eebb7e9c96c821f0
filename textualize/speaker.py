"""Speaker baselines in the cue text: which baseline the prosody words use, re-scoring a
clip's voice against a speaker's other clips, and voice quality (only ever worded
against a speaker). Pure: the pooled :class:`SpeakerBaseline` comes from the caller.

Voice quality thresholds (clip vs the speaker's pooled means):

* breathy: HNR ``<= -3 dB`` and shimmer ``>= +0.3 dB``;
* rough: jitter ``>= 1.5x`` and shimmer ``>= +0.3 dB``;
* possibly tense: HNR ``>= +3 dB`` and jitter ``<= 0.8x`` (a weak, hedged cue:
  pressed voice is more periodic).
"""

from __future__ import annotations

import dataclasses

from extractors.schema import SpeakerBaseline, VoiceCues

from ._fmt import f1, num, r1, signed

HNR_DELTA_DB = 3.0
SHIMMER_DELTA_DB = 0.3
JITTER_RATIO_HIGH = 1.5
JITTER_RATIO_LOW = 0.8


def get_value(d: dict[str, float | None] | dict[str, float], *keys: str) -> float | None:
    """The first finite value among ``keys`` (spelling variants of one quantity)."""
    for key in keys:
        value = num(d.get(key))
        if value is not None:
            return value
    return None


def _zscore(value: float | None, mean: float | None, sd: float | None) -> float | None:
    if value is None or mean is None or sd is None or sd <= 0:
        return None
    return (value - mean) / sd


def is_speaker_baseline(source: str) -> bool:
    return source.startswith("speaker:")


def baseline_phrase(source: str) -> str:
    """``'for this speaker'`` (``speaker:<id>``), ``'relative to this clip'`` (``clip``).

    Any other source (a caller-supplied reference, e.g. ``external``) reads
    ``'relative to the external baseline'``.
    """
    if is_speaker_baseline(source):
        return "for this speaker"
    if source in ("", "clip"):
        return "relative to this clip"
    return f"relative to the {source} baseline"


def _clips(n: int) -> str:
    return f"{n} other clip" + ("" if n == 1 else "s")


def baseline_line(voice: VoiceCues) -> str | None:
    """Which baseline the prosody words use; ``None`` for a caller-set non-clip baseline
    with no :class:`SpeakerBaseline` attached (nothing more to say than the phrases)."""
    spk = voice.speaker
    if is_speaker_baseline(voice.baseline_source) and spk is not None:
        return (
            f"baseline: {_clips(spk.n_clips)} of speaker {spk.speaker_id} "
            f"({f1(spk.voiced_s)} s of voiced speech)"
        )
    if voice.baseline_source not in ("", "clip"):
        return None
    if spk is not None:
        # The count is left out on purpose: it is in the textualize key, and a clip
        # should not be redrafted because the speaker went from one other clip to two.
        if spk.min_clips <= 1:
            return f"baseline: this clip (no other clip of speaker {spk.speaker_id} with speech)"
        return (
            f"baseline: this clip (fewer than {spk.min_clips} other clips of speaker "
            f"{spk.speaker_id} with speech)"
        )
    return "baseline: this clip"


def key_of(baseline: SpeakerBaseline) -> dict[str, object]:
    """What of ``baseline`` the text depends on: the whole record when it is used, else
    only whose it is and the threshold (so new clips below it change nothing)."""
    if baseline.usable:
        return baseline.to_dict()
    return {"speaker_id": baseline.speaker_id, "min_clips": baseline.min_clips, "usable": False}


def with_speaker_baseline(voice: VoiceCues, baseline: SpeakerBaseline | None) -> VoiceCues:
    """``voice`` re-scored against a speaker's other clips, when ``baseline`` is usable.

    Segment z-scores are recomputed from the segments' absolute pitch and loudness;
    the clip summary stays absolute (``clip_lines`` compares it to the baseline). An
    unusable baseline (too few clips) is attached unused, so the text can say why the
    clip's own baseline was kept. ``voice`` itself is not changed.
    """
    if baseline is None:
        return voice
    if voice.missing_reason or not baseline.usable:
        return dataclasses.replace(voice, speaker=baseline)
    ref = {
        "pitch_mean": baseline.pitch_mean,
        "pitch_std": baseline.pitch_std,
        "loudness_mean": baseline.loudness_mean,
        "loudness_std": baseline.loudness_std,
        "speaking_rate_syll_per_s": baseline.speaking_rate_syll_per_s,
        "jitter_local": baseline.jitter_local,
        "shimmer_db": baseline.shimmer_db,
        "hnr_db": baseline.hnr_db,
    }
    base = {k: v for k, v in ((k, num(v)) for k, v in ref.items()) if v is not None}
    segments = [
        dataclasses.replace(
            seg,
            pitch_z=_rounded(
                _zscore(num(seg.pitch_mean_st), base["pitch_mean"], base["pitch_std"])
            ),
            loudness_z=_rounded(
                _zscore(num(seg.loudness_mean), base["loudness_mean"], base["loudness_std"])
            ),
        )
        for seg in voice.segments
    ]
    return dataclasses.replace(
        voice,
        baseline=base,
        baseline_source=f"speaker:{baseline.speaker_id}",
        segments=segments,
        speaker=baseline,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4) + 0.0


def voice_quality_lines(voice: VoiceCues) -> list[str]:
    """Breathy / rough / possibly tense, only against a speaker baseline (see module doc)."""
    if not is_speaker_baseline(voice.baseline_source):
        return []
    s, b = voice.summary, voice.baseline
    hnr, base_hnr = get_value(s, "hnr_db"), get_value(b, "hnr_db")
    shim, base_shim = get_value(s, "shimmer_db"), get_value(b, "shimmer_db")
    jit, base_jit = get_value(s, "jitter_local"), get_value(b, "jitter_local")
    hnr_d = hnr - base_hnr if hnr is not None and base_hnr is not None else None
    shim_d = shim - base_shim if shim is not None and base_shim is not None else None
    jit_r = jit / base_jit if jit is not None and base_jit else None
    lines: list[str] = []
    if (
        hnr_d is not None
        and shim_d is not None
        and r1(hnr_d) <= -HNR_DELTA_DB
        and r1(shim_d) >= SHIMMER_DELTA_DB
    ):
        lines.append(
            f"voice breathy for this speaker (HNR {signed(hnr_d)} dB, shimmer {signed(shim_d)} dB)"
        )
    if (
        jit_r is not None
        and shim_d is not None
        and r1(jit_r) >= JITTER_RATIO_HIGH
        and r1(shim_d) >= SHIMMER_DELTA_DB
    ):
        lines.append(
            f"voice rough, irregular for this speaker (jitter x{f1(jit_r)}, "
            f"shimmer {signed(shim_d)} dB)"
        )
    if (
        hnr_d is not None
        and jit_r is not None
        and r1(hnr_d) >= HNR_DELTA_DB
        and r1(jit_r) <= JITTER_RATIO_LOW
    ):
        lines.append(
            f"voice possibly tense for this speaker (HNR {signed(hnr_d)} dB, jitter x{f1(jit_r)})"
        )
    return lines
