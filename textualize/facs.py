"""FACS vocabulary: action-unit names, intensity words and face-event lines.

Intensity words follow the FACS A-E letters mapped onto the 0-5 scale the face
extractors report. Classification uses the value rounded to 1 decimal (the value
that is printed), lower bounds inclusive:

=========  ============  ===========
0-5 value  word          FACS letter
=========  ============  ===========
< 0.5      none          -
0.5-1.5    trace         A
1.5-2.5    slight        B
2.5-3.5    pronounced    C (marked/pronounced)
3.5-4.5    strong        D (severe)
>= 4.5     maximum       E (extreme/maximum)
=========  ============  ===========

Events whose peak is below 0.5 ("none") are left out of the text and counted.
An AU whose ``au_confidence`` is below :data:`LOW_CONFIDENCE` is flagged
``(low confidence)``.

Absolute and relative (face cues with an ``au_summary``, schema 2): first what the
face showed, whatever it changed to, then the changes against the resting face::

    held throughout: AU04 brow lowerer, pronounced (present in 95% of frames)
    present part of the time: AU12 lip corner puller, slight (present in 40% of frames)
    blinks: 14.2 per minute (12 blinks)
    changes against this clip's resting face:
    AU12 lip corner puller, strong, 1.2-2.8 s (peak 4.1 at 2.0 s)

"held throughout" when present in at least :data:`HELD_FRACTION` of the face
frames, "present part of the time" from :data:`PART_FRACTION`; the word is that of
the AU's median over the face frames (held) or its 90th percentile (part of the
time). AU43 events are eye closures of half a second or more; shorter closures are
counted as blinks, not listed.
"""

from __future__ import annotations

import re

from extractors.schema import AUEvent, FaceCues

from ._fmt import f1, num, r1, span

#: FACS names of the common action units (Ekman, Friesen & Hager 2002).
AU_NAMES: dict[str, str] = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU11": "nasolabial deepener",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU16": "lower lip depressor",
    "AU17": "chin raiser",
    "AU18": "lip pucker",
    "AU20": "lip stretcher",
    "AU22": "lip funneler",
    "AU23": "lip tightener",
    "AU24": "lip pressor",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU27": "mouth stretch",
    "AU28": "lip suck",
    "AU43": "eyes closed",
    "AU45": "blink",
    "AU46": "wink",
}

#: (inclusive lower bound on the 0-5 scale, word, FACS letter), ascending.
INTENSITY_LEVELS: tuple[tuple[float, str, str | None], ...] = (
    (0.0, "none", None),
    (0.5, "trace", "A"),
    (1.5, "slight", "B"),
    (2.5, "pronounced", "C"),
    (3.5, "strong", "D"),
    (4.5, "maximum", "E"),
)

#: ``au_confidence`` below this flags the AU as "(low confidence)".
LOW_CONFIDENCE = 0.5
#: Share of face frames an AU is present in to read "held throughout" / "part of the time".
HELD_FRACTION = 0.8
PART_FRACTION = 0.3
#: AUs never described as held: blinks come as a rate.
_NOT_HELD = ("AU45",)
#: Events that are absolute even when the others are changes against a baseline.
_NOT_CHANGES = ("AU43", "AU45")

_AU_RE = re.compile(r"^(?:AU)?\s*0*(\d{1,2})(?:_[a-z]+)?$", re.IGNORECASE)


def normalize_au(au: str) -> str:
    """``'AU1'``, ``'au01'``, ``'1'``, ``'AU01_r'`` -> ``'AU01'``; other strings unchanged."""
    m = _AU_RE.match(au.strip())
    if not m:
        return au.strip()
    return f"AU{int(m.group(1)):02d}"


def au_name(au: str) -> str | None:
    """FACS name of an AU (``'AU12' -> 'lip corner puller'``), ``None`` when unknown."""
    return AU_NAMES.get(normalize_au(au))


def au_label(au: str) -> str:
    """``'AU12 lip corner puller'`` (just the code when the AU is not in the table)."""
    code = normalize_au(au)
    name = AU_NAMES.get(code)
    return f"{code} {name}" if name else code


def _level(intensity: float) -> tuple[str, str | None]:
    value = r1(intensity)
    word, letter = INTENSITY_LEVELS[0][1], INTENSITY_LEVELS[0][2]
    for lower, w, let in INTENSITY_LEVELS:
        if value >= lower:
            word, letter = w, let
    return word, letter


def intensity_word(intensity: float) -> str:
    """Word for a 0-5 intensity (see module table): ``4.1 -> 'strong'``."""
    return _level(intensity)[0]


def facs_letter(intensity: float) -> str | None:
    """FACS letter A-E for a 0-5 intensity, ``None`` below trace."""
    return _level(intensity)[1]


def confidence_of(face: FaceCues, au: str) -> float | None:
    """The AU's detector confidence, whatever spelling the backend keyed it by."""
    code = normalize_au(au)
    for key, value in face.au_confidence.items():
        if normalize_au(key) == code:
            return num(value)
    return None


def is_low_confidence(face: FaceCues, au: str) -> bool:
    conf = confidence_of(face, au)
    return conf is not None and conf < LOW_CONFIDENCE


def describe_event(event: AUEvent, *, low_confidence: bool = False) -> str:
    """``'AU12 lip corner puller, strong, 1.2-2.8 s (peak 4.1 at 2.0 s)'``."""
    peak = num(event.peak_intensity) or 0.0
    line = (
        f"{au_label(event.au)}, {intensity_word(peak)}, {span(event.onset_s, event.offset_s)}"
        f" (peak {f1(peak)} at {f1(event.apex_s)} s)"
    )
    if low_confidence:
        line += " (low confidence)"
    return line


