"""Small query functions the CLI, pipeline and review app share."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from db.models import (
    Annotator,
    Clip,
    ClipPath,
    CueTextRecord,
    Draft,
    DraftStatus,
    IngestFailure,
    Review,
    ReviewEvent,
    ReviewKind,
    ReviewSource,
    ReviewStatus,
    StageRun,
    utcnow,
)
from extractors.errors import AnnotatorError


class StaleReviewError(AnnotatorError, RuntimeError):
    """Someone saved this clip's review after you opened it; your save was refused."""

    code = "stale_review"


def find_clip(session: Session, ref: str) -> Clip | None:
    """A clip by id, sha256 (or a unique 8+ char prefix), name, or any path it came from."""
    if ref.isdigit():
        clip = session.get(Clip, int(ref))
        if clip is not None:
            return clip
    path_row = session.exec(select(ClipPath).where(ClipPath.path == ref)).first()
    if path_row is not None:
        return session.get(Clip, path_row.clip_id)
    by_name = session.exec(select(Clip).where(Clip.name == ref)).first()
    if by_name is not None:
        return by_name
    if len(ref) >= 8 and all(c in "0123456789abcdef" for c in ref.lower()):
        matches = session.exec(select(Clip).where(col(Clip.sha256).startswith(ref.lower()))).all()
        if len(matches) == 1:
            return matches[0]
    return None


def stage_run(session: Session, clip_id: int, stage: str, config_hash: str) -> StageRun | None:
    return session.exec(
        select(StageRun).where(
            StageRun.clip_id == clip_id,
            StageRun.stage == stage,
            StageRun.config_hash == config_hash,
        )
    ).first()


def latest_cue_text(session: Session, clip_id: int) -> CueTextRecord | None:
    return session.exec(
        select(CueTextRecord)
        .where(CueTextRecord.clip_id == clip_id)
        .order_by(col(CueTextRecord.id).desc())
    ).first()


def chosen_draft(session: Session, clip_id: int, valid_only: bool = False) -> Draft | None:
    """The draft used downstream (review, export): of the newest draft run (config), the
    sample marked ``chosen``, else its first valid sample (drafts from before ``chosen``),
    else (unless ``valid_only``) its first sample, so an invalid run's raw output shows."""
    newest = session.exec(
        select(Draft).where(Draft.clip_id == clip_id).order_by(col(Draft.id).desc())
    ).first()
    if newest is None:
        return None
    run = session.exec(
        select(Draft)
        .where(Draft.clip_id == clip_id, Draft.config_hash == newest.config_hash)
        .order_by(col(Draft.sample_index), col(Draft.id))
    ).all()
    return _pick_in_run(list(run), valid_only)


def chosen_among(drafts: list[Draft], valid_only: bool = False) -> Draft | None:
    """``chosen_draft``'s rule over a clip's drafts already loaded (bulk export)."""
    if not drafts:
        return None
    newest = max(drafts, key=lambda d: d.id or 0)
    run = sorted(
        (d for d in drafts if d.config_hash == newest.config_hash),
        key=lambda d: (d.sample_index, d.id or 0),
    )
    return _pick_in_run(run, valid_only)


def _pick_in_run(run: list[Draft], valid_only: bool) -> Draft | None:
    """Of one run's samples (in sample order): the chosen valid one, else the first valid,
    else (unless ``valid_only``) the first."""
    valid = [d for d in run if d.status == DraftStatus.VALID]
    picked = next((d for d in valid if d.chosen), None) or next(iter(valid), None)
    if picked is None and not valid_only and run:
        picked = run[0]
    return picked


def set_queue_key(session: Session, clip_id: int, chosen: Draft) -> None:
    """Keep ``Clip.chosen_draft_id``/``queue_confidence`` (the review queue's index key) in
    step with ``chosen_draft``: the drafting stage calls it for the run it just stored."""
    clip = session.get(Clip, clip_id)
    if clip is None:
        return
    scored = chosen.status == DraftStatus.VALID and chosen.confidence is not None
    clip.chosen_draft_id = chosen.id
    clip.queue_confidence = float(chosen.confidence) if scored else -1.0  # type: ignore[arg-type]
    session.add(clip)


