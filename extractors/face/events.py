"""AU intensity series to discrete events: when an action starts, peaks and ends.

A caption wants "a smile from 2.1 s to 4.0 s, strongest at 3.2 s", not 100 numbers
per second. An event is a run of samples at or above ``threshold`` (FACS-like
scale, 1.0 = a trace that is clearly there); dips shorter than ``max_gap_s`` (one
missed detection, a flicker of the landmark fit) are bridged, and runs shorter than
``min_duration_s`` dropped.

Each sample stands for the time up to halfway to its neighbours, so an event's
onset and offset are the midpoints to the samples outside it (the clip's ends at
the edges): one sample at 5 fps is a 0.2 s event, as long as the shortest blink.
"""

from __future__ import annotations

import numpy as np

from extractors.schema import AUEvent

DEFAULT_THRESHOLD = 1.0
DEFAULT_MIN_DURATION_S = 0.2
DEFAULT_MAX_GAP_S = 0.25
_EPS = 1e-9


def au_events(
    time_s: np.ndarray,
    intensity: dict[str, np.ndarray],
    threshold: float = DEFAULT_THRESHOLD,
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> list[AUEvent]:
    """Events of every AU in ``intensity``, ordered by onset then AU name.

    ``time_s``: (n,) increasing sample times; ``intensity``: AU name to (n,) values,
    NaN where there was no face (a NaN sample is below threshold).
    """
    times = np.asarray(time_s, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"time_s must be 1-D, got shape {times.shape}")
    n = times.size
    if n == 0:
        return []
    if n > 1 and np.any(np.diff(times) <= 0):
        raise ValueError("time_s must be strictly increasing")
    # Sample boundaries: halfway between neighbours, the clip's own ends at the edges.
    mids = (times[:-1] + times[1:]) / 2.0
    starts = np.concatenate([times[:1], mids])
    ends = np.concatenate([mids, times[-1:]])

    events: list[AUEvent] = []
    for au in sorted(intensity):
        values = np.asarray(intensity[au], dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(f"{au}: expected {n} values, got shape {values.shape}")
        above = np.nan_to_num(values, nan=-np.inf) >= threshold
        for first, last in _merge_runs(_runs(above), starts, ends, max_gap_s):
            onset, offset = starts[first], ends[last]
            if offset - onset + _EPS < min_duration_s:
                continue
            window = values[first : last + 1]
            apex = first + int(np.nanargmax(window))
            events.append(
                AUEvent(
                    au=au,
                    onset_s=round(float(onset), 3),
                    apex_s=round(float(times[apex]), 3),
                    offset_s=round(float(offset), 3),
                    peak_intensity=round(float(values[apex]), 2),
                )
            )
    events.sort(key=lambda e: (e.onset_s, e.au))
    return events


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) index pairs of the True runs in ``mask``."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _merge_runs(
    runs: list[tuple[int, int]], starts: np.ndarray, ends: np.ndarray, max_gap_s: float
) -> list[tuple[int, int]]:
    """Join runs separated by less than ``max_gap_s`` of below-threshold time."""
    merged: list[tuple[int, int]] = []
    for first, last in runs:
        if merged and starts[first] - ends[merged[-1][1]] < max_gap_s:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged
