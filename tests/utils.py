"""Helpers several test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ANNOTATOR = [sys.executable, "-m", "annotator.cli"]


def cut_clips(demo: Path, folder: Path, n: int, seconds: float = 2.0) -> list[Path]:
    """``n`` distinct short clips cut from the demo clip (stream copy: real media, no
    re-encoding), so every one has its own content hash."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        target = folder / f"cut{i}.mp4"
        cut = ["-ss", f"{i * 1.5:g}", "-t", f"{seconds:g}", "-i", str(demo), "-c", "copy"]
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", *cut, str(target)],
            check=True,
            timeout=60,
        )
        out.append(target)
    return out


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ANNOTATOR_DB_URL"}
    env.update(ANNOTATOR_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return env


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    """Poll ``condition()`` until it returns something truthy (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