def latest_draft(session: Session, clip_id: int) -> Draft | None:
    """The clip's draft to show: ``chosen_draft`` (the name predates several samples)."""
    return chosen_draft(session, clip_id)


def review_by(
    session: Session, clip_id: int, annotator: int, kind: str = ReviewKind.ANNOTATION
) -> Review | None:
    """One person's review of a clip (annotator id); for an adjudication, the clip's one."""
    query = select(Review).where(Review.clip_id == clip_id, Review.kind == str(kind))
    if kind != ReviewKind.ADJUDICATION:
        query = query.where(Review.annotator_id == annotator)
    return session.exec(query).first()


def reviews_of(session: Session, clip_id: int) -> list[Review]:
    """Every review of a clip, annotations and adjudication, oldest first."""
    return list(
        session.exec(select(Review).where(Review.clip_id == clip_id).order_by(col(Review.id)))
    )


def adjudication_for(session: Session, clip_id: int) -> Review | None:
    return session.exec(
        select(Review).where(Review.clip_id == clip_id, Review.kind == ReviewKind.ADJUDICATION)
    ).first()


def _verdict(review: Review) -> tuple[Any, ...]:
    return (
        review.status,
        (review.caption or "").strip(),
        tuple(review.labels or []),
        review.valence,
        review.arousal,
    )


def reviews_disagree(reviews: list[Review]) -> bool:
    """True when two counted annotations (skips do not count) say different things."""
    counted = [
        r for r in reviews if r.kind == ReviewKind.ANNOTATION and r.status != ReviewStatus.SKIPPED
    ]
    return len({_verdict(r) for r in counted}) > 1


def final_of(reviews: list[Review]) -> Review | None:
    """The review that stands for a clip: the adjudication; else the one counted annotation,
    or the newest of several that all say the same; None while annotations disagree (the
    clip waits for an adjudicator) or there is none. Skips never stand."""
    adjudication = next((r for r in reviews if r.kind == ReviewKind.ADJUDICATION), None)
    if adjudication is not None:
        return adjudication
    counted = [
        r for r in reviews if r.kind == ReviewKind.ANNOTATION and r.status != ReviewStatus.SKIPPED
    ]
    if not counted or reviews_disagree(counted):
        return None
    return max(counted, key=lambda r: (r.updated_at, r.id or 0))


def final_review(session: Session, clip_id: int) -> Review | None:
    """``final_of`` the clip's reviews."""
    return final_of(reviews_of(session, clip_id))


def review_for(session: Session, clip_id: int, annotator: str | None = None) -> Review | None:
    """The named annotator's own annotation of the clip; without a name, ``final_review``."""
    if annotator is None:
        return final_review(session, clip_id)
    row = session.exec(select(Annotator).where(Annotator.name == annotator.strip())).first()
    if row is None or row.id is None:
        return None
    return review_by(session, clip_id, row.id)


def annotator_id(session: Session, name: str) -> int:
    name = name.strip()
    if not name:
        raise ValueError("annotator name must not be empty")
    row = session.exec(select(Annotator).where(Annotator.name == name)).first()
    if row is None:
        row = Annotator(name=name)
        session.add(row)
        session.flush()
    assert row.id is not None
    return row.id


@dataclass(frozen=True)
class ReviewInput:
    status: ReviewStatus
    caption: str | None
    labels: list[str]
    valence: float | None
    arousal: float | None
    notes: str | None = None
    time_spent_s: float | None = None
    reject_reason: str | None = None


