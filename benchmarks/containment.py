"""What running the native runtimes in child processes costs: `annotator run` contained
(the default) against in-process (``ANNOTATOR_CONTAIN_CRASHES=0``), side by side.

For each mode, a fresh data folder ingests the same short cuts of the demo clip and runs the
whole job (extract, textualize, draft with the llamacpp drafter); the modes alternate
``--repeat`` times so drift on the machine hits both. Reported per run: wall seconds, the
sum of the drafts' own latencies (the model's time, the same work in both modes), and the
rest (process start, imports, model loads, pickling across the pipe).

    .venv/bin/python benchmarks/containment.py --clips 3 --repeat 2 \\
        --model bundled:qwen2.5-coder-1.5b --json benchmarks/results-containment.json
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine_info  # noqa: E402

ANNOTATOR = str(ROOT / ".venv" / "bin" / "annotator")


def cut(demo: Path, folder: Path, n: int, seconds: float) -> list[Path]:
    out = []
    for i in range(n):
        target = folder / f"cut{i}.mp4"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-ss", f"{i * 3:g}", "-t", f"{seconds:g}",
             "-i", str(demo), "-c", "copy", str(target)],
            check=True, timeout=60,
        )  # fmt: skip
        out.append(target)
    return out


def one_run(clips: list[Path], contain: bool, model: str, tokens: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ANNOTATOR_HOME": home, "HF_HUB_OFFLINE": "1"}
        env["ANNOTATOR_CONTAIN_CRASHES"] = "1" if contain else "0"
        subprocess.run([ANNOTATOR, "ingest", *map(str, clips)], env=env, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(
            [ANNOTATOR, "run", "--model", model, "--max-new-tokens", str(tokens)],
            env=env, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        wall = time.perf_counter() - start
        with sqlite3.connect(Path(home) / "annotator.db") as db:
            latencies = [row[0] for row in db.execute("select latency_s from draft")]
    if done.returncode != 0:
        raise SystemExit(f"annotator run failed ({done.returncode}): {done.stderr[-800:]}")
    draft_s = sum(latencies)
    return {
        "contained": contain,
        "wall_s": round(wall, 2),
        "drafts": len(latencies),
        "draft_latency_sum_s": round(draft_s, 2),
        "rest_s": round(wall - draft_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--model", default="bundled:qwen2.5-coder-1.5b")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from annotator.cli import sample_clip

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as media:
        clips = cut(sample_clip(), Path(media), args.clips, args.seconds)
        for index in range(args.repeat):
            for contain in (True, False) if index % 2 == 0 else (False, True):
                runs.append(one_run(clips, contain, args.model, args.max_new_tokens))
                print(runs[-1], flush=True)
    summary = {}
    for contain in (True, False):
        mine = [r for r in runs if r["contained"] is contain]
        summary["contained" if contain else "in_process"] = {
            key: round(statistics.median(r[key] for r in mine), 2)
            for key in ("wall_s", "draft_latency_sum_s", "rest_s")
        }
    c, p = summary["contained"], summary["in_process"]
    summary["wall_ratio_contained_over_in_process"] = round(c["wall_s"] / p["wall_s"], 3)
    print(json.dumps(summary, indent=2))
    if args.json:
        payload = {"machine": machine_info(), "args": vars(args) | {"json": str(args.json)},
                   "runs": runs, "summary": summary}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
