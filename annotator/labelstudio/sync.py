"""``annotator ls setup / push``: the project, and the drafts out as predictions.

Push is idempotent and resumable, and Label Studio's own state is what makes it so: a task
carries its clip's sha256 and each prediction's region ids name the draft (``d12-caption``),
so a push after a crash finds what the last one created instead of creating it again.
``LabelStudioLink`` maps clip <-> task and names the draft the task shows (``pushed_draft_id``,
``prediction_id``), so an unchanged clip costs no request; ``annotator.labelstudio.pull``
keeps its watermark in ``last_synced_at``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlmodel import Session, col, select

from annotator.labelstudio.client import LabelStudio, LabelStudioError
from annotator.labelstudio.config import (
    CLIP_KEY,
    CUE_KEY,
    DEFAULT_PROJECT,
    VIDEO_KEY,
    draft_id_of,
    labeling_config,
    prediction_result,
)
from db import Clip, ClipPath, Draft, LabelStudioLink, queries
from db.queries import latest_cue_text

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
    predictions_removed: int = 0  # superseded drafts' predictions: the editor shows one
    unchanged: int = 0
    model_version: str | None = None  # the project's, set to the model most drafts come from
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (clip name, why)


def chosen_draft(session: Session, clip_id: int) -> Draft | None:
    """The draft to show: the chosen sample of the newest valid run (``db.queries``), the
    same one the review app and export use; None when that run has no valid draft."""
    return queries.chosen_draft(session, clip_id, valid_only=True)


def _remote(
    ls: LabelStudio, pid: int, ids: tuple[int, int] | None = None
) -> dict[str, tuple[int, dict[int, int]]]:
    """Clip sha256 -> (task id, {draft id: prediction id} of the drafts already there), for
    the project's tasks (``ids``: those with an id in that closed range)."""
    out: dict[str, tuple[int, dict[int, int]]] = {}
    for task in ls.iter_tasks(pid, id_range=ids):
        data = task.get("data")
        if not isinstance(data, dict) or not data.get(CLIP_KEY):
            continue
        out[str(data[CLIP_KEY])] = (int(task["id"]), _drafts_of(task.get("predictions") or []))
    return out


def _drafts_of(predictions: list[Any]) -> dict[int, int]:
    """{draft id: prediction id} from predictions as dicts or SDK objects."""
    drafts: dict[int, int] = {}
    for prediction in predictions:
        item = prediction if isinstance(prediction, dict) else prediction.dict()
        draft_id = draft_id_of(item.get("result") or [])
        if draft_id is not None and item.get("id") is not None:
            drafts[draft_id] = int(item["id"])
    return drafts


def _link(
    session: Session, clip_id: int, pid: int, task_id: int, draft_id: int, prediction: int | None
) -> None:
    link = session.exec(select(LabelStudioLink).where(LabelStudioLink.clip_id == clip_id)).first()
    if link is None:
        link = LabelStudioLink(clip_id=clip_id, project_id=pid, task_id=task_id)
    elif (link.project_id, link.task_id) != (pid, task_id):
        link.project_id, link.task_id, link.last_synced_at = pid, task_id, None
    link.pushed_draft_id, link.prediction_id = draft_id, prediction
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
    """One task per drafted clip, its chosen draft as a prediction; commits per chunk.

    A clip whose link names its chosen draft is not sent again (no request at all); a
    redrafted one gets the new prediction on its task and loses the old. The project's
    tasks are listed only when a clip has no link (new, or a push that died after the
    import) or a link from before ``pushed_draft_id``."""
    result = PushResult()
    links = {link.clip_id: link for link in session.exec(select(LabelStudioLink)).all()}
    todo: list[tuple[Clip, Draft, LabelStudioLink | None]] = []
    models: Counter[str] = Counter()
    drafted = select(Draft.clip_id).distinct()
    for clip in session.exec(select(Clip).where(col(Clip.id).in_(drafted)).order_by(col(Clip.id))):
        assert clip.id is not None
        link = links.get(clip.id)
        if link is not None and link.project_id != pid:
            why = f"linked to another Label Studio project ({link.project_id})"
            result.skipped.append((clip.name, why))
            continue
        draft = chosen_draft(session, clip.id)
        if draft is None:
            result.skipped.append((clip.name, "no valid draft"))
            continue
        models[draft.model_id] += 1
        if link is not None and link.pushed_draft_id == draft.id:
            result.unchanged += 1
        else:
            todo.append((clip, draft, link))
    unknown = any(link is None or link.pushed_draft_id is None for _, _, link in todo)
    remote = _remote(ls, pid) if unknown else {}
    pending: list[tuple[int, Draft, dict[str, Any]]] = []
    for clip, draft, link in todo:
        assert clip.id is not None
        if clip.sha256 in remote:
            task_id, pushed = remote[clip.sha256]
            result.tasks_found += link is None
        elif link is not None and link.pushed_draft_id is not None:
            task_id = link.task_id
            listed = ls.call("list predictions", ls.sdk.predictions.list, task=task_id)
            pushed = _drafts_of(listed)
        else:
            task = _new_task(session, clip, draft, media, result)
            if task is not None:
                pending.append((clip.id, draft, task))
            continue
        _replace(session, ls, pid, clip.id, task_id, draft, pushed, result)
    session.commit()
    for start in range(0, len(pending), chunk):
        part = pending[start : start + chunk]
        _import_chunk(session, ls, pid, part)
        result.tasks_created += len(part)
        result.predictions_created += len(part)
    if models:
        result.model_version = _select_model_version(ls, pid, models.most_common(1)[0][0])
    return result


