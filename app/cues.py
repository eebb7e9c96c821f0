"""The clip's cues as a compact timeline for the review page, and each draft clue linked to
the cue it rests on (with a time to seek the video to).

Read-only: the stored cue records and their Parquet frames (``CueRecord.frames_path``,
relative to the data dir), exactly as the pipeline wrote them; no extractor runs here.
Series are binned to a few hundred points so a 20-minute clip stays a small payload.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from sqlmodel import Session, col, select

from annotator.drafting.grounding import PROSODY_FEATURES, split_clues
from db.models import CueRecord, Draft

MAX_POINTS = 240
N_AUS = 4  # AU lines drawn: those the clues name first, then the strongest
PITCH = "F0semitoneFrom27.5Hz_sma3nz"
LOUDNESS = "Loudness_sma3"
CLUE_FIELDS = (
    ("visual", "visual_clues"),
    ("acoustic", "acoustic_clues"),
    ("lexical", "lexical_clues"),
)

_AU_COLUMN = re.compile(r"AU\d\d")
_VOICE_COLUMNS = re.compile(f"{re.escape(PITCH)}|{re.escape(LOUDNESS)}")
_AU = re.compile(r"\bAU\s*0*(\d{1,2})\b", re.IGNORECASE)
_TIME = re.compile(r"(?<![\w.])(\d{1,5}(?:\.\d+)?)\s*(?:-|–|to)?\s*(?:\d{1,5}(?:\.\d+)?)?\s*s\b")
_QUOTED = re.compile(r"\"([^\"]{1,200})\"|“([^”]{1,200})”|(?<![A-Za-z])'([^']{1,200})'(?![A-Za-z])")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_STOP = frozenset(
    re.split(
        r"\s+",
        "the a an and or but of to in on at is are was were be it its this that with for as "
        "by from she he they her his their says said say speaker voice tone word words",
    )
)


@dataclass(frozen=True)
class Series:
    name: str  # "AU12", "pitch (st)", "loudness"
    t: list[float]
    v: list[float | None]  # None: a gap (no face, unvoiced)


@dataclass(frozen=True)
class Span:
    label: str  # "AU12" or the word
    start: float
    end: float
    peak: float | None = None  # AU apex time


@dataclass(frozen=True)
class ClueLink:
    """One clue sentence of the draft, the cue it names and where that cue happens."""

    kind: str  # visual | acoustic | lexical
    text: str
    cue: str | None  # "AU12", "pitch", "word 'hello'", None when it names no cue
    time_s: float | None
    grounded: bool


@dataclass
class Timeline:
    duration_s: float
    aus: list[Series] = field(default_factory=list)
    pitch: Series | None = None
    loudness: Series | None = None
    events: list[Span] = field(default_factory=list)
    words: list[Span] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    def payload(self, clues: list[ClueLink]) -> dict[str, Any]:
        """What the timeline component draws (JSON-ready; text stays text there)."""
        return {
            "duration": self.duration_s,
            "aus": [asdict(s) for s in self.aus],
            "pitch": asdict(self.pitch) if self.pitch else None,
            "loudness": asdict(self.loudness) if self.loudness else None,
            "events": [asdict(e) for e in self.events],
            "words": [asdict(w) for w in self.words],
            "clues": [asdict(c) for c in clues],
        }


def _finite(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return round(value, 3) if math.isfinite(value) else None


def binned(name: str, times: pd.Series, values: pd.Series, n: int = MAX_POINTS) -> Series:
    """At most ``n`` points: the mean of each equal-width time bin (NaN bins stay gaps)."""
    frame = pd.DataFrame({"t": pd.to_numeric(times, errors="coerce"), "v": values}).dropna(
        subset=["t"]
    )
    if frame.empty:
        return Series(name, [], [])
    if len(frame) > n:
        lo, hi = float(frame.t.min()), float(frame.t.max())
        width = (hi - lo) / n or 1.0
        frame["bin"] = ((frame.t - lo) / width).astype(int).clip(upper=n - 1)
        frame = frame.groupby("bin").agg(t=("t", "mean"), v=("v", "mean"))
    return Series(name, [round(float(t), 3) for t in frame.t], [_finite(v) for v in frame.v])


def _latest_records(session: Session, clip_id: int) -> dict[str, CueRecord]:
    rows = session.exec(
        select(CueRecord).where(CueRecord.clip_id == clip_id).order_by(col(CueRecord.id).desc())
    ).all()
    latest: dict[str, CueRecord] = {}
    for row in rows:
        latest.setdefault(row.modality, row)
    return latest


def _frames(home: Path, record: CueRecord, wanted: re.Pattern[str]) -> pd.DataFrame | None:
    """The record's frames, only ``time_s`` and the columns ``wanted`` matches (a 20-minute
    clip's voice frames hold 25 descriptors x 120,000 rows; two are drawn)."""
    if not record.frames_path:
        return None
    path = (home / record.frames_path).resolve()
    if not path.is_relative_to(home.resolve()) or not path.is_file():
        return None  # never read outside the data dir
    names = pq.read_schema(path).names
    columns = [c for c in names if c == "time_s" or wanted.fullmatch(c)]
    return pd.read_parquet(path, columns=columns)


