"""``annotator ls setup / push / pull`` against a real Label Studio server.

``scripts/labelstudio-test-server.sh start`` installs Label Studio into its own virtualenv
(``.labelstudio-venv``; its pins clash with ours) when missing, and starts a throwaway server
on 127.0.0.1 with a known user token. The tests are skipped only when Label Studio cannot be
installed on this machine (the script exits 3), and fail even then when CI=true. Each test
uses its own project and database; drafts are inserted as rows, so no model runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from annotator.cli import app
from annotator.config import Settings
from annotator.labelstudio import sync
from annotator.labelstudio.client import LabelStudio
from annotator.labelstudio.config import (
    MalformedResultError,
    draft_id_of,
    labeling_config,
    parse_result,
    prediction_result,
)
from annotator.labelstudio.pull import pull
from annotator.labelstudio.sync import MediaUrls, chosen_draft, project_id
from db import (
    CueTextRecord,
    Draft,
    LabelStudioLink,
    Review,
    ReviewEvent,
    ReviewStatus,
    session_scope,
)
from db.queries import ReviewInput, review_for, reviews_of, save_review
from tests.conftest import silent_video
from tests.fixtures.labelstudio import (
    ADMIN,
    DRAFT,
    add_draft,
    ls_cli,
    seed_drafted_clips,
)
from tests.utils import ROOT


@pytest.fixture
def project() -> str:
    return f"mer-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def clips_dir(env: dict[str, str], demo_clip: Path, feat_data: Path) -> Iterator[Path]:
    """Three real, different clips in a subfolder of the server's document root."""
    folder = Path(env["LSTEST_MEDIA"]) / f"clips-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    shutil.copy(demo_clip, folder / "demo clip.mp4")
    shutil.copy(feat_data / "single_face.mp4", folder / "single_face.mp4")
    silent_video(demo_clip, folder / "silent.mp4", seconds=2.0)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _tasks(ls: LabelStudio, pid: int) -> list[dict[str, Any]]:
    return list(ls.iter_tasks(pid))


def _events(settings: Settings, clip_id: int) -> list[ReviewEvent]:
    with session_scope(settings.db_url) as session:
        rows = session.exec(
            select(ReviewEvent).where(ReviewEvent.clip_id == clip_id).order_by(col(ReviewEvent.id))
        ).all()
        session.expunge_all()
        return list(rows)


def _setup_and_push(settings: Settings, project: str, folder: Path) -> None:
    out = ls_cli("setup", "--project", project, "--media-dir", str(folder))
    assert out.exit_code == 0, out.output
    out = ls_cli("push", "--project", project, settings=settings)
    assert out.exit_code == 0, out.output


# ------------------------------------------------------------------ without a server


def test_the_label_studio_venv_matches_its_lock(ls_server: dict[str, str]) -> None:
    """The server runs from exactly locks/labelstudio.lock (hashes, no floating dependency),
    and a venv that drifted from the lock is told apart, one line per package."""
    venv_python = ROOT / ".labelstudio-venv" / "bin" / "python"
    check = [str(venv_python), str(ROOT / "scripts" / "check_lock.py")]
    done = subprocess.run([*check, str(ROOT / "locks" / "labelstudio.lock")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("matches "), done.stdout
    lock = (ROOT / "locks" / "labelstudio.lock").read_text()
    assert "sentry-sdk==2." in lock and "label-studio==1.23.2" in lock
    assert lock.count("--hash=sha256:") > 2 * lock.count("==")  # every pin hashed
    drifted = ROOT / "locks" / "labelstudio.lock"
    edited = drifted.read_text().replace("sentry-sdk==2.", "sentry-sdk==3.", 1)
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"drifted-{uuid.uuid4().hex}.lock"
    probe.write_text(edited)
    try:
        done = subprocess.run([*check, str(probe)], capture_output=True, text=True, timeout=60)
    finally:
        probe.unlink()
    assert done.returncode == 1 and done.stdout.startswith("sentry-sdk: 2."), done.stdout
    assert "(lock: 3." in done.stdout


def test_doctor_names_the_label_studio_version(ls_server: dict[str, str], tmp_path: Path) -> None:
    def label_studio_check(url: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "annotator"), "doctor", "--json", "--no-decode",
             "--home", str(tmp_path / "home")],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "LABEL_STUDIO_URL": url},
        )  # fmt: skip
        return next(c for c in json.loads(done.stdout)["checks"] if c["name"] == "label studio")

    up = label_studio_check(ls_server["LABEL_STUDIO_URL"])
    assert up["status"] == "ok" and up["data"]["version"] == "1.23.2", up
    down = label_studio_check("http://127.0.0.1:9")  # nothing listens on the discard port
    assert down["status"] == "warn"
    assert down["detail"].startswith("http://127.0.0.1:9: unreachable")


