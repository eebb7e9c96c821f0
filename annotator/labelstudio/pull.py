"""``annotator ls pull``: annotations back into reviews, validated, idempotent, no silent overwrite.

Each annotation is checked against the labeling config (``config.parse_result``: Label
Studio stores whatever a client posts) and a malformed one is reported and skipped, never
stored. An annotation becomes its Label Studio user's own review of the clip (one per
annotator, ``source='labelstudio'``), created or updated as the annotation changes.

Conflicts are reported, one line per clip, and both sides kept:

- the same person's review was last saved in the review app and says something else: the
  app review stays as it is, the annotation goes to its history (a ``ReviewEvent`` with
  source ``labelstudio`` and the version it met). db.queries' optimistic locking catches a
  save in the app between pull's read and its write;
- the annotation disagrees with other annotators' reviews of the clip: it is stored (it is
  this person's own review), and the clip waits for an adjudicator (``final_review``).

``LabelStudioLink.last_synced_at`` holds the ``updated_at`` of the newest annotation handled
for the clip (Label Studio's clock only), held back while a malformed one is older, so that
one is reported again; what is already stored is compared, so a rerun stores nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from annotator.labelstudio.client import LabelStudio
from annotator.labelstudio.config import (
    AnnotationValues,
    MalformedResultError,
    draft_id_of,
    parse_result,
)
from annotator.labelstudio.sync import chosen_draft
from db import Annotator, Clip, Draft, LabelStudioLink, Review, ReviewEvent
from db.models import ReviewKind, ReviewSource, ReviewStatus
from db.queries import (
    ReviewInput,
    StaleReviewError,
    review_for,
    reviews_disagree,
    reviews_of,
    save_review,
)


@dataclass
class PullResult:
    saved: list[tuple[str, str, str]] = field(default_factory=list)  # (clip, annotator, status)
    unchanged: int = 0
    cancelled: int = 0  # skipped in Label Studio: no verdict to store
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # (clip, annotation, why)
    conflicts: list[str] = field(default_factory=list)  # one line per clip
    kept_in_history: int = 0  # annotations met by a differing app review: history only
    unlinked: int = 0  # tasks this database did not push


def _aware(moment: datetime | str | None) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def review_input(values: AnnotationValues, draft: Draft | None) -> ReviewInput:
    """Fields left out of the annotation keep the draft's; status from what changed."""
    caption = values.caption if values.caption is not None else (draft.caption if draft else None)
    labels = values.labels if values.labels is not None else list(draft.labels if draft else [])
    valence = values.valence if values.valence is not None else (draft.valence if draft else None)
    arousal = values.arousal if values.arousal is not None else (draft.arousal if draft else None)
    if values.decision == "reject":
        status = ReviewStatus.REJECTED
    elif draft is not None and (
        (caption or "").strip() == (draft.caption or "").strip()
        and labels == [lab.strip().lower() for lab in draft.labels]
        and _close(valence, draft.valence)
        and _close(arousal, draft.arousal)
    ):
        status = ReviewStatus.ACCEPTED
    else:
        status = ReviewStatus.EDITED
    return ReviewInput(
        status=status,
        caption=caption,
        labels=labels,
        valence=valence,
        arousal=arousal,
        notes=values.note or None,
    )


def _latest_draft_id(task: dict[str, Any]) -> int | None:
    """The draft of the task's newest prediction: what an annotation made from scratch saw."""
    ids = [draft_id_of(p.get("result") or []) for p in task.get("predictions") or []]
    return max((i for i in ids if i is not None), default=None)


