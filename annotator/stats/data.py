"""What the metrics read from the database, as plain records: one query each, no ORM
objects past this module (so the metric code is pure and testable on lists)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from db.models import Annotator, Draft, Review, ReviewKind, ReviewStatus
from db.queries import final_of

# Annotations whose values are the annotator's reading of the clip. A skip is no review;
# a rejection says the draft is unusable and keeps the form "for the record" (the draft's
# values, mostly), so its labels and scales are not the annotator's judgement either.
JUDGED = (ReviewStatus.ACCEPTED, ReviewStatus.EDITED)


@dataclass(frozen=True)
class Rating:
    """One annotator's accepted or edited annotation of one clip."""

    clip_id: int
    annotator: str
    status: str
    caption: str | None
    labels: tuple[str, ...]
    valence: float | None
    arousal: float | None
    updated_at: datetime


@dataclass(frozen=True)
class Verdict:
    """Any review (annotation or adjudication, any status) with the draft it was made on."""

    clip_id: int
    review_id: int
    annotator: str
    kind: str
    status: str
    caption: str | None
    labels: tuple[str, ...]
    valence: float | None
    arousal: float | None
    draft_id: int | None
    updated_at: datetime


def ratings(session: Session, clip_id: int | None = None) -> dict[int, list[Rating]]:
    """Judged annotations by clip, each clip's ordered by annotator name."""
    query = (
        select(Review, Annotator.name)
        .join(Annotator, col(Annotator.id) == col(Review.annotator_id))
        .where(
            Review.kind == str(ReviewKind.ANNOTATION),
            col(Review.status).in_([str(s) for s in JUDGED]),
        )
        .order_by(col(Review.clip_id), col(Annotator.name))
    )
    if clip_id is not None:
        query = query.where(Review.clip_id == clip_id)
    out: dict[int, list[Rating]] = defaultdict(list)
    for review, name in session.exec(query).all():
        out[review.clip_id].append(
            Rating(
                clip_id=review.clip_id,
                annotator=name,
                status=review.status,
                caption=review.caption,
                labels=tuple(review.labels or ()),
                valence=review.valence,
                arousal=review.arousal,
                updated_at=review.updated_at,
            )
        )
    return dict(out)


def multi_rated(by_clip: dict[int, list[Rating]]) -> dict[int, list[Rating]]:
    """Clips with two or more judged annotations: the units agreement is measured on."""
    return {cid: rs for cid, rs in by_clip.items() if len(rs) >= 2}


def verdicts(session: Session) -> list[Verdict]:
    """Every review, oldest first."""
    rows = session.exec(
        select(Review, Annotator.name)
        .join(Annotator, col(Annotator.id) == col(Review.annotator_id))
        .order_by(col(Review.id))
    ).all()
    return [
        Verdict(
            clip_id=r.clip_id,
            review_id=r.id or 0,
            annotator=name,
            kind=r.kind,
            status=r.status,
            caption=r.caption,
            labels=tuple(r.labels or ()),
            valence=r.valence,
            arousal=r.arousal,
            draft_id=r.draft_id,
            updated_at=r.updated_at,
        )
        for r, name in rows
    ]


def drafts_by_id(session: Session, ids: set[int]) -> dict[int, Draft]:
    if not ids:
        return {}
    rows = session.exec(select(Draft).where(col(Draft.id).in_(sorted(ids)))).all()
    return {d.id: d for d in rows if d.id is not None}


def chosen_drafts(session: Session) -> list[Draft]:
    """Every draft marked ``chosen`` (one per clip and draft run)."""
    return list(session.exec(select(Draft).where(col(Draft.chosen).is_(True))).all())


def reviews_by_clip(session: Session) -> dict[int, list[Review]]:
    """Every review row by clip, oldest first (the shape ``db.queries.final_of`` takes)."""
    out: dict[int, list[Review]] = defaultdict(list)
    for review in session.exec(select(Review).order_by(col(Review.id))).all():
        out[review.clip_id].append(review)
    return dict(out)


def finals(by_clip: dict[int, list[Review]]) -> dict[int, Review]:
    """Each clip's final review (``final_of``) when it is accepted or edited: the values the
    dataset carries. Clips whose annotators disagree and wait for an adjudicator have none."""
    out = {}
    for clip_id, reviews in by_clip.items():
        final = final_of(reviews)
        if final is not None and final.status in JUDGED:
            out[clip_id] = final
    return out


def judgements(session: Session) -> dict[int, dict[str, str]]:
    """Each clip's annotation verdicts (accepted / edited / rejected) by annotator name, for
    the clips two or more annotators judged: do people agree the draft is usable?"""
    rows = session.exec(
        select(Review.clip_id, Annotator.name, Review.status)
        .join(Annotator, col(Annotator.id) == col(Review.annotator_id))
        .where(
            Review.kind == str(ReviewKind.ANNOTATION),
            col(Review.status).in_([str(s) for s in (*JUDGED, ReviewStatus.REJECTED)]),
        )
    ).all()
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for clip_id, name, status in rows:
        out[clip_id][name] = status
    return {cid: v for cid, v in sorted(out.items()) if len(v) >= 2}
