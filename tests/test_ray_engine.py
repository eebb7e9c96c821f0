"""`annotator run --engine ray` on a local Ray (2 CPUs, no dashboard, shut down by the run).

The actors claim from the same queue as worker processes: a clip whose extraction phase a
process worker already did is only worded by Ray, from the rows that worker stored.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlmodel import col, select

from annotator.config import Settings
from annotator.engines.worker import ClipWorker, WorkerSpec
from annotator.ingest import ingest
from annotator.work_queue import WORD
from db import Clip, Job, StageRun, session_scope
from tests.utils import (
    ANNOTATOR,
    ROOT,
    assert_no_duplicates,
    cli_env,
    cut_clips,
    items,
    require_extra,
)

pytestmark = require_extra("ray")


def test_ray_actors_share_the_claim_queue(tmp_path: Path, demo_clip: Path) -> None:
    home = tmp_path / "home"
    settings = Settings.load(home=home)
    settings.ensure_home()
    ingest(settings, cut_clips(demo_clip, tmp_path / "clips", 3))

    # A process worker with the options the command below gets extracts the first clip.
    worker = ClipWorker(WorkerSpec(settings, draft=False), worker_id="proc:1")
    worker.queue.enqueue()
    claim = worker.queue.claim()
    assert claim is not None and claim.clip_id == 1
    worker.work_on(claim)

    ran = subprocess.run(
        [*ANNOTATOR, "run", "--no-draft", "--engine", "ray", "--workers", "2"],
        env=cli_env(home),
        cwd=ROOT,
        capture_output=True,
        timeout=400,
    )
    assert ran.returncode == 0, ran.stderr.decode()[-3000:]
    assert "3 clips:" in ran.stdout.decode() and "0 failed" in ran.stdout.decode()

    final = items(settings.db_url)
    assert [(i.state, i.phase) for i in final] == [("done", WORD)] * 3
    assert all(i.worker_id and i.worker_id.startswith("ray:") for i in final)
    assert [i.attempts for i in final] == [2, 2, 2]  # clip 1: proc extracted, ray worded
    assert_no_duplicates(settings.db_url, home, 3)
    with session_scope(settings.db_url) as session:
        job = session.exec(select(Job).order_by(col(Job.id).desc())).first()
        runs = list(session.exec(select(StageRun).where(col(StageRun.stage) != "textualize")))
        statuses = {c.status for c in session.exec(select(Clip))}
    assert job is not None and job.config_json["engine"] == "ray" and job.n_clips == 3
    assert job.n_done + job.n_partial == 3 and job.finished_at is not None
    # Clip 1's cues were the process worker's (no job); Ray extracted only the others.
    assert {r.job_id for r in runs if r.clip_id == 1} == {None}
    assert {r.job_id for r in runs if r.clip_id != 1} == {job.id}
    assert statuses == {"extracted"}
