"""The review app in a real browser: `annotator review` serves it, Chromium edits a draft,
and the database holds the edit. Chromium is Debian's (scripts/system-deps.sh installs it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import select

from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import Review, ReviewEvent, session_scope
from tests.test_pipeline import VALID_DRAFT, scripted

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"review server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"review server not healthy after {seconds} s")


@pytest.fixture
def review_server(settings, demo_clip: Path):  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("/usr/bin/chromium missing: scripts/system-deps.sh should install it")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    scripted(settings)
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [demo_clip])
    Runner(settings).run()
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "annotator.cli",
            "review",
            "--home",
            str(settings.home),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        yield settings, url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    # Stopping `annotator review` must stop the server itself (no orphan on the port).
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "review server outlived its command"


def test_annotator_edits_a_draft_in_the_browser(review_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    settings, url = review_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(60_000)
            page.goto(url)
            caption = page.get_by_label("Caption")
            # The page streams in: wait until the form holds the draft (bounded by the timeout).
            expect(caption).to_have_value(VALID_DRAFT["caption"], timeout=60_000)
            page.get_by_label("Annotator name").fill("carol")
            page.get_by_label("Annotator name").press("Enter")
            expect(page.get_by_label("Annotator name")).to_have_value("carol", timeout=30_000)
            caption.fill("She greets a stranger, surprised and then friendly.")
            page.get_by_label("Labels (comma-separated)").fill("Surprised, friendly")
            page.get_by_role("button", name="Save edit").click()
            page.get_by_text("Every drafted clip is reviewed").wait_for()
            page.screenshot(path=str(tmp_path / "after-save.png"), full_page=True)
        finally:
            browser.close()
    with session_scope(settings.db_url) as session:
        review = session.exec(select(Review)).one()
        events = session.exec(select(ReviewEvent)).all()
    assert review.status == "edited"
    assert review.caption == "She greets a stranger, surprised and then friendly."
    assert review.labels == ["surprised", "friendly"]
    assert review.version == 1 and len(events) == 1
