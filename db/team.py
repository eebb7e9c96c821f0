"""The review team: its members (role, sign-in token hash, active) and who reviews which
clip, a balanced round-robin plan with a seeded overlap share that several people review
(inter-annotator agreement), stored as ``Assignment`` rows. ``annotator team`` calls this;
tokens themselves are made and hashed in ``app.auth``, never here."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from db.models import Annotator, Assignment, Clip, Draft, Review, ReviewKind, Role, utcnow
from extractors.errors import AnnotatorError


class TeamError(AnnotatorError, ValueError):
    """A team change or an assignment plan that cannot be made; the message says why."""

    code = "invalid_team_request"


class UnknownAnnotatorError(TeamError, LookupError):
    code = "unknown_annotator"


ROLES = tuple(r.value for r in Role)


@dataclass(frozen=True)
class TeamMember:
    name: str
    role: str
    active: bool
    has_token: bool
    reviews_done: int  # annotations (skips included), not adjudications
    assigned: int


def get_annotator(session: Session, name: str) -> Annotator | None:
    return session.exec(select(Annotator).where(col(Annotator.name) == name.strip())).first()


def _existing(session: Session, name: str) -> Annotator:
    person = get_annotator(session, name)
    if person is None:
        raise UnknownAnnotatorError(
            f"no annotator {name.strip()!r}; add them with `annotator team add`"
        )
    return person


def upsert_member(
    session: Session, name: str, role: str, token_hash: str | None = None
) -> tuple[Annotator, bool]:
    """Add a person, or give an existing one this role and reactivate them; a new token hash
    replaces the old one, None keeps it. Returns the row and whether it is new."""
    clean = name.strip()
    if not clean:
        raise TeamError("the name must not be empty")
    if role not in ROLES:
        raise TeamError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    person = get_annotator(session, clean)
    created = person is None
    person = person or Annotator(name=clean)
    person.role, person.active = role, True
    if token_hash is not None:
        person.token_hash = token_hash
    session.add(person)
    session.flush()
    return person, created


def set_token_hash(session: Session, name: str, token_hash: str) -> Annotator:
    person = _existing(session, name)
    person.token_hash = token_hash
    session.add(person)
    session.flush()
    return person


def deactivate(session: Session, name: str) -> Annotator:
    """The person can no longer sign in or save; their reviews and assignments stay."""
    person = _existing(session, name)
    person.active = False
    session.add(person)
    session.flush()
    return person


def team_summary(session: Session) -> list[TeamMember]:
    """Everyone, by name, with their counts (two GROUP BY queries)."""
    done: dict[int | None, int] = dict(
        session.exec(
            select(Review.annotator_id, func.count())
            .where(col(Review.kind) == ReviewKind.ANNOTATION)
            .group_by(col(Review.annotator_id))
        ).all()
    )
    assigned: dict[int | None, int] = dict(
        session.exec(
            select(Assignment.annotator_id, func.count()).group_by(col(Assignment.annotator_id))
        ).all()
    )
    people = session.exec(select(Annotator).order_by(col(Annotator.name))).all()
    return [
        TeamMember(
            p.name,
            p.role,
            p.active,
            p.token_hash is not None,
            done.get(p.id, 0),
            assigned.get(p.id, 0),
        )
        for p in people
    ]


@dataclass
class AssignmentReport:
    n_clips: int  # drafted clips
    n_new_clips: int  # planned by this call
    n_overlap_clips: int  # clips with at least ``reviews_per_overlap_clip`` people, in all
    n_added: int  # assignment rows this call added
    n_from_reviews: int  # rows added because someone had already reviewed the clip
    per_annotator: dict[str, int] = field(default_factory=dict)  # assigned clips, in all


def assign_overlap(
    session: Session,
    annotators: list[str],
    overlap_fraction: float,
    reviews_per_overlap_clip: int = 2,
    seed: int = 0,
) -> AssignmentReport:
    """Plan who reviews which drafted clip: each clip to one annotator, the least loaded
    first (round-robin, so loads stay within one of each other), and a seeded
    ``overlap_fraction`` of all clips to ``reviews_per_overlap_clip`` distinct annotators.

    Idempotent: a clip someone already reviewed counts as assigned to them (a row is added),
    a clip with any assignment is left as it is, and a rerun plans only new clips, adding
    overlap clips among them until the corpus reaches the fraction again.
    """
    names = [n.strip() for n in annotators if n.strip()]
    if len(set(names)) != len(names) or not names:
        raise TeamError("name each annotator once, at least one")
    if not 0.0 <= overlap_fraction <= 1.0:
        raise TeamError(f"overlap fraction {overlap_fraction} is not between 0 and 1")
    if overlap_fraction > 0 and not 2 <= reviews_per_overlap_clip <= len(names):
        raise TeamError(
            f"{reviews_per_overlap_clip} reviews per overlap clip needs at least that many "
            f"annotators (got {len(names)}) and at least 2"
        )
    people = {
        a.name: a for a in session.exec(select(Annotator).where(col(Annotator.name).in_(names)))
    }
    missing = [n for n in names if n not in people or not people[n].active]
    if missing:
        raise TeamError(f"not active team members: {', '.join(missing)} (annotator team add)")
    drafted = select(Draft.clip_id).distinct()
    drafted_clips = select(Clip.id).where(col(Clip.id).in_(drafted)).order_by(col(Clip.id))
    clip_ids = [i for i in session.exec(drafted_clips) if i is not None]
    planned: dict[int, set[int]] = {}
    for clip_id, who in session.exec(select(Assignment.clip_id, Assignment.annotator_id)):
        planned.setdefault(clip_id, set()).add(who)
    rows: list[dict[str, Any]] = []
    now = utcnow()
    reviewed = select(Review.clip_id, Review.annotator_id).where(
        col(Review.kind) == ReviewKind.ANNOTATION
    )
    for clip_id, who in session.exec(reviewed):
        if who not in planned.setdefault(clip_id, set()):
            planned[clip_id].add(who)
            rows.append({"clip_id": clip_id, "annotator_id": who, "created_at": now})
    n_from_reviews = len(rows)
    new = [c for c in clip_ids if not planned.get(c)]
    ids = [int(people[n].id or 0) for n in names]
    load = {i: 0 for i in ids}
    for who_set in planned.values():
        for who in who_set:
            if who in load:
                load[who] += 1
    overlap_now = sum(1 for s in planned.values() if len(s) >= reviews_per_overlap_clip)
    target = round(overlap_fraction * len(clip_ids)) if overlap_fraction > 0 else 0
    extra = min(max(target - overlap_now, 0), len(new))
    overlap = set(random.Random(seed).sample(new, extra))
    position = {who: n for n, who in enumerate(ids)}
    for clip_id in new:
        need = reviews_per_overlap_clip if clip_id in overlap else 1
        for who in sorted(ids, key=lambda i: (load[i], position[i]))[:need]:
            load[who] += 1
            rows.append({"clip_id": clip_id, "annotator_id": who, "created_at": now})
    if rows:
        session.execute(insert(Assignment), rows)
        session.flush()
    by_id = {a.id: a.name for a in people.values()}
    return AssignmentReport(
        n_clips=len(clip_ids),
        n_new_clips=len(new),
        n_overlap_clips=overlap_now + len(overlap),
        n_added=len(rows),
        n_from_reviews=n_from_reviews,
        per_annotator={by_id[i]: load[i] for i in ids},
    )
