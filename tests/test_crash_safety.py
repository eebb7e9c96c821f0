"""`kill -9` in the middle of a batch, then a rerun: no duplicate row, nothing lost, no torn
Parquet file.

`annotator run` (the single process, and the supervised workers) is killed with SIGKILL at
seeded points: after a seeded number of new stage rows have been committed, plus a seeded
delay, so kills land inside extraction, between stages and during writes. Wherever they land,
the rerun must finish every clip with exactly the rows one clean run makes.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
from sqlmodel import col, select

from annotator.config import Settings
from annotator.ingest import ingest
from db import Clip, CueRecord, StageRun, session_scope
from tests.utils import ANNOTATOR, ROOT, assert_no_duplicates, cli_env, cut_clips, stage_rows

SEED = 20261130
N_CLIPS = 4
STAGES = 4  # face, voice, speech, textualize: stage rows per clip


def _kill_after(proc: subprocess.Popen[bytes], url: str, new_rows: int, delay: float) -> bool:
    """SIGKILL ``proc`` once ``new_rows`` more stage rows are committed, ``delay`` s later;
    False when it finished first (bounded: 240 s)."""
    start = stage_rows(url)
    deadline = time.monotonic() + 240
    while proc.poll() is None and stage_rows(url) < start + new_rows:
        assert time.monotonic() < deadline, "the run made no progress in 240 s"
        time.sleep(0.1)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return True


def test_kill_9_at_random_points_then_rerun(tmp_path: Path, demo_clip: Path) -> None:
    rng = random.Random(SEED)
    home = tmp_path / "home"
    settings = Settings.load(home=home)
    settings.ensure_home()
    ingest(settings, cut_clips(demo_clip, tmp_path / "clips", N_CLIPS))
    env = cli_env(home)
    url = settings.db_url
    base = [*ANNOTATOR, "run", "--no-draft", "--lease", "3"]

    kills = 0
    # The single process and the supervised workers in turn, until the batch has been
    # interrupted three times. Each kill is triggered while at least a clip's worth of
    # stages is still to do, so it lands inside the batch and not after its end (short
    # clips finish fast; a fixed trigger sometimes fired after the last row).
    for workers in (1, 2, 1, 2, 1, 2):
        remaining = STAGES * N_CLIPS - stage_rows(url)
        if kills >= 3 or remaining <= STAGES:
            break
        proc = subprocess.Popen(
            [*base, "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        new_rows = min(rng.randint(1, 3), remaining - STAGES)
        try:
            kills += _kill_after(proc, url, new_rows, rng.uniform(0.0, 0.4))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert kills >= 2  # the batch was really interrupted, more than once

    done = subprocess.run(base, env=env, cwd=ROOT, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert f"{N_CLIPS} clips:" in done.stdout.decode()
    assert_no_duplicates(url, home, N_CLIPS)
    with session_scope(url) as session:
        clips = list(session.exec(select(Clip).order_by(col(Clip.id))))
        records = list(session.exec(select(CueRecord)))
        runs = list(session.exec(select(StageRun)))
    assert [c.status for c in clips] == ["extracted"] * N_CLIPS
    assert {(r.clip_id, r.modality) for r in records} == {
        (c.id, m) for c in clips for m in ("face", "voice", "speech")
    }  # nothing lost: every clip has all three
    assert {r.status for r in runs} <= {"done", "partial"}
    # Every Parquet file is whole, and the rows point at exactly the files there are.
    files = sorted(p.relative_to(home) for p in (home / "cues").rglob("*.parquet"))
    assert files == sorted(Path(r.frames_path) for r in records if r.frames_path)
    for path in files:
        assert pq.read_table(home / path).num_rows > 0