def save_review(
    session: Session,
    clip_id: int,
    annotator: str,
    draft_id: int | None,
    data: ReviewInput,
    expected_version: int | None,
    kind: str = ReviewKind.ANNOTATION,
    source: str = ReviewSource.APP,
) -> Review:
    """Create or update this annotator's review of the clip (for ``kind`` adjudication: the
    clip's one adjudication, whoever saved it before), refusing a save based on a stale
    version.

    ``expected_version`` is the version the person saw (None: there was no review yet). The
    UPDATE only matches when nobody saved in between, and a second first save meets the
    unique key: both work the same on SQLite and PostgreSQL. Every save appends a
    ``ReviewEvent``, so the history keeps each version.
    """
    who = annotator_id(session, annotator)
    values: dict[str, Any] = {
        "draft_id": draft_id,
        "annotator_id": who,
        "source": str(source),
        "status": str(data.status),
        "caption": data.caption,
        "labels": list(data.labels),
        "valence": data.valence,
        "arousal": data.arousal,
        "notes": data.notes,
        "reject_reason": data.reject_reason,
        "time_spent_s": data.time_spent_s,
        "updated_at": utcnow(),
    }
    existing = review_by(session, clip_id, who, kind)
    if existing is None:
        if expected_version is not None:
            raise StaleReviewError(f"clip {clip_id}: the review you edited no longer exists")
        review = Review(clip_id=clip_id, kind=str(kind), version=1, **values)
        try:
            with session.begin_nested():
                session.add(review)
                session.flush()
        except IntegrityError as exc:  # someone made the first save in between
            raise StaleReviewError(
                f"clip {clip_id}: saved by someone else meanwhile; reload and apply your "
                "change again"
            ) from exc
    else:
        if expected_version is None or expected_version != existing.version:
            raise StaleReviewError(
                f"clip {clip_id}: saved by someone else meanwhile (version {existing.version}, "
                f"you edited version {expected_version}); reload and apply your change again"
            )
        result = session.execute(
            update(Review)
            .where(col(Review.id) == existing.id, col(Review.version) == expected_version)
            .values(version=expected_version + 1, **values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleReviewError(f"clip {clip_id}: saved by someone else meanwhile; reload")
        session.expire(existing)
        review = session.get(Review, existing.id)  # type: ignore[assignment]
        assert review is not None
    session.add(
        ReviewEvent(
            review_id=review.id,  # type: ignore[arg-type]
            clip_id=clip_id,
            annotator_id=who,
            version=review.version,
            kind=review.kind,
            source=review.source,
            status=review.status,
            caption=review.caption,
            labels=list(review.labels),
            valence=review.valence,
            arousal=review.arousal,
            notes=review.notes,
            reject_reason=review.reject_reason,
            time_spent_s=review.time_spent_s,
        )
    )
    clip = session.get(Clip, clip_id)
    if clip is not None:
        clip.status = "reviewed"
        session.add(clip)
    session.flush()
    return review


def status_counts(session: Session) -> dict[str, Any]:
    """Counts for ``annotator status``: clips by status, stages by outcome, errors by code.

    Every count is a GROUP BY in the database: 50,000 clips send a few dozen rows, not one
    row per clip, stage run, draft and review (benchmarks/load_50k.py)."""

    def grouped(column: Any) -> dict[str, int]:
        rows = session.exec(select(column, func.count()).group_by(column)).all()
        return {key: n for key, n in rows if key is not None}

    stage_rows = session.exec(  # one pass over the stage runs gives stages and their errors
        select(StageRun.stage, StageRun.status, StageRun.error_code, func.count()).group_by(
            StageRun.stage, StageRun.status, col(StageRun.error_code)
        )
    ).all()
    stages: dict[str, dict[str, int]] = {}
    errors: Counter[str] = Counter()
    for stage, status, code, n in stage_rows:
        by_status = stages.setdefault(stage, {})
        by_status[status] = by_status.get(status, 0) + n
        if code is not None:
            errors[code] += n
    errors.update(grouped(IngestFailure.error_code))
    ingest_failures = session.exec(
        select(IngestFailure.path, IngestFailure.error_message).order_by(col(IngestFailure.id))
    ).all()
    return {
        "clips": grouped(Clip.status),
        "stages": stages,
        "errors": dict(errors),
        "drafts": grouped(Draft.status),
        "reviews": grouped(Review.status),
        "ingest_failures": [(path, message) for path, message in ingest_failures],
    }