def _replace(
    session: Session,
    ls: LabelStudio,
    pid: int,
    clip_id: int,
    task_id: int,
    draft: Draft,
    pushed: dict[int, int],
    result: PushResult,
) -> None:
    """The task shows ``draft``: its prediction created unless there, the others deleted
    (also those a push that died here left behind); the link records it."""
    assert draft.id is not None
    prediction: int | None
    if draft.id in pushed:
        prediction = pushed[draft.id]
        result.unchanged += 1
    else:
        created = ls.call(
            "create prediction", ls.sdk.predictions.create, task=task_id, **_prediction(draft)
        )
        prediction = int(created.id) if created.id is not None else None
        result.predictions_created += 1
    for old_draft, old_prediction in pushed.items():
        if old_draft != draft.id:
            ls.call("delete prediction", ls.sdk.predictions.delete, id=old_prediction)
            result.predictions_removed += 1
    _link(session, clip_id, pid, task_id, draft.id, prediction)
    session.commit()


def _new_task(
    session: Session, clip: Clip, draft: Draft, media: MediaUrls, result: PushResult
) -> dict[str, Any] | None:
    """The task to import for a clip Label Studio does not have, or None (skipped: why)."""
    assert clip.id is not None
    url = media.url(session, clip)
    if url is None:
        result.skipped.append((clip.name, f"no path under the media root {media.root}"))
        return None
    cue = latest_cue_text(session, clip.id)
    data = {
        VIDEO_KEY: url,
        CUE_KEY: cue.readable_text if cue else "(no cue text)",
        CLIP_KEY: clip.sha256,
        "clip_name": clip.name,
    }
    return {"data": data, "predictions": [_prediction(draft)]}


def _select_model_version(ls: LabelStudio, pid: int, model_id: str) -> str:
    """The editor prelabels a task only with predictions of the project's ``model_version``."""
    project = ls.call("get project", ls.sdk.projects.get, id=pid)
    if project.model_version != model_id:
        ls.call("set model version", ls.sdk.projects.update, id=pid, model_version=model_id)
    return model_id


def _import_chunk(
    session: Session, ls: LabelStudio, pid: int, part: list[tuple[int, Draft, dict[str, Any]]]
) -> None:
    """Import one chunk and link its tasks (with their prediction ids, read back in one
    request); a crash after the import is healed by the next push, which finds the tasks
    by their clip hash."""
    response = ls.call(
        "import tasks",
        ls.sdk.projects.import_tasks,
        id=pid,
        request=[task for _, _, task in part],
        return_task_ids=True,
    )
    task_ids = [int(t) for t in getattr(response, "task_ids", None) or []]
    ids = (min(task_ids), max(task_ids)) if len(task_ids) == len(part) else None
    remote = _remote(ls, pid, ids)
    if any(task["data"][CLIP_KEY] not in remote for _, _, task in part):
        remote = _remote(ls, pid)  # the server did not answer the id filter as expected
    for clip_id, draft, task in part:
        assert draft.id is not None
        task_id, pushed = remote[task["data"][CLIP_KEY]]
        _link(session, clip_id, pid, task_id, draft.id, pushed.get(draft.id))
    session.commit()
