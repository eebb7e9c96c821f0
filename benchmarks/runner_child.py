"""One measurement in a fresh process: the library's ``Runner`` on one clip, cold then warm.

The clip is ingested into a new data folder and run with ``Runner.run`` (what
``annotator run --no-draft`` does); the first run includes the backends' model loads,
each later run gets a new, empty database, so every stage runs again with the models
already loaded (steady state). Per-stage seconds are the runner's own ``StageRun``
durations. Prints one JSON line.

    .venv/bin/python -m benchmarks.runner_child --clip /tmp/bench-60s.mp4 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import cpu_s, maxrss_mib, vmhwm_mib


def _quiet() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for noisy in ("transformers", "faster_whisper", "urllib3", "httpx", "numba", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _stage_seconds(db_url: str, job_id: int) -> dict[str, float | None]:
    from sqlmodel import select

    from db import StageRun, session_scope

    with session_scope(db_url) as session:
        rows = session.exec(select(StageRun).where(StageRun.job_id == job_id)).all()
        return {row.stage: row.duration_s for row in rows}


def _one_run(runner: Any, settings: Any, clip: Path) -> dict[str, Any]:
    from annotator.ingest import ingest

    t0 = time.perf_counter()
    ingest(settings, [clip])  # probe + sha256 + stamps: what a new clip costs once
    ingest_s = time.perf_counter() - t0
    runner.settings = settings  # a new, empty database: every stage runs again
    cpu0, t0 = cpu_s(), time.perf_counter()
    result = runner.run()
    wall = time.perf_counter() - t0
    (outcome,) = result.outcomes
    return {
        "ingest_s": round(ingest_s, 3),
        "run_s": round(wall, 3),
        "cpu_s": round(cpu_s() - cpu0, 2),
        "status": outcome.status,
        "errors": outcome.errors,
        "missing": outcome.missing,
        "stages_s": _stage_seconds(settings.db_url, result.job_id),
    }


def measure(
    clip: Path, parallel: bool | None, draft: bool, repeat: int, backends: dict[str, Any]
) -> dict[str, Any]:
    """``backends``: Settings fields (``face_backend``, ``speech_options``...)."""
    _quiet()
    rss_start = maxrss_mib()
    t0 = time.perf_counter()
    from annotator.config import Settings
    from annotator.pipeline import Runner

    imports_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="mer-bench-") as tmp:
        settings = Settings.load(home=Path(tmp) / "run0", **backends)
        t0 = time.perf_counter()
        runner = Runner(settings, draft=draft, parallel_stages=parallel)
        init_s = time.perf_counter() - t0
        first = _one_run(runner, settings, clip)  # model loads happen inside the stages
        first["with_loads_s"] = round(imports_s + init_s + first["run_s"], 3)
        steady = [
            _one_run(runner, Settings.load(home=Path(tmp) / f"run{i + 1}", **backends), clip)
            for i in range(repeat)
        ]
    speech = runner.speech
    return {
        "clip": str(clip),
        "parallel": runner.threads.parallel,
        "threads": {"face": runner.threads.face, "audio": runner.threads.audio},
        "speech_cpu_threads": getattr(speech, "cpu_threads", None),
        "backends": {
            "face": runner.settings.face_backend,
            "voice": runner.settings.voice_backend,
            "speech": runner.settings.speech_backend,
        },
        "speech_batch_size": getattr(speech, "batch_size", None),
        "options": {k: v for k, v in backends.items() if k.endswith("_options")},
        "draft": draft,
        "imports_s": round(imports_s, 3),
        "runner_init_s": round(init_s, 3),
        "first": first,
        "steady": steady,
        "rss_start_mib": round(rss_start, 1),
        "peak_rss_mib": round(maxrss_mib(), 1),
        "vmhwm_mib": None if (hwm := vmhwm_mib()) is None else round(hwm, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=1, help="Warm runs after the first.")
    parser.add_argument("--mode", choices=("auto", "parallel", "serial"), default="auto")
    parser.add_argument("--draft", action="store_true", help="Draft too (default: extract).")
    parser.add_argument("--face", default=None)
    parser.add_argument("--voice", default=None)
    parser.add_argument("--speech", default=None)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KIND.KEY=VALUE",
        help="A backend option, e.g. speech.batch_size=2 (VALUE is JSON when it parses).",
    )
    args = parser.parse_args(argv)
    parallel = {"auto": None, "parallel": True, "serial": False}[args.mode]
    backends = {
        f"{kind}_backend": name
        for kind, name in (("face", args.face), ("voice", args.voice), ("speech", args.speech))
        if name
    }
    options: dict[str, Any] = {}
    for item in args.option:
        name, _, raw = item.partition("=")
        kind, _, key = name.partition(".")
        if kind not in ("face", "voice", "speech") or not key or not raw:
            parser.error(f"--option {item!r}: want face|voice|speech.KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(f"{kind}_options", {})[key] = value
    data = measure(args.clip.resolve(), parallel, args.draft, args.repeat, {**backends, **options})
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
