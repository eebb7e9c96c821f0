"""Claims on clips for parallel workers: a queue per run in the ``workitem`` table.

Every worker (``run --workers N``, ``annotator worker`` on any machine, a Ray actor) claims
one item at a time from the same table, so they interoperate and nothing else schedules.

* Claiming is one short transaction: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL
  (concurrent claimers skip each other's rows instead of waiting), ``BEGIN IMMEDIATE`` on
  SQLite (one writer at a time; the engine's 30 s busy timeout makes the others wait).
* A claim holds for a lease the worker renews while it works (``Lease``). A worker that
  dies stops renewing; once ``lease_until`` has passed, any worker may take the item over.
* Work on an item is idempotent: stage rows are unique by (clip, stage, config hash), so a
  clip taken over after a lease reuses what the dead worker stored and never duplicates it.
* Two phases, as in the single-process run: a clip is worded (textualized, drafted) only
  once no clip of the queue is still being extracted, so each speaker's baseline is whole.

Lease times come from each worker's clock: machines sharing a queue need synchronised
clocks (NTP) and a lease well above their skew.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from annotator.stage_store import ClipOutcome
from db import Clip, WorkItem, WorkState, get_engine
from db.models import ClipStatus, OutcomeStatus, utcnow
from extractors.errors import first_line

EXTRACT = "extract"
WORD = "word"
#: Seconds a claim holds without renewal; a dead worker's clip waits this long at most.
DEFAULT_LEASE_S = 60.0
#: Claims a clip may have (two phases make two): a clip whose workers keep dying on it (a
#: decoder that crashes the process) fails with ``worker_died`` instead of killing more.
MAX_CLAIMS = 5


def worker_name() -> str:
    """``host:pid``: which process holds a claim (a supervisor kills it by this pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def clip_time_limit(clip_timeout: float | None, duration_s: float) -> float:
    """Seconds one clip may take: ``--clip-timeout``, else max(300 s, 10x its duration)."""
    if clip_timeout is not None:
        return clip_timeout
    return max(300.0, 10.0 * duration_s)


@dataclass(frozen=True)
class Claim:
    """An item this worker holds: the clip, the phase to do, and the clip's outcome so far."""

    item_id: int
    clip_id: int
    phase: str
    attempts: int
    duration_s: float
    outcome: dict[str, Any]


class WorkQueue:
    """One run's queue (``key``: the run's config hash) seen by one worker."""

    def __init__(
        self,
        db_url: str,
        key: str,
        worker_id: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ):
        self.db_url = db_url
        self.key = key
        self.worker_id = worker_id or worker_name()
        self.lease_s = lease_s

    # -- filling

    def enqueue(self, clip_ids: Iterable[int] | None = None, reset: bool = False) -> int:
        """Add the clips (every clip when None) that the queue lacks; ``reset`` also puts
        finished ones back to pending (a new ``run`` pass). Returns how many became pending."""
        for attempt in range(3):
            try:
                return self._enqueue(clip_ids, reset)
            except IntegrityError:  # another worker enqueued the same clips at once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _enqueue(self, clip_ids: Iterable[int] | None, reset: bool) -> int:
        with self._transaction() as conn:
            query = select(Clip.id)
            wanted = None if clip_ids is None else sorted(set(clip_ids))
            if wanted is not None:
                query = query.where(col(Clip.id).in_(wanted))
            ids = [i for i in conn.execute(query).scalars() if i is not None]
            have = set(
                conn.execute(select(WorkItem.clip_id).where(WorkItem.queue_key == self.key))
                .scalars()
                .all()
            )
            new = [i for i in ids if i not in have]
            if new:
                now = utcnow()
                conn.execute(
                    WorkItem.__table__.insert(),  # type: ignore[attr-defined]
                    [
                        {
                            "queue_key": self.key,
                            "clip_id": i,
                            "phase": EXTRACT,
                            "state": WorkState.PENDING,
                            "attempts": 0,
                            "outcome_json": {},
                            "created_at": now,
                        }
                        for i in new
                    ],
                )
            n_reset = 0
            if reset and have:
                again = [i for i in ids if i in have]
                n_reset = conn.execute(
                    update(WorkItem)
                    .where(
                        col(WorkItem.queue_key) == self.key,
                        col(WorkItem.clip_id).in_(again),
                        col(WorkItem.state).in_([WorkState.DONE, WorkState.FAILED]),
                    )
                    .values(
                        state=WorkState.PENDING,
                        phase=EXTRACT,
                        worker_id=None,
                        lease_until=None,
                        attempts=0,
                        error_code=None,
                        error_message=None,
                        outcome_json={},
                        finished_at=None,
                    )
                ).rowcount
            return len(new) + n_reset

    # -- claiming

    def claim(self) -> Claim | None:
        """The next item for this worker, or None: nothing claimable now (see ``unfinished``
        for whether to wait). Extraction first; wording once no extraction is left."""
        with self._transaction() as conn:
            now = utcnow()
            row = self._next(conn, EXTRACT, now)
            if row is None:
                in_flight = conn.execute(
                    select(func.count())
                    .select_from(WorkItem)
                    .where(
                        col(WorkItem.queue_key) == self.key,
                        col(WorkItem.phase) == EXTRACT,
                        col(WorkItem.state).in_([WorkState.PENDING, WorkState.CLAIMED]),
                    )
                ).scalar_one()
                if in_flight:
                    return None  # wording waits for every clip's cues (speaker baselines)
                row = self._next(conn, WORD, now)
            while row is not None and row.attempts >= MAX_CLAIMS:
                message = f"{row.attempts} claims on this clip ended with their worker dead"
                self._fail_row(conn, row.id, row.clip_id, row.outcome_json, "worker_died", message)
                row = self._next(conn, row.phase, now)
            if row is None:
                return None
            conn.execute(
                update(WorkItem)
                .where(col(WorkItem.id) == row.id)
                .values(
                    state=WorkState.CLAIMED,
                    worker_id=self.worker_id,
                    lease_until=now + timedelta(seconds=self.lease_s),
                    attempts=row.attempts + 1,
                    claimed_at=now,
                )
            )
            duration = conn.execute(
                select(Clip.duration_s).where(col(Clip.id) == row.clip_id)
            ).scalar_one()
            return Claim(
                row.id, row.clip_id, row.phase, row.attempts + 1, duration, row.outcome_json or {}
            )

    def _next(self, conn: Connection, phase: str, now: Any) -> Any:
        query = (
            select(WorkItem)
            .where(
                col(WorkItem.queue_key) == self.key,
                col(WorkItem.phase) == phase,
                or_(
                    col(WorkItem.state) == WorkState.PENDING,
                    (col(WorkItem.state) == WorkState.CLAIMED) & (col(WorkItem.lease_until) < now),
                ),
            )
            .order_by(col(WorkItem.id))
            .limit(1)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite holds its write lock
        )
        return conn.execute(query).first()

    def unfinished(self) -> int:
        """Items pending or claimed: more may become claimable (a lease runs out, the
        extraction phase ends), so a worker waits rather than exits while this is not 0."""
        counts = self.counts()
        return counts[WorkState.PENDING] + counts[WorkState.CLAIMED]

    def counts(self) -> Counter[str]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                select(WorkItem.state, func.count())
                .where(col(WorkItem.queue_key) == self.key)
                .group_by(col(WorkItem.state))
            ).all()
        return Counter({state: n for state, n in rows})

    # -- while and after working

    def renew(self, item_id: int) -> bool:
        """Extend this worker's lease; False when the item is no longer its own (the lease
        ran out and another worker took it over)."""
        return self._update_own(item_id, lease_until=utcnow() + timedelta(seconds=self.lease_s))

    def advance(self, item_id: int, outcome: ClipOutcome) -> bool:
        """Extraction done: the item waits for wording, carrying the outcome so far."""
        return self._update_own(
            item_id,
            phase=WORD,
            state=WorkState.PENDING,
            lease_until=None,
            outcome_json=dataclasses.asdict(outcome),
        )

    def finish(self, item_id: int, outcome: ClipOutcome) -> bool:
        """The clip is finished (done, partial or failed: the item is done unless failed)."""
        failed = outcome.status == OutcomeStatus.FAILED
        code, message = outcome.errors[0] if outcome.errors else (None, None)
        return self._update_own(
            item_id,
            state=WorkState.FAILED if failed else WorkState.DONE,
            lease_until=None,
            error_code=code,
            error_message=message,
            outcome_json=dataclasses.asdict(outcome),
            finished_at=utcnow(),
        )

    def fail(self, item_id: int, worker_id: str, code: str, message: str) -> bool:
        """Fail another worker's item (its supervisor stopped it: ``timeout``); the clip row
        says so too. False when that worker no longer held it."""
        message = first_line(message)
        with self._transaction() as conn:
            row = conn.execute(
                select(WorkItem.clip_id, WorkItem.outcome_json).where(
                    col(WorkItem.id) == item_id,
                    col(WorkItem.worker_id) == worker_id,
                    col(WorkItem.state) == WorkState.CLAIMED,
                )
            ).first()
            if row is None:
                return False
            self._fail_row(conn, item_id, row.clip_id, row.outcome_json, code, message)
            return True

    def _fail_row(
        self,
        conn: Connection,
        item_id: int,
        clip_id: int,
        prior: dict[str, Any] | None,
        code: str,
        message: str,
    ) -> None:
        """The item and its clip failed with ``code`` (the clip's name leads the message)."""
        name = conn.execute(select(Clip.name).where(col(Clip.id) == clip_id)).scalar_one()
        outcome = ClipOutcome(clip_id, name, OutcomeStatus.FAILED, [(code, f"{name}: {message}")])
        outcome.missing = dict((prior or {}).get("missing") or {})
        conn.execute(
            update(WorkItem)
            .where(col(WorkItem.id) == item_id)
            .values(
                state=WorkState.FAILED,
                lease_until=None,
                error_code=code,
                error_message=outcome.errors[0][1],
                outcome_json=dataclasses.asdict(outcome),
                finished_at=utcnow(),
            )
        )
        conn.execute(
            update(Clip)
            .where(col(Clip.id) == clip_id)
            .values(status=ClipStatus.FAILED, error_code=code, error_message=outcome.errors[0][1])
        )

    def outcomes(self, clip_ids: Iterable[int] | None = None) -> list[ClipOutcome]:
        """The finished items' outcomes, in clip order."""
        query = select(WorkItem.clip_id, WorkItem.outcome_json).where(
            col(WorkItem.queue_key) == self.key,
            col(WorkItem.state).in_([WorkState.DONE, WorkState.FAILED]),
        )
        if clip_ids is not None:
            query = query.where(col(WorkItem.clip_id).in_(list(clip_ids)))
        with self._transaction(write=False) as conn:
            rows = conn.execute(query.order_by(col(WorkItem.clip_id))).all()
        return [outcome_from(d) for _, d in rows if d]

    def lease(self, claim: Claim, on_lost: Callable[[], None] | None = None) -> Lease:
        return Lease(self, claim.item_id, on_lost)

    # -- plumbing

    def _update_own(self, item_id: int, **values: Any) -> bool:
        with self._transaction() as conn:
            done = conn.execute(
                update(WorkItem)
                .where(
                    col(WorkItem.id) == item_id,
                    col(WorkItem.worker_id) == self.worker_id,
                    col(WorkItem.state) == WorkState.CLAIMED,
                )
                .values(**values)
            )
            return done.rowcount == 1

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[Connection]:
        """One transaction; on SQLite a writing one takes the write lock up front
        (``BEGIN IMMEDIATE``), so a claim's read and update see no other writer between."""
        engine = get_engine(self.db_url)
        with engine.connect() as conn:
            if write and conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise


def outcome_from(data: dict[str, Any]) -> ClipOutcome:
    outcome = ClipOutcome(**{k: v for k, v in data.items() if k not in ("errors", "status")},
                          status=OutcomeStatus(data["status"]))  # fmt: skip
    outcome.errors = [(code, message) for code, message in data.get("errors", [])]
    return outcome


class Lease:
    """Renews a claim every third of the lease in a thread while the block runs. ``on_lost``
    is called (from that thread) when the claim has been taken over."""

    def __init__(self, queue: WorkQueue, item_id: int, on_lost: Callable[[], None] | None = None):
        self.queue, self.item_id, self.on_lost = queue, item_id, on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="lease", daemon=True)
        self.lost = False

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stop.wait(self.queue.lease_s / 3):
            try:
                ok = self.queue.renew(self.item_id)
            except Exception:  # a database hiccup: try again at the next beat
                continue
            if not ok:
                self.lost = True
                if self.on_lost:
                    self.on_lost()
                return
