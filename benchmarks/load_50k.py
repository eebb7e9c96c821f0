"""Load: `annotator status`, the review queue and export on 50,000 clips, SQLite and PostgreSQL.

Builds each database with bulk inserts (``benchmarks/review_50k.build``: 50,000 clips, cue
texts, drafts, 10,000 reviewed clips, the overlap plan; plus here the stage runs a batch leaves:
five stages a clip, 1% failed with error codes, and 100 ingest failures), then times:

* ``annotator status`` and ``annotator export OUT --format jsonl`` as the real CLI in a fresh
  process each (wall ms and that process's peak RSS, from ``os.wait4``), beside ``annotator
  status`` on an empty database (the CLI's start-up alone);
* in one child process: ``db.queries.status_counts``, the review app's queue
  (``db.review_queue.queue_page``/``queue_count``/``next_clip``), median and worst of
  --repeat.

This parent imports nothing heavy: Linux carries a parent's RSS high-water mark into a child's
``ru_maxrss``, so building or querying happens in children (benchmarks/common.py).

    .venv/bin/python benchmarks/load_50k.py [--clips 50000] [--repeat 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import git_rev, loadavg, machine_info  # noqa: E402

PG_SCRIPT = ROOT / "scripts" / "postgres-test-server.sh"
STAGES = ("probe", "face", "voice", "speech", "textualize", "draft")
ERROR_CODES = ("timeout", "no_face", "invalid_model_output", "unreadable_media")


# ---- children -------------------------------------------------------------------------------


def build_child(url: str, n: int) -> dict[str, Any]:
    """Fresh database at ``url`` filled with the corpus; what was made and how long it took."""
    from sqlalchemy import insert, text
    from sqlmodel import Session

    from benchmarks.review_50k import build
    from db import IngestFailure, StageRun, get_engine
    from db.models import utcnow

    corpus = build(url, n)
    t0 = time.perf_counter()
    engine = get_engine(url)
    now = utcnow()
    n_runs = 0
    with Session(engine) as s:
        chunk = 5000
        for start in range(1, n + 1, chunk):
            rows = []
            for i in range(start, min(start + chunk, n + 1)):
                for stage in STAGES:
                    failed = stage == "face" and i % 100 == 0
                    rows.append(
                        dict(
                            clip_id=i,
                            stage=stage,
                            config_hash=f"{stage}-cfg",
                            config_json={},
                            status="failed" if failed else "done",
                            error_code=ERROR_CODES[i % len(ERROR_CODES)] if failed else None,
                            error_message="stopped after 60 s" if failed else None,
                            duration_s=0.5,
                            finished_at=now,
                        )
                    )
            s.execute(insert(StageRun), rows)
            n_runs += len(rows)
        s.execute(
            insert(IngestFailure),
            [
                dict(
                    path=f"/corpus/broken{i:03d}.mp4",
                    error_code="unreadable_media",
                    error_message=f"/corpus/broken{i:03d}.mp4: not readable as media",
                    seen_at=now,
                )
                for i in range(100)
            ],
        )
        if engine.dialect.name == "postgresql":  # rows were given ids: move the sequences on
            for table in ("clip", "cuetextrecord", "annotator"):
                s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        s.commit()
    corpus["stage_runs"] = n_runs
    corpus["ingest_failures"] = 100
    corpus["stage_runs_s"] = round(time.perf_counter() - t0, 2)
    return corpus


def queries_child(url: str, n: int, repeat: int) -> dict[str, Any]:
    """In-process timings of what `status` and the review app ask the database."""
    from collections import Counter

    from sqlmodel import select

    from benchmarks.common import maxrss_mib
    from benchmarks.review_50k import timed
    from db import Clip, Draft, IngestFailure, Review, StageRun
    from db.queries import status_counts
    from db.review_queue import QueueFilter, next_clip, queue_count, queue_page

    def status_counts_before(s: Any) -> int:
        """status_counts as it was before it grouped in SQL: every row's status into Python."""
        clips = Counter(s.exec(select(Clip.status)).all())
        Counter(s.exec(select(StageRun.error_code)).all())
        s.exec(select(IngestFailure)).all()
        Counter(s.exec(select(Review.status)).all())
        Counter(s.exec(select(Draft.status)).all())
        return sum(clips.values())

    me = 2  # "ben", one of the four annotators the corpus has
    todo = QueueFilter("todo")
    cases = {
        "status_counts": lambda s: sum(status_counts(s)["clips"].values()),
        "status_counts before (one row per clip/run/draft/review)": status_counts_before,
        "queue_page todo oldest (first 50)": lambda s: len(
            queue_page(s, me, todo, "oldest", 0, 50)
        ),
        "queue_page todo uncertain (first 50)": lambda s: len(
            queue_page(s, me, todo, "uncertain", 0, 50)
        ),
        "queue_count todo": lambda s: queue_count(s, me, todo),
        "next_clip todo oldest": lambda s: next_clip(s, me, todo, "oldest", n // 2),
    }
    figures: dict[str, Any] = {name: timed(url, repeat, fn) for name, fn in cases.items()}
    figures["process_peak_rss_mib"] = round(maxrss_mib(), 1)
    return figures


# ---- the parent -----------------------------------------------------------------------------


def child(*args: str, timeout: float = 3600) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args[0]} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def cli(args: list[str], env: dict[str, str], timeout: float = 1800) -> dict[str, Any]:
    """One ``annotator`` process: wall ms, its own peak RSS (wait4), exit code, last line."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "annotator.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    # communicate() would reap the child itself; read the pipes, then wait4 for its rusage.
    stdout = proc.stdout.read() if proc.stdout else ""
    stderr = proc.stderr.read() if proc.stderr else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = (time.perf_counter() - t0) * 1000
    lines = (stdout + stderr).strip().splitlines()
    return {
        "wall_ms": round(wall),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "exit": proc.returncode,
        "last_line": lines[-1] if lines else "",
    }


def cli_figures(url: str, home: Path, repeat: int, export_repeat: int) -> dict[str, Any]:
    env = {**os.environ, "ANNOTATOR_DB_URL": url, "ANNOTATOR_HOME": str(home)}
    env.pop("ANNOTATOR_DB_URL_FILE", None)
    runs: dict[str, list[dict[str, Any]]] = {"status": [], "export jsonl": []}
    for _ in range(repeat):
        runs["status"].append(cli(["status"], env))
    for k in range(export_repeat):
        out = home / f"export-{k}.jsonl"
        runs["export jsonl"].append(cli(["export", str(out), "--format", "jsonl"], env))
        rows = sum(1 for _ in out.open()) if out.exists() else 0
        runs["export jsonl"][-1]["rows"] = rows
    return {name: summarise(r) for name, r in runs.items()}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(r["wall_ms"] for r in runs)),
        "max_ms": max(r["wall_ms"] for r in runs),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "exit": sorted({r["exit"] for r in runs}),
        "last_line": runs[-1]["last_line"][:200],
        **({"rows": runs[-1]["rows"]} if "rows" in runs[-1] else {}),
    }


def postgres_url(name: str) -> str | None:
    started = subprocess.run(
        ["bash", str(PG_SCRIPT), "start"], capture_output=True, text=True, timeout=900
    )
    if started.returncode != 0:
        print(f"PostgreSQL not available: {started.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    base = subprocess.run(
        ["bash", str(PG_SCRIPT), "url"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    admin = base.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(
        [sys.executable, "-c", _RECREATE, admin.replace("postgresql+psycopg", "postgresql"), name],
        check=True,
        timeout=120,
    )
    return base.rsplit("/", 1)[0] + "/" + name


_RECREATE = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as c:
    c.execute(f'DROP DATABASE IF EXISTS "{sys.argv[2]}" WITH (FORCE)')
    c.execute(f'CREATE DATABASE "{sys.argv[2]}"')
"""


