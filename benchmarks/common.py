"""What every benchmark reports beside its timings: peak memory, machine, noise from others.

Imports nothing heavy: Linux carries a process's RSS high-water mark into a child's
``ru_maxrss`` across fork+exec, so a parent that imported the pipeline (~150 MiB) would
floor every child's reading. Parents stay near 20 MiB; the work runs in children.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def maxrss_mib() -> float:
    """Peak RSS of this process (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def vmhwm_mib() -> float | None:
    """Peak RSS of this address space from /proc (Linux): a cross-check of ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _busy_cpu_s() -> float | None:
    """CPU seconds all processes on the machine have used since boot (Linux /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run ``python -m benchmarks.<args>`` in a fresh process; its last stdout line is JSON.

    Adds the child's wall time, the load average before and after, and ``other_cpu_pct``:
    the CPU other processes used meanwhile, as a share of all CPUs (0: the machine was ours).
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    load_before = loadavg()
    busy0, own0, t0 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", *args],
            env=env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s", "args": args}
    wall = time.perf_counter() - t0
    busy1, own1 = _busy_cpu_s(), _children_cpu_s()
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail), "args": args}
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    data["process_s"] = round(wall, 2)
    data["loadavg_before"], data["loadavg_after"] = load_before, loadavg()
    if busy0 is not None and busy1 is not None and wall > 0:
        other = max((busy1 - busy0) - (own1 - own0), 0.0)
        data["other_cpu_pct"] = round(100 * other / (wall * (os.cpu_count() or 1)), 1)
    return data


def git_rev() -> str | None:
    """The commit measured, with ``+dirty`` when tracked files have changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (rev + ("+dirty" if dirty else "")) or None


PACKAGES = (
    "faster-whisper",
    "ctranslate2",
    "opensmile",
    "av",
    "mediapipe",
    "dlib-bin",
    "torch",
    "transformers",
)


def machine_info() -> dict[str, Any]:
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, StopIteration):
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem_gib = round(mem_kib / 1024**2, 1)
    versions = {}
    for dist in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "git": git_rev(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "mem_gib": mem_gib,
        "gpu": "none (CPU only)",
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }
