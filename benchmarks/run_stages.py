"""Extraction speed and peak memory of the pipeline as shipped: the library's ``Runner``.

Each measurement is a fresh process (``benchmarks.runner_child``) that ingests the clip
into an empty data folder and runs ``Runner.run`` (``annotator run --no-draft``): first
cold (imports and model loads included), then ``--repeat`` times warm on a new database.

* ``serial``: the stages one after another; their ``StageRun`` seconds are the per-stage
  x real time (each stage had the machine to itself).
* ``parallel``: face beside voice+speech, as ``annotator run`` does with 2+ cores; its run
  time is the extraction x real time.
* ``--long-clip``: the same clip type, longer, run once (parallel) for peak RSS.

    .venv/bin/python scripts/make_long_clip.py --seconds 60 --out /tmp/bench-60s.mp4
    .venv/bin/python scripts/make_long_clip.py --seconds 1200 --out /tmp/bench-20min.mp4
    .venv/bin/python benchmarks/run_stages.py --clip /tmp/bench-60s.mp4 \\
        --long-clip /tmp/bench-20min.mp4 --json benchmarks/results-60s-2cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import loadavg, machine_info, maxrss_mib, run_child
from benchmarks.report import print_report, summarize

MODES = ("serial", "parallel")


def _child_args(
    clip: Path, mode: str, repeat: int, draft: bool, backends: dict[str, str], options: list[str]
) -> list[str]:
    args = ["benchmarks.runner_child", "--clip", str(clip), "--mode", mode]
    args += ["--repeat", str(repeat)]
    if draft:
        args.append("--draft")
    for kind, name in backends.items():
        args += [f"--{kind}", name]
    for option in options:
        args += ["--option", option]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=None, help="Default: bundled demo clip.")
    parser.add_argument("--long-clip", type=Path, default=None, help="Peak-RSS run on this.")
    parser.add_argument("--repeat", type=int, default=1, help="Warm runs after the first.")
    parser.add_argument("--modes", default=",".join(MODES), help="serial,parallel or one.")
    parser.add_argument("--draft", action="store_true", help="Draft too (Runner(draft=True)).")
    parser.add_argument("--face", default=None, help="Face backend (default: the settings').")
    parser.add_argument("--voice", default=None)
    parser.add_argument("--speech", default=None)
    parser.add_argument(
        "--option", action="append", default=[], metavar="KIND.KEY=VALUE",
        help="Backend option for every run, e.g. speech.batch_size=2 (repeatable).",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds per process.")
    parser.add_argument("--json", type=Path, default=None, help="Write all numbers here.")
    args = parser.parse_args(argv)
    if args.repeat < 0:
        parser.error("--repeat must be 0 or more")
    root = Path(__file__).resolve().parent.parent
    clip = (args.clip or root / "annotator" / "samples" / "demo.mp4").resolve()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not clip.is_file() or any(m not in MODES for m in modes):
        parser.error(f"need an existing --clip and --modes from {', '.join(MODES)}")
    backends = {k: v for k, v in (("face", args.face), ("voice", args.voice),
                                  ("speech", args.speech)) if v}  # fmt: skip

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "loadavg_start": loadavg(),
        "runs": [],
    }
    jobs = [(clip, mode, args.repeat) for mode in modes]
    if args.long_clip is not None:
        jobs.append((args.long_clip.resolve(), "parallel", 0))
    for path, mode, repeat in jobs:
        print(f"  {path.name} {mode} ...", file=sys.stderr, flush=True)
        child = _child_args(path, mode, repeat, args.draft, backends, args.option)
        row = run_child(child, args.timeout)
        row.update(mode=mode, clip=str(path))
        report["runs"].append(row)
    report["loadavg_end"] = loadavg()
    report["parent_peak_rss_mib"] = round(maxrss_mib(), 1)
    summarize(report)  # probes the clips: after the children (see benchmarks.common)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if any("error" in row for row in report["runs"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
