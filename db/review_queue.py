"""The review queue in SQL: filtered, ordered pages of drafted clips, the next clip to open
and label suggestions; with the adjudicator's view (``db.adjudication``) and the overlap
plan (``db.team``) re-exported, the one module the review app imports for its data.

Everything the app asks per render is one or two bounded queries (LIMIT/OFFSET for pages,
a keyset for "next"): no clip list is ever held in Python. The clip's draft is the one
stored on it (``Clip.chosen_draft_id``, kept by the drafting stage with the rule of
``db.queries.chosen_draft``; ``refresh_queue_keys`` recomputes it for rows loaded some
other way). ``oldest`` walks the primary key, ``uncertain`` the index on
(``Clip.queue_confidence``, id), and both stop at LIMIT.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    text,
    tuple_,
)
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from db.adjudication import VERDICT_FIELDS, AdjudicationView, Side, adjudication_view
from db.draft_sql import refresh_queue_keys
from db.models import (
    Assignment,
    Clip,
    Draft,
    DraftStatus,
    Review,
    ReviewKind,
    ReviewStatus,
)
from db.team import AssignmentReport, TeamError, assign_overlap
from extractors.errors import AnnotatorError

__all__ = [
    "VERDICT_FIELDS",
    "AdjudicationView",
    "AssignmentReport",
    "QueueError",
    "QueueFilter",
    "QueueOrder",
    "QueueRow",
    "Side",
    "TeamError",
    "adjudication_view",
    "assign_overlap",
    "label_suggestions",
    "next_clip",
    "queue_count",
    "queue_page",
    "refresh_queue_keys",
]

STATUSES = ("todo", "mine", "reviewed", "needs_adjudication", "all")


class QueueError(AnnotatorError, ValueError):
    """A queue request that cannot be served (unknown status or order); the message says why."""

    code = "invalid_queue_request"


class QueueOrder(StrEnum):
    OLDEST = "oldest"  # ingest order
    UNCERTAIN = "uncertain"  # chosen draft's confidence ascending; invalid / unscored first


@dataclass
class QueueFilter:
    """What the queue shows. ``status``: todo (not reviewed by me, and either assigned to me
    or assigned to nobody and reviewed by nobody), mine (I reviewed it), reviewed (anyone
    did), needs_adjudication (annotations disagree, no adjudication yet), all / None."""

    status: str | None = "todo"
    model_id: str | None = None  # the chosen draft's model
    has_error: bool | None = None  # clip error code, or the chosen draft is invalid
    assigned_to: int | None = None  # annotator id


@dataclass(frozen=True)
class QueueRow:
    clip_id: int
    name: str
    duration_s: float
    draft_confidence: float | None
    draft_status: str
    model_id: str
    my_review_status: str | None
    n_reviews: int  # annotations, skips included; the adjudication not
    needs_adjudication: bool
    error_code: str | None  # the clip's, else "invalid_draft" for an invalid chosen draft


# ----------------------------------------------------------------------- SQL building blocks


def _sort_keys(order: QueueOrder | str) -> list[Any]:
    """ORDER BY terms, ties broken by Clip.id. ``oldest`` is Clip.id alone, so SQLite walks
    the primary key and stops at LIMIT instead of sorting every clip."""
    if _order(order) == QueueOrder.UNCERTAIN:
        return [col(Clip.queue_confidence), col(Clip.id)]  # ix_clip_queue_confidence
    return [col(Clip.id)]


# Membership tests as uncorrelated IN (subquery): both databases build the set once and
# probe it per clip (PostgreSQL: a hashed SubPlan; SQLite: an ephemeral index), where a
# correlated EXISTS under OR is a subplan run per clip on PostgreSQL.


def _annotation_by(annotator_id: int) -> ColumnElement[bool]:
    mine = sa_select(col(Review.clip_id)).where(
        col(Review.annotator_id) == annotator_id, col(Review.kind) == ReviewKind.ANNOTATION
    )
    return col(Clip.id).in_(mine)


def _any_annotation() -> ColumnElement[bool]:
    annotated = sa_select(col(Review.clip_id)).where(col(Review.kind) == ReviewKind.ANNOTATION)
    return col(Clip.id).in_(annotated)


def _assigned(annotator_id: int | None = None) -> ColumnElement[bool]:
    query = sa_select(col(Assignment.clip_id))
    if annotator_id is not None:
        query = query.where(col(Assignment.annotator_id) == annotator_id)
    return col(Clip.id).in_(query)


def _needs_adjudication() -> ColumnElement[bool]:
    """Two counted (not skipped) annotations that differ in any verdict field, and no
    adjudication yet: ``db.queries.reviews_disagree`` in SQL (captions trimmed of spaces;
    labels compared as stored JSON text)."""
    a, b = aliased(Review), aliased(Review)
    differ = or_(
        col(a.status) != b.status,
        func.trim(func.coalesce(a.caption, "")) != func.trim(func.coalesce(b.caption, "")),
        cast(a.labels, String) != cast(b.labels, String),
        col(a.valence).is_distinct_from(b.valence),
        col(a.arousal).is_distinct_from(b.arousal),
    )
    counted = [ReviewKind.ANNOTATION, ReviewStatus.SKIPPED]
    disagree = (
        exists()
        .where(col(a.clip_id) == Clip.id, col(a.kind) == counted[0], col(a.status) != counted[1])
        .where(col(b.clip_id) == Clip.id, col(b.kind) == counted[0], col(b.status) != counted[1])
        .where(col(a.id) < col(b.id), differ)
    )
    adjudicated = exists().where(
        col(Review.clip_id) == Clip.id, col(Review.kind) == ReviewKind.ADJUDICATION
    )
    return and_(disagree, not_(adjudicated))


def _base(
    annotator_id: int,
    filt: QueueFilter,
    *columns: Any,
    order: QueueOrder | str = "oldest",
) -> Select[Any]:
    """Drafted clips, filtered. Joined to their chosen draft only when the filter or the
    order reads it: otherwise one index probe per clip says it has a draft at all."""
    query = sa_select(*columns).select_from(Clip)
    if filt.model_id is not None or filt.has_error is not None:
        query = query.join(Draft, col(Draft.id) == Clip.chosen_draft_id)
    elif _order(order) != "oldest":
        query = query.where(col(Clip.queue_confidence).is_not(None))
    else:
        query = query.where(exists().where(col(Draft.clip_id) == Clip.id))
    status = filt.status or "all"
    if status not in STATUSES:
        raise QueueError(f"unknown queue status {status!r}; known: {', '.join(STATUSES)}")
    if status == "todo":
        mine_or_free = or_(
            _assigned(annotator_id), and_(not_(_assigned()), not_(_any_annotation()))
        )
        query = query.where(not_(_annotation_by(annotator_id)), mine_or_free)
    elif status == "mine":
        query = query.where(_annotation_by(annotator_id))
    elif status == "reviewed":
        query = query.where(exists().where(col(Review.clip_id) == Clip.id))
    elif status == "needs_adjudication":
        query = query.where(_needs_adjudication())
    if filt.model_id is not None:
        query = query.where(col(Draft.model_id) == filt.model_id)
    if filt.has_error is not None:
        errored = or_(col(Clip.error_code).is_not(None), col(Draft.status) != DraftStatus.VALID)
        query = query.where(errored if filt.has_error else not_(errored))
    if filt.assigned_to is not None:
        query = query.where(_assigned(filt.assigned_to))
    return query


def _order(order: QueueOrder | str) -> QueueOrder:
    try:
        return QueueOrder(order)
    except ValueError:
        known = ", ".join(o.value for o in QueueOrder)
        raise QueueError(f"unknown queue order {order!r}; known: {known}") from None


# ----------------------------------------------------------------------------- the queue


def _no_jit(session: Session) -> None:
    """On PostgreSQL, JIT off for this transaction. The
    queue's subqueries push the planner's cost past ``jit_above_cost``, and compiling then
    took longer than running (5,000 clips: 187 ms of JIT in a 349 ms query). SET LOCAL
    ends with the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def queue_count(session: Session, annotator_id: int, filt: QueueFilter) -> int:
    """How many clips ``queue_page`` pages through (one COUNT query)."""
    _no_jit(session)
    inner = _base(annotator_id, filt, Clip.id).subquery()
    return int(session.execute(sa_select(func.count()).select_from(inner)).scalar_one())


