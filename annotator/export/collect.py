"""Which clips an export holds, and the rows of each configuration.

A clip's caption is its *standing* review (``db.queries.final_of``: the adjudication,
else the one counted annotation or several that agree). Clips without one (unreviewed, or
annotators who disagree) enter only with ``include_drafts``, from their chosen draft and
flagged ``reviewed = False``. Nothing here writes files or knows a path on disk beyond
the clip's own name.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from annotator.export.options import ExportOptions, split_name
from db import Annotator, Clip, ClipPath, CueRecord, CueTextRecord, Draft, Review, ReviewEvent
from db.models import ReviewStatus, Stage, StageRun
from db.queries import chosen_among, final_of, reviews_disagree

log = logging.getLogger(__name__)

VERIFIED = (ReviewStatus.ACCEPTED, ReviewStatus.EDITED)


@dataclass
class ClipExport:
    """One exported clip and everything its rows are made of."""

    clip: Clip
    name: str  # unique within the export (the file stem, with the hash when stems repeat)
    status: str  # the standing review's status, or unreviewed | disputed
    final: Review | None
    reviews: list[Review]
    draft: Draft | None  # the draft the standing review started from, else the chosen one
    cue_text: CueTextRecord | None
    cues: list[CueRecord]
    paths: list[str]  # every path the clip was ingested from (for media; never exported)
    agreement: float | None = None
    split: str = "train"
    emotion_prompt: bool = False
    events: list[ReviewEvent] = field(default_factory=list)
    samples: list[Draft] = field(default_factory=list)

    @property
    def reviewed(self) -> bool:
        return self.final is not None

    @property
    def verified(self) -> bool:
        """An accepted or edited standing review: a caption a person vouches for."""
        return self.final is not None and self.final.status in VERIFIED

    @property
    def changed_at(self) -> datetime | None:
        if self.final is not None:
            return naive_utc(self.final.updated_at)
        return naive_utc(self.draft.created_at) if self.draft else None


def naive_utc(stamp: datetime | None) -> datetime | None:
    """Timestamps as naive UTC (SQLite returns naive values, PostgreSQL aware ones)."""
    if stamp is None or stamp.tzinfo is None:
        return stamp
    return stamp.astimezone(UTC).replace(tzinfo=None)


def agreement_function() -> Callable[[Session, int], float | None] | None:
    """``annotator.stats.clip_agreement`` when the stats package offers it."""
    try:
        from annotator.stats import clip_agreement
    except Exception:  # not there, or its optional dependencies are missing
        return None
    return clip_agreement  # type: ignore[no-any-return]


#: Clips loaded per round of queries: one query per table for each chunk, not per clip.
CHUNK = 500


def _by_clip(session: Session, model: Any, ids: list[int], *order: Any) -> dict[int, list[Any]]:
    rows = session.exec(select(model).where(col(model.clip_id).in_(ids)).order_by(*order))
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.clip_id].append(row)
    return grouped


def select_clips(session: Session, options: ExportOptions) -> list[ClipExport]:
    """The clips the options let through, in ingest order, with their review state."""
    agreement_of = agreement_function() if options.min_agreement is not None else None
    if options.min_agreement is not None and agreement_of is None:
        from annotator.export.options import ExportError

        raise ExportError("--min-agreement needs annotator.stats.clip_agreement, not installed")
    clips = list(session.exec(select(Clip).order_by(col(Clip.id))).all())
    chosen: list[ClipExport] = []
    for start in range(0, len(clips), CHUNK):
        part = clips[start : start + CHUNK]
        ids = [c.id for c in part if c.id is not None]
        reviews = _by_clip(session, Review, ids, col(Review.id))
        drafts = _by_clip(session, Draft, ids, col(Draft.id))
        for clip in part:
            assert clip.id is not None
            item = _item(clip, reviews.get(clip.id, []), drafts.get(clip.id, []), options)
            if item is None:
                continue
            if agreement_of is not None:
                item.agreement = agreement_of(session, clip.id)
                if item.agreement is None or item.agreement < (options.min_agreement or 0.0):
                    continue
            chosen.append(item)
    _fill(session, chosen)
    return chosen


def _item(
    clip: Clip, reviews: list[Review], samples: list[Draft], options: ExportOptions
) -> ClipExport | None:
    """The clip's export record when the options let it through."""
    final = final_of(reviews)
    if final is not None:
        status = final.status
    elif reviews_disagree(reviews):
        status = "disputed"
    else:
        status = "unreviewed"
    by_id = {d.id: d for d in samples}
    draft = by_id.get(final.draft_id) if final and final.draft_id else None
    draft = draft or chosen_among(samples)
    if final is None and (draft is None or not options.include_drafts):
        return None
    if final is not None and final.status not in options.statuses:
        return None
    if final is None and draft is not None and draft.caption is None:
        return None  # an invalid draft has no caption to offer
    model_id = draft.model_id if draft else ""
    if options.models and not any(fnmatch(model_id, p) for p in options.models):
        return None
    item = ClipExport(
        clip=clip, name=Path(clip.name).stem, status=str(status), final=final,
        reviews=reviews, draft=draft, cue_text=None, cues=[], paths=[], samples=samples,
    )  # fmt: skip
    changed = item.changed_at
    if options.since_date and (changed is None or changed.date() < options.since_date):
        return None
    if options.until_date and (changed is None or changed.date() > options.until_date):
        return None
    return item


