"""``annotator ls pull``: annotations back into reviews, validated, idempotent, no silent overwrite.

Each annotation is checked against the labeling config (``config.parse_result``: Label
Studio stores whatever a client posts) and a malformed one is reported and skipped, never
stored. ``LabelStudioLink.last_synced_at`` holds the ``updated_at`` of the newest annotation
pulled for the clip (Label Studio's clock only), so a rerun stores nothing twice.

A clip whose review was last saved by someone who is not a Label Studio user of this server
(the Streamlit app) is a conflict on pull: the annotation is added to the review's history
(a ``ReviewEvent``, carrying the version it conflicts with), the review itself is left as it
is, and the conflict is reported. db.queries' optimistic locking catches a save in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from annotator.labelstudio.client import LabelStudio
from annotator.labelstudio.config import (
    AnnotationValues,
    MalformedResultError,
    draft_id_of,
    parse_result,
)
from annotator.labelstudio.sync import chosen_draft
from db import Annotator, Clip, Draft, LabelStudioLink, Review, ReviewEvent
from db.models import ReviewStatus
from db.queries import ReviewInput, StaleReviewError, annotator_id, review_for, save_review


@dataclass
class PullResult:
    saved: list[tuple[str, str]] = field(default_factory=list)  # (clip name, status)
    unchanged: int = 0
    cancelled: int = 0  # skipped in Label Studio: no verdict to store
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # (clip, annotation, why)
    conflicts: list[str] = field(default_factory=list)
    unlinked: int = 0  # tasks this database did not push


def _aware(moment: datetime | str | None) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, abs_tol=1e-6)


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
        and _same(valence, draft.valence)
        and _same(arousal, draft.arousal)
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
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    never = datetime.min.replace(tzinfo=UTC)
    yield from sorted(
        annotations, key=lambda a: (_aware(a.get("updated_at")) or never, a.get("id") or 0)
    )


def pull(session: Session, ls: LabelStudio, pid: int) -> PullResult:
    """Annotations newer than each clip's watermark become review saves; commits per task."""
    result = PullResult()
    users = ls.users_by_id()
    ls_names = set(users.values())
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
        for annotation in _annotations(task):
            updated = _aware(annotation.get("updated_at"))
            mark = _aware(link.last_synced_at)
            if mark is not None and updated is not None and updated <= mark:
                result.unchanged += 1
                continue
            if annotation.get("was_cancelled"):  # skipped in Label Studio: no verdict
                result.cancelled += 1
                link.last_synced_at = _utc(updated)
                session.add(link)
                session.commit()
                continue
            try:
                values = parse_result(annotation.get("result"))
            except MalformedResultError as exc:
                result.malformed.append((clip.name, int(annotation["id"]), str(exc)))
                continue  # the watermark stays: it is reported again until fixed
            draft_id = draft_id_of(annotation.get("result") or []) or _latest_draft_id(task)
            draft = session.get(Draft, draft_id) if draft_id else None
            if draft is None or draft.clip_id != clip.id:
                draft = chosen_draft(session, clip.id)
            who = users.get(annotation.get("completed_by") or -1) or "labelstudio-unknown-user"
            data = review_input(values, draft)
            lead_time = annotation.get("lead_time")
            if isinstance(lead_time, int | float) and math.isfinite(lead_time) and lead_time >= 0:
                data = replace(data, time_spent_s=float(lead_time))
            _store(session, clip, who, draft, data, int(annotation["id"]), ls_names, link, result)
            link.last_synced_at = _utc(updated)
            session.add(link)
            session.commit()
    return result


def _store(
    session: Session,
    clip: Clip,
    who: str,
    draft: Draft | None,
    data: ReviewInput,
    annotation_id: int,
    ls_names: set[str],
    link: LabelStudioLink,
    result: PullResult,
) -> None:
    assert clip.id is not None
    review = review_for(session, clip.id)
    draft_id = draft.id if draft else None
    current_name = _writer(session, review)
    # Ours to update: no review yet, or the last save came from a pull (a Label Studio user).
    if review is None or (link.last_synced_at is not None and current_name in ls_names):
        expected = review.version if review is not None else None
        try:
            with session.begin_nested():  # a refused save leaves the session usable
                save_review(session, clip.id, who, draft_id, data, expected_version=expected)
            result.saved.append((clip.name, str(data.status)))
            return
        except (StaleReviewError, IntegrityError):  # someone saved in between
            session.expire_all()
            review = review_for(session, clip.id)
            current_name = _writer(session, review)
    assert review is not None
    _record_conflict(session, review, clip, who, data)
    result.conflicts.append(
        f"{clip.name}: reviewed in the review app by {current_name} (version {review.version}) "
        f"and in Label Studio by {who} (annotation {annotation_id}); both kept in the "
        "history, the review was not changed"
    )


def _writer(session: Session, review: Review | None) -> str:
    """Who saved the review last."""
    if review is None:
        return ""
    who = session.get(Annotator, review.annotator_id)
    return who.name if who is not None else "?"


def _record_conflict(
    session: Session, review: Review, clip: Clip, who: str, data: ReviewInput
) -> None:
    """The Label Studio side of a conflict, kept in the history beside the version it met."""
    assert review.id is not None and clip.id is not None
    session.add(
        ReviewEvent(
            review_id=review.id,
            clip_id=clip.id,
            annotator_id=annotator_id(session, who),
            version=review.version,
            status=str(data.status),
            caption=data.caption,
            labels=list(data.labels),
            valence=data.valence,
            arousal=data.arousal,
        )
    )
    session.flush()