def queue_page(
    session: Session,
    annotator_id: int,
    filt: QueueFilter,
    order: QueueOrder | str = QueueOrder.OLDEST,
    offset: int = 0,
    limit: int = 50,
) -> list[QueueRow]:
    """One page of the queue. The page's ids are found first (sort keys only), then only
    those rows get their per-clip details, so the sort never carries them."""
    _no_jit(session)
    ids_query = (
        _base(annotator_id, filt, Clip.id, order=order)
        .order_by(*_sort_keys(order))
        .offset(max(offset, 0))
        .limit(max(limit, 0))
    )
    ids = [int(i) for i in session.execute(ids_query).scalars()]
    return _rows(session, annotator_id, ids)


def _rows(session: Session, annotator_id: int, ids: list[int]) -> list[QueueRow]:
    if not ids:
        return []
    mine = (
        select(Review.status)
        .where(
            col(Review.clip_id) == Clip.id,
            col(Review.annotator_id) == annotator_id,
            col(Review.kind) == ReviewKind.ANNOTATION,
        )
        .correlate(Clip)
        .scalar_subquery()
    )
    n_reviews = (
        select(func.count())
        .select_from(Review)
        .where(col(Review.clip_id) == Clip.id, col(Review.kind) == ReviewKind.ANNOTATION)
        .correlate(Clip)
        .scalar_subquery()
    )
    query = (
        sa_select(
            col(Clip.id),
            col(Clip.name),
            col(Clip.duration_s),
            col(Clip.error_code),
            col(Draft.confidence),
            col(Draft.status),
            col(Draft.model_id),
            mine,
            n_reviews,
            _needs_adjudication(),
        )
        .select_from(Clip)
        .join(Draft, col(Draft.id) == Clip.chosen_draft_id)
        .where(col(Clip.id).in_(ids))
    )
    found = {row[0]: row for row in session.execute(query).all()}
    rows = []
    for clip_id in ids:
        if clip_id not in found:  # deleted between the two queries
            continue
        cid, name, duration, error, conf, dstatus, model, my, n, needs = found[clip_id]
        if error is None and dstatus != DraftStatus.VALID:
            error = "invalid_draft"
        rows.append(
            QueueRow(
                clip_id=cid,
                name=name,
                duration_s=float(duration or 0.0),
                draft_confidence=conf,
                draft_status=dstatus,
                model_id=model,
                my_review_status=my,
                n_reviews=int(n or 0),
                needs_adjudication=bool(needs),
                error_code=error,
            )
        )
    return rows


