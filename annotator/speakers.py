"""Speakers: who speaks in which clip (from ``ingest --speaker`` or a CSV), and a
speaker's voice baseline pooled from the stored voice summaries of their other clips.

The baseline is read from the database, never from media: the voice cues stay absolute
(what the extractor measured) and the pipeline hands the pooled
:class:`~extractors.schema.SpeakerBaseline` to ``textualize``, which re-scores the clip
against it. Only voice records made with the same backend configuration are pooled.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from db import Clip, CueRecord, Stage
from extractors.errors import AnnotatorError
from extractors.schema import SpeakerBaseline

#: Other clips with voiced speech a speaker needs before their baseline is used.
DEFAULT_MIN_CLIPS = 3
#: Extra numbers pooled as voiced-duration-weighted means (compared to the clip in text).
_MEAN_KEYS = ("speaking_rate_syll_per_s", "jitter_local", "shimmer_db", "hnr_db")


class SpeakersCsvError(AnnotatorError, ValueError):
    """The speakers CSV cannot be read (missing columns, empty speaker)."""

    code = "bad_speakers_csv"


@dataclass
class SpeakerTable:
    """``file,speaker`` rows: resolved path -> speaker; listed files that do not exist."""

    by_path: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def read_speakers_csv(path: str | Path) -> SpeakerTable:
    """Rows of ``file,speaker`` (header required); a relative ``file`` is relative to the
    CSV's folder. A file listed twice keeps its last speaker."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SpeakersCsvError(f"{path}: cannot read the speakers CSV ({exc})") from exc
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "file" not in fields or "speaker" not in fields:
        raise SpeakersCsvError(
            f"{path}: the speakers CSV needs a header with columns file,speaker "
            f"(found: {', '.join(fields) or 'none'})"
        )
    table = SpeakerTable()
    for line_no, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        name, speaker = row.get("file", ""), row.get("speaker", "")
        if not name and not speaker:
            continue
        if not name or not speaker:
            raise SpeakersCsvError(f"{path}:{line_no}: a row needs both a file and a speaker")
        file = Path(name).expanduser()
        if not file.is_absolute():
            file = path.parent / file
        if not file.exists():
            table.missing.append(str(file))
            continue
        table.by_path[str(file.resolve())] = speaker
    return table


def pool(
    speaker_id: str, summaries: Iterable[Mapping[str, Any]], min_clips: int
) -> SpeakerBaseline:
    """Voiced-duration-weighted pooled mean and SD of pitch and loudness over clips.

    ``var = sum(w * (sd^2 + mean^2)) / sum(w) - pooled_mean^2``: within-clip spread plus
    the spread between clips. A summary without voiced speech does not count.
    """
    rows = [(_weight(s), s) for s in summaries]
    rows = [(w, s) for w, s in rows if w > 0 and _f(s.get("pitch_mean_st")) is not None]
    total = sum(w for w, _ in rows)
    out = SpeakerBaseline(speaker_id=speaker_id, n_clips=len(rows), min_clips=min_clips)
    if not rows:
        return out
    out.voiced_s = round(total, 3)
    for name, mean_key, sd_key in (
        ("pitch", "pitch_mean_st", "pitch_std_st"),
        ("loudness", "loudness_mean", "loudness_std"),
    ):
        pairs = [(w, _f(s.get(mean_key)), _f(s.get(sd_key))) for w, s in rows]
        usable = [(w, m, sd) for w, m, sd in pairs if m is not None and sd is not None]
        weight = sum(w for w, _, _ in usable)
        if not usable or weight <= 0:
            continue
        mean = sum(w * m for w, m, _ in usable) / weight
        second = sum(w * (sd * sd + m * m) for w, m, sd in usable) / weight
        setattr(out, f"{name}_mean", round(mean, 4))
        setattr(out, f"{name}_std", round(math.sqrt(max(second - mean * mean, 0.0)), 4))
    for key in _MEAN_KEYS:
        values = [(w, _f(s.get(key))) for w, s in rows]
        present = [(w, v) for w, v in values if v is not None]
        weight = sum(w for w, _ in present)
        if present and weight > 0:
            setattr(out, key, round(sum(w * v for w, v in present) / weight, 5))
    return out


def speaker_baseline(
    session: Session, clip_id: int, voice_config_hash: str, min_clips: int = DEFAULT_MIN_CLIPS
) -> SpeakerBaseline | None:
    """The pooled baseline of the clip's speaker from their *other* clips' voice records
    made under ``voice_config_hash``; ``None`` when the clip has no speaker."""
    clip = session.get(Clip, clip_id)
    if clip is None or not clip.speaker_id:
        return None
    summaries = session.exec(
        select(CueRecord.summary_json)
        .join(Clip, col(Clip.id) == CueRecord.clip_id)
        .where(
            Clip.speaker_id == clip.speaker_id,
            CueRecord.clip_id != clip_id,
            CueRecord.modality == Stage.VOICE,
            CueRecord.config_hash == voice_config_hash,
            col(CueRecord.missing_reason).is_(None),
        )
        .order_by(col(CueRecord.clip_id))
    ).all()
    return pool(clip.speaker_id, [s.get("summary") or {} for s in summaries], min_clips)


def speaker_counts(session: Session) -> list[tuple[str, int]]:
    """(speaker, number of clips), by speaker name."""
    rows = session.exec(
        select(Clip.speaker_id, func.count())
        .where(col(Clip.speaker_id).is_not(None))
        .group_by(col(Clip.speaker_id))
        .order_by(col(Clip.speaker_id))
    ).all()
    return [(str(s), int(n)) for s, n in rows]


def _f(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _weight(summary: Mapping[str, Any]) -> float:
    """Voiced seconds; records from before ``voiced_s`` use voiced fraction x duration."""
    voiced = _f(summary.get("voiced_s"))
    if voiced is None:
        fraction, duration = _f(summary.get("voiced_fraction")), _f(summary.get("duration_s"))
        voiced = fraction * duration if fraction is not None and duration is not None else 0.0
    return max(voiced, 0.0)
