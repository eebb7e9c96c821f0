"""The adjudicator's view of a clip: every annotation side by side, the verdict fields they
differ in (``db.queries.reviews_disagree``'s comparison, field by field), and the
adjudication with the version a save must name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from db.models import Annotator, Review, ReviewKind, ReviewStatus
from db.queries import adjudication_for

VERDICT_FIELDS = ("status", "caption", "labels", "valence", "arousal")


@dataclass(frozen=True)
class Side:
    """One review as the adjudicator sees it."""

    annotator: str
    status: str
    caption: str | None
    labels: list[str]
    valence: float | None
    arousal: float | None
    notes: str | None
    reject_reason: str | None
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class AdjudicationView:
    clip_id: int
    annotations: list[Side]  # oldest first
    differing: list[str]  # verdict fields the counted (not skipped) annotations differ in
    adjudication: Side | None
    needs_adjudication: bool  # they differ and there is no adjudication yet

    @property
    def adjudication_version(self) -> int | None:
        """What ``save_review(kind=adjudication, expected_version=...)`` must be given."""
        return None if self.adjudication is None else self.adjudication.version


def _side(review: Review, name: str) -> Side:
    return Side(
        annotator=name,
        status=review.status,
        caption=review.caption,
        labels=list(review.labels or []),
        valence=review.valence,
        arousal=review.arousal,
        notes=review.notes,
        reject_reason=review.reject_reason,
        version=review.version,
        updated_at=review.updated_at,
    )


def _field(side: Side, name: str) -> Any:
    value = getattr(side, name)
    if name == "caption":
        return (value or "").strip()
    return tuple(value) if name == "labels" else value


def adjudication_view(session: Session, clip_id: int) -> AdjudicationView:
    """The clip's annotations side by side, which fields differ, and the adjudication."""
    rows = session.exec(
        select(Review, Annotator.name)
        .join(Annotator, col(Annotator.id) == col(Review.annotator_id))
        .where(col(Review.clip_id) == clip_id, col(Review.kind) == ReviewKind.ANNOTATION)
        .order_by(col(Review.id))
    ).all()
    sides = [_side(review, name) for review, name in rows]
    counted = [s for s in sides if s.status != ReviewStatus.SKIPPED]
    differing = [f for f in VERDICT_FIELDS if len({_field(s, f) for s in counted}) > 1]
    adjudication = adjudication_for(session, clip_id)
    final = None
    if adjudication is not None:
        who = session.get(Annotator, adjudication.annotator_id)
        final = _side(adjudication, who.name if who else "?")
    return AdjudicationView(clip_id, sides, differing, final, bool(differing) and final is None)