def next_clip(
    session: Session,
    annotator_id: int,
    filt: QueueFilter,
    order: QueueOrder | str = QueueOrder.OLDEST,
    after_clip_id: int | None = None,
) -> int | None:
    """The next clip after ``after_clip_id`` in ``order`` that passes ``filt``, that this
    annotator has not reviewed and that is not someone else's (assigned to others, not to
    them); from the top when nothing follows (never ``after_clip_id`` itself); None when
    nothing is left. A keyset query: the current clip's sort key, then LIMIT 1 after it.
    With ``status='mine'`` nothing qualifies (those are all reviewed by me): None."""
    keys = _sort_keys(order)
    _no_jit(session)
    query = _base(annotator_id, filt, Clip.id, order=order).where(
        not_(_annotation_by(annotator_id)), or_(_assigned(annotator_id), not_(_assigned()))
    )
    if after_clip_id is not None:
        query = query.where(col(Clip.id) != after_clip_id)
        current: Any = (after_clip_id,)  # oldest: the id is the whole key
        if len(keys) > 1:
            current = session.execute(
                sa_select(*keys).select_from(Clip).where(col(Clip.id) == after_clip_id)
            ).first()
            if current is not None and current[0] is None:  # not drafted: from the top
                current = None
        if current is not None:
            after = query.where(tuple_(*keys) > tuple_(*[literal(v) for v in current]))
            found = session.execute(after.order_by(*keys).limit(1)).scalar()
            if found is not None:
                return int(found)
    first = session.execute(query.order_by(*keys).limit(1)).scalar()
    return None if first is None else int(first)


# ------------------------------------------------------------------------------ labels


def label_suggestions(session: Session, prefix: str = "", limit: int = 20) -> list[str]:
    """Labels already in use in reviews and valid drafts that start with ``prefix`` (case
    folded), most used first. One aggregate over the JSON label arrays
    (``json_each`` on SQLite, ``json_array_elements_text`` on PostgreSQL)."""
    pattern = prefix.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params = {"pattern": pattern + "%", "limit": max(int(limit), 0)}
    if session.get_bind().dialect.name == "postgresql":
        unnest = (
            "SELECT json_array_elements_text(labels) AS label FROM review "
            "UNION ALL SELECT json_array_elements_text(labels) FROM draft WHERE status = 'valid'"
        )
    else:
        unnest = (
            "SELECT j.value AS label FROM review, json_each(review.labels) AS j "
            "UNION ALL SELECT j.value FROM draft, json_each(draft.labels) AS j "
            "WHERE draft.status = 'valid'"
        )
    sql = text(
        f"SELECT label, count(*) AS n FROM ({unnest}) AS used "
        "WHERE label LIKE :pattern ESCAPE '\\' GROUP BY label ORDER BY n DESC, label LIMIT :limit"
    )
    return [str(row[0]) for row in session.execute(sql, params).all()]