def _fill(session: Session, items: list[ClipExport]) -> None:
    """Cue records and texts, paths, review history and draft settings of the chosen clips;
    names made unique."""
    stems: dict[str, int] = defaultdict(int)
    for item in items:
        stems[item.name] += 1
    for start in range(0, len(items), CHUNK):
        part = items[start : start + CHUNK]
        ids = [item.clip.id for item in part if item.clip.id is not None]
        cues = _by_clip(session, CueRecord, ids, col(CueRecord.id))
        texts = _by_clip(session, CueTextRecord, ids, col(CueTextRecord.id))
        paths = _by_clip(session, ClipPath, ids, col(ClipPath.id))
        events = _by_clip(
            session, ReviewEvent, ids, col(ReviewEvent.review_id), col(ReviewEvent.version)
        )
        runs = session.exec(
            select(StageRun).where(col(StageRun.clip_id).in_(ids), StageRun.stage == Stage.DRAFT)
        )
        settings = {(r.clip_id, r.config_hash): r.config_json for r in runs}
        for item in part:
            clip_id = item.clip.id or -1
            if stems[item.name] > 1:
                item.name = f"{item.name}-{item.clip.sha256[:8]}"
            item.split = split_name(item.clip.split)
            item.cues = cues.get(clip_id, [])
            item.cue_text = (texts.get(clip_id) or [None])[-1]
            item.paths = [item.clip.source_uri] + [
                p.path for p in paths.get(clip_id, []) if p.path != item.clip.source_uri
            ]
            item.events = events.get(clip_id, [])
            if item.draft is not None:
                config = settings.get((clip_id, item.draft.config_hash)) or {}
                item.emotion_prompt = bool(config.get("emotion_prompt"))


def annotator_names(session: Session) -> dict[int, str]:
    return {a.id: a.name for a in session.exec(select(Annotator)) if a.id is not None}


def transcript_of(cues: list[CueRecord]) -> str:
    speech = [c for c in cues if c.modality == "speech"]
    if not speech:
        return ""
    segments = speech[-1].summary_json.get("segments", [])
    return " ".join(str(s.get("text", "")).strip() for s in segments).strip()


def content_hash(row: dict[str, Any], item: ClipExport) -> str:
    """What a clip's export depends on: its caption row and the versions of its reviews and
    drafts. ``--since`` compares these between exports."""
    payload = {
        "row": {k: v for k, v in row.items() if k != "video"},
        "reviews": sorted((r.id or 0, r.version) for r in item.reviews),
        "drafts": sorted(d.id or 0 for d in item.samples),
    }
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def caption_row(item: ClipExport, names: dict[int, str]) -> dict[str, Any]:
    """The ``captions`` row: the standing review's values, else the draft's (flagged)."""
    clip, final, draft = item.clip, item.final, item.draft
    source: Review | Draft | None = final if final is not None else draft
    counted = [r for r in item.reviews if r.status != ReviewStatus.SKIPPED]
    return {
        "name": item.name,
        "file_name": Path(clip.name).name,
        "sha256": clip.sha256,
        "duration_s": float(clip.duration_s),
        "has_audio": bool(clip.has_audio),
        "has_video": bool(clip.has_video),
        "partial": bool(clip.partial),
        "missing": json.dumps(clip.missing_json or {}, ensure_ascii=False, sort_keys=True),
        "speaker_id": clip.speaker_id,
        "split": item.split,
        "transcript": transcript_of(item.cues),
        "cue_text": item.cue_text.prompt_text if item.cue_text else "",
        "readable_cue_text": item.cue_text.readable_text if item.cue_text else "",
        "textualizer_version": item.cue_text.textualizer_version if item.cue_text else "",
        "visual_clues": (draft.visual_clues or "") if draft else "",
        "acoustic_clues": (draft.acoustic_clues or "") if draft else "",
        "lexical_clues": (draft.lexical_clues or "") if draft else "",
        "reasoning": (draft.reasoning or "") if draft else "",
        "caption": (source.caption or "") if source else "",
        "openset": list(source.labels or []) if source else [],
        "valence": source.valence if source else None,
        "arousal": source.arousal if source else None,
        "review_status": item.status,
        "reviewed": item.reviewed,
        "adjudicated": bool(final is not None and final.kind == "adjudication"),
        "annotator": names.get(final.annotator_id, "") if final else "",
        "annotators": sorted({names.get(r.annotator_id, "") for r in counted}),
        "review_version": final.version if final else 0,
        "reviewed_at": naive_utc(final.updated_at) if final else None,
        "agreement": item.agreement,
        "draft_id": draft.id if draft else None,
        "draft_status": draft.status if draft else "",
        "draft_caption": (draft.caption or "") if draft else "",
        "draft_openset": list(draft.labels) if draft else [],
        "draft_valence": draft.valence if draft else None,
        "draft_arousal": draft.arousal if draft else None,
        "confidence": draft.confidence if draft else None,
        "grounding_rate": draft.grounding_rate if draft else None,
        "model_id": draft.model_id if draft else "",
        "backend": draft.backend if draft else "",
        "prompt_version": draft.prompt_version if draft else "",
    }


