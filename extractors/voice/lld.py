"""openSMILE eGeMAPSv02 calls: the 10 ms low-level descriptors, and (optionally) the 88
functionals of a signal. One ``Smile`` object per (feature set, level) per process.
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from extractors.media import AUDIO_SAMPLE_RATE

FEATURE_SET = "eGeMAPSv02"
F0_COL = "F0semitoneFrom27.5Hz_sma3nz"
LOUDNESS_COL = "Loudness_sma3"
JITTER_COL = "jitterLocal_sma3nz"
SHIMMER_COL = "shimmerLocaldB_sma3nz"
HNR_COL = "HNRdBACF_sma3nz"
HOP_S = 0.01  # eGeMAPS LLD frame step
#: Below this many samples openSMILE fills everything with NaN.
MIN_SAMPLES = AUDIO_SAMPLE_RATE // 10
#: Long audio goes to openSMILE in pieces this long, with this much context each side.
LLD_CHUNK_S = 60.0
LLD_OVERLAP_S = 1.0

#: Pieces cut for threads are no shorter than this (each call costs some set-up).
MIN_THREAD_CHUNK_S = 5.0

_SMILE_CACHE: dict[tuple[str, str], Any] = {}


def num(value: Any, digits: int = 4) -> float | None:
    """A finite float rounded for storage, else ``None`` (no NaN/inf leaks into JSON)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    return round(x, digits) + 0.0  # + 0.0 turns -0.0 into 0.0


def smile(feature_set: str, level: str) -> Any:
    """The cached ``opensmile.Smile`` for a feature set and level (``LowLevelDescriptors``...)."""
    key = (feature_set, level)
    if key not in _SMILE_CACHE:
        import opensmile

        try:
            fs = opensmile.FeatureSet[feature_set]
        except KeyError:
            known = ", ".join(m.name for m in opensmile.FeatureSet)
            raise ValueError(
                f"unknown openSMILE feature set {feature_set!r}; known: {known}"
            ) from None
        _SMILE_CACHE[key] = opensmile.Smile(
            feature_set=fs, feature_level=opensmile.FeatureLevel[level]
        )
    return _SMILE_CACHE[key]


#: Samples checked for NaN/inf at a time (a 20-min clip is not copied to be checked).
_CHECK_CHUNK = 1 << 20


def clean_signal(audio: np.ndarray) -> np.ndarray:
    """float32 mono with NaN/inf replaced by 0 (openSMILE and Whisper would propagate
    them). Finite float32 audio, the normal case, is returned as it is (the same object,
    so ``clean_signal(a) is a`` says it was clean): the decoded audio of a 20-min clip is
    77 MB, and a copy per stage was part of a long clip's peak memory."""
    signal = audio.astype(np.float32, copy=False)
    for i in range(0, signal.size, _CHECK_CHUNK):
        if not np.isfinite(signal[i : i + _CHECK_CHUNK]).all():
            return np.nan_to_num(signal, nan=0.0, posinf=0.0, neginf=0.0)
    return signal


def _lld_once(signal: np.ndarray, feature_set: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Segment too short, filling with NaN."
        lld = smile(feature_set, "LowLevelDescriptors").process_signal(signal, AUDIO_SAMPLE_RATE)
    start = lld.index.get_level_values("start")
    frames = lld.reset_index(drop=True).astype(np.float32)
    frames.insert(0, "time_s", start.total_seconds().to_numpy(float))
    return frames


def low_level_descriptors(
    signal: np.ndarray,
    feature_set: str = FEATURE_SET,
    chunk_s: float | None = None,
    overlap_s: float | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """One row per 10 ms frame: ``time_s`` (frame start) then the 25 eGeMAPSv02 LLDs.

    openSMILE holds the whole signal it is given (a 20-minute clip in one call took
    ~480 MB more), so long audio goes in ``chunk_s`` pieces, each read with
    ``overlap_s`` of context on both sides; only the frames that start inside a
    piece are kept, so the pitch tracker and smoothing see the same neighbours as in
    one call and the frame grid (multiples of 10 ms) is unchanged.

    With ``threads`` > 1 the pieces are cut shorter (at least ``MIN_THREAD_CHUNK_S``)
    so that every thread gets one, and run side by side: openSMILE runs in native code
    with the GIL released, and each call has its own openSMILE instance.
    """
    chunk_s = LLD_CHUNK_S if chunk_s is None else chunk_s
    overlap_s = LLD_OVERLAP_S if overlap_s is None else overlap_s
    sr = AUDIO_SAMPLE_RATE
    hop = round(HOP_S * sr)  # cuts on the frame grid: every piece's frames stay on it
    step = _on_grid(chunk_s * sr, hop)
    pad = _on_grid(overlap_s * sr, hop)
    if threads > 1:
        per_thread = _on_grid(math.ceil(signal.size / threads), hop)
        step = min(step, max(per_thread, _on_grid(MIN_THREAD_CHUNK_S * sr, hop)))
    if signal.size <= step + pad:
        frames = _lld_once(signal, feature_set)
    else:

        def piece(start: int) -> pd.DataFrame:
            lo = max(0, start - pad)
            part = _lld_once(signal[lo : start + step + pad], feature_set)
            part["time_s"] += lo / sr
            keep = (part["time_s"] >= start / sr - 1e-6) & (
                part["time_s"] < (start + step) / sr - 1e-6
            )
            return part[keep]

        starts = range(0, signal.size, step)
        if threads > 1:
            with ThreadPoolExecutor(threads, thread_name_prefix="opensmile") as pool:
                parts = list(pool.map(piece, starts))
        else:
            parts = [piece(start) for start in starts]
        frames = pd.concat(parts, ignore_index=True)
    frames["time_s"] = np.round(frames["time_s"].to_numpy(float), 3)
    return frames


def _on_grid(samples: float, hop: int) -> int:
    """``samples`` rounded up to a whole number of frame hops."""
    return max(hop, math.ceil(samples / hop) * hop)


def functionals(signal: np.ndarray, feature_set: str = FEATURE_SET) -> dict[str, float | None]:
    """The 88 eGeMAPSv02 functionals of ``signal`` (non-finite values become ``None``)."""
    if signal.size < MIN_SAMPLES:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fun = smile(feature_set, "Functionals").process_signal(signal, AUDIO_SAMPLE_RATE)
    return {str(k): num(v, 6) for k, v in fun.iloc[0].items()} if len(fun) else {}


def empty_frames() -> pd.DataFrame:
    return pd.DataFrame({"time_s": pd.Series(dtype=float)})
