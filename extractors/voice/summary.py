"""From 10 ms eGeMAPS frames to prosody: voiced stretches, per-stretch values, the named
clip summary, the clip's own baseline. Pure numpy on a frames table; no openSMILE call.

*Voiced* means ``F0semitoneFrom27.5Hz_sma3nz > 0`` **and** inside a speech region (when
regions are given): a voiced frame in music or noise is not voice.

Summary keys (units in the name; ``None`` where undefined), all over voiced frames in
speech unless said otherwise:

* ``pitch_mean_st``, ``pitch_std_st``, ``pitch_slope_st_per_s``, ``pitch_range_st``
  (80th minus 20th percentile); a pitch slope (here and per segment) needs
  ``SLOPE_MIN_VOICED_S`` of voiced frames and is left out (``None``) beyond
  ``SLOPE_MAX_ST_PER_S``, see :func:`pitch_trend`; ``loudness_mean``, ``loudness_std``,
  ``loudness_slope_per_s``;
* ``jitter_local``, ``shimmer_db``, ``hnr_db``: means of the LLDs over voiced frames
  (what eGeMAPS's ``*_sma3nz_amean`` functionals are, without a second openSMILE pass);
* ``voiced_fraction``: voiced frames / all frames of the clip; ``voiced_s``: voiced
  frames x 10 ms (the weight of this clip in a speaker baseline);
* ``voiced_segments_per_s``, ``mean_voiced_segment_s``: runs of voiced frames, per
  second of speech and their mean length; ``mean_unvoiced_segment_s``: mean gap
  between voiced runs inside a speech region (pauses in talk, not leading silence);
* ``speaking_rate_syll_per_s``: syllable nuclei (loudness peaks on voiced frames, >=
  100 ms apart, prominence 10% of the voiced loudness median; the de Jong & Wempe
  idea) per second of voiced stretches (``speech_s``), so pauses do not lower it. On
  the pyannote telephone sample (~110 syllables in ~23 s of talk) it reads 4-5;
* ``speech_s``: total length of the voiced stretches; ``vad_speech_s``: total length
  of the speech regions; ``duration_s``: the clip.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from extractors.schema import VoiceSegment

from .lld import F0_COL, HNR_COL, HOP_S, JITTER_COL, LOUDNESS_COL, SHIMMER_COL, num
from .vad import in_regions

Regions = Sequence[tuple[float, float]]

#: A gap between voiced frames longer than this ends a voiced stretch.
SEGMENT_GAP_S = 0.3
#: Voiced stretches shorter than this are dropped from ``segments``.
SEGMENT_MIN_S = 0.2

#: A pitch slope needs this many seconds of voiced frames. On pyannote's sample.wav, 0.3 s
#: windows of talk gave slopes up to 167 st/s (one syllable's contour, octave jumps of the
#: F0 tracker); with >= 0.5 s voiced the largest was 23-26 st/s (99th percentile 15-20).
SLOPE_MIN_VOICED_S = 0.5
#: A slope steeper than this (st/s) over >= 0.5 s of voice is a tracking error, not
#: intonation: left out, and the cues say so. An octave jump (12 st) in the middle of a
#: stretch gives 1.5 x 12 / length st/s, so it is caught in stretches up to ~0.6 s only.
SLOPE_MAX_ST_PER_S = 30.0

SUMMARY_KEYS = (
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
    "voiced_s",
    "voiced_segments_per_s",
    "speaking_rate_syll_per_s",
    "mean_voiced_segment_s",
    "mean_unvoiced_segment_s",
    "speech_s",
    "vad_speech_s",
    "duration_s",
)


def slope(t: np.ndarray, y: np.ndarray) -> float | None:
    """Least-squares slope of ``y`` over ``t`` (per second); ``None`` when undetermined."""
    if len(t) < 3 or float(np.ptp(t)) < 0.05:
        return None
    tc = t - t.mean()
    denom = float(np.dot(tc, tc))
    if denom <= 0:
        return None
    return float(np.dot(tc, y - y.mean()) / denom)


def pitch_trend(t: np.ndarray, f0: np.ndarray) -> tuple[float | None, str | None]:
    """(slope in st/s, why it is missing): the least-squares pitch trend over voiced frames
    at times ``t``, or ``None`` with ``"short"`` (under ``SLOPE_MIN_VOICED_S`` voiced) or
    ``"implausible"`` (steeper than ``SLOPE_MAX_ST_PER_S``)."""
    if len(t) * HOP_S < SLOPE_MIN_VOICED_S - 1e-9:
        return None, "short"
    trend = slope(t, f0)
    if trend is None:
        return None, "short"
    if abs(trend) > SLOPE_MAX_ST_PER_S:
        return None, "implausible"
    return trend, None


def implausible_slopes(
    frames: pd.DataFrame, spans: Iterable[tuple[float, float]], regions: Regions | None = None
) -> list[tuple[float, float, float]]:
    """(start, end, slope) of the ``spans`` whose pitch slope was left out as implausible."""
    if frames.empty:
        return []
    times = frames["time_s"].to_numpy(float)
    f0 = frames[F0_COL].to_numpy(float)
    voiced = voiced_mask(frames, regions)
    out = []
    for start, end in spans:
        sel = (times >= start - 1e-6) & (times < end - 1e-6) & voiced
        _trend, why = pitch_trend(times[sel], f0[sel])
        if why == "implausible":
            out.append((start, end, float(slope(times[sel], f0[sel]) or 0.0)))
    return out


def zscore(value: float | None, mean: float | None, std: float | None) -> float | None:
    if value is None or mean is None or std is None or not std > 1e-9:
        return None
    return (value - mean) / std


def voiced_mask(frames: pd.DataFrame, regions: Regions | None = None) -> np.ndarray:
    """Frames with F0 (> 0) that lie inside ``regions`` (all regions when ``None``)."""
    if frames.empty or F0_COL not in frames:
        return np.zeros(len(frames), bool)
    f0 = frames[F0_COL].to_numpy(float)
    mask = np.isfinite(f0) & (f0 > 0)
    if regions is not None:
        mask &= in_regions(frames["time_s"].to_numpy(float), list(regions))
    return mask


def clip_baseline(frames: pd.DataFrame, regions: Regions | None = None) -> dict[str, float]:
    """Voiced-frame pitch and loudness mean/std of ``frames``: the default baseline."""
    voiced = voiced_mask(frames, regions)
    out: dict[str, float] = {}
    if not voiced.any():
        return out
    f0 = frames[F0_COL].to_numpy(float)[voiced]
    loud = frames[LOUDNESS_COL].to_numpy(float)[voiced]
    for key, values in (("pitch", f0), ("loudness", loud)):
        mean, std = num(values.mean()), num(values.std())
        if mean is not None:
            out[f"{key}_mean"] = mean
        if std is not None:
            out[f"{key}_std"] = std
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of ``mask``."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def voiced_stretches(
    frames: pd.DataFrame,
    gap_s: float = SEGMENT_GAP_S,
    min_s: float = SEGMENT_MIN_S,
    regions: Regions | None = None,
) -> list[tuple[float, float]]:
    """(start, end) of runs of voiced frames; a gap > ``gap_s`` splits, runs < ``min_s`` drop."""
    voiced = voiced_mask(frames, regions)
    if not voiced.any():
        return []
    times = frames["time_s"].to_numpy(float)[voiced]
    out: list[tuple[float, float]] = []
    start = prev = float(times[0])
    for t in times[1:]:
        t = float(t)
        if t - prev > gap_s:
            out.append((start, prev + HOP_S))
            start = t
        prev = t
    out.append((start, prev + HOP_S))
    return [(round(s, 3), round(e, 3)) for s, e in out if e - s >= min_s]


def segment_prosody(
    frames: pd.DataFrame,
    baseline: dict[str, float] | None,
    segments: Iterable[tuple[float, float]] | None = None,
    regions: Regions | None = None,
) -> list[VoiceSegment]:
    """Prosody per stretch of speech, z-scored against ``baseline``.

    ``frames`` needs ``time_s``, ``F0semitoneFrom27.5Hz_sma3nz`` and ``Loudness_sma3``.
    Without ``segments`` the stretches are the voiced runs of ``frames`` (a gap of
    more than 0.3 s ends one, runs under 0.2 s are dropped); pass ``segments``
    ((start_s, end_s) pairs, e.g. transcript sentences) to summarise those instead.
    Pitch and loudness means are over the voiced frames (in ``regions``) of each
    stretch; the baseline keys are ``pitch_mean``, ``pitch_std``, ``loudness_mean``,
    ``loudness_std``.
    """
    baseline = baseline or {}
    spans = list(segments) if segments is not None else voiced_stretches(frames, regions=regions)
    if frames.empty or not spans:
        return []
    times = frames["time_s"].to_numpy(float)
    f0 = frames[F0_COL].to_numpy(float)
    loud = frames[LOUDNESS_COL].to_numpy(float)
    voiced = voiced_mask(frames, regions)
    out: list[VoiceSegment] = []
    for start, end in spans:
        inside = (times >= start - 1e-6) & (times < end - 1e-6)
        n = int(inside.sum())
        if n == 0:
            continue
        sel = inside & voiced
        pitch_mean = loud_mean = trend = None
        if sel.any():
            pitch_mean = float(f0[sel].mean())
            loud_mean = float(loud[sel].mean())
            trend, _why = pitch_trend(times[sel], f0[sel])
        out.append(
            VoiceSegment(
                start_s=round(float(start), 3),
                end_s=round(float(end), 3),
                pitch_mean_st=num(pitch_mean),
                pitch_slope_st_per_s=num(trend),
                pitch_z=num(
                    zscore(pitch_mean, baseline.get("pitch_mean"), baseline.get("pitch_std"))
                ),
                loudness_mean=num(loud_mean),
                loudness_z=num(
                    zscore(loud_mean, baseline.get("loudness_mean"), baseline.get("loudness_std"))
                ),
                voiced_fraction=round(float(sel.sum()) / n, 4),
            )
        )
    return out


def count_syllable_nuclei(frames: pd.DataFrame, regions: Regions | None = None) -> int:
    """Loudness peaks on voiced frames (>= 100 ms apart, prominence 10% of voiced median)."""
    from scipy.signal import find_peaks

    voiced = voiced_mask(frames, regions)
    if not voiced.any():
        return 0
    loud = np.nan_to_num(frames[LOUDNESS_COL].to_numpy(float), nan=0.0)
    prominence = max(0.1 * float(np.median(loud[voiced])), 1e-3)
    peaks, _ = find_peaks(loud, distance=round(0.1 / HOP_S), prominence=prominence)
    return int(voiced[peaks].sum())


def _segment_stats(
    frames: pd.DataFrame, voiced: np.ndarray, regions: Regions | None
) -> tuple[int, float | None, float | None]:
    """(voiced runs, their mean length, mean unvoiced gap between runs within a region)."""
    runs = _runs(voiced)
    if not runs:
        return 0, None, None
    mean_voiced = float(np.mean([e - s for s, e in runs])) * HOP_S
    times = frames["time_s"].to_numpy(float)
    region_of = np.zeros(len(times), int)
    if regions is not None:
        starts = np.array([r[0] for r in regions])
        region_of = np.searchsorted(starts, times, side="right") - 1
    gaps = [
        (b_start - a_end) * HOP_S
        for (_, a_end), (b_start, _) in itertools.pairwise(runs)
        if region_of[a_end - 1] == region_of[b_start]
    ]
    return len(runs), mean_voiced, (float(np.mean(gaps)) if gaps else None)


def summarize(
    frames: pd.DataFrame,
    segments: Sequence[tuple[float, float]],
    duration_s: float,
    regions: Regions | None = None,
) -> dict[str, float | None]:
    """The named summary numbers (see module docstring); ``None`` where undefined."""
    summary: dict[str, float | None] = dict.fromkeys(SUMMARY_KEYS)
    summary["duration_s"] = num(duration_s, 3)
    voiced = voiced_mask(frames, regions)
    vad_s = duration_s if regions is None else sum(e - s for s, e in regions)
    summary["vad_speech_s"] = num(vad_s, 3)
    summary["voiced_fraction"] = num(voiced.mean()) if len(frames) else None
    summary["voiced_s"] = num(voiced.sum() * HOP_S, 3)
    speech_s = sum(e - s for s, e in segments)
    summary["speech_s"] = num(speech_s, 3)
    if not voiced.any():
        return summary
    n_runs, mean_voiced, mean_gap = _segment_stats(frames, voiced, regions)
    summary["voiced_segments_per_s"] = num(n_runs / vad_s) if vad_s > 0 else None
    summary["mean_voiced_segment_s"] = num(mean_voiced)
    summary["mean_unvoiced_segment_s"] = num(mean_gap)
    t = frames["time_s"].to_numpy(float)[voiced]
    f0 = frames[F0_COL].to_numpy(float)[voiced]
    loud = frames[LOUDNESS_COL].to_numpy(float)[voiced]
    summary["pitch_mean_st"] = num(f0.mean())
    summary["pitch_std_st"] = num(f0.std())
    summary["pitch_slope_st_per_s"] = num(pitch_trend(t, f0)[0])
    summary["pitch_range_st"] = num(np.percentile(f0, 80) - np.percentile(f0, 20))
    summary["loudness_mean"] = num(loud.mean())
    summary["loudness_std"] = num(loud.std())
    summary["loudness_slope_per_s"] = num(slope(t, loud), 5)
    for key, column, digits in (
        ("jitter_local", JITTER_COL, 5),
        ("shimmer_db", SHIMMER_COL, 4),
        ("hnr_db", HNR_COL, 4),
    ):
        if column in frames:
            summary[key] = num(np.nanmean(frames[column].to_numpy(float)[voiced]), digits)
    if speech_s > 0:
        summary["speaking_rate_syll_per_s"] = num(
            count_syllable_nuclei(frames, regions) / speech_s, 3
        )
    return summary
