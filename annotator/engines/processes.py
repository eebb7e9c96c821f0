"""``run --workers N`` and ``annotator worker``: N worker processes under one supervisor.

Each worker is a process (forked from a server that preloaded the pipeline) with its own
Runner (models load once per process) that claims clips from the queue (``ClipWorker``) and
tells the supervisor which clip it holds.
The supervisor enforces the per-clip time limit: a worker past it is killed (SIGKILL: a
decoder stuck inside FFmpeg cannot be interrupted any other way), its clip failed with code
``timeout``, and a fresh worker takes its place. A worker that dies otherwise (killed from
outside, out of memory) is replaced too, a bounded number of times; its clip waits for its
lease to run out, then any worker takes it over. A worker that crashes (SIGSEGV, SIGILL:
a native runtime) fails the clip it held at once with ``native_crash``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from annotator.engines.contained import DOCTOR_HINT, crashed, exit_description
from annotator.engines.worker import ClipWorker, WorkerSpec
from annotator.work_queue import Claim, WorkQueue, clip_time_limit
from extractors.errors import NativeCrashError

log = logging.getLogger(__name__)


@dataclass
class _Child:
    process: BaseProcess
    conn: Connection
    holding: tuple[int, str, float] | None = None  # item id, worker id, deadline (monotonic)


@dataclass
class SupervisorReport:
    """What happened to the worker processes (the clips' outcomes are in the queue)."""

    started: int = 0
    timed_out: list[int] = field(default_factory=list)  # clip ids stopped at the time limit
    died: int = 0  # workers that died without being told to (replaced while work remained)
    crashed: list[int] = field(default_factory=list)  # clip ids failed by a worker's crash


def run_processes(
    spec: WorkerSpec,
    queue: WorkQueue,
    workers: int,
    clip_timeout: float | None = None,
    on_tick: Callable[[], None] | None = None,
    max_restarts: int | None = None,
) -> SupervisorReport:
    """Run ``workers`` worker processes until none is left (each exits when nothing is
    left to claim); replace any that is killed or dies while the queue still has work."""
    # Forked from a server that imported the pipeline once: a worker (or its replacement
    # after a timeout) starts without paying the imports again, and inherits no database
    # connection or thread of this process (as a plain fork would).
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["annotator.engines.worker"])
    report = SupervisorReport()
    restarts_left = max_restarts if max_restarts is not None else 3 * workers
    durations: dict[int, float] = {}

    def start() -> _Child:
        parent, child = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_child_main, args=(spec, child, os.getpid()), name="annotator-worker"
        )
        process.start()
        child.close()
        report.started += 1
        return _Child(process, parent)

    children = [start() for _ in range(workers)]
    try:
        while children:
            ready = wait([c.conn for c in children] + [c.process.sentinel for c in children], 0.2)
            now = time.monotonic()
            for child in list(children):
                if child.conn in ready:
                    _read(child, clip_timeout, durations, now)
                if child.holding is not None and now > child.holding[2]:
                    item_id, worker_id, _ = child.holding
                    _kill(child)
                    limit = clip_time_limit(clip_timeout, durations.get(item_id, 0.0))
                    message = f"stopped after the clip's {limit:g} s time limit (--clip-timeout)"
                    if queue.fail(item_id, worker_id, "timeout", message):
                        report.timed_out.append(item_id)
                    children.remove(child)
                    if spec.follow or queue.unfinished():
                        children.append(start())
                elif not child.process.is_alive():
                    child.process.join()
                    children.remove(child)
                    if child.process.exitcode != 0:
                        report.died += 1
                        code = child.process.exitcode
                        died = exit_description(code)
                        log.warning("worker %s died (%s)", child.process.pid, died)
                        if child.holding is not None and crashed(code):
                            # A runtime crash (SIGSEGV, SIGILL...) fails the clip it was on at
                            # once; a kill from outside leaves it to the lease (another worker).
                            item_id, worker_id, _ = child.holding
                            message = f"worker process died: {died}; {DOCTOR_HINT}"
                            if queue.fail(item_id, worker_id, NativeCrashError.code, message):
                                report.crashed.append(item_id)
                        if (spec.follow or queue.unfinished()) and restarts_left > 0:
                            restarts_left -= 1
                            children.append(start())
            if on_tick:
                on_tick()
    finally:
        for child in children:  # interrupted (Ctrl-C): take the workers down with us
            _kill(child)
    return report


def _read(
    child: _Child, clip_timeout: float | None, durations: dict[int, float], now: float
) -> None:
    with contextlib.suppress(EOFError, OSError):
        while child.conn.poll():
            message = child.conn.recv()
            if message is None:
                child.holding = None
                continue
            item_id, worker_id, duration = message
            durations[item_id] = duration
            child.holding = (item_id, worker_id, now + clip_time_limit(clip_timeout, duration))


def _kill(child: _Child) -> None:
    if child.process.is_alive() and child.process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.process.pid, signal.SIGKILL)
    child.process.join()
    child.conn.close()


def _child_main(spec: WorkerSpec, conn: Connection, supervisor_pid: int) -> None:
    """A worker process: dies with its supervisor, claims until nothing is left."""
    die_with(supervisor_pid)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    def tell(claim: Claim | None) -> None:
        conn.send(
            None if claim is None else (claim.item_id, worker.queue.worker_id, claim.duration_s)
        )

    worker = ClipWorker(spec, on_claim=tell)
    worker.run()
    conn.close()


def die_with(supervisor_pid: int) -> None:
    """SIGKILL this process as soon as its supervisor dies (killed with -9 it cannot stop
    us), so no orphan goes on working and renewing a lease for a run nobody waits for.

    The worker's parent is the forkserver, not the supervisor, and the forkserver lives as
    long as any worker does, so ``PR_SET_PDEATHSIG`` alone never fires: a daemon thread
    waits on a pidfd of the supervisor (Linux), or polls its pid elsewhere.
    """
    threading.Thread(
        target=_wait_then_die, args=(supervisor_pid,), name="supervisor-watch", daemon=True
    ).start()


def _wait_then_die(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGKILL)  # gone before we looked
        return
    except (OSError, AttributeError):  # no pidfd (not Linux, old kernel): poll the pid
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            time.sleep(0.5)
    else:
        select.select([fd], [], [])  # readable once the process has exited
    os.kill(os.getpid(), signal.SIGKILL)
