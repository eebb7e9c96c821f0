"""Voice summary and segments -> words, relative to the baseline the extractor used.

All thresholds apply to values rounded to 1 decimal (what is printed); lower bounds
are inclusive.

Pitch and loudness level, from a z-score (baseline standard deviations):

* ``|z| < 0.5``: typical; ``>= 0.5``: "slightly high/loud"; ``>= 1``: "high/loud";
  ``>= 2``: "very high/loud" (negative: "low" / "quiet").

Pitch trend, from a slope in semitones per second:

* ``|s| < 0.5``: "steady"; ``>= 0.5``: "slightly rising/falling"; ``>= 1``:
  "rising/falling"; ``>= 4``: "steeply rising/falling".
* no trend is worded from under 0.5 s of voiced speech or beyond 30 st/s (F0 tracking
  errors, not intonation): cues stored before the extractor left those out still carry
  them (e.g. -173.6 st/s over 0.3 s), and the text says nothing rather than "steeply".

Speaking rate (absolute, syllables per second, rough norms for conversational
speech): ``< 2.5`` very slow, ``< 3.5`` slow, ``< 4.5`` moderate, ``< 5.5`` fast,
otherwise very fast. Against a speaker baseline a ratio ``>= 1.15`` adds "faster
than usual", ``<= 0.85`` "slower than usual".

Pitch variation (clip pitch SD in semitones): with a speaker baseline, a ratio to the
speaker's SD ``<= 0.7`` is "less varied than usual" and ``>= 1.4`` "more varied than
usual"; otherwise absolute, ``< 1.5 st`` "narrow (monotone)" and ``>= 5 st`` "wide".

Baseline wording: ``baseline_source`` starting with ``"speaker:"`` gives "for this
speaker", ``"clip"`` "relative to this clip", any other source ``s`` "relative to the
s baseline". A first line says which baseline was used: "baseline: 5 other clips of
speaker spk1 (41.2 s of voiced speech)", "baseline: this clip (fewer than 3 other
clips of speaker spk1 with speech)" or "baseline: this clip".

Speaker baselines are applied at textualize time, not by the extractor
(:mod:`textualize.speaker`): :func:`with_speaker_baseline`
takes the clip's absolute voice cues and a :class:`SpeakerBaseline` pooled from the
speaker's other clips, and re-scores the segments against it when it is usable
(``n_clips >= min_clips``). A clip with no speech (``missing_reason`` set: music,
noise, silence) gets no prosody lines at all.

Baseline keys may be spelled as in the summary (``pitch_mean_st``,
``pitch_std_st``) or as the openSMILE backend writes them (``pitch_mean``,
``pitch_std``, ``loudness_mean``, ``loudness_std``). With a ``"clip"`` baseline the
clip-level pitch/loudness level is the baseline itself, so only trends, variation
and rate are described at clip level; voiced segments carry the levels.

Voice quality is only worded against a speaker baseline (absolute jitter/shimmer/HNR
of running speech depend too much on the recording and the speaker):

* breathy: HNR ``<= -3 dB`` and shimmer ``>= +0.3 dB`` vs the speaker;
* rough: jitter ``>= 1.5x`` and shimmer ``>= +0.3 dB`` vs the speaker;
* possibly tense: HNR ``>= +3 dB`` and jitter ``<= 0.8x`` vs the speaker (a weak,
  hedged cue: pressed voice is more periodic).

Pauses: mean unvoiced stretch ``>= 0.6 s`` gives "long pauses"; voiced fraction
``< 0.3`` gives "little voicing".
"""

from __future__ import annotations

from extractors.schema import VoiceCues, VoiceSegment

# A slope is worded only over this much voiced speech (s) and up to this steepness (st/s):
# the extractor's own limits, applied again to cues stored before it had them.
from extractors.voice.summary import SLOPE_MAX_ST_PER_S, SLOPE_MIN_VOICED_S

from ._fmt import f1, num, r1, signed, span
from .speaker import (
    baseline_line,
    baseline_phrase,
    get_value,
    is_speaker_baseline,
    voice_quality_lines,
    with_speaker_baseline,
)

__all__ = [
    "baseline_line",
    "baseline_phrase",
    "is_speaker_baseline",
    "voice_lines",
    "voice_quality_lines",
    "with_speaker_baseline",
]

