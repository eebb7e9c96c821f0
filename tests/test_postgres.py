"""The same code on a real PostgreSQL server: pipeline rows, optimistic locking, JSON, the CLI.

``scripts/postgres-test-server.sh start`` installs Debian's postgresql when it is missing and
starts a throwaway cluster on 127.0.0.1:55432. These tests are skipped only when PostgreSQL
cannot be installed on this machine (the script exits 3), and fail even then when CI=true.
Each test gets its own database, created and dropped around it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlmodel import Session, col, func, select

from annotator.cli import sample_clip
from annotator.config import Settings
from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import (
    Clip,
    CueRecord,
    CueTextRecord,
    Draft,
    IngestFailure,
    Job,
    Review,
    ReviewEvent,
    ReviewKind,
    ReviewStatus,
    StageRun,
    get_engine,
    session_scope,
)
from db.queries import (
    ReviewInput,
    StaleReviewError,
    final_review,
    review_for,
    save_review,
    status_counts,
)
from tests.fixtures.postgres import conninfo
from tests.plugins.scripted import VALID_DRAFT, scripted
from tests.utils import ROOT


def _raw(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Ask PostgreSQL directly (psycopg, no SQLAlchemy): what is really stored."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def _count(url: str, table: type) -> int:
    with session_scope(url) as session:
        return session.exec(select(func.count()).select_from(table)).one()


# ----------------------------------------------------------------------------- a. pipeline


def test_pipeline_writes_its_rows_to_postgres_and_a_rerun_adds_none(
    pg_url: str, tmp_path: Path
) -> None:
    settings = scripted(Settings.load(home=tmp_path / "home", db_url=pg_url))
    settings.face_options = {"frame_rate": 1.0}
    assert get_engine(settings.db_url).dialect.name == "postgresql"

    ingested = ingest(settings, [sample_clip()])
    assert [Path(p).name for p in ingested.added] == ["demo.mp4"] and not ingested.failed
    result = Runner(settings).run()
    (outcome,) = result.outcomes
    assert outcome.status == "done", outcome
    assert outcome.draft_status == "valid"

    with session_scope(pg_url) as session:
        clip = session.exec(select(Clip)).one()
        records = {r.modality: r for r in session.exec(select(CueRecord))}
        text = session.exec(select(CueTextRecord)).one()
        draft = session.exec(select(Draft)).one()
        stages = {(r.stage, r.status) for r in session.exec(select(StageRun))}
    assert clip.name == "demo.mp4" and clip.status == "drafted"
    assert clip.has_audio is True and clip.has_video is True
    assert 10.0 < clip.duration_s < 15.0 and len(clip.sha256) == 64
    assert clip.partial is False and clip.missing_json == {}
    assert set(records) == {"face", "voice", "speech"}
    assert all(r.missing_reason is None for r in records.values())
    assert records["face"].summary_json["n_frames_with_face"] >= 8  # ~12 s at 1 fps, one face
    assert (settings.home / records["face"].frames_path).is_file()
    words = [w["text"].lower().strip(".,?!") for w in records["speech"].summary_json["words"]]
    assert "hello" in words
    assert "Visual cues:" in text.prompt_text and "Transcript:" in text.prompt_text
    assert text.partial is False
    assert draft.status == "valid" and draft.cue_text_id == text.id
    assert draft.caption == VALID_DRAFT["caption"]
    assert draft.labels == ["happy", "friendly"]
    assert (draft.valence, draft.arousal, draft.confidence) == (0.6, 0.5, 0.7)
    assert draft.model_id == "scripted-test-model"
    assert stages == {(s, "done") for s in ("face", "voice", "speech", "textualize", "draft")}

    # The same values, read by psycopg straight from PostgreSQL.
    assert _raw(pg_url, "SELECT name, has_audio, status FROM clip") == [
        ("demo.mp4", True, "drafted")
    ]
    assert _raw(pg_url, "SELECT caption, labels, valence FROM draft") == [
        (VALID_DRAFT["caption"], ["happy", "friendly"], 0.6)
    ]
    assert sorted(_raw(pg_url, "SELECT modality FROM cuerecord")) == [
        ("face",),
        ("speech",),
        ("voice",),
    ]

    tables = (StageRun, CueRecord, CueTextRecord, Draft, Clip)
    before = {t.__name__: _count(pg_url, t) for t in tables}
    assert before == {
        "StageRun": 5,
        "CueRecord": 3,
        "CueTextRecord": 1,
        "Draft": 1,
        "Clip": 1,
    }
    again = Runner(settings).run()
    assert {t.__name__: _count(pg_url, t) for t in tables} == before
    assert [o.status for o in again.outcomes] == ["done"]
    assert again.outcomes[0].skipped_stages >= 3
    assert _count(pg_url, Job) == 2  # each run is logged; nothing else grows


# ----------------------------------------------------------------------------- b. locking, JSON


def _seed_clip(url: str) -> int:
    with session_scope(url) as session:
        clip = Clip(
            sha256=uuid.uuid4().hex * 2,
            name="日本 clip ü.mp4",
            source_uri="/data/Séance 1/日本 clip ü.mp4",
            has_audio=True,
            media_json={"streams": [{"kind": "audio", "codec": "aac"}], "note": "日本"},
            missing_json={"face": "no face found — 日本", "speech": "silence"},
            partial=True,
        )
        session.add(clip)
        session.flush()
        assert clip.id is not None
        return clip.id


def _review(caption: str, labels: list[str]) -> ReviewInput:
    return ReviewInput(ReviewStatus.EDITED, caption, labels, 0.3, 0.4)


def _first_review(url: str, clip_id: int) -> None:
    with session_scope(url) as session:
        saved = save_review(session, clip_id, "alice", None, _review("original", ["happy"]), None)
        assert saved.version == 1


def _backend_pid(session: Session) -> int:
    return session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_stale_save_is_refused_between_two_postgres_sessions(pg_url: str) -> None:
    clip_id = _seed_clip(pg_url)
    _first_review(pg_url, clip_id)
    engine = get_engine(pg_url)
    with (
        Session(engine, expire_on_commit=False) as first,
        Session(engine, expire_on_commit=False) as second,
    ):
        assert _backend_pid(first) != _backend_pid(second)  # two server connections
        seen_first, seen_second = review_for(first, clip_id), review_for(second, clip_id)
        assert seen_first is not None and seen_second is not None
        assert seen_first.version == seen_second.version == 1

        saved = save_review(
            first, clip_id, "alice", None, _review("first wins", ["happy"]), seen_first.version
        )
        first.commit()
        assert saved.version == 2

        with pytest.raises(StaleReviewError):
            save_review(  # alice again, in a second tab
                second,
                clip_id,
                "alice",
                None,
                _review("second loses", ["sad"]),
                seen_second.version,
            )
        second.rollback()

    with session_scope(pg_url) as session:
        review = review_for(session, clip_id)
        events = session.exec(select(ReviewEvent).order_by(col(ReviewEvent.version))).all()
    assert review is not None
    assert (review.version, review.caption, review.labels) == (2, "first wins", ["happy"])
    assert [(e.version, e.caption) for e in events] == [(1, "original"), (2, "first wins")]
    assert _raw(pg_url, "SELECT version, caption FROM review") == [(2, "first wins")]


def test_a_save_blocked_by_an_open_transaction_is_refused_after_it_commits(pg_url: str) -> None:
    """Truly concurrent: B's UPDATE waits on A's row lock, then matches no row (version moved)."""
    clip_id = _seed_clip(pg_url)
    _first_review(pg_url, clip_id)
    engine = get_engine(pg_url)
    outcome: dict[str, Any] = {}
    with (
        Session(engine, expire_on_commit=False) as first,
        Session(engine, expire_on_commit=False) as second,
    ):
        second.connection().exec_driver_sql("SET lock_timeout = '30s'")  # never hang forever
        pid_second = _backend_pid(second)
        assert review_for(first, clip_id).version == 1  # type: ignore[union-attr]
        assert review_for(second, clip_id).version == 1  # type: ignore[union-attr]
        save_review(first, clip_id, "alice", None, _review("first wins", ["happy"]), 1)
        # first has not committed: it holds the row lock on the review

        def save_second() -> None:
            try:
                save_review(second, clip_id, "alice", None, _review("second loses", ["sad"]), 1)
                outcome["saved"] = True
            except Exception as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=save_second, daemon=True)
        worker.start()
        waited_on = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and worker.is_alive():
            row = _raw(
                pg_url, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", pid_second
            )
            waited_on = row[0][0] if row else None
            if waited_on == "Lock":
                break
            time.sleep(0.05)
        assert waited_on == "Lock", f"second save did not wait on the row lock: {outcome}"
        first.commit()
        worker.join(timeout=30)
        assert not worker.is_alive(), "second save still blocked after the first committed"
        second.rollback()
    assert isinstance(outcome.get("error"), StaleReviewError), outcome
    assert _raw(pg_url, "SELECT version, caption, labels FROM review") == [
        (2, "first wins", ["happy"])
    ]


def test_two_annotators_keep_their_own_reviews_and_one_adjudication_wins(pg_url: str) -> None:
    """A review per annotator; the clip has no final version while they disagree; of two
    adjudicators making the first save from the same state, the second is refused."""
    clip_id = _seed_clip(pg_url)
    _first_review(pg_url, clip_id)
    with session_scope(pg_url) as session:
        save_review(session, clip_id, "bob", None, _review("bob's view", ["sad"]), None)
    with session_scope(pg_url) as session:
        mine, theirs = review_for(session, clip_id, "alice"), review_for(session, clip_id, "bob")
        assert mine is not None and theirs is not None
        assert (mine.caption, theirs.caption) == ("original", "bob's view")
        assert final_review(session, clip_id) is None  # they disagree: waits for adjudication
    engine = get_engine(pg_url)
    with (
        Session(engine, expire_on_commit=False) as first,
        Session(engine, expire_on_commit=False) as second,
    ):
        final = _review("adjudicated", ["sad", "tired"])
        save_review(first, clip_id, "carol", None, final, None, kind=ReviewKind.ADJUDICATION)
        first.commit()
        with pytest.raises(StaleReviewError):
            save_review(
                second, clip_id, "dave", None, _review("x", []), None, kind=ReviewKind.ADJUDICATION
            )
        second.rollback()
    with session_scope(pg_url) as session:
        final_row = final_review(session, clip_id)
        assert final_row is not None
        assert (final_row.kind, final_row.caption) == ("adjudication", "adjudicated")
    assert _raw(pg_url, "SELECT count(*) FROM review WHERE clip_id = %s", clip_id) == [(3,)]


def test_json_columns_round_trip_on_postgres(pg_url: str) -> None:
    clip_id = _seed_clip(pg_url)
    labels = ["happy", "驚き", "überrascht"]
    with session_scope(pg_url) as session:
        save_review(session, clip_id, "アノテーター", None, _review("笑顔で挨拶する", labels), None)

    with session_scope(pg_url) as session:
        clip = session.get(Clip, clip_id)
        review = review_for(session, clip_id)
    assert clip is not None and review is not None
    assert clip.missing_json == {"face": "no face found — 日本", "speech": "silence"}
    assert clip.media_json == {"streams": [{"kind": "audio", "codec": "aac"}], "note": "日本"}
    assert clip.name == "日本 clip ü.mp4"
    assert review.labels == labels and review.caption == "笑顔で挨拶する"

    # Stored as PostgreSQL json (not text): operators work on it and decode the non-ASCII text.
    assert _raw(
        pg_url,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'clip' AND column_name = 'missing_json'",
    ) == [("json",)]
    assert _raw(
        pg_url,
        "SELECT missing_json->>'face', json_typeof(media_json->'streams') FROM clip",
    ) == [("no face found — 日本", "array")]
    assert _raw(pg_url, "SELECT labels->>1, json_array_length(labels) FROM review") == [("驚き", 3)]


# ----------------------------------------------------------------------------- c. CLI


def test_cli_status_json_reads_counts_from_postgres(pg_url: str, tmp_path: Path) -> None:
    with session_scope(pg_url) as session:
        clips = [
            Clip(
                sha256=uuid.uuid4().hex * 2,
                name=f"c{i}.mp4",
                source_uri=f"/d/c{i}.mp4",
                status=status,
            )
            for i, status in enumerate(["drafted", "drafted", "failed"])
        ]
        session.add_all(clips)
        session.flush()
        ids = [c.id for c in clips if c.id is not None]
        assert len(ids) == 3
        for clip_id, status, code in [
            (ids[0], "done", None),
            (ids[1], "partial", None),
            (ids[2], "failed", "unreadable_media"),
        ]:
            session.add(
                StageRun(
                    clip_id=clip_id, stage="face", config_hash="h", status=status, error_code=code
                )
            )
        session.add(StageRun(clip_id=ids[0], stage="voice", config_hash="h", status="done"))
        texts = [
            CueTextRecord(
                clip_id=i,
                config_hash="h",
                textualizer_version="1",
                prompt_text="p",
                readable_text="r",
            )
            for i in ids[:2]
        ]
        session.add_all(texts)
        session.flush()
        for text, status in zip(texts, ["valid", "invalid"], strict=True):
            assert text.id is not None
            session.add(
                Draft(
                    clip_id=text.clip_id,
                    cue_text_id=text.id,
                    config_hash="h",
                    backend="scripted",
                    model_id="m",
                    prompt_version="1",
                    status=status,
                )
            )
        session.add(
            IngestFailure(
                path="/d/empty.mp4",
                error_code="empty_file",
                error_message="/d/empty.mp4: empty file",
            )
        )
        session.flush()
        save_review(
            session,
            ids[0],
            "alice",
            None,
            ReviewInput(ReviewStatus.ACCEPTED, "ok", ["happy"], 0.1, 0.2),
            None,
        )

    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "annotator.cli",
            "status",
            "--json",
            "--db",
            pg_url,
            "--home",
            str(tmp_path / "home"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout)
    assert counts == {
        "clips": {"reviewed": 1, "drafted": 1, "failed": 1},
        "stages": {"face": {"done": 1, "partial": 1, "failed": 1}, "voice": {"done": 1}},
        "errors": {"unreadable_media": 1, "empty_file": 1},
        "drafts": {"valid": 1, "invalid": 1},
        "reviews": {"accepted": 1},
        "ingest_failures": [["/d/empty.mp4", "/d/empty.mp4: empty file"]],
    }
    with session_scope(pg_url) as session:
        assert counts == json.loads(json.dumps(status_counts(session)))
    # it read PostgreSQL, not a SQLite file in --home
    assert not (tmp_path / "home" / "annotator.db").exists()
    assert _count(pg_url, Review) == 1
