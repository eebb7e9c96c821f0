"""One worker: claim a clip, run its phase with this process's Runner, record the outcome.

Shared by worker processes (``processes.py``) and Ray actors (``ray_engine.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from annotator.config import Settings
from annotator.pipeline import Runner
from annotator.stage_store import ClipOutcome
from annotator.work_queue import DEFAULT_LEASE_S, EXTRACT, Claim, WorkQueue, outcome_from
from db import Clip, session_scope
from db.models import OutcomeStatus
from extractors.schema import config_hash

log = logging.getLogger(__name__)

#: Speed-only drafting options: machines with other core counts still share one queue.
_SPEED_OPTIONS = frozenset({"threads", "concurrency", "n_threads", "cpu_threads"})


@dataclass
class WorkerSpec:
    """What a worker needs to build its Runner and find its queue (picklable: it crosses to
    worker processes and Ray actors)."""

    settings: Settings
    draft: bool = True
    parallel_stages: bool | None = None
    # None: no limit inside the worker (a supervisor enforces clip_time_limit by killing);
    # a number: decoding stops cooperatively after it (Ray actors, which nobody kills).
    cooperative_timeout: float | None = None
    auto_timeout: bool = False  # with no cooperative_timeout: max(300 s, 10x duration)
    lease_s: float = DEFAULT_LEASE_S
    job_id: int | None = None
    follow: bool = False
    poll_s: float = 2.0  # waiting for claimable work: how often to look again
    clip_ids: list[int] | None = field(default=None)

    def runner(self) -> Runner:
        return Runner(
            self.settings,
            draft=self.draft,
            parallel_stages=self.parallel_stages,
            clip_timeout=self.cooperative_timeout,
            auto_timeout=self.auto_timeout,
        )


def queue_key(runner: Runner) -> str:
    """The run's config hash: workers started with the same options share a queue. Built
    from the stages' own keys (speed-only options such as thread counts left out)."""
    settings = runner.settings
    drafting = {k: v for k, v in settings.drafting_options.items() if k not in _SPEED_OPTIONS}
    return config_hash(
        {
            "face": [settings.face_backend, runner.face.config_hash()],
            "voice": [settings.voice_backend, runner.voice.config_hash()],
            "speech": [settings.speech_backend, runner.speech.config_hash()],
            "drafting": [settings.drafting_backend, drafting] if runner.draft else None,
            "samples": settings.samples,
            "hints": settings.hints,
            "emotion_prompt": settings.emotion_prompt,
            "prompt_version": settings.prompt_version,
            "speaker_min_clips": settings.speaker_min_clips,
        }
    )


class ClipWorker:
    """Claims and processes items until the queue has nothing left (or forever with
    ``follow``, looking for new clips every ``poll_s``)."""

    def __init__(
        self,
        spec: WorkerSpec,
        runner: Runner | None = None,
        worker_id: str | None = None,
        on_claim: Callable[[Claim | None], None] | None = None,
    ):
        self.spec = spec
        self.runner = runner or spec.runner()
        self.queue = WorkQueue(
            spec.settings.db_url, queue_key(self.runner), worker_id, lease_s=spec.lease_s
        )
        self.on_claim = on_claim
        self.processed = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        """Return from ``run`` after the current clip (another thread may call it)."""
        self._stop.set()

    def run(self, max_idle_polls: int | None = None) -> int:
        """Work until nothing is left to claim; the number of phases done. ``max_idle_polls``
        bounds waiting with ``follow`` (None: until stopped)."""
        idle = 0
        while not self._stop.is_set():
            claim = self.queue.claim()
            if claim is None:
                if self.queue.unfinished():  # a lease to run out, extraction to finish
                    self._stop.wait(min(self.spec.poll_s, self.spec.lease_s / 4))
                    continue
                if not self.spec.follow:
                    break
                idle += 1
                if max_idle_polls is not None and idle > max_idle_polls:
                    break
                self._stop.wait(self.spec.poll_s)
                self.queue.enqueue(self.spec.clip_ids)  # clips ingested since
                continue
            idle = 0
            self.work_on(claim)
        return self.processed

    def work_on(self, claim: Claim) -> ClipOutcome | None:
        """One phase of one claimed clip, under a renewed lease; its outcome when finished."""
        if self.on_claim:
            self.on_claim(claim)
        with session_scope(self.spec.settings.db_url) as session:
            clip = session.get(Clip, claim.clip_id)
        assert clip is not None
        with self.queue.lease(claim):
            if claim.phase == EXTRACT:
                outcome, finished = self.runner.extract_phase(clip, self.spec.job_id)
                if not finished:
                    self.queue.advance(claim.item_id, outcome)
            else:
                outcome = self.runner.word_phase(
                    clip,
                    outcome_from(claim.outcome) if claim.outcome else _fresh(clip),
                    self.spec.job_id,
                )
                finished = True
            if finished:
                self.queue.finish(claim.item_id, outcome)
        if self.on_claim:
            self.on_claim(None)
        self.processed += 1
        return outcome if finished else None


def _fresh(clip: Clip) -> ClipOutcome:
    return ClipOutcome(clip_id=clip.id or 0, name=clip.name, status=OutcomeStatus.DONE)