def load_timeline(
    session: Session, home: Path, clip_id: int, duration_s: float, named_aus: list[str]
) -> Timeline:
    """The clip's stored cues as plot series; AUs the clues name are drawn first."""
    records = _latest_records(session, clip_id)
    timeline = Timeline(duration_s=duration_s)
    face = records.get("face")
    if face is not None:
        timeline.missing.update({"face": face.missing_reason} if face.missing_reason else {})
        frames = _frames(home, face, _AU_COLUMN)
        if frames is not None and "time_s" in frames:
            peaks = {
                str(c): _finite(frames[c].max(skipna=True)) or 0.0
                for c in frames.columns
                if _AU_COLUMN.fullmatch(str(c))
            }
            au_cols = list(peaks)
            strongest = sorted(au_cols, key=lambda c: -peaks[c])
            order = [c for c in named_aus if c in au_cols] + strongest
            chosen = list(dict.fromkeys(order))[:N_AUS]
            timeline.aus = [binned(c, frames.time_s, frames[c]) for c in chosen]
        for event in face.summary_json.get("events", []):
            timeline.events.append(
                Span(
                    event["au"],
                    float(event["onset_s"]),
                    float(event["offset_s"]),
                    float(event["apex_s"]),
                )
            )
    voice = records.get("voice")
    if voice is not None:
        timeline.missing.update({"voice": voice.missing_reason} if voice.missing_reason else {})
        frames = _frames(home, voice, _VOICE_COLUMNS)
        if frames is not None and "time_s" in frames:
            if PITCH in frames:  # 0 where unvoiced: a gap, not a low pitch
                pitch = frames[PITCH].where(frames[PITCH] > 0)
                timeline.pitch = binned("pitch (st)", frames.time_s, pitch)
            if LOUDNESS in frames:
                timeline.loudness = binned("loudness", frames.time_s, frames[LOUDNESS])
    speech = records.get("speech")
    if speech is not None:
        timeline.missing.update({"speech": speech.missing_reason} if speech.missing_reason else {})
        for word in speech.summary_json.get("words", []):
            timeline.words.append(
                Span(str(word["text"]).strip(), float(word["start_s"]), float(word["end_s"]))
            )
    if not timeline.duration_s:
        ends = [s.t[-1] for s in [*timeline.aus, timeline.pitch] if s and s.t]
        ends += [w.end for w in timeline.words] + [e.end for e in timeline.events]
        timeline.duration_s = max(ends, default=0.0)
    return timeline


def named_aus(draft: Draft | None) -> list[str]:
    """AU columns (``AU12``) the draft's clues name, in order."""
    if draft is None:
        return []
    text = " ".join(getattr(draft, f) or "" for _, f in CLUE_FIELDS)
    return list(dict.fromkeys(f"AU{int(m.group(1)):02d}" for m in _AU.finditer(text)))


def _peak_time(series: Series | None) -> float | None:
    if series is None:
        return None
    points = [(v, t) for t, v in zip(series.t, series.v, strict=True) if v is not None]
    return max(points)[1] if points else None


def link_clue(kind: str, clue: str, timeline: Timeline, grounded: bool) -> ClueLink:
    """The cue a clue names and its time: a time the clue states, else the AU's first event
    (or its strongest frame), the feature's peak, or the first quoted / named word."""
    stated = _TIME.search(clue)
    stated_t = float(stated.group(1)) if stated else None
    for m in _AU.finditer(clue):
        au = f"AU{int(m.group(1)):02d}"
        event = next((e for e in timeline.events if e.label == au), None)
        series = next((s for s in timeline.aus if s.name == au), None)
        t = event.peak if event is not None else _peak_time(series)
        if event is not None or series is not None:
            return ClueLink(kind, clue, au, stated_t if stated_t is not None else t, grounded)
    low = clue.lower()
    for feature, spellings in PROSODY_FEATURES.items():
        if any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", low) for w in spellings):
            series = timeline.loudness if feature == "loudness" else timeline.pitch
            t = stated_t if stated_t is not None else _peak_time(series)
            return ClueLink(kind, clue, feature, t, grounded)
    quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(clue)]
    candidates = [w.lower() for q in quoted for w in _WORD.findall(q)]
    candidates += [w.lower() for w in _WORD.findall(clue) if w.lower() not in _STOP]
    for token in candidates:
        word = next((w for w in timeline.words if _bare(w.label) == token), None)
        if word is not None:
            t = stated_t if stated_t is not None else word.start
            return ClueLink(kind, clue, f"word '{word.label}'", t, grounded)
    return ClueLink(kind, clue, None, stated_t, grounded)


def _bare(word: str) -> str:
    return "".join(_WORD.findall(word.lower()))


def clue_links(draft: Draft | None, timeline: Timeline) -> list[ClueLink]:
    """Every clue of the draft, linked; ``Draft.ungrounded_clues`` are marked not grounded."""
    if draft is None:
        return []
    flagged = set(draft.ungrounded_clues or [])
    return [
        link_clue(kind, clue, timeline, clue not in flagged)
        for kind, attr in CLUE_FIELDS
        for clue in split_clues(getattr(draft, attr))
    ]
