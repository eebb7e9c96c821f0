"""The review app in a real browser: `annotator review` serves it on 127.0.0.1, Debian's
Chromium (scripts/system-deps.sh installs it) signs in, seeks the video by clicking a clue,
edits and accepts, runs into a stale save and chooses, and adjudicates; the database holds
each result. Screenshots land in tests/artifacts/ (kept by CI as artifacts).

One pipeline run (the bundled demo clip, a scripted drafter) and one server serve every test
of this module; every wait is bounded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from annotator.config import Settings
from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import Annotator, Review, ReviewEvent, session_scope
from db.models import Assignment, ReviewStatus, Role
from db.queries import ReviewInput, save_review
from tests.plugins.scripted import VALID_DRAFT, scripted
from tests.servers import free_port, wait_streamlit_healthy

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
VIEWPORT = {"width": 1400, "height": 900}
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("/usr/bin/chromium missing: scripts/system-deps.sh should install it")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from annotator.cli import sample_clip

    home = tmp_path_factory.mktemp("review-browser") / "home"
    settings = Settings.load(home=home, db_url=None)
    settings.ensure_home()
    scripted(settings)
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [sample_clip()])
    Runner(settings).run()
    with session_scope(settings.db_url) as s:
        for name, role in (("alice", Role.ANNOTATOR), ("bob", Role.ANNOTATOR)):
            person = Annotator(name=name, role=role)
            s.add(person)
            s.flush()
            s.add(Assignment(clip_id=1, annotator_id=person.id))  # type: ignore[arg-type]
        s.add(Annotator(name="judge", role=Role.ADJUDICATOR))
    port = free_port()
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "annotator.cli", "review", "--home", str(home), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_streamlit_healthy(url, server)
        yield settings, url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    # Stopping `annotator review` must stop the server itself (no orphan on the port).
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "review server outlived its command"


@pytest.fixture(scope="module")
def browser(served: tuple[Settings, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def signed_in(browser: Any, url: str, name: str) -> Any:
    """A fresh browser session (its own Streamlit session) signed in as ``name``."""
    from playwright.sync_api import expect

    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.get_by_label("Your name").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=WAIT_MS)
    return page


def open_form(page: Any) -> Any:
    """The caption field once the clip page has streamed in, holding the draft or review."""
    from playwright.sync_api import expect

    caption = page.get_by_label("Caption", exact=True)
    expect(caption).not_to_have_value("", timeout=WAIT_MS)
    return caption


def reviews(settings: Settings, kind: str = "annotation") -> dict[str, Review]:
    with Session(_engine(settings)) as s:
        rows = s.exec(
            select(Review, Annotator.name)
            .join(Annotator, Annotator.id == Review.annotator_id)  # type: ignore[arg-type]
            .where(Review.kind == kind)
        ).all()
        return {name: review for review, name in rows}


def _engine(settings: Settings) -> Any:
    from db.engine import get_engine

    return get_engine(settings.db_url)


def test_clip_page_fits_the_window_and_a_clue_seeks_the_video(served, browser) -> None:  # type: ignore[no-untyped-def]
    url = served[1]
    page = signed_in(browser, url, "alice")
    open_form(page)
    video = page.locator('video[data-testid="stVideo"]')
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.readyState >= 1 }",
        timeout=WAIT_MS,
    )
    buttons = [page.get_by_role("button", name=n) for n in ("Accept", "Save edit", "Skip")]
    for element in (video, *buttons, page.get_by_test_id("cue-plot")):
        box = element.bounding_box()
        assert box is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], box
    assert page.evaluate("() => window.scrollY") == 0

    chips = page.get_by_test_id("clue-chip")
    assert chips.count() == 3  # the scripted draft's three clues
    texts = chips.all_inner_texts()
    assert texts[0].startswith("1. ⚠ ") and "lip corners pulled up" in texts[0]  # ungrounded
    assert texts[1].startswith("2. pitch @")
    timed = [i for i in range(chips.count()) if chips.nth(i).get_attribute("data-time")]
    for i in timed:
        target = float(chips.nth(i).get_attribute("data-time"))
        chips.nth(i).click()
        page.wait_for_function(
            f"() => Math.abs(document.querySelector('video').currentTime - {target}) < 0.05",
            timeout=WAIT_MS,
        )
    assert float(chips.nth(0).get_attribute("data-time")) == pytest.approx(1.2)  # as stated
    word = page.get_by_test_id("word").first
    start = float(word.get_attribute("data-time"))
    word.click()
    page.wait_for_function(
        f"() => Math.abs(document.querySelector('video').currentTime - {start}) < 0.05",
        timeout=WAIT_MS,
    )
    events = page.get_by_test_id("au-event")
    times = [float(events.nth(i).get_attribute("data-time")) for i in range(events.count())]
    later = [i for i, t in enumerate(times) if t > 1]
    assert later, "the demo clip has AU events after 1 s"
    apex = times[later[0]]
    events.nth(later[0]).click()
    page.wait_for_function(
        f"() => Math.abs(document.querySelector('video').currentTime - {apex}) < 0.05",
        timeout=WAIT_MS,
    )
    page.screenshot(path=str(ARTIFACTS / "review-clip-page.png"))


def test_edit_and_accept_lands_in_the_database(served, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    settings, url = served
    page = signed_in(browser, url, "alice")
    caption = open_form(page)
    expect(caption).to_have_value(VALID_DRAFT["caption"])
    caption.fill("She greets a stranger, surprised and then friendly.")
    labels = page.get_by_label("Labels", exact=True)  # the chips' input
    labels.fill("surprised")
    labels.press("Enter")  # a new chip
    labels.press("Escape")  # close the suggestions, which hide the rest from the a11y tree
    page.get_by_role("button", name="Save edit").click()
    expect(page.get_by_text("Saved demo.mp4 as edited")).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "review-after-save.png"))
    review = reviews(settings)["alice"]
    assert review.status == "edited" and review.source == "app"
    assert review.caption == "She greets a stranger, surprised and then friendly."
    assert review.labels == ["happy", "friendly", "surprised"]
    assert review.version == 1 and review.time_spent_s is not None


def test_stale_save_shows_both_versions_and_keeps_the_chosen_one(served, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    settings, url = served
    first = signed_in(browser, url, "bob")  # bob in two tabs
    second = signed_in(browser, url, "bob")
    open_form(first)
    open_form(second)
    second.get_by_label("Caption", exact=True).focus()
    second.keyboard.press("Alt+a")  # Accept's shortcut, from inside a field
    expect(second.get_by_text("Saved demo.mp4 as accepted")).to_be_visible(timeout=WAIT_MS)
    first.get_by_label("Caption", exact=True).fill("Bob, first tab: a nervous greeting.")
    first.get_by_role("button", name="Save edit").click()
    expect(first.get_by_text("Choose which version to keep")).to_be_visible(timeout=WAIT_MS)
    expect(first.get_by_text("Yours (not saved)")).to_be_visible()
    expect(first.get_by_text("Bob, first tab: a nervous greeting.")).to_be_visible()
    expect(first.get_by_text(VALID_DRAFT["caption"])).to_be_visible()  # the stored one
    first.screenshot(path=str(ARTIFACTS / "review-conflict.png"))
    assert reviews(settings)["bob"].status == "accepted"  # nothing overwritten yet
    first.get_by_role("button", name="Keep mine").click()
    expect(first.get_by_text("your version kept")).to_be_visible(timeout=WAIT_MS)
    bob = reviews(settings)["bob"]
    assert (bob.caption, bob.version) == ("Bob, first tab: a nervous greeting.", 2)
    with Session(_engine(settings)) as s:
        events = s.exec(select(ReviewEvent).where(ReviewEvent.review_id == bob.id)).all()
    assert [e.status for e in events] == ["accepted", "edited"]


def test_adjudicator_records_the_final_version(served, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    settings, url = served
    with session_scope(settings.db_url) as s:  # when run alone: two reviews that disagree
        for name, caption in (("alice", "Warm."), ("bob", "Nervous.")):
            if name not in reviews(settings):
                data = ReviewInput(ReviewStatus.EDITED, caption, ["x"], 0.1, 0.2)
                save_review(s, 1, name, None, data, None)
    page = signed_in(browser, url, "judge")
    page.get_by_text("Adjudicate", exact=True).click()
    expect(page.get_by_text("They differ in:")).to_be_visible(timeout=WAIT_MS)
    final = page.get_by_label("Final caption")
    final.fill("A friendly greeting, slightly nervous.")
    page.get_by_role("button", name="Record final version").click()
    expect(page.get_by_text("Final version of demo.mp4 recorded")).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "review-adjudication.png"))
    adjudication = reviews(settings, "adjudication")["judge"]
    assert adjudication.caption == "A friendly greeting, slightly nervous."
    assert adjudication.version == 1


def test_annotator_sees_no_adjudication_page(served, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    url = served[1]
    page = signed_in(browser, url, "alice")
    expect(page.get_by_role("radio", name="Review clips")).to_be_checked(timeout=WAIT_MS)
    assert page.get_by_role("radio", name="Adjudicate").count() == 0
    page.goto(url + "/?page=Adjudicate")  # no way in by address either: a new session
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