def _annotations(task: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The task's annotations, oldest first, each user's newest only: one review per person,
    so an older annotation of theirs must not be stored over a newer one."""
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    never = datetime.min.replace(tzinfo=UTC)
    annotations.sort(key=lambda a: (_aware(a.get("updated_at")) or never, a.get("id") or 0))
    newest = {a.get("completed_by"): a.get("id") for a in annotations}
    yield from (a for a in annotations if newest[a.get("completed_by")] == a.get("id"))


def pull(session: Session, ls: LabelStudio, pid: int) -> PullResult:
    """Annotations newer than each clip's watermark become review saves; commits per annotation."""
    result = PullResult()
    users = ls.users_by_id()
    links = {
        link.task_id: link
        for link in session.exec(
            select(LabelStudioLink).where(LabelStudioLink.project_id == pid)
        ).all()
    }
    for task in ls.iter_tasks(pid, annotated_only=True):
        if not task.get("annotations"):
            continue
        link = links.get(int(task["id"]))
        if link is None:
            result.unlinked += 1
            continue
        clip = session.get(Clip, link.clip_id)
        assert clip is not None and clip.id is not None
        notes: list[str] = []
        held = False  # a malformed annotation holds the watermark below itself
        mark = _aware(link.last_synced_at)
        for annotation in _annotations(task):
            updated = _aware(annotation.get("updated_at"))
            if mark is not None and updated is not None and updated <= mark:
                result.unchanged += 1
                continue
            note = _one(session, task, clip, annotation, users, result)
            if note == MALFORMED:
                held = True
                continue
            if note:
                notes.append(note)
            if not held and updated is not None:
                link.last_synced_at = _utc(updated)
                session.add(link)
            session.commit()
        if notes:
            result.conflicts.append(f"{clip.name}: " + "; ".join(notes))
    return result


MALFORMED = "\0malformed"


def _one(
    session: Session,
    task: dict[str, Any],
    clip: Clip,
    annotation: dict[str, Any],
    users: dict[int, str],
    result: PullResult,
) -> str | None:
    """Handle one annotation; returns a conflict note, MALFORMED, or None."""
    assert clip.id is not None
    if annotation.get("was_cancelled"):  # skipped in Label Studio: no verdict
        result.cancelled += 1
        return None
    try:
        values = parse_result(annotation.get("result"))
    except MalformedResultError as exc:
        result.malformed.append((clip.name, int(annotation["id"]), str(exc)))
        return MALFORMED
    draft_id = draft_id_of(annotation.get("result") or []) or _latest_draft_id(task)
    draft = session.get(Draft, draft_id) if draft_id else None
    if draft is None or draft.clip_id != clip.id:
        draft = chosen_draft(session, clip.id)
    who = users.get(annotation.get("completed_by") or -1) or "labelstudio-unknown-user"
    data = review_input(values, draft)
    lead_time = annotation.get("lead_time")
    if isinstance(lead_time, int | float) and math.isfinite(lead_time) and lead_time >= 0:
        data = replace(data, time_spent_s=float(lead_time))
    return _store(session, clip, who, draft, data, int(annotation["id"]), result)


def _store(
    session: Session,
    clip: Clip,
    who: str,
    draft: Draft | None,
    data: ReviewInput,
    annotation_id: int,
    result: PullResult,
) -> str | None:
    """The annotation as ``who``'s own review, unless their app review says otherwise."""
    assert clip.id is not None
    own = review_for(session, clip.id, who)
    if own is not None and _same(own, data):
        result.unchanged += 1
        return None
    if own is None or own.source == ReviewSource.LABEL_STUDIO:
        try:
            with session.begin_nested():  # a refused save leaves the session usable
                saved = save_review(
                    session, clip.id, who, draft.id if draft else None, data,
                    expected_version=own.version if own is not None else None,
                    source=ReviewSource.LABEL_STUDIO,
                )  # fmt: skip
        except (StaleReviewError, IntegrityError):  # saved in the review app in between
            session.expire_all()
            own = review_for(session, clip.id, who)
            assert own is not None
            if _same(own, data):
                result.unchanged += 1
                return None
        else:
            result.saved.append((clip.name, who, str(data.status)))
            return _disagreement(session, clip.id, saved, who)
    if _recorded(session, own, data):
        result.unchanged += 1
        return None
    _record_conflict(session, own, data)
    result.kept_in_history += 1
    return (
        f"{who} saved it in the review app (version {own.version}) and differently in Label "
        f"Studio (annotation {annotation_id}): the app review is kept, the Label Studio "
        "version is in its history"
    )


def _disagreement(session: Session, clip_id: int, saved: Review, who: str) -> str | None:
    """Whose counted annotations the new review disagrees with (an adjudicator decides)."""
    others = [
        r for r in reviews_of(session, clip_id)
        if r.kind == ReviewKind.ANNOTATION and r.annotator_id != saved.annotator_id
        and r.status != ReviewStatus.SKIPPED and reviews_disagree([saved, r])
    ]  # fmt: skip
    if not others:
        return None
    names = ", ".join(sorted({_name(session, r) for r in others}))
    return f"{who} (Label Studio) disagrees with {names}: both kept, for an adjudicator"


def _same(review: Review | ReviewEvent, data: ReviewInput) -> bool:
    """The stored review says what the annotation says (its note included)."""
    return (
        review.status == str(data.status)
        and (review.caption or "").strip() == (data.caption or "").strip()
        and list(review.labels or []) == list(data.labels)
        and _close(review.valence, data.valence)
        and _close(review.arousal, data.arousal)
        and (review.notes or None) == (data.notes or None)
    )


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, abs_tol=1e-6)


def _name(session: Session, review: Review) -> str:
    who = session.get(Annotator, review.annotator_id)
    return who.name if who is not None else "?"


def _recorded(session: Session, review: Review, data: ReviewInput) -> bool:
    """This Label Studio version already sits in the review's history beside this version."""
    events = session.exec(
        select(ReviewEvent)
        .where(
            ReviewEvent.review_id == review.id,
            ReviewEvent.version == review.version,
            ReviewEvent.source == ReviewSource.LABEL_STUDIO,
        )
        .order_by(col(ReviewEvent.id))
    ).all()
    return any(_same(event, data) for event in events)


def _record_conflict(session: Session, review: Review, data: ReviewInput) -> None:
    """The Label Studio side of a conflict, kept in the history beside the version it met."""
    assert review.id is not None
    session.add(
        ReviewEvent(
            review_id=review.id,
            clip_id=review.clip_id,
            annotator_id=review.annotator_id,
            version=review.version,
            kind=ReviewKind.ANNOTATION,
            source=ReviewSource.LABEL_STUDIO,
            status=str(data.status),
            caption=data.caption,
            labels=list(data.labels),
            valence=data.valence,
            arousal=data.arousal,
            notes=data.notes,
            time_spent_s=data.time_spent_s,
        )
    )
    session.flush()