#: (inclusive lower bound on |z|, qualifier) for level words; below the first: typical.
Z_LEVELS: tuple[tuple[float, str], ...] = ((0.5, "slightly "), (1.0, ""), (2.0, "very "))
#: (inclusive lower bound on |slope| in st/s, qualifier) for trend words.
SLOPE_LEVELS: tuple[tuple[float, str], ...] = ((0.5, "slightly "), (1.0, ""), (4.0, "steeply "))
#: (exclusive upper bound in syll/s, word); the last word has no upper bound.
RATE_LEVELS: tuple[tuple[float, str], ...] = (
    (2.5, "very slow"),
    (3.5, "slow"),
    (4.5, "moderate"),
    (5.5, "fast"),
    (float("inf"), "very fast"),
)
RATE_RATIO_FAST = 1.15
RATE_RATIO_SLOW = 0.85
PITCH_SD_NARROW_ST = 1.5
PITCH_SD_WIDE_ST = 5.0
PITCH_SD_RATIO_LOW = 0.7
PITCH_SD_RATIO_HIGH = 1.4
LONG_PAUSE_S = 0.6
LOW_VOICED_FRACTION = 0.3
#: Loudness change across the clip (in clip loudness SDs) worth a word.
LOUDNESS_TREND_SD = 1.0


def usable_slope(slope: float | None, voiced_s: float | None) -> float | None:
    """``slope`` when it can be worded; ``None`` over too little voice or when implausible."""
    if slope is None or abs(slope) > SLOPE_MAX_ST_PER_S:
        return None
    if voiced_s is not None and voiced_s < SLOPE_MIN_VOICED_S - 0.005:
        return None
    return slope


def segment_slope(seg: VoiceSegment) -> float | None:
    """The segment's pitch slope if it can be worded (see :func:`usable_slope`)."""
    voiced_s = (seg.end_s - seg.start_s) * (num(seg.voiced_fraction) or 0.0)
    return usable_slope(num(seg.pitch_slope_st_per_s), voiced_s)


def level_word(z: float, high: str, low: str) -> str | None:
    """``(1.3, 'high', 'low') -> 'high'``; ``0.7 -> 'slightly high'``; typical -> ``None``."""
    value = abs(r1(z))
    qualifier = None
    for lower, q in Z_LEVELS:
        if value >= lower:
            qualifier = q
    if qualifier is None:
        return None
    return qualifier + (high if z > 0 else low)


def trend_word(slope: float) -> str:
    """``2.1 -> 'rising'``, ``-0.6 -> 'slightly falling'``, ``0.2 -> 'steady'``."""
    value = abs(r1(slope))
    qualifier = None
    for lower, q in SLOPE_LEVELS:
        if value >= lower:
            qualifier = q
    if qualifier is None:
        return "steady"
    return qualifier + ("rising" if slope > 0 else "falling")


def rate_word(syll_per_s: float) -> str:
    """``5.1 -> 'fast'`` (see module table)."""
    value = r1(syll_per_s)
    for upper, word in RATE_LEVELS:
        if value < upper:
            return word
    return RATE_LEVELS[-1][1]


def _zscore(value: float | None, mean: float | None, sd: float | None) -> float | None:
    if value is None or mean is None or sd is None or sd <= 0:
        return None
    return (value - mean) / sd


def pitch_phrase(z: float | None, slope: float | None, *, numbers: bool = True) -> str | None:
    """``'pitch high and rising (+1.3 SD, +2.1 st/s)'``; ``None`` without data."""
    if z is None and slope is None:
        return None
    parts: list[str] = []
    if z is not None:
        parts.append(level_word(z, "high", "low") or "typical")
    if slope is not None:
        parts.append(trend_word(slope))
    text = "pitch " + " and ".join(parts)
    if numbers:
        nums = []
        if z is not None:
            nums.append(f"{signed(z)} SD")
        if slope is not None:
            nums.append(f"{signed(slope)} st/s")
        text += f" ({', '.join(nums)})"
    return text


def loudness_phrase(z: float | None, *, numbers: bool = True) -> str | None:
    """``'loud (+1.1 SD)'``, ``'loudness typical (+0.2 SD)'``; ``None`` without data."""
    if z is None:
        return None
    word = level_word(z, "loud", "quiet") or "loudness typical"
    return f"{word} ({signed(z)} SD)" if numbers else word