def test_parse_result_reads_the_config_controls() -> None:
    result = [
        *prediction_result(12, "Calm and a bit bored.", ["calm", "bored"], -0.2, 0.1),
        {"from_name": "decision", "to_name": "video", "type": "choices",
         "value": {"choices": ["edit"]}},
    ]  # fmt: skip
    values = parse_result(result)
    assert (values.caption, values.labels, values.valence, values.arousal, values.decision) == (
        "Calm and a bit bored.", ["calm", "bored"], -0.2, 0.1, "edit")  # fmt: skip
    assert draft_id_of(result) == 12
    assert 'name="caption"' in labeling_config() and "$cue_card" in labeling_config()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"from_name": "valence", "type": "number", "value": {"number": 7}}, "valence"),
        ({"from_name": "valence", "type": "number", "value": {"number": "high"}}, "number"),
        ({"from_name": "mood", "type": "textarea", "value": {"text": ["x"]}}, "unknown control"),
        ({"from_name": "caption", "type": "choices", "value": {"choices": ["x"]}}, "expected"),
        ({"from_name": "decision", "type": "choices", "value": {"choices": ["maybe"]}}, "decision"),
        ({"from_name": "caption", "type": "textarea", "value": {"text": "not a list"}}, "list"),
        ({"from_name": "caption", "type": "textarea", "value": {"text": ["Error: 500"]}}, "error"),
    ],
)
def test_parse_result_refuses_what_the_config_does_not_allow(item: dict, message: str) -> None:
    with pytest.raises(MalformedResultError, match=message):
        parse_result([{"to_name": "video", **item}])


def test_unreachable_server_is_one_line_naming_the_url(settings: Settings) -> None:
    out = CliRunner().invoke(
        app, ["ls", "pull", "--url", "http://127.0.0.1:9", "--api-key", "secret-key-123",
              "--home", str(settings.home)],
    )  # fmt: skip
    assert out.exit_code == 1
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "http://127.0.0.1:9" in lines[0], out.output
    assert "secret-key-123" not in out.output


# ------------------------------------------------------------------ against the server


def test_setup_twice_gives_one_project_and_one_storage(
    ls: LabelStudio, env: dict[str, str], project: str, clips_dir: Path
) -> None:
    first = ls_cli("setup", "--project", project, "--media-dir", str(clips_dir))
    second = ls_cli("setup", "--project", project, "--media-dir", str(clips_dir))
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "created" in first.output.splitlines()[0] and "found" in second.output.splitlines()[0]
    listed: list[Any] = list(ls.sdk.projects.list(title=project))
    projects = [p for p in listed if p.title == project]
    assert len(projects) == 1
    assert projects[0].label_config.strip() == labeling_config().strip()
    storages = ls.sdk.import_storage.local.list(project=projects[0].id)
    assert [s.path for s in storages] == [str(clips_dir)]


