"""The review app's per-click database work on 50,000 clips (issue 7: under 300 ms each).

Builds a SQLite database (migrated by ``db.get_engine``) with bulk inserts: 50,000 clips, a
cue text each, drafts (10% with three samples of a newer run beside an older one, 5%
invalid), 10,000 annotations by four people (the last 500 by two people, half of those disagreeing)
and the overlap plan. Then times what a click costs: the queue's first and a deep page in
both orders, the count, ``next_clip``, ``save_review`` (with its commit), label
suggestions and the adjudication view. Each figure is the median and the worst of
``--repeat`` runs, each in a new session.

    .venv/bin/python benchmarks/review_50k.py [--clips 50000] [--db PATH] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from benchmarks.common import git_rev, loadavg, machine_info  # noqa: E402
from db import (  # noqa: E402
    Annotator,
    Clip,
    CueTextRecord,
    Draft,
    Review,
    ReviewStatus,
    get_engine,
    session_scope,
    sqlite_url,
)
from db.draft_sql import refresh_queue_keys  # noqa: E402
from db.models import utcnow  # noqa: E402
from db.queries import ReviewInput, review_by, save_review  # noqa: E402
from db.review_queue import (  # noqa: E402
    QueueFilter,
    adjudication_view,
    assign_overlap,
    label_suggestions,
    next_clip,
    queue_count,
    queue_page,
)

LABELS = ["happy", "sad", "angry", "calm", "excited", "anxious", "hopeful", "bored", "tense"]
PEOPLE = ["ann", "ben", "cho", "dev"]
TARGET_MS = 300.0
CPU_NOTE = (
    "median_cpu_ms is this process's CPU time: the whole query on SQLite (in-process), only "
    "the client's share on PostgreSQL (the server's work is in its own processes)"
)


def reviewed_clips(n: int) -> int:
    return n // 5


def build(url: str, n: int, seed: int = 0) -> dict[str, Any]:
    """The corpus, in chunks of executemany inserts; returns what was made."""
    rng = random.Random(seed)
    engine = get_engine(url)
    now = utcnow()
    t0 = time.perf_counter()
    with Session(engine) as s:
        people = [Annotator(name=p) for p in PEOPLE]
        s.add_all(people)
        s.flush()
        ann_ids = [p.id for p in people]
        chunk = 5000
        n_drafts = n_reviews = 0
        for start in range(1, n + 1, chunk):
            ids = range(start, min(start + chunk, n + 1))
            s.execute(
                insert(Clip),
                [
                    dict(
                        id=i,
                        sha256=f"{i:064x}",
                        name=f"clip{i:06d}.mp4",
                        source_uri=f"/corpus/clip{i:06d}.mp4",
                        duration_s=3.0 + i % 20,
                        status="drafted",
                        split="train",
                        has_audio=True,
                        has_video=True,
                        partial=False,
                        media_json={},
                        missing_json={},
                        created_at=now,
                        error_code="decode_timeout" if i % 97 == 0 else None,
                    )
                    for i in ids
                ],
            )
            s.execute(
                insert(CueTextRecord),
                [
                    dict(
                        id=i,
                        clip_id=i,
                        config_hash="cfg",
                        textualizer_version="3",
                        prompt_text="cues",
                        readable_text="cues",
                        partial=False,
                        missing_json={},
                        created_at=now,
                    )
                    for i in ids
                ],
            )
            drafts = []
            for i in ids:
                runs = [("old", 1), ("new", 3)] if i % 10 == 0 else [("new", 1)]
                for config, samples in runs:
                    for k in range(samples):
                        invalid = i % 20 == 7
                        drafts.append(
                            dict(
                                clip_id=i,
                                cue_text_id=i,
                                config_hash=config,
                                sample_index=k,
                                backend="llamacpp",
                                model_id=rng.choice(["qwen-1.5b", "qwen-7b"]),
                                prompt_version="v2",
                                status="invalid" if invalid else "valid",
                                raw_output="{}",
                                caption=None if invalid else "A calm voice.",
                                labels=[] if invalid else rng.sample(LABELS, 2),
                                valence=0.1,
                                arousal=0.4,
                                confidence=None if invalid else round(rng.random(), 3),
                                chosen=k == samples - 1,
                                partial=False,
                                missing_json={},
                                ungrounded_clues=[],
                                sampling_json={},
                                created_at=now,
                            )
                        )
            s.execute(insert(Draft), drafts)
            n_drafts += len(drafts)
        # a fifth of the clips reviewed (10,000 of 50,000): the last 5% of those by two
        reviews = []
        n_reviewed = reviewed_clips(n)
        for i in range(1, n_reviewed + 1):
            two = i > n_reviewed - n_reviewed // 20
            whos = [ann_ids[i % 4], ann_ids[(i + 1) % 4]] if two else [ann_ids[i % 4]]
            for j, who in enumerate(whos):
                labels = ["happy"] if j == 0 or i % 2 else ["sad"]
                reviews.append(
                    dict(
                        clip_id=i,
                        annotator_id=who,
                        kind="annotation",
                        source="app",
                        status="edited",
                        caption="Calm.",
                        labels=labels,
                        valence=0.1,
                        arousal=0.4,
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
        s.execute(insert(Review), reviews)
        n_reviews = len(reviews)
        refresh_queue_keys(s)  # what the drafting stage keeps: the queue's sort key
        s.commit()
    built_s = time.perf_counter() - t0
    if engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    with session_scope(url) as s:
        t1 = time.perf_counter()
        report = assign_overlap(s, PEOPLE, 0.1, 2, seed=0)
        assign_s = time.perf_counter() - t1
    return {
        "clips": n,
        "drafts": n_drafts,
        "reviews": n_reviews,
        "build_s": round(built_s, 2),
        "assign_overlap_s": round(assign_s, 2),
        "assignments_added": report.n_added,
        "overlap_clips": report.n_overlap_clips,
    }


def timed(url: str, repeat: int, fn: Callable[[Session], Any]) -> dict[str, Any]:
    """Median and worst wall time of ``fn`` in a fresh session each time (commit included),
    and the median CPU time of this process: SQLite runs in it, so that figure is the work
    itself, much less swayed than wall time by other processes on the same cores."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        with session_scope(url) as s:
            result = fn(s)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "median_cpu_ms": round(statistics.median(cpu), 1),
        "under_target": max(times) < TARGET_MS,
        "result": result,
    }


