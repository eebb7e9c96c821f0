"""The chosen draft of a clip in SQL: ``db.queries.chosen_draft``'s rule (of the newest
draft run, the valid sample marked ``chosen``, else its first valid sample, else its first
sample), and the queue key stored from it on the clip (``Clip.chosen_draft_id``,
``Clip.queue_confidence``), which the review queue joins and sorts on through an index.

The drafting stage keeps the key (``db.queries.set_queue_key``); ``refresh_queue_keys``
recomputes it for rows written some other way (bulk loads, imports, repairs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from db.models import Clip, Draft, DraftStatus


def _rank(sample: Any) -> ColumnElement[int]:
    """0 for the valid sample marked chosen, 1 for another valid one, 2 for an invalid one."""
    valid = col(sample.status) == DraftStatus.VALID
    return case((and_(valid, col(sample.chosen)), 0), (valid, 1), else_=2)


def chosen_draft_id() -> Any:
    """Correlated scalar subquery: the id of the clip's chosen draft (see module docstring).
    Two index lookups per clip: (clip_id) for the newest run, (clip_id, config_hash,
    sample_index) for its samples."""
    newest = aliased(Draft)
    sample = aliased(Draft)
    newest_config = (
        select(newest.config_hash)
        .where(col(newest.clip_id) == Clip.id)
        .order_by(col(newest.id).desc())
        .limit(1)
        .correlate(Clip)
        .scalar_subquery()
    )
    rank = _rank(sample)
    return (
        select(sample.id)
        .where(col(sample.clip_id) == Clip.id, col(sample.config_hash) == newest_config)
        .order_by(rank, col(sample.sample_index), col(sample.id))
        .limit(1)
        .correlate(Clip)
        .scalar_subquery()
    )


def uncertainty() -> ColumnElement[Any]:
    """The ``uncertain`` order's key: the chosen draft's confidence, -1 for none / invalid."""
    scored = and_(col(Draft.status) == DraftStatus.VALID, col(Draft.confidence).is_not(None))
    return case((scored, Draft.confidence), else_=-1.0)


def refresh_queue_keys(session: Session) -> int:
    """Recompute every drafted clip's stored queue key with the rule above, in two UPDATEs;
    returns the number of clips. For data written without the drafting stage."""
    drafted = exists().where(col(Draft.clip_id) == Clip.id)
    result = session.execute(update(Clip).where(drafted).values(chosen_draft_id=chosen_draft_id()))
    score = (
        select(uncertainty())
        .where(col(Draft.id) == Clip.chosen_draft_id)
        .correlate(Clip)
        .scalar_subquery()
    )
    session.execute(
        update(Clip).where(col(Clip.chosen_draft_id).is_not(None)).values(queue_confidence=score)
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
