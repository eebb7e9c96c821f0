"""A native crash fails one clip, not the batch (annotator/engines/contained.py).

The crashing backends (tests/plugins/crashing.py) die for real: a NULL read, SIGSEGV, in
the process that runs them. The runs are real `annotator run` subprocesses with the real
offline extractors on short cuts of the demo clip.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
from pathlib import Path

import pytest
from sqlmodel import select

from annotator.engines.contained import ChildHost, crashed, exit_description
from db import Clip, ClipStatus, Draft, session_scope
from db.engine import sqlite_url
from extractors.errors import NativeCrashError
from tests.utils import ANNOTATOR, cli_env, cut_clips

DIED = "drafter process died: signal 11 (segmentation fault); run 'annotator doctor'"


class Target:
    """Served from a child in the ChildHost tests."""

    def pid(self) -> int:
        return os.getpid()

    def die(self, signum: int) -> None:
        os.kill(os.getpid(), signum)

    def fail(self) -> None:
        raise ValueError("a Python error crosses the pipe as itself")


def test_exit_descriptions_name_the_signal() -> None:
    assert exit_description(-11) == "signal 11 (segmentation fault)"
    assert exit_description(-4) == "signal 4 (illegal instruction: a build for another CPU)"
    assert exit_description(-9) == "signal 9 (killed: out of memory?)"
    assert exit_description(3) == "exit 3"
    assert crashed(-11) and crashed(-4) and not crashed(-9) and not crashed(1)


def test_child_host_survives_its_childs_death_and_starts_a_new_one() -> None:
    with ChildHost(functools.partial(Target), "test") as host:
        first = host.call("pid")
        assert first != os.getpid() and host.call("pid") == first  # kept across calls
        with pytest.raises(ValueError, match="crosses the pipe"):
            host.call("fail")
        assert host.call("pid") == first  # a Python error does not end the child
        for signum, text in ((signal.SIGILL, r"signal 4 \(illegal"), (signal.SIGKILL, "signal 9")):
            with pytest.raises(NativeCrashError, match=r"test process died: " + text):
                host.call("die", int(signum))
        second = host.call("pid")
        assert second not in (first, os.getpid()) and host.starts == 3  # 1 + one per death


@pytest.fixture
def four_clips(tmp_path: Path, demo_clip: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    clips = cut_clips(demo_clip, tmp_path / "media", 4, seconds=1.5)
    env = {**cli_env(home), "ANNOTATOR_PLUGINS": "tests.plugins.crashing"}
    done = subprocess.run(
        [*ANNOTATOR, "ingest", *map(str, clips)], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    return home, env


def _clips(home: Path) -> list[Clip]:
    with session_scope(sqlite_url(home / "annotator.db")) as session:
        return list(session.exec(select(Clip).order_by(Clip.id)))  # type: ignore[arg-type]


def _drafts(home: Path) -> dict[int, Draft]:
    with session_scope(sqlite_url(home / "annotator.db")) as session:
        return {d.clip_id: d for d in session.exec(select(Draft))}


@pytest.mark.slow
def test_a_segfaulting_drafter_fails_one_clip_and_the_rerun_drafts_it(
    four_clips: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    home, env = four_clips
    marker = tmp_path / "crash-once"
    marker.touch()
    env = {**env, "SEGFAULT_TEST_CRASH_FILE": str(marker)}
    run = [*ANNOTATOR, "run", "--drafter", "segfault-test"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    out = first.stdout + first.stderr
    assert first.returncode == 1, out
    assert "Traceback" not in out and not marker.exists()
    assert out.count(DIED) == 1, out
    assert "run 1: 4 clips: " in out and " 1 failed (native_crash: 1)" in out, out
    assert "WARNING" not in out  # the one line per clip, nothing else

    clips = _clips(home)
    failed = [c for c in clips if c.status == ClipStatus.FAILED]
    assert [c.name for c in failed] == ["cut1.mp4"]  # the second request of the batch
    assert failed[0].error_code == "native_crash" and failed[0].error_message.endswith(DIED)
    drafts = _drafts(home)
    assert sorted(drafts) == [c.id for c in clips if c.name != "cut1.mp4"]
    pids = [drafts[c.id].sampling_json["pid"] for c in clips if c.id in drafts]
    # one child before the crash, one after it, kept for the rest of the batch
    assert pids[0] != pids[1] == pids[2], pids

    status = subprocess.run(
        [*ANNOTATOR, "status"], env=env, capture_output=True, text=True, timeout=120
    )
    assert "native_crash: 1" in status.stdout, status.stdout

    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "run 2: 4 clips: " in again.stdout and " 0 failed" in again.stdout
    assert len(_drafts(home)) == 4
    assert all(c.status == ClipStatus.DRAFTED and c.error_code is None for c in _clips(home))


@pytest.mark.slow
def test_a_segfaulting_face_runtime_fails_its_clip_and_the_batch_goes_on(
    tmp_path: Path, demo_clip: Path
) -> None:
    home = tmp_path / "home"
    clips = cut_clips(demo_clip, tmp_path / "media", 3, seconds=1.5)
    clips[1] = clips[1].rename(clips[1].with_name("crash here.mp4"))
    marker = tmp_path / "crash-once"
    marker.touch()
    env = {
        **cli_env(home),
        "ANNOTATOR_PLUGINS": "tests.plugins.crashing",
        "SEGFAULT_TEST_CRASH_FILE": str(marker),
    }
    assert (
        subprocess.run([*ANNOTATOR, "ingest", *map(str, clips)], env=env, timeout=120).returncode
        == 0
    )
    run = [*ANNOTATOR, "run", "--face", "segfault-test", "--drafter", "segfault-test"]
    run.append("--serial-stages")  # the face stage first and alone: the message names it
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    out = first.stdout + first.stderr
    assert first.returncode == 1 and "Traceback" not in out, out
    assert (
        "crash here.mp4: extraction process died during face: signal 11 (segmentation fault); "
        "run 'annotator doctor'"
    ) in out, out
    assert "run 1: 3 clips: " in out and " 1 failed (native_crash: 1)" in out, out
    assert sorted(c.name for c in _clips(home) if c.id in _drafts(home)) == ["cut0.mp4", "cut2.mp4"]

    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(_drafts(home)) == 3