def _notable_pitch(z: float | None, slope: float | None) -> bool:
    level = level_word(z, "high", "low") if z is not None else None
    trend = trend_word(slope) if slope is not None else "steady"
    return level is not None or trend != "steady"


def describe_segment(seg: VoiceSegment, *, numbers: bool = True) -> str | None:
    """Notable prosody of one voiced segment, ``None`` when nothing stands out.

    ``'pitch high and rising (+1.3 SD, +2.1 st/s), loud (+1.1 SD)'``
    """
    pz, slope, lz = num(seg.pitch_z), segment_slope(seg), num(seg.loudness_z)
    parts: list[str] = []
    if _notable_pitch(pz, slope):
        phrase = pitch_phrase(pz, slope, numbers=numbers)
        if phrase:
            parts.append(phrase)
    if lz is not None and level_word(lz, "loud", "quiet") is not None:
        phrase = loudness_phrase(lz, numbers=numbers)
        if phrase:
            parts.append(phrase)
    return ", ".join(parts) if parts else None


def _salience(seg: VoiceSegment) -> float:
    pz = abs(num(seg.pitch_z) or 0.0)
    lz = abs(num(seg.loudness_z) or 0.0)
    slope = abs(segment_slope(seg) or 0.0) / 2.0
    return max(pz, lz, slope)


def notable_segments(voice: VoiceCues, max_segments: int) -> tuple[list[VoiceSegment], int]:
    """Segments with something to say: the ``max_segments`` most salient, by start time.

    Returns ``(kept, n_notable)``.
    """
    notable = [s for s in voice.segments if describe_segment(s) is not None]
    ranked = sorted(notable, key=lambda s: (-_salience(s), s.start_s, s.end_s))
    kept = ranked[: max(0, max_segments)]
    kept.sort(key=lambda s: (s.start_s, s.end_s))
    return kept, len(notable)


def _base_pitch(b: dict[str, float]) -> tuple[float | None, float | None]:
    return get_value(b, "pitch_mean_st", "pitch_mean"), get_value(b, "pitch_std_st", "pitch_std")


def clip_lines(voice: VoiceCues, duration_s: float | None = None) -> list[str]:
    """Clip-level acoustic lines (no bullets), worded against the baseline."""
    s, b = voice.summary, voice.baseline
    speaker = is_speaker_baseline(voice.baseline_source)
    phrase = baseline_phrase(voice.baseline_source)
    lines: list[str] = []

    # Pitch level and trend.
    slope = usable_slope(get_value(s, "pitch_slope_st_per_s"), get_value(s, "voiced_s"))
    pz = None
    if voice.baseline_source != "clip":
        pz = _zscore(get_value(s, "pitch_mean_st"), *_base_pitch(b))
    if pz is not None:
        text = pitch_phrase(pz, slope, numbers=False)
        nums = [f"{signed(pz)} SD"] + ([f"{signed(slope)} st/s"] if slope is not None else [])
        lines.append(f"{text} {phrase} ({', '.join(nums)})")
    elif slope is not None:
        lines.append(f"pitch {trend_word(slope)} over the clip ({signed(slope)} st/s)")

    # Pitch variation.
    sd, base_sd = get_value(s, "pitch_std_st"), _base_pitch(b)[1]
    if sd is not None:
        if speaker and base_sd:
            ratio = sd / base_sd
            if r1(ratio) <= PITCH_SD_RATIO_LOW:
                lines.append(f"pitch less varied than usual for this speaker ({f1(sd)} st SD)")
            elif r1(ratio) >= PITCH_SD_RATIO_HIGH:
                lines.append(f"pitch more varied than usual for this speaker ({f1(sd)} st SD)")
        elif r1(sd) < PITCH_SD_NARROW_ST:
            lines.append(f"pitch variation narrow, monotone ({f1(sd)} st SD)")
        elif r1(sd) >= PITCH_SD_WIDE_ST:
            lines.append(f"pitch variation wide ({f1(sd)} st SD)")

    # Loudness level and trend.
    if voice.baseline_source != "clip":
        lz = _zscore(
            get_value(s, "loudness_mean"),
            get_value(b, "loudness_mean"),
            get_value(b, "loudness_std"),
        )
        if lz is not None:
            word = level_word(lz, "loud", "quiet") or "loudness typical"
            lines.append(f"{word} {phrase} ({signed(lz)} SD)")
    lslope, lsd = get_value(s, "loudness_slope_per_s"), get_value(s, "loudness_std")
    if lslope is not None and lsd and duration_s:
        change = lslope * duration_s / lsd
        if abs(r1(change)) >= LOUDNESS_TREND_SD:
            direction = "louder" if change > 0 else "quieter"
            lines.append(f"getting {direction} over the clip ({signed(change)} SD)")

    # Speaking rate.
    rate = get_value(s, "speaking_rate_syll_per_s")
    if rate is not None and rate > 0:
        text = f"speaking rate {rate_word(rate)} ({f1(rate)} syll/s)"
        base_rate = get_value(b, "speaking_rate_syll_per_s")
        if speaker and base_rate:
            ratio = rate / base_rate
            if r1(ratio) >= RATE_RATIO_FAST:
                text += f", faster than usual for this speaker (x{f1(ratio)})"
            elif r1(ratio) <= RATE_RATIO_SLOW:
                text += f", slower than usual for this speaker (x{f1(ratio)})"
        lines.append(text)

    # Pauses and voicing.
    pause = get_value(s, "mean_unvoiced_segment_s")
    if pause is not None and r1(pause) >= LONG_PAUSE_S:
        lines.append(f"long pauses (mean unvoiced stretch {f1(pause)} s)")
    voiced = get_value(s, "voiced_fraction")
    if voiced is not None and voiced < LOW_VOICED_FRACTION:
        lines.append(f"little voicing (voiced {round(voiced * 100)}% of the clip)")

    lines.extend(voice_quality_lines(voice))
    return lines


