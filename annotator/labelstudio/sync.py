"""``annotator ls setup / push / pull``: drafts out as predictions, annotations back as reviews.

Both directions are idempotent and resumable, and Label Studio's own state is what makes
them so: a task carries its clip's sha256 and each prediction's region ids name the draft
(``d12-caption``), so a push after a crash finds what the last one created instead of
creating it again. ``LabelStudioLink`` maps clip <-> task and keeps, in ``last_synced_at``,
the ``updated_at`` of the newest annotation pulled for the clip (Label Studio's clock only).

A clip whose review was last saved by someone who is not a Label Studio user of this server
(the Streamlit app) is a conflict on pull: the annotation is added to the review's history
(a ``ReviewEvent``, carrying the version it conflicts with), the review itself is left as it
is, and the conflict is reported. db.queries' optimistic locking catches a save in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlmodel import Session, col, select

from annotator.labelstudio.client import LabelStudio, LabelStudioError
from annotator.labelstudio.config import (
    CLIP_KEY,
    CUE_KEY,
    DEFAULT_PROJECT,
    DRAFT_KEY,
    VIDEO_KEY,
    AnnotationValues,
    MalformedResultError,
    draft_id_of,
    labeling_config,
    parse_result,
    prediction_result,
)
from db import Annotator, Clip, ClipPath, Draft, DraftStatus, LabelStudioLink, Review, ReviewEvent
from db.models import ReviewStatus
from db.queries import (
    ReviewInput,
    StaleReviewError,
    annotator_id,
    latest_cue_text,
    review_for,
    save_review,
)

CHUNK = 100
STORAGE_TITLE = "mer-annotator media"


@dataclass
class SetupResult:
    project_id: int
    created: bool
    config_updated: bool = False
    storage_id: int | None = None
    storage_created: bool = False


def setup(
    ls: LabelStudio,
    title: str = DEFAULT_PROJECT,
    media_dir: str | None = None,
) -> SetupResult:
    """Find the project by title or create it; add the local-files storage for the media.

    ``media_dir`` is the clips' folder as the server sees it: Label Studio wants a strict
    subfolder of its ``LOCAL_FILES_DOCUMENT_ROOT`` (``/media/clips`` in docker-compose).
    None when media are served from a URL prefix.
    """
    config = labeling_config()
    project = ls.find_project(title)
    created = config_updated = False
    if project is None:
        project = ls.call(
            "create project",
            ls.sdk.projects.create,
            title=title,
            label_config=config,
            description="Emotion captions drafted by mer-annotator, verified by people.",
            show_skip_button=True,
            enable_empty_annotation=False,
        )
        created = True
    elif (project.label_config or "").strip() != config.strip():
        ls.call(
            "update labeling config", ls.sdk.projects.update, id=project.id, label_config=config
        )
        config_updated = True
    assert project.id is not None
    result = SetupResult(project_id=int(project.id), created=created, config_updated=config_updated)
    if media_dir is not None:
        storages = ls.call(
            "list storages", ls.sdk.import_storage.local.list, project=result.project_id
        )
        root = media_dir.rstrip("/") or "/"
        found = next((s for s in storages if (s.path or "").rstrip("/") == root), None)
        if found is None:
            found = ls.call(
                "create local-files storage",
                ls.sdk.import_storage.local.create,
                project=result.project_id,
                path=root,
                title=STORAGE_TITLE,
                use_blob_urls=True,
                description="Serves the clips; never synced (push creates the tasks).",
            )
            result.storage_created = True
        result.storage_id = found.id
    return result


def project_id(ls: LabelStudio, title: str) -> int:
    project = ls.find_project(title)
    if project is None:
        raise LabelStudioError(
            f"no project {title!r} in Label Studio at {ls.connection.url}; run `annotator ls setup`"
        )
    return int(project.id)


# ---------------------------------------------------------------- push


@dataclass(frozen=True)
class MediaUrls:
    """Where Label Studio fetches a clip: local-files storage under ``root``, or ``prefix``."""

    root: Path
    prefix: str | None = None

    def url(self, session: Session, clip: Clip) -> str | None:
        """The task's video URL, or None when no path of the clip lies under the media root."""
        known = session.exec(select(ClipPath.path).where(ClipPath.clip_id == clip.id)).all()
        paths = [clip.source_uri, *known]
        root = self.root.resolve()
        for raw in paths:
            try:
                rel = Path(raw).resolve().relative_to(root)
            except ValueError:
                continue
            if self.prefix is not None:
                return f"{self.prefix.rstrip('/')}/{quote(rel.as_posix())}"
            return f"/data/local-files/?d={quote(rel.as_posix())}"
        return None


@dataclass
class PushResult:
    tasks_created: int = 0
    tasks_found: int = 0  # already in Label Studio (an earlier push, maybe one that crashed)
    predictions_created: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (clip name, why)


def chosen_draft(session: Session, clip_id: int) -> Draft | None:
    """The draft to show: the one marked chosen, else the first valid sample of the newest run.

    TODO: use ``Draft.chosen`` only, once that column (being added) is in db/models.py.
    """
    newest = session.exec(
        select(Draft).where(Draft.clip_id == clip_id).order_by(col(Draft.id).desc())
    ).first()
    if newest is None:
        return None
    drafts = session.exec(
        select(Draft)
        .where(
            Draft.clip_id == clip_id,
            Draft.config_hash == newest.config_hash,
            Draft.status == DraftStatus.VALID,
        )
        .order_by(col(Draft.sample_index), col(Draft.id))
    ).all()
    marked = [d for d in drafts if getattr(d, "chosen", False)]
    return next(iter(marked or drafts), None)


