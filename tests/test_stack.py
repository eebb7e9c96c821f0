"""The team stack: docker-compose.yml checked structurally (no Docker engine here), then the
same services started directly and used end to end.

The integration test starts what compose starts, without Docker: PostgreSQL
(scripts/postgres-test-server.sh, a fresh database), the review app (``annotator review`` on
127.0.0.1) and a worker (``annotator worker``), all reading the database URL from a secret
file (ANNOTATOR_DB_URL_FILE) as in compose. Drafts come from a stub OpenAI-compatible server
(``--drafter openai``), so the worker runs the real extractors but no LLM. Label Studio is left
to tests/test_labelstudio.py (its first start alone takes minutes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from sqlmodel import select

from db import Clip, Draft, Review, ReviewStatus, session_scope
from db.queries import ReviewInput, save_review
from tests.servers import GOOD, Stub, free_port, wait_streamlit_healthy

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
SECRET = "stack-s3cret-never-printed"  # the trust-auth test server accepts any password


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _docs_team_section() -> str:
    text = (ROOT / "docs" / "team.md").read_text()
    start = text.index("## Running it for a team: services and security")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else None]


def _cli_group() -> Any:
    """The CLI as its click group (typer builds it): commands by name, their options."""
    from annotator.cli import app

    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    return group


# ---- docker-compose.yml, structurally -------------------------------------------------------


def test_every_service_has_an_image_a_healthcheck_a_restart_policy_and_loopback_ports() -> None:
    services = _compose()["services"]
    assert {"postgres", "labelstudio", "review", "worker"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        assert svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        expected = "no" if "cli" in svc.get("profiles", []) else "unless-stopped"
        assert svc["restart"] == expected, name
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    assert services["review"]["build"] == "."
    for name in ("review", "worker"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["image"] == "mer-annotator:latest"


def test_no_secret_in_compose_and_every_secret_file_is_made_by_make_secrets(
    tmp_path: Path,
) -> None:
    compose = _compose()
    text = COMPOSE.read_text()
    assert not re.search(r"PASSWORD:\s*\S", text.replace("PASSWORD_FILE:", ""))
    for svc in compose["services"].values():
        for key, value in (svc.get("environment") or {}).items():
            assert "://" not in str(value) or "@" not in str(value), key  # no URL with a login
    # Run the real script on a copy of deploy/ and check what compose will read.
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    made = subprocess.run(
        ["bash", str(tmp_path / "deploy" / "make-secrets.sh")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    secrets = tmp_path / "deploy" / "secrets"
    files = {Path(s["file"]).name for s in compose["secrets"].values()}
    files |= {Path(f).name for f in compose["services"]["labelstudio"]["env_file"]}
    assert files == {p.name for p in secrets.iterdir()}
    for path in secrets.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path  # 0600
    password = (secrets / "postgres_password").read_text()
    assert len(password) >= 24 and password not in made.stdout + made.stderr
    pg_env = compose["services"]["postgres"]["environment"]
    assert (secrets / "annotator_db_url").read_text().strip() == (
        f"postgresql+psycopg://{pg_env['POSTGRES_USER']}:{password}@postgres:5432/"
        f"{pg_env['POSTGRES_DB']}"
    )
    ls_env = dict(
        line.split("=", 1) for line in (secrets / "labelstudio.env").read_text().splitlines()
    )
    assert ls_env["POSTGRE_PASSWORD"] == password
    assert ls_env["LABEL_STUDIO_PASSWORD"] != password
    rerun = subprocess.run(
        ["bash", str(tmp_path / "deploy" / "make-secrets.sh")], capture_output=True, text=True
    )
    assert rerun.returncode == 0 and (secrets / "postgres_password").read_text() == password
    assert (
        "deploy/secrets"
        not in subprocess.run(
            ["git", "ls-files", "deploy"], capture_output=True, text=True, cwd=ROOT
        ).stdout
    )


def test_label_studio_runs_with_ssrf_protection_invitations_and_a_narrow_media_root() -> None:
    ls = _compose()["services"]["labelstudio"]
    env = ls["environment"]
    assert env["SSRF_PROTECTION_ENABLED"] == "true"
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    root = env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"]
    assert root not in ("/", "/root", "/home", "/label-studio", "/label-studio/data")
    media_mounts = [v for v in ls["volumes"] if v.rsplit(":", 2)[1] == root]  # SRC:DST:ro
    assert len(media_mounts) == 1 and media_mounts[0].endswith(":ro")  # served read-only
    assert env["DJANGO_DB"] == "default" and env["POSTGRE_HOST"] == "postgres"
    init_sql = _compose()["services"]["postgres"]["volumes"][1].split(":")[0]
    assert f"CREATE DATABASE {env['POSTGRE_NAME']}" in (ROOT / init_sql).read_text()


def test_compose_commands_are_real_cli_commands_with_real_options() -> None:
    group = _cli_group()
    for name in ("review", "worker", "annotator"):
        svc = _compose()["services"][name]
        argv = svc["command"]
        assert argv[0] == "annotator", name
        command = group.commands[argv[1]]
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        given = {a for a in argv[2:] if a.startswith("--")}
        assert given <= options, (name, given - options)
        for probe in svc["healthcheck"]["test"][1:2]:
            if probe == "annotator":
                assert svc["healthcheck"]["test"][2] in group.commands


def test_every_variable_compose_and_make_secrets_set_is_documented_in_the_readme() -> None:
    section = _docs_team_section()
    names: set[str] = set()
    for svc in _compose()["services"].values():
        names |= set(svc.get("environment") or {})
    script = (ROOT / "deploy" / "make-secrets.sh").read_text()
    env_file = script.split("<<ENV\n", 1)[1].split("\nENV\n", 1)[0]  # labelstudio.env
    names |= set(re.findall(r"^([A-Z_]+)=", env_file, re.MULTILINE))
    assert {"POSTGRE_PASSWORD", "LABEL_STUDIO_USERNAME"} <= names
    names |= {"MEDIA_DIR"}  # interpolated: ${MEDIA_DIR:-./media}
    missing = sorted(n for n in names if n not in section)
    assert missing == []


# ---- the same services, started directly ---------------------------------------------------


@pytest.fixture
def stack(pg_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """PostgreSQL (fresh database), the URL in a 0600 secret file, the review app serving."""
    url = pg_url.replace("postgres@", f"postgres:{SECRET}@")
    secret = tmp_path / "annotator_db_url"
    secret.write_text(url + "\n")
    secret.chmod(0o600)
    env = {
        **os.environ,
        "ANNOTATOR_DB_URL_FILE": str(secret),
        "ANNOTATOR_HOME": str(tmp_path / "data"),
    }
    port = free_port()
    log = (tmp_path / "review.log").open("w")
    argv = ["review", "--address", "127.0.0.1", "--port", str(port)]
    review = subprocess.Popen(
        [sys.executable, "-m", "annotator.cli", *argv],
        stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        wait_streamlit_healthy(f"http://127.0.0.1:{port}", review)
        yield {"url": url, "env": env, "port": port, "log": tmp_path / "review.log"}
    finally:
        review.terminate()
        try:
            review.wait(timeout=20)
        except subprocess.TimeoutExpired:
            review.kill()
            review.wait(timeout=20)
        log.close()


def _annotator(
    env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "annotator.cli", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip
    assert SECRET not in out.stdout + out.stderr, args
    return out


def test_ingest_worker_review_export_against_the_started_services(
    stack: dict[str, Any], demo_clip: Path, tmp_path: Path
) -> None:
    env = stack["env"]
    clips = tmp_path / "media" / "clips"
    clips.mkdir(parents=True)
    shutil.copy(demo_clip, clips / "demo.mp4")

    ingested = _annotator(env, "ingest", str(clips))
    assert ingested.returncode == 0, ingested.stderr
    assert "ingested 1 new, 0 already known, 0 failed" in ingested.stdout

    stub = Stub([], lambda body: 0.0)  # answers every chat completion with GOOD
    try:
        worked = _annotator(
            env, "worker", "--drafter", "openai", "--base-url", stub.url,
            "--model", "stub-model-7b",
        )  # fmt: skip
    finally:
        stub.close()
    assert worked.returncode == 0, worked.stdout + worked.stderr
    assert len(stub.posts()) == 1  # one clip, one draft request

    with session_scope(stack["url"]) as s:
        clip = s.exec(select(Clip)).one()
        draft = s.exec(select(Draft).where(Draft.clip_id == clip.id)).one()
        assert clip.id is not None
        assert (clip.name, clip.status) == ("demo.mp4", "drafted")
        assert (draft.caption, draft.labels, draft.valence) == (GOOD["caption"], ["joy"], 0.9)
        assert draft.model_id == "stub-model-7b"
        edit = ReviewInput(
            status=ReviewStatus.EDITED,
            caption="Pleased after a win.",
            labels=["joy", "relief"],
            valence=0.7,
            arousal=0.6,
        )
        saved = save_review(s, clip.id, "alice", draft.id, edit, expected_version=None)
        assert saved.version == 1

    out = tmp_path / "export.jsonl"
    exported = _annotator(env, "export", str(out), "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1
    row = rows[0]
    flat = json.dumps(row)
    assert "Pleased after a win." in flat and "relief" in flat
    assert clip.sha256 in flat

    with session_scope(stack["url"]) as s:
        review = s.exec(select(Review)).one()
        assert (review.caption, review.labels, review.status) == (
            "Pleased after a win.",
            ["joy", "relief"],
            "edited",
        )
    # The review app kept serving against the same database the whole time.
    with urllib.request.urlopen(f"http://127.0.0.1:{stack['port']}/_stcore/health", timeout=5) as r:
        assert r.read() == b"ok"
    assert SECRET not in stack["log"].read_text()


def test_eight_concurrent_reviewers_lose_no_edit_on_postgres(pg_url: str) -> None:
    """8 reviewers at once, each in its own connection: every one annotates and re-edits 10
    clips (160 saves), and all 8 race for the one adjudication of clip 1, retrying on
    StaleReviewError from the version they reload. Nothing is lost or silently overwritten:
    every annotation is at version 2 with its author's second text, and the adjudication's
    history holds each reviewer's verdict exactly once, versions 1..8."""
    import threading

    from db.models import ReviewEvent, ReviewKind
    from db.queries import StaleReviewError, adjudication_for

    people = [f"rev{k}" for k in range(8)]
    with session_scope(pg_url) as s:
        clips = [
            Clip(sha256=f"{i:064x}", name=f"c{i}.mp4", source_uri=f"/m/c{i}.mp4") for i in range(10)
        ]
        s.add_all(clips)
        s.flush()
        ids = [c.id for c in clips if c.id is not None]
    barrier = threading.Barrier(len(people), timeout=60)
    errors: list[BaseException] = []
    stale_retries: list[int] = []

    def verdict(who: str, text: str) -> ReviewInput:
        return ReviewInput(ReviewStatus.EDITED, f"{who}: {text}", [who], 0.1, 0.5)

    def reviewer(who: str) -> None:
        try:
            barrier.wait()
            for clip_id in ids:
                with session_scope(pg_url) as s:
                    save_review(s, clip_id, who, None, verdict(who, "first"), None)
            for clip_id in reversed(ids):
                with session_scope(pg_url) as s:
                    save_review(s, clip_id, who, None, verdict(who, "second"), 1)
            barrier.wait()
            for attempt in range(60):
                try:
                    with session_scope(pg_url) as s:
                        current = adjudication_for(s, ids[0])
                        save_review(
                            s, ids[0], who, None, verdict(who, "final"),
                            current.version if current else None, kind=ReviewKind.ADJUDICATION,
                        )  # fmt: skip
                    stale_retries.append(attempt)
                    return
                except StaleReviewError:
                    time.sleep(0.01 * (attempt % 5))
            raise AssertionError(f"{who}: no adjudication saved in 60 attempts")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(p,), daemon=True) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [] and not any(t.is_alive() for t in threads)

    with session_scope(pg_url) as s:
        annotations = s.exec(select(Review).where(Review.kind == ReviewKind.ANNOTATION)).all()
        assert len(annotations) == 80
        assert all(
            r.version == 2 and r.caption and r.caption.endswith(": second") for r in annotations
        )
        assert {r.caption for r in annotations} == {f"{p}: second" for p in people}
        events = s.exec(select(ReviewEvent).where(ReviewEvent.kind == ReviewKind.ANNOTATION)).all()
        assert len(events) == 160
        final = adjudication_for(s, ids[0])
        assert final is not None and final.version == 8
        history = s.exec(
            select(ReviewEvent).where(ReviewEvent.kind == ReviewKind.ADJUDICATION)
        ).all()
        assert sorted(e.version for e in history) == list(range(1, 9))
        assert sorted(e.caption or "" for e in history) == sorted(f"{p}: final" for p in people)
    assert len(stale_retries) == 8  # each saved once (retries: how often the race was lost)