def review_rows(item: ClipExport, names: dict[int, str]) -> list[dict[str, Any]]:
    """One row per saved version of every review: what it was before and after that save
    (version 1 starts from the draft the annotator opened)."""
    by_review: dict[int, list[ReviewEvent]] = {}
    for event in item.events:
        by_review.setdefault(event.review_id, []).append(event)
    drafts = {d.id: d for d in item.samples}
    rows: list[dict[str, Any]] = []
    for review in item.reviews:
        events = by_review.get(review.id or -1) or [_event_of(review)]
        start = drafts.get(review.draft_id)
        before: Any = start
        for event in events:
            rows.append(
                {
                    "name": item.name,
                    "sha256": item.clip.sha256,
                    "split": item.split,
                    "review_id": review.id,
                    "annotator": names.get(event.annotator_id, ""),
                    "kind": event.kind,
                    "source": event.source,
                    "version": event.version,
                    "status": event.status,
                    "current": event.version == review.version,
                    "stands": item.final is not None and item.final.id == review.id,
                    "time_spent_s": event.time_spent_s,
                    "notes": event.notes or "",
                    "reject_reason": event.reject_reason or "",
                    "saved_at": naive_utc(event.created_at),
                    "draft_id": review.draft_id,
                    "caption_before": (before.caption or "") if before else "",
                    "caption_after": event.caption or "",
                    "labels_before": list(before.labels) if before else [],
                    "labels_after": list(event.labels or []),
                    "valence_before": before.valence if before else None,
                    "valence_after": event.valence,
                    "arousal_before": before.arousal if before else None,
                    "arousal_after": event.arousal,
                }
            )
            before = event
    return rows


def _event_of(review: Review) -> ReviewEvent:
    """A review saved before histories were kept: its current state as its one version."""
    return ReviewEvent(
        review_id=review.id or -1, clip_id=review.clip_id, annotator_id=review.annotator_id,
        version=review.version, kind=review.kind, source=review.source, status=review.status,
        caption=review.caption, labels=list(review.labels), valence=review.valence,
        arousal=review.arousal, notes=review.notes, reject_reason=review.reject_reason,
        time_spent_s=review.time_spent_s, created_at=review.updated_at,
    )  # fmt: skip


def draft_rows(item: ClipExport) -> list[dict[str, Any]]:
    """Every sample of every draft run of the clip."""
    return [
        {
            "name": item.name,
            "sha256": item.clip.sha256,
            "split": item.split,
            "draft_id": d.id,
            "config_hash": d.config_hash,
            "sample_index": d.sample_index,
            "model_id": d.model_id,
            "backend": d.backend,
            "prompt_version": d.prompt_version,
            "status": d.status,
            "valid": d.status == "valid",
            "error_message": d.error_message or "",
            "chosen": bool(d.chosen),
            "used": item.draft is not None and item.draft.id == d.id,
            "caption": d.caption or "",
            "labels": list(d.labels or []),
            "valence": d.valence,
            "arousal": d.arousal,
            "confidence": d.confidence,
            "model_confidence": d.model_confidence,
            "grounding_rate": d.grounding_rate,
            "ungrounded_clues": list(d.ungrounded_clues or []),
            "prompt_tokens": d.prompt_tokens,
            "completion_tokens": d.completion_tokens,
            "latency_s": d.latency_s,
            "sampling": json.dumps(d.sampling_json or {}, sort_keys=True),
            "raw_output": d.raw_output or "",
            "created_at": naive_utc(d.created_at),
        }
        for d in item.samples
    ]


def track_rows(items: list[ClipExport]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """MER challenge files: ``track2`` (name, openset) and ``track3`` (name, reason), verified
    clips only."""
    track2, track3 = [], []
    for item in items:
        if not item.verified or item.final is None:
            continue
        base = {"split": item.split}
        track2.append({**base, "name": item.name, "openset": ", ".join(item.final.labels)})
        track3.append({**base, "name": item.name, "reason": item.final.caption or ""})
    return track2, track3