def _remote(ls: LabelStudio, pid: int) -> dict[str, tuple[int, set[int]]]:
    """Clip sha256 -> (task id, the draft ids that already have a prediction there)."""
    out: dict[str, tuple[int, set[int]]] = {}
    for task in ls.iter_tasks(pid):
        data = task.get("data")
        if not isinstance(data, dict) or not data.get(CLIP_KEY):
            continue
        drafts = {draft_id_of(p.get("result") or []) for p in task.get("predictions") or []}
        out[str(data[CLIP_KEY])] = (int(task["id"]), {d for d in drafts if d is not None})
    return out


def _link(session: Session, clip_id: int, pid: int, task_id: int) -> None:
    link = session.exec(select(LabelStudioLink).where(LabelStudioLink.clip_id == clip_id)).first()
    if link is None:
        session.add(LabelStudioLink(clip_id=clip_id, project_id=pid, task_id=task_id))
    elif (link.project_id, link.task_id) != (pid, task_id):
        link.project_id, link.task_id, link.last_synced_at = pid, task_id, None
        session.add(link)


def _prediction(draft: Draft) -> dict[str, Any]:
    assert draft.id is not None
    pred: dict[str, Any] = {
        "model_version": draft.model_id,
        "result": prediction_result(
            draft.id, draft.caption, list(draft.labels), draft.valence, draft.arousal
        ),
    }
    if draft.confidence is not None:
        pred["score"] = float(draft.confidence)
    return pred


def push(
    session: Session, ls: LabelStudio, pid: int, media: MediaUrls, chunk: int = CHUNK
) -> PushResult:
    """One task per drafted clip, its chosen draft as a prediction; commits per chunk."""
    result = PushResult()
    remote = _remote(ls, pid)
    links = {
        link.clip_id: link
        for link in session.exec(select(LabelStudioLink)).all()
        if link.project_id != pid
    }
    pending: list[tuple[int, dict[str, Any]]] = []
    drafted = select(Draft.clip_id).distinct()
    for clip in session.exec(select(Clip).where(col(Clip.id).in_(drafted)).order_by(col(Clip.id))):
        assert clip.id is not None
        if clip.id in links:
            why = f"linked to another Label Studio project ({links[clip.id].project_id})"
            result.skipped.append((clip.name, why))
            continue
        draft = chosen_draft(session, clip.id)
        if draft is None:
            result.skipped.append((clip.name, "no valid draft"))
            continue
        if clip.sha256 in remote:
            task_id, pushed = remote[clip.sha256]
            result.tasks_found += 1
            _link(session, clip.id, pid, task_id)
            if draft.id in pushed:
                result.unchanged += 1
                continue
            pred = _prediction(draft)
            ls.call("create prediction", ls.sdk.predictions.create, task=task_id, **pred)
            result.predictions_created += 1
            session.commit()
            continue
        url = media.url(session, clip)
        if url is None:
            result.skipped.append((clip.name, f"no path under the media root {media.root}"))
            continue
        cue = latest_cue_text(session, clip.id)
        data = {
            VIDEO_KEY: url,
            CUE_KEY: cue.readable_text if cue else "(no cue text)",
            CLIP_KEY: clip.sha256,
            DRAFT_KEY: draft.id,
            "clip_name": clip.name,
        }
        pending.append((clip.id, {"data": data, "predictions": [_prediction(draft)]}))
    session.commit()
    for start in range(0, len(pending), chunk):
        part = pending[start : start + chunk]
        _import_chunk(session, ls, pid, part)
        result.tasks_created += len(part)
        result.predictions_created += len(part)
    return result


def _import_chunk(
    session: Session, ls: LabelStudio, pid: int, part: list[tuple[int, dict[str, Any]]]
) -> None:
    """Import one chunk and link its tasks; a crash after the import is healed by the next
    push, which finds the tasks by their clip hash."""
    response = ls.call(
        "import tasks",
        ls.sdk.projects.import_tasks,
        id=pid,
        request=[task for _, task in part],
        return_task_ids=True,
    )
    task_ids = getattr(response, "task_ids", None)
    if not task_ids or len(task_ids) != len(part):
        remote = _remote(ls, pid)
        task_ids = [remote[task["data"][CLIP_KEY]][0] for _, task in part]
    for (clip_id, _), task_id in zip(part, task_ids, strict=True):
        _link(session, clip_id, pid, int(task_id))
    session.commit()


# ---------------------------------------------------------------- pull


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
    yield from sorted(annotations, key=lambda a: (_aware(a.get("updated_at")), a.get("id")))


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
    for task in ls.iter_tasks(pid):
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
            if annotation.get("was_cancelled"):
                result.cancelled += 1
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
            _store(session, clip, who, draft, data, int(annotation["id"]), ls_names, link, result)
            link.last_synced_at = updated
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
    if review is None:
        save_review(session, clip.id, who, draft_id, data, expected_version=None)
        result.saved.append((clip.name, str(data.status)))
        return
    current = session.get(Annotator, review.annotator_id)
    current_name = current.name if current else "?"
    ours = link.last_synced_at is not None and current_name in ls_names
    if ours:
        try:
            save_review(session, clip.id, who, draft_id, data, expected_version=review.version)
            result.saved.append((clip.name, str(data.status)))
            return
        except StaleReviewError:
            session.rollback()
            review = review_for(session, clip.id)
            assert review is not None
            current = session.get(Annotator, review.annotator_id)
            current_name = current.name if current else "?"
    _record_conflict(session, review, clip, who, data)
    result.conflicts.append(
        f"{clip.name}: reviewed in the review app by {current_name} (version {review.version}) "
        f"and in Label Studio by {who} (annotation {annotation_id}); both kept in the "
        "history, the review was not changed"
    )


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