def test_push_is_idempotent_resumable_and_sends_redrafts(
    ls: LabelStudio,
    env: dict[str, str],
    project: str,
    clips_dir: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = seed_drafted_clips(settings, clips_dir)
    _setup_and_push(settings, project, clips_dir)
    pid = project_id(ls, project)
    tasks = _tasks(ls, pid)
    assert len(tasks) == 3 and sum(len(t["predictions"]) for t in tasks) == 3
    by_name = {t["data"]["clip_name"]: t for t in tasks}
    demo = by_name["demo clip.mp4"]
    prediction = demo["predictions"][0]
    assert prediction["model_version"] == "scripted-model-run1"
    assert prediction["score"] == pytest.approx(0.7)
    # The video URL serves the clip's bytes through the local-files storage.
    auth = {"Authorization": "Token " + env["LABEL_STUDIO_API_KEY"]}
    request = urllib.request.Request(env["LABEL_STUDIO_URL"] + demo["data"]["video"], headers=auth)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.read() == (clips_dir / "demo clip.mp4").read_bytes()

    # What the editor gets for the next task: the draft, prefilled (the prelabel selection).
    request = urllib.request.Request(f"{env['LABEL_STUDIO_URL']}/api/projects/{pid}/next",
                                     headers=auth)  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        shown = json.loads(response.read())["predictions"]
    assert [p["model_version"] for p in shown] == ["scripted-model-run1"]
    caption = next(r for r in shown[0]["result"] if r["from_name"] == "caption")
    assert caption["value"]["text"] == [DRAFT["caption"]]

    again = ls_cli("push", "--project", project, settings=settings)
    assert again.exit_code == 0 and "0 tasks created" in again.output, again.output
    assert "0 predictions created, 3 unchanged" in again.output
    tasks = _tasks(ls, pid)
    assert len(tasks) == 3 and sum(len(t["predictions"]) for t in tasks) == 3
    with session_scope(settings.db_url) as session:
        links = {ln.clip_id: (ln.task_id, ln.pushed_draft_id, ln.prediction_id)
                 for ln in session.exec(select(LabelStudioLink))}  # fmt: skip
    assert links == {
        ids[name]: (t["id"], draft_id_of(t["predictions"][0]["result"]), t["predictions"][0]["id"])
        for name, t in by_name.items()
    }
    assert all(
        draft is not None and prediction is not None for _, draft, prediction in links.values()
    )

    # A push that crashed after importing (tasks there, links lost) is healed, not duplicated.
    with session_scope(settings.db_url) as session:
        for link in session.exec(select(LabelStudioLink)):
            session.delete(link)
    healed = ls_cli("push", "--project", project, settings=settings)
    assert "0 tasks created, 3 already there, 0 predictions created" in healed.output, healed.output
    with session_scope(settings.db_url) as session:
        assert session.exec(select(func.count()).select_from(LabelStudioLink)).one() == 3

    # A redrafted clip gets its new draft as a new prediction; nothing else changes.
    with session_scope(settings.db_url) as session:
        cue = session.exec(
            select(CueTextRecord).where(CueTextRecord.clip_id == ids["demo clip.mp4"])
        ).one()
        assert cue.id is not None
        # Two samples: the one marked chosen (the second) is the one pushed.
        add_draft(session, ids["demo clip.mp4"], cue.id, "run2", caption="Not this one.")
        new = add_draft(session, ids["demo clip.mp4"], cue.id, "run2", caption="Now tense.",
                         labels=["tense"], valence=-0.4, confidence=0.55, sample_index=1,
                         chosen=True)  # fmt: skip
        assert chosen_draft(session, ids["demo clip.mp4"]).id == new.id  # type: ignore[union-attr]
    # Every clip is linked to the draft it shows: only the redrafted task is touched, and
    # the project's tasks are not listed at all.
    listed: list[int] = []
    real_iter = LabelStudio.iter_tasks

    def counting_iter(self: LabelStudio, *args: Any, **kwargs: Any) -> Any:
        listed.append(1)
        return real_iter(self, *args, **kwargs)

    monkeypatch.setattr(LabelStudio, "iter_tasks", counting_iter)
    redrafted = ls_cli("push", "--project", project, settings=settings)
    assert "0 tasks created, 0 already there, 1 predictions created, 2 unchanged, 1 superseded " \
        "removed" in redrafted.output, redrafted.output  # fmt: skip
    assert listed == []
    now = {t["data"]["clip_name"]: t for t in _tasks(ls, pid)}
    assert len(now) == 3
    (current,) = now["demo clip.mp4"]["predictions"]  # the editor shows one, the new draft
    assert (current["model_version"], current["score"]) == ("scripted-model-run2", 0.55)
    assert draft_id_of(current["result"]) == new.id
    with session_scope(settings.db_url) as session:
        link = session.exec(
            select(LabelStudioLink).where(LabelStudioLink.clip_id == ids["demo clip.mp4"])
        ).one()
        assert (link.pushed_draft_id, link.prediction_id) == (new.id, current["id"])
    assert len(now["single_face.mp4"]["predictions"]) == 1
    # Annotators are shown the predictions of the model most drafts come from.
    assert ls.sdk.projects.get(id=pid).model_version == "scripted-model-run1"
    listed.clear()
    assert (
        "0 predictions created, 3 unchanged, 0 superseded"
        in ls_cli("push", "--project", project, settings=settings).output
    )
    assert listed == []

    # A push that died after creating the new prediction, before recording it (the link
    # still names the old draft), and a link from before migration 0007 (no draft): the
    # task's predictions are looked at, nothing is created twice, the links are repaired.
    demo_id, face_id = ids["demo clip.mp4"], ids["single_face.mp4"]
    with session_scope(settings.db_url) as session:
        for link in session.exec(select(LabelStudioLink)):
            if link.clip_id == demo_id:
                assert new.id is not None and link.pushed_draft_id == new.id
                link.pushed_draft_id, link.prediction_id = new.id - 1, None  # run2's sample 0
            elif link.clip_id == face_id:
                link.pushed_draft_id = link.prediction_id = None
            session.add(link)
    repaired = ls_cli("push", "--project", project, settings=settings)
    assert "0 tasks created, 0 already there, 0 predictions created, 3 unchanged, 0 " \
        "superseded" in repaired.output, repaired.output  # fmt: skip
    assert sum(len(t["predictions"]) for t in _tasks(ls, pid)) == 3
    with session_scope(settings.db_url) as session:
        now_links = {ln.clip_id: (ln.pushed_draft_id, ln.prediction_id)
                     for ln in session.exec(select(LabelStudioLink))}  # fmt: skip
    assert now_links[demo_id] == (new.id, current["id"])
    assert now_links[face_id] == (links[face_id][1], links[face_id][2])


def test_push_that_crashes_between_chunks_is_finished_by_the_next(
    ls: LabelStudio,
    env: dict[str, str],
    project: str,
    clips_dir: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_drafted_clips(settings, clips_dir)
    assert ls_cli("setup", "--project", project, "--media-dir", str(clips_dir)).exit_code == 0
    pid = project_id(ls, project)
    media = MediaUrls(Path(env["LSTEST_MEDIA"]))
    real_import, calls = sync._import_chunk, []

    def crash_on_second_chunk(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies after the first chunk
        real_import(*args)

    monkeypatch.setattr(sync, "_import_chunk", crash_on_second_chunk)
    with pytest.raises(KeyboardInterrupt), session_scope(settings.db_url) as session:
        sync.push(session, ls, pid, media, chunk=1)
    assert len(_tasks(ls, pid)) == 1
    monkeypatch.setattr(sync, "_import_chunk", real_import)
    with session_scope(settings.db_url) as session:
        resumed = sync.push(session, ls, pid, media, chunk=1)
    # The first clip's link names its draft: unchanged without a look at Label Studio.
    assert (resumed.tasks_created, resumed.tasks_found, resumed.unchanged) == (2, 0, 1)
    tasks = _tasks(ls, pid)
    assert len(tasks) == 3 and sorted(len(t["predictions"]) for t in tasks) == [1, 1, 1]
    assert len({t["data"]["clip_sha256"] for t in tasks}) == 3


def test_media_from_a_url_prefix(
    ls: LabelStudio, env: dict[str, str], project: str, clips_dir: Path, settings: Settings
) -> None:
    seed_drafted_clips(settings, clips_dir)
    prefix = "https://media.example.org/mer"
    out = ls_cli("setup", "--project", project, "--media-url-prefix", prefix)
    assert out.exit_code == 0, out.output
    pid = project_id(ls, project)
    assert ls.sdk.import_storage.local.list(project=pid) == []
    out = ls_cli("push", "--project", project, "--media-url-prefix", prefix, settings=settings)
    assert out.exit_code == 0 and "3 tasks created" in out.output, out.output
    urls = sorted(t["data"]["video"] for t in _tasks(ls, pid))
    folder = clips_dir.name
    assert urls == [f"{prefix}/{folder}/demo%20clip.mp4", f"{prefix}/{folder}/silent.mp4",
                    f"{prefix}/{folder}/single_face.mp4"]  # fmt: skip


def _annotate(
    ls: LabelStudio, task: dict[str, Any], decision: str, user: int | None = None, **changes: Any
) -> int:
    """What an annotator's submit sends: the prediction's regions (ids kept), edited, + decision;
    ``user``: made by that Label Studio user (the token's user otherwise)."""
    result = []
    for item in task["predictions"][-1]["result"]:
        item = {**item, "value": dict(item["value"])}
        name = item["from_name"]
        if name in changes:
            key = "number" if item["type"] == "number" else "text"
            item["value"][key] = changes[name] if key == "number" else [changes[name]]
        result.append(item)
    result.append({"id": "decision", "from_name": "decision", "to_name": "video",
                   "type": "choices", "value": {"choices": [decision]}})  # fmt: skip
    extra = {"completed_by": user} if user is not None else {}
    annotation = ls.sdk.annotations.create(id=task["id"], result=result, lead_time=12.5, **extra)
    assert annotation.id is not None
    return annotation.id


SECOND = "second@example.com"


def _second_user(ls: LabelStudio) -> int:
    """A second Label Studio user (made once per server)."""
    for user_id, name in ls.users_by_id().items():
        if name == SECOND:
            return user_id
    user = ls.sdk.users.create(username="second", email=SECOND, password="second-password-1")
    assert user.id is not None
    return int(user.id)


def _count(settings: Settings, table: type) -> int:
    with session_scope(settings.db_url) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def _forget_watermarks(settings: Settings) -> None:
    """As if the watermarks were lost: what is stored must still not be stored again."""
    with session_scope(settings.db_url) as session:
        for link in session.exec(select(LabelStudioLink)):
            link.last_synced_at = None
            session.add(link)


def test_pull_stores_reviews_validated_once_and_reports_malformed(
    ls: LabelStudio, env: dict[str, str], project: str, clips_dir: Path, settings: Settings
) -> None:
    ids = seed_drafted_clips(settings, clips_dir)
    _setup_and_push(settings, project, clips_dir)
    pid = project_id(ls, project)
    tasks = {t["data"]["clip_name"]: t for t in _tasks(ls, pid)}
    _annotate(ls, tasks["demo clip.mp4"], "accept")
    _annotate(ls, tasks["single_face.mp4"], "edit", caption="Calm, a little bored.",
              labels="Calm, bored", valence=-0.3)  # fmt: skip
    bad = ls.sdk.annotations.create(id=tasks["silent.mp4"]["id"], result=[
        {"id": "v", "from_name": "valence", "to_name": "video", "type": "number",
         "value": {"number": 7}}])  # fmt: skip

    with session_scope(settings.db_url) as session:
        result = pull(session, ls, pid)
    assert sorted(result.saved) == [
        ("demo clip.mp4", ADMIN, "accepted"), ("single_face.mp4", ADMIN, "edited")]  # fmt: skip
    assert [(m[0], m[1]) for m in result.malformed] == [("silent.mp4", bad.id)]
    assert "valence" in result.malformed[0][2] and result.conflicts == []
    with session_scope(settings.db_url) as session:
        accepted = review_for(session, ids["demo clip.mp4"], ADMIN)
        edited = review_for(session, ids["single_face.mp4"], ADMIN)
        assert review_for(session, ids["silent.mp4"]) is None  # never stored
        assert accepted is not None and edited is not None
        assert (accepted.status, accepted.caption, accepted.labels, accepted.valence) == (
            "accepted", DRAFT["caption"], ["happy", "friendly"], 0.6)  # fmt: skip
        assert (accepted.source, accepted.kind, accepted.version) == (
            "labelstudio",
            "annotation",
            1,
        )
        assert accepted.time_spent_s == 12.5  # Label Studio's lead time
        assert (edited.status, edited.caption, edited.labels, edited.valence, edited.arousal) == (
            "edited", "Calm, a little bored.", ["calm", "bored"], -0.3, 0.5)  # fmt: skip
        # One annotation per clip: it is the clip's final review too.
        final = review_for(session, ids["single_face.mp4"])
        assert final is not None and final.id == edited.id
        draft = session.get(Draft, edited.draft_id)
        assert draft is not None and draft.clip_id == ids["single_face.mp4"]
    assert _count(settings, ReviewEvent) == 2

    # Pulled again: nothing new is stored; the malformed one is reported again, still skipped.
    out = ls_cli("pull", "--project", project, settings=settings)
    assert out.exit_code == 1  # a malformed annotation is reported as a failure
    assert "0 reviews saved, 2 unchanged, 1 malformed, 0 clips in conflict" in out.output, (
        out.output
    )
    assert f"silent.mp4: annotation {bad.id} skipped" in out.output
    _forget_watermarks(settings)
    with session_scope(settings.db_url) as session:
        again = pull(session, ls, pid)
    assert (again.saved, again.unchanged, len(again.malformed)) == ([], 2, 1)
    assert (_count(settings, Review), _count(settings, ReviewEvent)) == (2, 2)


def test_two_label_studio_users_on_one_task_give_two_reviews(
    ls: LabelStudio, env: dict[str, str], project: str, clips_dir: Path, settings: Settings
) -> None:
    ids = seed_drafted_clips(settings, clips_dir)
    _setup_and_push(settings, project, clips_dir)
    pid = project_id(ls, project)
    second = _second_user(ls)
    tasks = {t["data"]["clip_name"]: t for t in _tasks(ls, pid)}
    demo, face = ids["demo clip.mp4"], ids["single_face.mp4"]
    _annotate(ls, tasks["demo clip.mp4"], "accept")
    changed = _annotate(ls, tasks["demo clip.mp4"], "edit", user=second,
                        caption="Tense, not pleased.", labels="tense", valence=-0.4)  # fmt: skip
    _annotate(ls, tasks["single_face.mp4"], "accept")
    _annotate(ls, tasks["single_face.mp4"], "accept", user=second)

    with session_scope(settings.db_url) as session:
        result = pull(session, ls, pid)
    assert sorted(result.saved) == [
        ("demo clip.mp4", ADMIN, "accepted"),
        ("demo clip.mp4", SECOND, "edited"),
        ("single_face.mp4", ADMIN, "accepted"),
        ("single_face.mp4", SECOND, "accepted"),
    ]
    # They disagree on the demo clip: both stored, one line, for an adjudicator.
    assert result.conflicts == [
        f"demo clip.mp4: {SECOND} (Label Studio) disagrees with {ADMIN}: both kept, "
        "for an adjudicator"
    ]
    assert result.kept_in_history == 0
    with session_scope(settings.db_url) as session:
        mine, theirs = review_for(session, demo, ADMIN), review_for(session, demo, SECOND)
        assert mine is not None and theirs is not None and mine.id != theirs.id
        assert (mine.status, mine.caption, mine.valence) == ("accepted", DRAFT["caption"], 0.6)
        assert (theirs.status, theirs.caption, theirs.labels, theirs.valence) == (
            "edited", "Tense, not pleased.", ["tense"], -0.4)  # fmt: skip
        assert {r.source for r in reviews_of(session, demo)} == {"labelstudio"}
        assert review_for(session, demo) is None  # no final version while they disagree
        agreed = review_for(session, face)
        assert agreed is not None and (agreed.status, agreed.caption) == (
            "accepted", DRAFT["caption"])  # fmt: skip
    assert (_count(settings, Review), _count(settings, ReviewEvent)) == (4, 4)

    out = ls_cli("pull", "--project", project, settings=settings)
    assert out.exit_code == 0, out.output  # a disagreement is stored: not a failure
    assert "0 reviews saved, 4 unchanged, 0 malformed, 0 clips in conflict" in out.output
    _forget_watermarks(settings)
    assert ls_cli("pull", "--project", project, settings=settings).exit_code == 0
    assert (_count(settings, Review), _count(settings, ReviewEvent)) == (4, 4)

    # The second annotator changes their mind in Label Studio: their review follows.
    ls.sdk.annotations.update(id=changed, result=tasks["demo clip.mp4"]["predictions"][-1][
        "result"] + [{"id": "d", "from_name": "decision", "to_name": "video",
                      "type": "choices", "value": {"choices": ["accept"]}}])  # fmt: skip
    with session_scope(settings.db_url) as session:
        result = pull(session, ls, pid)
        assert (result.saved, result.conflicts) == ([("demo clip.mp4", SECOND, "accepted")], [])
        theirs = review_for(session, demo, SECOND)
        assert theirs is not None and (theirs.version, theirs.caption) == (2, DRAFT["caption"])
        final = review_for(session, demo)  # they agree now
        assert final is not None and final.status == "accepted"
    assert (_count(settings, Review), _count(settings, ReviewEvent)) == (4, 5)

    # A second annotation by the same user on one task: their newest one is their review,
    # and an older one is never stored over it, even with the watermarks lost.
    _annotate(ls, tasks["single_face.mp4"], "edit", caption="Second look: bored.")
    with session_scope(settings.db_url) as session:
        result = pull(session, ls, pid)
        assert result.saved == [("single_face.mp4", ADMIN, "edited")]
        assert result.conflicts == [
            f"single_face.mp4: {ADMIN} (Label Studio) disagrees with {SECOND}: both kept, "
            "for an adjudicator"
        ]
    _forget_watermarks(settings)
    with session_scope(settings.db_url) as session:
        assert pull(session, ls, pid).saved == []
        mine = review_for(session, face, ADMIN)
        assert mine is not None and (mine.version, mine.caption) == (2, "Second look: bored.")
    assert (_count(settings, Review), _count(settings, ReviewEvent)) == (4, 6)


def test_the_same_persons_app_review_is_a_conflict_kept_in_history(
    ls: LabelStudio, env: dict[str, str], project: str, clips_dir: Path, settings: Settings
) -> None:
    ids = seed_drafted_clips(settings, clips_dir)
    _setup_and_push(settings, project, clips_dir)
    pid = project_id(ls, project)
    tasks = {t["data"]["clip_name"]: t for t in _tasks(ls, pid)}
    demo, face, silent = ids["demo clip.mp4"], ids["single_face.mp4"], ids["silent.mp4"]
    # demo: Label Studio first (pulled), then the same person edits it in the review app,
    # then changes the annotation in Label Studio too.
    annotation = _annotate(ls, tasks["demo clip.mp4"], "accept")
    with session_scope(settings.db_url) as session:
        assert pull(session, ls, pid).saved == [("demo clip.mp4", ADMIN, "accepted")]
        mine = ReviewInput(ReviewStatus.EDITED, "App: guarded, not happy.", ["guarded"], 0.0, 0.3)
        save_review(session, demo, ADMIN, None, mine, expected_version=1)
    ls.sdk.annotations.update(id=annotation, result=[
        {"id": "c", "from_name": "caption", "to_name": "video", "type": "textarea",
         "value": {"text": ["LS: delighted."]}},
        {"id": "d", "from_name": "decision", "to_name": "video", "type": "choices",
         "value": {"choices": ["edit"]}}])  # fmt: skip
    # face: reviewed in the review app before they opened it in Label Studio.
    with session_scope(settings.db_url) as session:
        first = ReviewInput(ReviewStatus.REJECTED, None, [], None, None)
        save_review(session, face, ADMIN, None, first, expected_version=None)
        # silent: the same verdict in both tools is no conflict.
        same = ReviewInput(ReviewStatus.ACCEPTED, DRAFT["caption"], ["happy", "friendly"], 0.6,
                           0.5, time_spent_s=3.0)  # fmt: skip
        save_review(session, silent, ADMIN, None, same, expected_version=None)
        # Someone else's review of the face clip, which the annotation agrees with.
        save_review(session, face, "bob", None, same, expected_version=None)
    _annotate(ls, tasks["single_face.mp4"], "accept")
    _annotate(ls, tasks["silent.mp4"], "accept")

    out = ls_cli("pull", "--project", project, settings=settings)
    assert out.exit_code == 1, out.output  # two annotations could not be stored as reviews
    conflicts = [line for line in out.output.splitlines() if line.startswith("! conflict:")]
    assert len(conflicts) == 2, out.output
    assert conflicts[0].startswith(f"! conflict: demo clip.mp4: {ADMIN} saved it in the review "
                                   f"app (version 2) and differently in Label Studio "
                                   f"(annotation {annotation})")  # fmt: skip
    assert conflicts[1].startswith(
        f"! conflict: single_face.mp4: {ADMIN} saved it in the review app (version 1)"
    )
    assert "0 reviews saved, 1 unchanged, 0 malformed, 2 clips in conflict (2 annotations " \
        "kept in history only)" in out.output  # fmt: skip
    with session_scope(settings.db_url) as session:
        review = review_for(session, demo, ADMIN)
        assert review is not None  # not overwritten
        assert (review.version, review.source, review.caption) == (
            2, "app", "App: guarded, not happy.")  # fmt: skip
        face_review = review_for(session, face, ADMIN)
        assert face_review is not None and (face_review.status, face_review.source) == (
            "rejected", "app")  # fmt: skip
        silent_review = review_for(session, silent, ADMIN)
        assert silent_review is not None and silent_review.version == 1
    history = [(e.version, e.source, e.status, e.caption) for e in _events(settings, demo)]
    assert history == [(1, "labelstudio", "accepted", DRAFT["caption"]),
                       (2, "app", "edited", "App: guarded, not happy."),
                       (2, "labelstudio", "edited", "LS: delighted.")]  # fmt: skip
    assert [(e.source, e.status, e.caption) for e in _events(settings, face)] == [
        ("app", "rejected", None), ("app", "accepted", DRAFT["caption"]),
        ("labelstudio", "accepted", DRAFT["caption"])]  # fmt: skip
    assert len(_events(settings, silent)) == 1
    # Reported once: the next pull adds nothing, even with the watermarks lost.
    n_rows = (_count(settings, Review), _count(settings, ReviewEvent))
    assert n_rows == (4, 7)
    again = ls_cli("pull", "--project", project, settings=settings)
    assert again.exit_code == 0 and "0 reviews saved, 3 unchanged" in again.output, again.output
    _forget_watermarks(settings)
    with session_scope(settings.db_url) as session:
        result = pull(session, ls, pid)
    assert (result.saved, result.conflicts, result.unchanged) == ([], [], 3)
    assert (_count(settings, Review), _count(settings, ReviewEvent)) == n_rows


def test_a_save_in_the_review_app_during_pull_is_a_conflict_not_lost(
    ls: LabelStudio,
    env: dict[str, str],
    project: str,
    clips_dir: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same person saves in the review app between pull's read and its write: optimistic
    locking refuses pull's save, and the annotation goes to the history as a conflict."""
    import annotator.labelstudio.pull as pull_module

    ids = seed_drafted_clips(settings, clips_dir)
    _setup_and_push(settings, project, clips_dir)
    pid = project_id(ls, project)
    tasks = {t["data"]["clip_name"]: t for t in _tasks(ls, pid)}
    _annotate(ls, tasks["single_face.mp4"], "accept")
    clip_id = ids["single_face.mp4"]
    real_save = pull_module.save_review

    def app_saves_first(session: Session, *args: Any, **kwargs: Any) -> Review:
        with session_scope(settings.db_url) as other:  # another process, committed
            mine = ReviewInput(ReviewStatus.EDITED, "App: wistful.", ["wistful"], -0.1, 0.2)
            save_review(other, clip_id, ADMIN, None, mine, expected_version=None)
        return real_save(session, *args, **kwargs)

    monkeypatch.setattr(pull_module, "save_review", app_saves_first)
    with session_scope(settings.db_url) as session:
        result = pull(session, ls, pid)
    assert result.saved == [] and len(result.conflicts) == 1 and result.kept_in_history == 1
    assert result.conflicts[0].startswith(f"single_face.mp4: {ADMIN} saved it in the review app")
    with session_scope(settings.db_url) as session:
        review = review_for(session, clip_id, ADMIN)
        assert review is not None
        assert (review.caption, review.version, review.source) == ("App: wistful.", 1, "app")
    assert [(e.version, e.source, e.caption) for e in _events(settings, clip_id)] == [
        (1, "app", "App: wistful."), (1, "labelstudio", DRAFT["caption"])]  # fmt: skip