def measure(url: str, n: int, repeat: int) -> dict[str, Any]:
    me = 2  # ben
    todo, everything = QueueFilter("todo"), QueueFilter("all")
    deep = max(n - 10_000, 0)
    middle = n // 2
    saved: list[int] = []
    with session_scope(url) as s:  # clips ben never reviewed, from the end (reruns: --reuse)
        mine = select(Review.clip_id).where(col(Review.annotator_id) == me)
        fresh: list[int] = [
            i
            for i in s.exec(
                select(Clip.id)
                .where(col(Clip.id).not_in(mine))
                .order_by(col(Clip.id).desc())
                .limit(repeat)
            )
            if i is not None
        ]

    def save(s: Session) -> int:
        clip_id = fresh[len(saved)]  # a new clip each time: a first save (INSERT) ...
        data = ReviewInput(ReviewStatus.EDITED, "Tense, clipped voice.", ["tense"], -0.3, 0.7)
        review = save_review(s, clip_id, "ben", None, data, None)
        saved.append(clip_id)
        return review.version

    def resave(s: Session) -> int:  # ... and an edit of it (UPDATE guarded by its version)
        clip_id = saved[0]
        old = review_by(s, clip_id, me)
        assert old is not None
        data = ReviewInput(ReviewStatus.EDITED, "Tense.", ["tense", "angry"], -0.3, 0.7)
        return save_review(s, clip_id, "ben", None, data, old.version).version

    cases: dict[str, Callable[[Session], Any]] = {
        "queue_page todo oldest, first page": lambda s: len(
            queue_page(s, me, todo, "oldest", 0, 50)
        ),
        "queue_page todo uncertain, first page": lambda s: len(
            queue_page(s, me, todo, "uncertain", 0, 50)
        ),
        f"queue_page all oldest, offset {deep}": lambda s: len(
            queue_page(s, me, everything, "oldest", deep, 50)
        ),
        f"queue_page all uncertain, offset {deep}": lambda s: len(
            queue_page(s, me, everything, "uncertain", deep, 50)
        ),
        "queue_page needs_adjudication": lambda s: len(
            queue_page(s, me, QueueFilter("needs_adjudication"), "oldest", 0, 50)
        ),
        "queue_count todo": lambda s: queue_count(s, me, todo),
        "next_clip todo oldest": lambda s: next_clip(s, me, todo, "oldest", middle),
        "next_clip todo uncertain": lambda s: next_clip(s, me, todo, "uncertain", middle),
        "save_review first save": save,
        "save_review edit": resave,
        "label_suggestions 'h'": lambda s: len(label_suggestions(s, "h")),
        "adjudication_view": lambda s: len(adjudication_view(s, reviewed_clips(n) - 2).differing),
    }
    return {name: timed(url, repeat, fn) for name, fn in cases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=50_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/review_50k.db"))
    parser.add_argument(
        "--url",
        help="An EMPTY database to fill instead of SQLite (e.g. a throwaway PostgreSQL one); "
        "the password is never printed.",
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="Time the --db a previous run built (same --clips)."
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-review-50k.json")
    args = parser.parse_args()
    if args.url:
        url = args.url
    else:
        if not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        url = sqlite_url(args.db)
    load_before = loadavg()
    corpus = {"reused": str(args.db)} if args.reuse else build(url, args.clips)
    print(f"built {corpus}")
    figures = measure(url, args.clips, args.repeat)
    width = max(len(k) for k in figures)
    for name, f in figures.items():
        mark = "ok" if f["under_target"] else "OVER"
        print(
            f"{name:<{width}}  median {f['median_ms']:7.1f} ms  max {f['max_ms']:7.1f} ms  "
            f"cpu {f['median_cpu_ms']:7.1f} ms  {mark}"
        )
    result = {
        "benchmark": "review_50k",
        "git": git_rev(),
        "machine": machine_info(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "target_ms": TARGET_MS,
        "repeat": args.repeat,
        "database": get_engine(url).dialect.name,
        "cpu_note": CPU_NOTE,
        "corpus": corpus,
        "figures": figures,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
