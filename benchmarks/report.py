"""Ratios and tables from the children's raw numbers (x real time = clip seconds / wall seconds).

The tables are Markdown, so a run's output can go into the README as it is.
"""

from __future__ import annotations

import statistics
from typing import Any

STAGES = ("face", "voice", "speech")
#: The issue's targets, x real time (steady unless named) and memory.
TARGETS = {
    "extraction_steady": 5.0,
    "extraction_with_loads": 4.0,
    "face": 10.0,
    "voice": 50.0,
    "rss_20min_over_1min": 1.2,
    "rss_20min_mib": 3 * 1024,
}


def _xrt(duration: float | None, seconds: float | None) -> float | None:
    return round(duration / seconds, 2) if duration and seconds else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarize(report: dict[str, Any]) -> None:
    """Adds durations, x real time per run and per stage, and the long/short RSS ratio."""
    from extractors.media import probe  # imported only now: the children have run

    durations: dict[str, float] = {}
    for row in report["runs"]:
        if "error" in row:
            continue
        path = row["clip"]
        if path not in durations:
            durations[path] = probe(path).duration_s
        duration = row["duration_s"] = durations[path]
        first, steady = row["first"], row["steady"]
        row["steady_run_s"] = _median([r["run_s"] for r in steady])
        row["steady_cpu_s"] = _median([r["cpu_s"] for r in steady])
        row["x_rt_with_loads"] = _xrt(duration, first["with_loads_s"])
        row["x_rt_first_run"] = _xrt(duration, first["run_s"])
        row["x_rt_steady"] = _xrt(duration, row["steady_run_s"])
        row["stage_steady_s"] = {
            s: _median([r["stages_s"][s] for r in steady if r["stages_s"].get(s)]) for s in STAGES
        }
        row["stage_first_s"] = {s: first["stages_s"].get(s) for s in STAGES}
        row["stage_x_rt_steady"] = {s: _xrt(duration, row["stage_steady_s"][s]) for s in STAGES}
    runs = [r for r in report["runs"] if "error" not in r and r["mode"] == "parallel"]
    if len({r["clip"] for r in runs}) >= 2:
        short, long = sorted(runs, key=lambda r: r["duration_s"])[:: len(runs) - 1]
        report["rss"] = {
            "short_clip_s": short["duration_s"],
            "short_peak_mib": short["peak_rss_mib"],
            "long_clip_s": long["duration_s"],
            "long_peak_mib": long["peak_rss_mib"],
            "ratio": round(long["peak_rss_mib"] / short["peak_rss_mib"], 3),
        }


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print(
        f"{machine['cpu']}, {machine['logical_cpus']} CPUs, git {machine['git']}, "
        f"load average {report['loadavg_start']} -> {report['loadavg_end']} (1/5/15 min)"
    )
    print()
    print(
        "| clip | mode | with loads s | x RT | first run s | steady s | x RT steady "
        "| CPU s (first / steady) | face s (x RT) | voice s (x RT) | speech s (x RT) "
        "| peak RSS MiB | other CPU % | load avg |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in report["runs"]:
        name = row["clip"].rsplit("/", 1)[-1]
        if "error" in row:
            print(f"| {name} | {row['mode']} | error: {row['error']} |")
            continue
        steady = row["stage_steady_s"] if row["steady"] else row["stage_first_s"]
        xrt = {s: _xrt(row["duration_s"], steady[s]) for s in STAGES}
        cells = [
            f"{name} ({row['duration_s']:.0f} s)",
            f"{row['mode']} (ASR {row['speech_cpu_threads'] or 'auto'} thr, "
            f"batch {row['speech_batch_size']})",
            _f(row["first"]["with_loads_s"], 1),
            _f(row["x_rt_with_loads"]),
            _f(row["first"]["run_s"], 1),
            _f(row["steady_run_s"], 1),
            _f(row["x_rt_steady"]),
            f"{_f(row['first']['cpu_s'], 1)} / {_f(row['steady_cpu_s'], 1)}",
            *(f"{_f(steady[s], 1)} ({_f(xrt[s], 1)})" for s in STAGES),
            _f(row["peak_rss_mib"], 0),
            _f(row.get("other_cpu_pct"), 0),
            str(row.get("loadavg_before")),
        ]
        print("| " + " | ".join(cells) + " |")
    if "rss" in report:
        rss = report["rss"]
        print()
        print(
            f"peak RSS: {rss['short_clip_s']:.0f} s clip {rss['short_peak_mib']:.0f} MiB, "
            f"{rss['long_clip_s']:.0f} s clip {rss['long_peak_mib']:.0f} MiB "
            f"(ratio {rss['ratio']:.2f}; target <= {TARGETS['rss_20min_over_1min']} "
            f"and < {TARGETS['rss_20min_mib']} MiB)"
        )
