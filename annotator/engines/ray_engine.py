"""``run --engine ray``: Ray actors, each with its own Runner (models load once per actor),
claiming clips from the same ``workitem`` queue as worker processes do. Ray places the
actors on the cluster's nodes; the claim table decides who does which clip, so an actor that
dies loses nothing (its lease runs out) and actors, processes and ``annotator worker``
elsewhere can share one queue. Every node needs this package installed and must reach the
database (PostgreSQL for more than one machine) and the media paths.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from annotator.engines.worker import ClipWorker, WorkerSpec
from annotator.work_queue import worker_name
from extractors.extras import require_extra

log = logging.getLogger(__name__)


class ClipActor:
    """A Ray actor around one ClipWorker (so its models stay loaded between clips)."""

    def __init__(self, spec: WorkerSpec):
        self.worker = ClipWorker(spec, worker_id=f"ray:{worker_name()}")

    def run(self) -> int:
        return self.worker.run()

    def pid(self) -> int:
        return os.getpid()


def run_ray(
    spec: WorkerSpec,
    address: str | None = None,
    actors: int = 1,
    num_cpus: int | None = None,
) -> list[int]:
    """Start ``actors`` actors (1: one per CPU Ray has), let each work until nothing is left
    to claim; the phases each did. Connects to ``address``, else starts a local Ray."""
    require_extra("ray", "--engine ray")
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                logging_level=logging.WARNING,
            )
    try:
        if actors <= 1:
            actors = max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote: Any = ray.remote(num_cpus=1)(ClipActor)
        handles = [remote.remote(spec) for _ in range(actors)]
        return list(ray.get([h.run.remote() for h in handles]))
    finally:
        if started_here:
            ray.shutdown()