def measures_line(voice: VoiceCues) -> str | None:
    """Raw clip measures for annotators: ``'pitch 31.2 st (SD 2.3), loudness 0.8...'``."""
    s = voice.summary
    parts: list[str] = []
    pm, psd = get_value(s, "pitch_mean_st"), get_value(s, "pitch_std_st")
    if pm is not None:
        parts.append(f"pitch {f1(pm)} st" + (f" (SD {f1(psd)})" if psd is not None else ""))
    prange = get_value(s, "pitch_range_st")
    if prange is not None:
        parts.append(f"pitch range {f1(prange)} st")
    lm, lsd = get_value(s, "loudness_mean"), get_value(s, "loudness_std")
    if lm is not None:
        parts.append(f"loudness {lm:.2f}" + (f" (SD {lsd:.2f})" if lsd is not None else ""))
    jit = get_value(s, "jitter_local")
    if jit is not None:
        parts.append(f"jitter {jit * 100:.1f}%")
    shim = get_value(s, "shimmer_db")
    if shim is not None:
        parts.append(f"shimmer {shim:.2f} dB")
    hnr = get_value(s, "hnr_db")
    if hnr is not None:
        parts.append(f"HNR {f1(hnr)} dB")
    voiced = get_value(s, "voiced_fraction")
    if voiced is not None:
        parts.append(f"voiced {round(voiced * 100)}%")
    vps = get_value(s, "voiced_segments_per_s")
    if vps is not None:
        parts.append(f"{f1(vps)} voiced segments/s")
    return ", ".join(parts) if parts else None


def voice_lines(
    voice: VoiceCues, *, duration_s: float | None = None, max_segments: int = 12
) -> list[str]:
    """Acoustic-cue lines (no bullets; segment lines start with two spaces)."""
    lines: list[str] = []
    if voice.missing_reason:
        # No speech (music, noise, silence) or no audio: nothing here is a voice.
        lines.append(f"not available: {voice.missing_reason}")
        lines.extend(f"note: {w}" for w in voice.warnings)
        return lines
    lines.extend(f"note: {w}" for w in voice.warnings)
    base = baseline_line(voice)
    if base:
        lines.append(base)
    lines.extend(clip_lines(voice, duration_s))
    kept, n_notable = notable_segments(voice, max_segments)
    if kept:
        header = f"voiced segments, {baseline_phrase(voice.baseline_source)}:"
        if n_notable > len(kept):
            header = (
                f"voiced segments, {baseline_phrase(voice.baseline_source)} "
                f"({len(kept)} of {n_notable} notable shown):"
            )
        lines.append(header)
        for seg in kept:
            lines.append(f"  {span(seg.start_s, seg.end_s)}: {describe_segment(seg)}")
    elif voice.segments:
        lines.append("voiced segments: nothing stands out")
    if not lines:
        lines.append("no usable acoustic measures")
    return lines