def select_events(events: list[AUEvent], max_events: int) -> tuple[list[AUEvent], int, int]:
    """Events to show: above trace, the ``max_events`` most intense, ordered by onset.

    Returns ``(kept, n_below_trace, n_dropped_for_space)``. Ties in intensity go to
    the earlier event, so the choice is deterministic.
    """
    visible = [e for e in events if intensity_word(num(e.peak_intensity) or 0.0) != "none"]
    n_below = len(events) - len(visible)
    limit = max(0, max_events)
    ranked = sorted(
        visible,
        key=lambda e: (-(num(e.peak_intensity) or 0.0), e.onset_s, normalize_au(e.au)),
    )
    kept = ranked[:limit]
    kept.sort(key=lambda e: (e.onset_s, e.apex_s, normalize_au(e.au)))
    return kept, n_below, len(visible) - len(kept)


def face_counts(face: FaceCues) -> tuple[int, int]:
    """``(frames with a face, sampled frames)`` from the counters, else from ``frames``."""
    if face.n_frames > 0:
        return face.n_frames_with_face, face.n_frames
    frames = face.frames
    n = len(frames)
    if n and "face_found" in frames.columns:
        return int(frames["face_found"].fillna(False).astype(bool).sum()), n
    return 0, n


def max_faces(face: FaceCues) -> int:
    if face.max_faces:
        return face.max_faces
    if "n_faces" in face.frames.columns and len(face.frames):
        value = num(face.frames["n_faces"].max())
        return int(value) if value is not None else 0
    return 0


def coverage_line(face: FaceCues) -> str | None:
    """``'face visible in 38 of 40 sampled frames'`` (``None`` when nothing was sampled)."""
    with_face, total = face_counts(face)
    if total <= 0:
        return None
    line = f"face visible in {with_face} of {total} sampled frames"
    if 0 < with_face < total / 2:
        line += " (cues cover only part of the clip)"
    return line


def held_lines(face: FaceCues) -> list[str]:
    """Absolute lines from ``au_summary``: held throughout, then part of the time."""
    held: list[tuple[float, str, str]] = []
    part: list[tuple[float, str, str]] = []
    for au, summary in face.au_summary.items():
        code = normalize_au(au)
        frac = num(summary.fraction_present) or 0.0
        if code in _NOT_HELD or frac < PART_FRACTION:
            continue
        level = num(summary.median if frac >= HELD_FRACTION else summary.p90) or 0.0
        if intensity_word(level) == "none":
            continue
        text = f"{au_label(code)}, {intensity_word(level)} (present in {frac:.0%} of frames)"
        if is_low_confidence(face, au):
            text += " (low confidence)"
        (held if frac >= HELD_FRACTION else part).append((-frac, code, text))
    lines = [f"held throughout: {t}" for _, _, t in sorted(held)]
    lines += [f"present part of the time: {t}" for _, _, t in sorted(part)]
    return lines


def blink_line(face: FaceCues) -> str | None:
    """``'blinks: 14.2 per minute (12 blinks)'``; ``None`` when not counted.

    Without a rate (the face was in view too briefly) only the count is given.
    """
    if face.blink_count is None:
        return None
    rate = num(face.blink_rate_per_min)
    if rate is None:
        return f"blinks: {face.blink_count} (face in view too briefly for a rate)"
    return f"blinks: {f1(rate)} per minute ({face.blink_count} blinks)"


def baseline_phrase(face: FaceCues) -> str:
    source = face.baseline_source or "clip"
    if source == "clip":
        return "this clip's resting face"
    if source.startswith("speaker:"):
        return f"speaker {source.split(':', 1)[1]}'s resting face"
    return f"the {source} resting face"


def face_lines(face: FaceCues, *, max_events: int) -> list[str]:
    """Visual-cue lines (no bullets): coverage, notes, held AUs, blinks, AU events."""
    lines: list[str] = []
    if face.missing_reason:
        lines.append(f"not available: {face.missing_reason}")
    cov = coverage_line(face)
    if cov:
        lines.append(cov)
    n_faces = max_faces(face)
    if n_faces > 1 and not any("several faces" in w for w in face.warnings):
        lines.append(f"several faces in view (up to {n_faces})")
    lines.extend(f"note: {w}" for w in face.warnings)
    kept, n_below, n_dropped = select_events(face.events, max_events)
    if face.missing_reason and not face.events:
        return lines
    absolute = held_lines(face) if face.au_summary else []
    lines.extend(absolute)
    blinks = blink_line(face)
    if blinks:
        lines.append(blinks)
    if not kept and not absolute:
        lines.append("no action-unit activations above trace level")
    if face.baseline:
        # Eye closures are absolute (eyes shut, whatever the rest): before the changes.
        closures = [e for e in kept if normalize_au(e.au) in _NOT_CHANGES]
        changes = [e for e in kept if normalize_au(e.au) not in _NOT_CHANGES]
        lines.extend(
            describe_event(e, low_confidence=is_low_confidence(face, e.au)) for e in closures
        )
        if changes:
            lines.append(f"changes against {baseline_phrase(face)}:")
        kept = changes
    for event in kept:
        lines.append(describe_event(event, low_confidence=is_low_confidence(face, event.au)))
    if n_dropped:
        lines.append(f"({len(kept)} of {len(kept) + n_dropped} events shown, the most intense)")
    if n_below:
        lines.append(f"({n_below} events below trace level left out)")
    return lines