def measure_backend(name: str, url: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    n, repeat = args.clips, args.repeat
    print(f"[{name}] building {n} clips ...", file=sys.stderr, flush=True)
    corpus = child("--build", url, "--clips", str(n))
    print(f"[{name}] built: {corpus}", file=sys.stderr, flush=True)
    queries = child("--queries", url, "--clips", str(n), "--repeat", str(repeat))
    commands = cli_figures(url, work / name, args.cli_repeat, args.export_repeat)
    return {"corpus": corpus, "queries": queries, "cli": commands}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="in-process queries")
    parser.add_argument("--cli-repeat", type=int, default=2, help="annotator status / export")
    parser.add_argument("--export-repeat", type=int, default=1, help="annotator export runs")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-load-50k.json")
    parser.add_argument("--build", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--queries", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build_child(args.build, args.clips)))
        return
    if args.queries:
        print(json.dumps(queries_child(args.queries, args.clips, args.repeat)))
        return

    work = Path(tempfile.mkdtemp(prefix="load50k-"))
    report: dict[str, Any] = {
        "benchmark": "load_50k",
        "git": git_rev(),
        "machine": machine_info(),
        "loadavg_before": loadavg(),
        "clips": args.clips,
        "repeat": {"queries": args.repeat, "status": args.cli_repeat, "export": args.export_repeat},
        "results": {},
    }
    if args.out.exists():  # one backend at a time: keep the other's figures
        report["results"] = json.loads(args.out.read_text()).get("results", {})
    results = report["results"]

    def save() -> None:
        report["loadavg_after"] = loadavg()
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    try:
        empty_env = {**os.environ, "ANNOTATOR_HOME": str(work / "empty")}
        empty_env.pop("ANNOTATOR_DB_URL", None)
        startup = summarise([cli(["status"], empty_env) for _ in range(args.cli_repeat)])
        results["cli start-up (status on an empty SQLite db)"] = startup
        backends = args.backends.split(",")
        if "sqlite" in backends:
            sqlite = f"sqlite:///{work / 'load.db'}"
            results["sqlite"] = measure_backend("sqlite", sqlite, args, work)
            results["sqlite"]["loadavg_after"] = loadavg()
            save()
        if "postgresql" in backends:
            pg = postgres_url("load_50k")
            if pg is not None:
                results["postgresql"] = measure_backend("postgresql", pg, args, work)
                results["postgresql"]["loadavg_after"] = loadavg()
                save()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save()
    print_table(results)
    print(f"wrote {args.out}")


def print_table(results: dict[str, Any]) -> None:
    start = results.get("cli start-up (status on an empty SQLite db)")
    if start:
        print(f"CLI start-up: {start['median_ms']} ms, {start['peak_rss_mib']} MiB")
    for backend in ("sqlite", "postgresql"):
        if backend not in results:
            continue
        r = results[backend]
        for name, f in r["cli"].items():
            print(
                f"{backend:<10} annotator {name:<14} median {f['median_ms']:>6} ms  "
                f"max {f['max_ms']:>6} ms  peak RSS {f['peak_rss_mib']:>6} MiB"
            )
        for name, f in r["queries"].items():
            if isinstance(f, dict):
                med, worst = f["median_ms"], f["max_ms"]
                print(f"{backend:<10} {name:<56} median {med:>8} ms  max {worst:>8} ms")


if __name__ == "__main__":
    main()
