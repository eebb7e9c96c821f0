"""Label Studio's own labeling screen in a real browser: a pushed draft is shown prefilled
beside the video and the cue card, an annotator edits and submits it, and ``annotator ls
pull`` stores the edit as their review.

Chromium is Debian's (/usr/bin/chromium); the server is tests/test_labelstudio.py's
throwaway one (scripts/labelstudio-test-server.sh), signed in to as its user. Screenshots
land in tests/artifacts/. Every wait is bounded; the test takes well under two minutes once
the server runs.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from annotator.config import Settings
from annotator.labelstudio.client import LabelStudio
from annotator.labelstudio.sync import project_id
from db import Draft, LabelStudioLink, session_scope
from db.queries import review_for
from tests.fixtures.labelstudio import (
    ADMIN,
    DRAFT,
    ls_cli,
    seed_drafted_clips,
)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# scripts/labelstudio-test-server.sh signs its one user in with these (LSTEST_USER/PASSWORD).
USER = os.environ.get("LSTEST_USER", ADMIN)
PASSWORD = os.environ.get("LSTEST_PASSWORD", "mer-annotator-test")
EDITED = "She smiles politely but looks tired."


@pytest.fixture
def one_clip(env: dict[str, str], demo_clip: Path) -> Iterator[Path]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    folder = Path(env["LSTEST_MEDIA"]) / f"browser-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    shutil.copy(demo_clip, folder / "demo.mp4")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def clip_duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        assert container.duration is not None
        return float(container.duration) / 1e6


def _wait_for_annotation(client: LabelStudio, task_id: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.sdk.annotations.list(id=task_id):
            return
        time.sleep(0.5)
    raise TimeoutError(f"no annotation on task {task_id} {seconds} s after Submit")


def test_annotator_edits_the_draft_in_label_studio_and_pull_stores_it(
    ls: LabelStudio,
    env: dict[str, str],
    one_clip: Path,
    settings: Settings,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ids = seed_drafted_clips(settings, one_clip)
    project = f"mer-browser-{uuid.uuid4().hex[:8]}"
    assert ls_cli("setup", "--project", project, "--media-dir", str(one_clip)).exit_code == 0
    assert ls_cli("push", "--project", project, settings=settings).exit_code == 0
    pid = project_id(ls, project)
    clip_id = ids["demo.mp4"]
    with session_scope(settings.db_url) as session:
        link = session.exec(select(LabelStudioLink).where(LabelStudioLink.clip_id == clip_id)).one()
        task_id, draft_id = link.task_id, link.pushed_draft_id
    ARTIFACTS.mkdir(exist_ok=True)
    url = env["LABEL_STUDIO_URL"]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(f"{url}/user/login/")
            page.fill("input[name=email]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.locator("button[type=submit], input[type=submit]").first.click()
            page.wait_for_url(lambda now: "/user/login" not in now, timeout=30_000)

            page.goto(f"{url}/projects/{pid}/data?task={task_id}")
            # The labeling screen: the video, the cue card, the draft prefilled for editing.
            caption = page.get_by_test_id("textarea-control").first
            expect(caption.get_by_test_id("htx-textbox-content")).to_have_text(
                DRAFT["caption"], timeout=60_000
            )
            # The video element plays the clip's bytes, served by the local-files storage.
            expect(page.locator("video")).to_have_count(1)
            video = page.locator("video")
            deadline = time.monotonic() + 30  # metadata loaded: the browser got the bytes
            while video.evaluate("v => v.readyState") < 1 and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            src, duration = video.evaluate("v => [v.currentSrc, v.duration]")
            assert "/data/local-files/?d=" in src and f"{one_clip.name}/demo.mp4" in src
            assert duration == pytest.approx(clip_duration(one_clip / "demo.mp4"), abs=0.2)
            card = page.locator(".lsf-richtext__line")  # the cue card, in the editor
            expect(card).to_have_text(["0.0-2.0 s  demo.mp4: AU12"])
            expect(card).to_be_visible()
            labels = page.get_by_test_id("textarea-control").nth(1)
            expect(labels.get_by_test_id("htx-textbox-content")).to_have_text("happy, friendly")
            page.screenshot(path=str(ARTIFACTS / "labelstudio-task.png"))

            caption.get_by_test_id("htx-textbox-edit-button").click()
            box = caption.locator("textarea")
            expect(box).to_have_value(DRAFT["caption"])
            box.fill(EDITED)
            box.press("Enter")
            # Enter commits the edit and re-renders the form: a click that lands during the
            # re-render is lost (seen once under load), so click the choice again (a few
            # times at most) until it holds.
            decision = page.locator("input[name=edit]")
            choice = page.locator("label.lsf-choice__checkbox", has=decision)
            for _ in range(5):
                choice.click()
                if decision.is_checked():
                    break
                page.wait_for_timeout(500)
            expect(decision).to_be_checked()
            page.screenshot(path=str(ARTIFACTS / "labelstudio-edited.png"), full_page=True)
            page.get_by_role("button", name="Submit").click()
            _wait_for_annotation(ls, task_id)
            page.screenshot(path=str(ARTIFACTS / "labelstudio-submitted.png"))
        finally:
            browser.close()

    out = ls_cli("pull", "--project", project, settings=settings)
    assert out.exit_code == 0, out.output
    assert "1 reviews saved, 0 unchanged, 0 malformed, 0 clips in conflict" in out.output
    with session_scope(settings.db_url) as session:
        review = review_for(session, clip_id, USER)
        assert review is not None
        assert (review.status, review.caption, review.source) == ("edited", EDITED, "labelstudio")
        assert (review.labels, review.valence, review.arousal) == (["happy", "friendly"], 0.6, 0.5)
        assert review.draft_id == draft_id and session.get(Draft, draft_id) is not None
        assert review.time_spent_s is not None and review.time_spent_s > 0  # the editor's timer
    again = ls_cli("pull", "--project", project, settings=settings)
    assert again.exit_code == 0 and "0 reviews saved, 1 unchanged" in again.output, again.output
