"""AU series to what a caption needs: what the face held, what changed, how it blinked.

Two readings of the same series, because both matter for emotion:

- **absolute** (:func:`au_summary`): mean, median, 90th percentile and the share of
  face frames at or above :data:`PRESENT` (1.0, a clear trace). A face held angry
  for the whole clip, the normal case in one-utterance-one-emotion datasets, has
  AU04 present in nearly every frame even though nothing *changes*.
- **relative** (:func:`change_events`): activations against a resting baseline,
  by default the clip's own :data:`BASELINE_PERCENTILE` th percentile per AU; a
  speaker's resting levels (from their other clips) can be passed instead.

Eye closure is read apart (:func:`eye_closures`): a closure of at least
:data:`MIN_CLOSURE_S` is AU43 "eyes closed" (an event, however long); shorter ones
are AU45 blinks, counted as a rate. At 5 frames/s a 100-150 ms blink falls between
samples a quarter to half of the time, so the rate is a lower bound.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from extractors.face.events import au_events
from extractors.schema import AUEvent, AUSummary

#: Intensity (0-5) from which an AU counts as present in a frame: a clear trace.
PRESENT = 1.0
#: The clip's resting level of an AU: this percentile of its face frames.
BASELINE_PERCENTILE = 10.0
#: A change event: at least this much above the baseline (and itself present).
MIN_CHANGE = 1.0
#: Eye closure (AU43 column, 0-5) from which the eyes count as shut: about half shut.
CLOSED = 1.5
#: Closures at least this long are AU43 (eyes closed); shorter ones are blinks.
MIN_CLOSURE_S = 0.5
#: Seconds of face in view below which no blink rate is given (only the count).
MIN_BLINK_RATE_S = 10.0
#: AUs read as closures/blinks, not through the change events.
EYE_AUS = ("AU43", "AU45")


def _r(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def au_summary(
    intensity: Mapping[str, np.ndarray], baseline: Mapping[str, float] | None = None
) -> dict[str, AUSummary]:
    """Per AU, absolute statistics over the frames with a face (NaN frames skipped)."""
    out: dict[str, AUSummary] = {}
    for au in sorted(intensity):
        values = np.asarray(intensity[au], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        base = None if baseline is None or au not in baseline else _r(baseline[au])
        out[au] = AUSummary(
            mean=_r(values.mean()),
            median=_r(np.median(values)),
            p90=_r(np.percentile(values, 90)),
            max=_r(values.max()),
            fraction_present=_r((values >= PRESENT).mean(), 3),
            baseline=base,
        )
    return out


def clip_baseline(intensity: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The clip's resting level per AU: a low percentile of its face frames."""
    out = {}
    for au, series in intensity.items():
        values = np.asarray(series, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            out[au] = _r(np.percentile(values, BASELINE_PERCENTILE))
    return out


def change_events(
    time_s: np.ndarray,
    intensity: Mapping[str, np.ndarray],
    baseline: Mapping[str, float],
) -> list[AUEvent]:
    """Activations at least :data:`MIN_CHANGE` above the baseline and present.

    The peak reported is the absolute intensity at the apex (what the face showed),
    the timing that of the change. AUs without a baseline value are skipped.
    """
    events: list[AUEvent] = []
    for au, series in intensity.items():
        if au in EYE_AUS or au not in baseline:
            continue
        values = np.asarray(series, dtype=np.float64)
        # A frame counts when it is both a change and itself present: shift the
        # series so that au_events' threshold is the stricter of the two.
        level = max(baseline[au] + MIN_CHANGE, PRESENT)
        shifted = {au: values - level + 1.0}
        for e in au_events(time_s, shifted, threshold=1.0):
            apex_value = float(np.interp(e.apex_s, time_s, np.nan_to_num(values)))
            events.append(AUEvent(au, e.onset_s, e.apex_s, e.offset_s, round(apex_value, 2)))
    events.sort(key=lambda e: (e.onset_s, e.au))
    return events


def eye_closures(
    time_s: np.ndarray, closure: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[AUEvent], int]:
    """Split an eye-closure series (0-5) into AU43 (long) and AU45 (blinks).

    Returns ``(au43, au45, au43_events, n_blinks)``: each series keeps the closure
    value inside its own runs and 0 elsewhere (NaN where there was no face).
    """
    times = np.asarray(time_s, dtype=np.float64)
    values = np.asarray(closure, dtype=np.float64)
    au43 = np.where(np.isfinite(values), 0.0, np.nan)
    au45 = au43.copy()
    runs = au_events(times, {"AU43": values}, threshold=CLOSED, min_duration_s=0.0, max_gap_s=0.0)
    long_events: list[AUEvent] = []
    n_blinks = 0
    for e in runs:
        inside = (times >= e.onset_s) & (times <= e.offset_s)
        if e.offset_s - e.onset_s >= MIN_CLOSURE_S - 1e-9:
            au43[inside] = values[inside]
            long_events.append(e)
        else:
            au45[inside] = values[inside]
            n_blinks += 1
    return au43, au45, long_events, n_blinks
