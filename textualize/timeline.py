"""A merged, time-ordered view: face events, voice segments and words per window.

``timeline(cues, window_s=2.0)`` cuts the clip into fixed windows and writes one line
per window that has anything in it::

    0.0-2.0 s: face AU12 lip corner puller (strong); voice pitch high and rising;
    speech "I can't believe"

(one line in the output, wrapped here).

An AU event or voice segment is listed in every window it overlaps by at least a
quarter of the window (or half its own length), with ``peak`` in the window of its
apex; a word goes in the window its start falls in. The same selection as the sections applies: the
``max_events`` most intense AU events, the notable voice segments, the first
``max_words`` words. Empty windows are skipped.
"""

from __future__ import annotations

import math

from extractors.schema import AUEvent, Cues, VoiceSegment

from . import facs, prosody, transcript
from ._fmt import f1, join_words, num

#: An event/segment is listed in a window it overlaps by at least this share of the
#: window, or by at least half its own length (so a 0.1 s spill-over is not listed).
MIN_WINDOW_SHARE = 0.25


def _overlaps(start: float, end: float, a: float, b: float) -> bool:
    """Does ``[start, end]`` belong in window ``[a, b)``? (point spans: at their start)."""
    if end <= start:
        return a <= start < b
    overlap = min(end, b) - max(start, a)
    if overlap <= 0:
        return False
    return overlap >= MIN_WINDOW_SHARE * (b - a) - 1e-9 or overlap >= 0.5 * (end - start) - 1e-9


def _duration(cues: Cues) -> float:
    ends: list[float] = [0.0]
    d = num(cues.media.duration_s)
    if d is not None and d > 0:
        return d
    if cues.face is not None:
        ends += [e.offset_s for e in cues.face.events]
    if cues.voice is not None:
        ends += [s.end_s for s in cues.voice.segments]
    ends += [w.end_s for w in transcript.timed_words(cues.speech)]
    return max(ends)


def timeline(
    cues: Cues, window_s: float = 2.0, *, max_events: int = 12, max_words: int = 400
) -> list[str]:
    """Per-window lines (see module doc); ``[]`` when there is nothing timed."""
    if not window_s > 0:
        raise ValueError(f"window_s must be positive, got {window_s!r}")
    events: list[AUEvent] = []
    if cues.face is not None:
        events, _, _ = facs.select_events(cues.face.events, max_events)
    segments: list[VoiceSegment] = []
    if cues.voice is not None:
        segments, _ = prosody.notable_segments(cues.voice, max_events)
    words, _ = transcript.truncate(transcript.timed_words(cues.speech), max_words)

    duration = _duration(cues)
    last_item = max(
        [e.offset_s for e in events] + [s.end_s for s in segments] + [w.end_s for w in words],
        default=0.0,
    )
    horizon = max(duration, last_item)
    n_windows = max(1, math.ceil(horizon / window_s - 1e-9))

    lines: list[str] = []
    for k in range(n_windows):
        a = k * window_s
        b = (k + 1) * window_s
        end_label = min(b, horizon) if k == n_windows - 1 else b
        parts: list[str] = []

        face_bits = []
        for e in events:
            if _overlaps(e.onset_s, e.offset_s, a, b):
                word = facs.intensity_word(num(e.peak_intensity) or 0.0)
                if a <= e.apex_s < b:
                    word += ", peak"
                if cues.face is not None and facs.is_low_confidence(cues.face, e.au):
                    word += ", low confidence"
                face_bits.append(f"{facs.au_label(e.au)} ({word})")
        if face_bits:
            parts.append("face " + ", ".join(face_bits))

        voice_bits = [
            prosody.describe_segment(s, numbers=False)
            for s in segments
            if _overlaps(s.start_s, s.end_s, a, b)
        ]
        if voice_bits:
            parts.append("voice " + " / ".join(v for v in voice_bits if v))

        in_window = [
            w
            for w in words
            if a <= w.start_s < b
            or (k == n_windows - 1 and w.start_s >= b)
            or (k == 0 and w.start_s < 0)
        ]
        if in_window:
            text = join_words(transcript.word_text(w) for w in in_window)
            parts.append(f'speech "{text}"')

        if parts:
            lines.append(f"{f1(a)}-{f1(end_label)} s: " + "; ".join(parts))
    return lines
