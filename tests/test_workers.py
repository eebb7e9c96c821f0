"""Workers on one database: claims, leases, a worker killed midway, the per-clip timeout.

Claims are checked on SQLite and PostgreSQL (the throwaway server of test_postgres.py). The
process tests run real `annotator worker` / `annotator run --workers` subprocesses with the
real offline extractors on short cuts of the bundled demo clip (`--no-draft`: drafting goes
through the same claims and is covered in-process with the scripted drafter).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from annotator.config import Settings
from annotator.engines.worker import ClipWorker, WorkerSpec
from annotator.ingest import ingest
from annotator.work_queue import EXTRACT, MAX_CLAIMS, WORD, WorkQueue, clip_time_limit
from db import (
    Clip,
    Draft,
    StageRun,
    WorkItem,
    WorkState,
    session_scope,
)
from db.models import utcnow
from tests.plugins.scripted import VALID_DRAFT, scripted
from tests.utils import (
    ANNOTATOR,
    ROOT,
    assert_no_duplicates,
    cli_env,
    cut_clips,
    items,
    stage_rows,
    wait_for,
)


def _fake_clips(url: str, n: int) -> list[int]:
    with session_scope(url) as session:
        rows = [
            Clip(sha256=f"{i:064x}", name=f"c{i}.mp4", source_uri=f"/x/c{i}.mp4", duration_s=i)
            for i in range(1, n + 1)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows if r.id is not None]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'q.db'}"
    else:
        yield request.getfixturevalue("pg_url")


# ----------------------------------------------------------------------------- claims


def test_claims_leases_and_phases(any_url: str) -> None:
    ids = _fake_clips(any_url, 3)
    a = WorkQueue(any_url, "k1", worker_id="host:1", lease_s=30)
    b = WorkQueue(any_url, "k1", worker_id="host:2", lease_s=30)
    assert a.enqueue() == 3 and b.enqueue() == 0  # idempotent, per queue key
    assert WorkQueue(any_url, "other").enqueue(ids[:1]) == 1

    first, second = a.claim(), b.claim()
    assert first is not None and second is not None
    assert (first.clip_id, second.clip_id) == (ids[0], ids[1])
    assert (first.phase, first.attempts, second.duration_s) == (EXTRACT, 1, 2.0)
    third = a.claim()
    assert third is not None and third.clip_id == ids[2]
    assert a.claim() is None and a.unfinished() == 3

    # Extraction done for two clips: wording waits while the third is still extracting.
    from annotator.stage_store import ClipOutcome

    assert a.advance(first.item_id, ClipOutcome(ids[0], "c1.mp4", "done", missing={"face": "x"}))
    assert b.advance(second.item_id, ClipOutcome(ids[1], "c2.mp4", "done"))
    assert not b.advance(third.item_id, ClipOutcome(ids[2], "c3.mp4", "done"))  # not b's
    assert b.claim() is None

    # a dies holding the third clip: once its lease has passed, b takes it over.
    _expire(any_url, third.item_id)
    taken = b.claim()
    assert taken is not None and (taken.clip_id, taken.attempts) == (ids[2], 2)
    assert not a.renew(third.item_id)  # the old owner learns it lost the claim
    assert b.renew(third.item_id)
    assert b.advance(taken.item_id, ClipOutcome(ids[2], "c3.mp4", "done"))

    worded = a.claim()
    assert worded is not None and worded.phase == WORD and worded.clip_id == ids[0]
    assert worded.outcome["missing"] == {"face": "x"}  # carried from the extract phase
    assert a.finish(worded.item_id, ClipOutcome(ids[0], "c1.mp4", "partial"))
    rest = [b.claim(), b.claim()]
    assert all(c is not None and c.phase == WORD for c in rest)
    failed = ClipOutcome(ids[1], "c2.mp4", "failed", [("no_audio", "c2.mp4: no audio")])
    assert b.finish(rest[0].item_id, failed)  # type: ignore[union-attr]
    assert b.finish(rest[1].item_id, ClipOutcome(ids[2], "c3.mp4", "done"))  # type: ignore[union-attr]
    assert a.claim() is None and a.unfinished() == 0
    assert a.counts() == Counter({"done": 2, "failed": 1})
    outcomes = a.outcomes()
    assert [(o.clip_id, o.status) for o in outcomes] == [
        (ids[0], "partial"),
        (ids[1], "failed"),
        (ids[2], "done"),
    ]
    assert outcomes[1].errors == [("no_audio", "c2.mp4: no audio")]
    by_clip = {i.clip_id: i for i in items(any_url) if i.queue_key == "k1"}
    assert by_clip[ids[1]].error_code == "no_audio" and by_clip[ids[1]].state == "failed"

    # A new run pass puts finished items back; a claim held by someone is left alone.
    assert a.enqueue(reset=True) == 3
    assert a.counts() == Counter({"pending": 3})


def test_concurrent_claimers_never_share_an_item(any_url: str) -> None:
    n = 40
    _fake_clips(any_url, n)
    WorkQueue(any_url, "k").enqueue()
    got: dict[str, list[int]] = {}

    def claimer(name: str) -> None:
        queue = WorkQueue(any_url, "k", worker_id=name, lease_s=60)
        mine = got.setdefault(name, [])
        while (claim := queue.claim()) is not None:
            mine.append(claim.clip_id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    claimed = [c for clips in got.values() for c in clips]
    assert len(claimed) == n and len(set(claimed)) == n
    assert {i.worker_id for i in items(any_url)} <= set(got)


def _expire(url: str, item_id: int) -> None:
    with session_scope(url) as session:
        session.exec(
            update(WorkItem)
            .where(col(WorkItem.id) == item_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )  # type: ignore[call-overload]


def test_a_clip_that_keeps_killing_its_workers_fails(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    clip_id, other = _fake_clips(url, 2)
    queue = WorkQueue(url, "k", worker_id="host:9", lease_s=30)
    queue.enqueue([clip_id])
    for attempt in range(1, MAX_CLAIMS + 1):  # each worker dies holding it
        claim = queue.claim()
        assert claim is not None and (claim.clip_id, claim.attempts) == (clip_id, attempt)
        _expire(url, claim.item_id)
    queue.enqueue([other])
    nxt = queue.claim()  # the poisoned clip is failed on the way, the next one claimed
    assert nxt is not None and nxt.clip_id == other
    (poisoned,) = [i for i in items(url) if i.clip_id == clip_id]
    assert (poisoned.state, poisoned.error_code) == ("failed", "worker_died")
    with session_scope(url) as session:
        clip = session.get(Clip, clip_id)
    assert clip is not None and (clip.status, clip.error_code) == ("failed", "worker_died")
    assert (
        clip.error_message
        == f"c1.mp4: {MAX_CLAIMS} claims on this clip ended with their worker dead"
    )


def test_time_limit_default() -> None:
    assert clip_time_limit(None, 12.0) == 300.0
    assert clip_time_limit(None, 3600.0) == 36000.0
    assert clip_time_limit(2.5, 3600.0) == 2.5


def test_claimed_phases_make_the_rows_of_a_single_run(tmp_path: Path, demo_clip: Path) -> None:
    """One in-process worker with the scripted drafter: the two phases through the queue
    draft every clip once; a second worker on the same queue finds nothing to do."""
    settings = scripted(Settings.load(home=tmp_path / "home"))
    settings.face_options = {"frame_rate": 2.0}
    ingest(settings, cut_clips(demo_clip, tmp_path / "clips", 2))
    spec = WorkerSpec(settings, lease_s=30)
    worker = ClipWorker(spec, worker_id="test:1")
    worker.queue.enqueue()
    assert worker.run() == 4  # two clips, two phases each
    assert ClipWorker(spec, worker_id="test:2").run() == 0
    with session_scope(settings.db_url) as session:
        drafts = list(session.exec(select(Draft)))
        clips = list(session.exec(select(Clip)))
        n_runs = session.exec(select(func.count()).select_from(StageRun)).one()
    assert [d.caption for d in drafts] == [VALID_DRAFT["caption"]] * 2
    assert {c.status for c in clips} == {"drafted"} and n_runs == 10
    assert [(i.state, i.phase, i.attempts, i.worker_id) for i in items(settings.db_url)] == [
        ("done", WORD, 2, "test:1")
    ] * 2
    assert_no_duplicates(settings.db_url, settings.home, 2)


# ----------------------------------------------------------------------------- processes


def _kill_a_claim_holder(url: str, timeout: float) -> tuple[str, int]:
    """Wait until one clip is finished and another is held; SIGKILL the holder's process.
    The item it held (still claimed by it) is returned with the worker id."""
    for _ in range(3):  # the holder may finish between our look and the kill: look again
        held = wait_for(
            lambda: (
                any(i.state in ("done", "failed") or i.phase == WORD for i in items(url))
                and [i for i in items(url) if i.state == WorkState.CLAIMED]
            ),
            timeout,
            "a clip finished and another claimed",
        )
        worker_id, item_id = held[0].worker_id, held[0].id
        os.kill(int(worker_id.rsplit(":", 1)[1]), signal.SIGKILL)
        time.sleep(0.5)  # let the process go (the assertion below reads the database)
        orphan = [i for i in items(url) if i.id == item_id and i.worker_id == worker_id]
        if orphan and orphan[0].state == WorkState.CLAIMED:
            return worker_id, item_id
    raise AssertionError("no worker could be killed while it held a claim")


def _workers_with_one_killed(
    url: str, home: Path, demo: Path, tmp: Path, supervisors: int, per: int, n_clips: int
) -> None:
    env = cli_env(home)
    clips = cut_clips(demo, tmp / "clips", n_clips)
    settings = Settings.load(home=home, db_url=url)
    settings.ensure_home()
    ingest(settings, clips)
    command = [*ANNOTATOR, "worker", "--db", url, "--no-draft", "--lease", "6"]
    command += ["--workers", str(per)]
    procs = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(supervisors)
    ]
    try:
        killed, item_id = _kill_a_claim_holder(url, timeout=150)
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
    final = items(url)
    assert len(final) == n_clips
    assert [(i.state, i.phase) for i in final] == [("done", WORD)] * n_clips
    taken_over = next(i for i in final if i.id == item_id)
    assert taken_over.worker_id != killed and taken_over.attempts >= 2
    assert sum(i.attempts for i in final) >= 2 * n_clips + 1  # two phases each, one retaken
    assert_no_duplicates(url, home, n_clips)
    with session_scope(url) as session:
        statuses = [c.status for c in session.exec(select(Clip))]
    assert statuses == ["extracted"] * n_clips


def test_four_workers_on_postgres_one_killed(
    pg_url: str,
    tmp_path: Path,
    demo_clip: Path,
) -> None:
    _workers_with_one_killed(pg_url, tmp_path / "home", demo_clip, tmp_path, 2, 2, 6)


def test_two_workers_on_sqlite_one_killed(tmp_path: Path, demo_clip: Path) -> None:
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'annotator.db'}"
    _workers_with_one_killed(url, home, demo_clip, tmp_path, 1, 2, 4)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by the forkserver) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ", 1)[1][:1] != "Z"


def test_workers_die_with_their_supervisor(tmp_path: Path, demo_clip: Path) -> None:
    """`kill -9` of `run --workers` takes its workers down at once: their parent is the
    forkserver (alive while any worker is), so only a watch on the supervisor can; an
    orphan would go on extracting and renewing its lease for a run nobody waits for."""
    home = tmp_path / "home"
    settings = Settings.load(home=home)
    settings.ensure_home()
    ingest(settings, cut_clips(demo_clip, tmp_path / "clips", 4, seconds=6.0))
    command = [*ANNOTATOR, "run", "--no-draft", "--workers", "2", "--lease", "30"]
    proc = subprocess.Popen(command, env=cli_env(home), cwd=ROOT)
    try:
        held = wait_for(
            lambda: [i for i in items(settings.db_url) if i.state == WorkState.CLAIMED],
            150,
            "a claimed clip",
        )
        pids = {int(i.worker_id.rsplit(":", 1)[1]) for i in held}
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        rows = stage_rows(settings.db_url)
        # Within a second: a 6-s clip takes its worker longer than that to finish.
        wait_for(lambda: not any(_alive(p) for p in pids), 1.0, "the workers to die")
        time.sleep(3.0)  # nothing of the killed run goes on working
        assert stage_rows(settings.db_url) == rows
        assert {i.state for i in items(settings.db_url)} != {"done"}  # it was interrupted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_clip_timeout_kills_the_worker_and_the_batch_goes_on(
    tmp_path: Path, demo_clip: Path
) -> None:
    """A limit no real clip can meet: each worker is killed on its clip and replaced, every
    clip is failed with code timeout (none left claimed), and the run says so; a rerun
    without the limit finishes them."""
    home = tmp_path / "home"
    settings = Settings.load(home=home)
    settings.ensure_home()
    ingest(settings, cut_clips(demo_clip, tmp_path / "clips", 3))
    env = cli_env(home)
    base = [*ANNOTATOR, "run", "--no-draft", "--workers", "2"]
    timed = subprocess.run(
        [*base, "--clip-timeout", "0.05"], env=env, cwd=ROOT, capture_output=True, timeout=240
    )
    assert timed.returncode == 1, timed.stderr.decode()[-2000:]
    final = items(settings.db_url)
    assert [(i.state, i.error_code, i.attempts) for i in final] == [("failed", "timeout", 1)] * 3
    with session_scope(settings.db_url) as session:
        clips = list(session.exec(select(Clip).order_by(col(Clip.id))))
    assert [(c.status, c.error_code) for c in clips] == [("failed", "timeout")] * 3
    assert "0.05 s time limit" in (clips[0].error_message or "")
    out = timed.stdout.decode()
    assert "3 clips: 0 done, 0 partial, 3 failed (timeout: 3)" in out, out

    again = subprocess.run(base, env=env, cwd=ROOT, capture_output=True, timeout=240)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert [(i.state, i.attempts) for i in items(settings.db_url)] == [("done", 2)] * 3
    with session_scope(settings.db_url) as session:
        assert {c.error_code for c in session.exec(select(Clip))} == {None}


def test_follow_picks_up_clips_ingested_later(tmp_path: Path, demo_clip: Path) -> None:
    settings = Settings.load(home=tmp_path / "home")
    settings.ensure_home()
    clips = cut_clips(demo_clip, tmp_path / "clips", 2)
    ingest(settings, clips[:1])
    worker = ClipWorker(
        WorkerSpec(settings, draft=False, follow=True, poll_s=0.2), worker_id="test:f"
    )
    worker.queue.enqueue()
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(worker.run(max_idle_polls=1500)))
    thread.start()
    try:
        wait_for(lambda: worker.queue.counts()["done"] == 1, 120, "the first clip")
        assert thread.is_alive()  # following: still there with an empty queue
        ingest(settings, clips[1:])
        wait_for(lambda: worker.queue.counts()["done"] == 2, 120, "the clip ingested later")
    finally:
        worker.stop()
        thread.join(timeout=120)
    assert done == [4] and not thread.is_alive()
    assert [(i.state, i.worker_id) for i in items(settings.db_url)] == [("done", "test:f")] * 2


def test_a_stage_row_another_worker_stored_first_is_updated_not_duplicated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race two workers on one clip can have: our look-up misses the row the other
    committed a moment later, the unique key refuses our insert, the second try updates it."""
    import annotator.stage_store as stage_store

    settings = Settings.load(home=tmp_path / "home")
    settings.ensure_home()
    (clip_id,) = _fake_clips(settings.db_url, 1)
    store = stage_store.StageStore()
    store.settings = settings
    store._save_stage(clip_id, "face", "k", {}, "failed", None, code="other_worker")
    looks: list[int] = []
    real = stage_store.stage_run

    def stale_first(session: Any, *key: Any) -> Any:
        looks.append(1)
        return None if len(looks) == 1 else real(session, *key)

    monkeypatch.setattr(stage_store, "stage_run", stale_first)
    store._save_stage(clip_id, "face", "k", {"a": 1}, "done", None)
    with session_scope(settings.db_url) as session:
        rows = list(session.exec(select(StageRun)))
    assert len(looks) == 2
    assert [(r.stage, r.status, r.config_json, r.error_code) for r in rows] == [
        ("face", "done", {"a": 1}, None)
    ]
