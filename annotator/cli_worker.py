"""`annotator worker`, and `run --workers N` / `run --engine ray`: clips claimed from the
database by worker processes or Ray actors (annotator/engines/, annotator/work_queue.py)."""

from __future__ import annotations

import inspect
import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from annotator.cli_common import err, progress_bar
from annotator.cli_run import _execute, _print_run_summary, clip_ids, run
from annotator.config import Settings


def worker(**opts: Any) -> None:
    """Claim clips from the database and process them until nothing is left to claim
    (--follow: keep waiting for new clips). Takes run's options; workers started with the
    same options share one queue, on this machine or any other using the same database."""
    _execute("worker", **opts)


_follow = inspect.Parameter(
    "follow",
    inspect.Parameter.KEYWORD_ONLY,
    default=False,
    annotation=Annotated[
        bool,
        typer.Option("--follow", help="Do not exit when the queue is empty: wait for new clips."),
    ],
)
_poll = inspect.Parameter(
    "poll",
    inspect.Parameter.KEYWORD_ONLY,
    default=5.0,
    annotation=Annotated[
        float, typer.Option(min=0.1, help="--follow: seconds between looks for new clips.")
    ],
)
_run_params = [
    p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
    for p in inspect.signature(run, eval_str=True).parameters.values()
]
worker.__signature__ = inspect.Signature([*_run_params, _follow, _poll])  # type: ignore[attr-defined]


def run_parallel(
    command: str, settings: Settings, draft: bool, clips: list[str] | None, **opts: Any
) -> Any:
    """Enqueue the clips, run the workers (processes or Ray actors), print the summary; the
    RunResult, or None when it could not start (message printed)."""
    from annotator.engines.worker import WorkerSpec, queue_key
    from annotator.pipeline import RunResult, close_job
    from annotator.work_queue import WorkQueue

    chosen = clip_ids(settings, clips)
    if chosen is None:
        return None
    ids, total = chosen
    ray = opts["engine"] == "ray"
    spec = WorkerSpec(
        settings,
        draft=draft,
        parallel_stages=opts["parallel_stages"],
        # Ray actors stop a clip cooperatively (nobody kills them); processes are killed.
        cooperative_timeout=opts["clip_timeout"] if ray else None,
        auto_timeout=ray,
        lease_s=opts["lease"],
        follow=bool(opts.get("follow")),
        poll_s=float(opts.get("poll") or 5.0),
        clip_ids=ids,
    )
    try:
        runner = spec.runner()  # checks the backends' names and options; keys the queue
    except Exception as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        return None
    queue = WorkQueue(settings.db_url, queue_key(runner), lease_s=spec.lease_s)
    config = {**runner.config(), "workers": opts["workers"], "engine": opts["engine"]}
    spec.job_id = _open_job(settings, command, config, total)
    # run: a new pass over the clips (finished items again, their done stages skipped);
    # worker: joins the queue as it is, adding only clips it lacks.
    queue.enqueue(ids, reset=command == "run")
    if ray:
        from annotator.engines.ray_engine import run_ray

        run_ray(spec, address=opts["ray_address"], actors=opts["workers"])
    else:
        _run_local(spec, queue, total, opts["workers"], opts["clip_timeout"])
    result = RunResult(job_id=spec.job_id, outcomes=queue.outcomes(ids))
    close_job(settings.db_url, result.job_id, result, n_clips=len(result.outcomes))
    _print_run_summary(result)
    left = queue.unfinished()
    if left:  # every worker died (restarts spent): say so, never exit 0
        err.print(f"[red]✗[/] {left} clip(s) not finished: the workers died; run again")
        raise typer.Exit(1)
    return result


def _run_local(spec: Any, queue: Any, total: int, workers: int, timeout: float | None) -> None:
    from annotator.engines.processes import run_processes

    with progress_bar() as progress:
        task = progress.add_task("clips", total=total, detail=f"{workers} workers")
        last = 0.0

        def tick() -> None:
            nonlocal last
            if time.monotonic() - last >= 1.0:
                last = time.monotonic()
                counts = queue.counts()
                progress.update(task, completed=counts["done"] + counts["failed"])

        report = run_processes(spec, queue, workers, clip_timeout=timeout, on_tick=tick)
        counts = queue.counts()
        progress.update(task, completed=counts["done"] + counts["failed"])
    if report.died:
        err.print(f"[yellow]~[/] {report.died} worker process(es) died and were replaced")


def _open_job(settings: Settings, command: str, config: dict[str, Any], n_clips: int) -> int:
    from db import Job, session_scope

    with session_scope(settings.db_url) as session:
        job = Job(command=command, config_json=config, n_clips=n_clips)
        session.add(job)
        session.flush()
        assert job.id is not None
        return job.id
