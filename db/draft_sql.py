"""The chosen draft of a clip in SQL: ``db.queries.chosen_draft``'s rule (of the newest
draft run, the valid sample marked ``chosen``, else its first valid sample, else its first
sample) as expressions the review queue joins and sorts on, per clip or for every clip."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import aliased
from sqlmodel import col, select

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


def chosen_drafts() -> Any:
    """PostgreSQL: (clip_id, draft_id) of every clip's chosen draft, set-based (two DISTINCT
    ONs over the draft table, hashed and sorted once). There a subplan per clip costs far
    more than on SQLite: on 50,000 clips a deep 'uncertain' page took 1.6 s that way and
    0.7 s this way (load average 12 on 2 cores; benchmarks/review_50k.py --url)."""
    newest = aliased(Draft)
    sample = aliased(Draft)
    runs = (
        sa_select(col(newest.clip_id), col(newest.config_hash))
        .ext(distinct_on(col(newest.clip_id)))
        .order_by(col(newest.clip_id), col(newest.id).desc())
        .subquery("newest_run")
    )
    rank = _rank(sample)
    return (
        sa_select(col(sample.clip_id).label("clip_id"), col(sample.id).label("draft_id"))
        .join(
            runs,
            and_(
                runs.c.clip_id == col(sample.clip_id),
                runs.c.config_hash == col(sample.config_hash),
            ),
        )
        .ext(distinct_on(col(sample.clip_id)))
        .order_by(col(sample.clip_id), rank, col(sample.sample_index), col(sample.id))
        .subquery("chosen")
    )


def uncertainty() -> ColumnElement[Any]:
    """The ``uncertain`` order's key: the chosen draft's confidence, -1 for none / invalid."""
    scored = and_(col(Draft.status) == DraftStatus.VALID, col(Draft.confidence).is_not(None))
    return case((scored, Draft.confidence), else_=-1.0)
