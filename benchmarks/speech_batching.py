"""Sequential vs batched faster-whisper on a 60-s dense-speech clip.

The clip is real speech: the 23.7 s of talk in pyannote's sample.wav (6.5-30.2 s),
three times over, cut at 60 s. Each configuration runs through the speech backend
(``batch_size=0`` is the sequential path) after one warm-up, alternating, and the
median wall and CPU time are printed with the load average (other work on the
machine skews wall time; CPU time much less).

    .venv/bin/python benchmarks/speech_batching.py --repeat 4 --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia, decode_audio
from extractors.speech.faster_whisper_backend import FasterWhisperSpeechBackend


def dense_clip(folder: Path, seconds: float = 60.0) -> ClipMedia:
    import wave

    spec = importlib.util.find_spec("pyannote.audio")
    assert spec and spec.submodule_search_locations, "pyannote.audio is not installed"
    wav = Path(next(iter(spec.submodule_search_locations))) / "sample" / "sample.wav"
    audio = decode_audio(wav)
    speech = audio[int(6.5 * AUDIO_SAMPLE_RATE) : int(30.2 * AUDIO_SAMPLE_RATE)]
    clip = np.tile(speech, 3)[: int(seconds * AUDIO_SAMPLE_RATE)]
    path = folder / "dense60.wav"
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(AUDIO_SAMPLE_RATE)
        fh.writeframes((np.clip(clip, -1, 1) * 32767).astype("<i2").tobytes())
    return ClipMedia(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-sizes", default="0,4,8", help="0 = sequential")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = dense_clip(Path(tmp))
        clip.audio()  # decoded once, outside the timing
        duration = clip.info.duration_s
        sizes = [int(b) for b in args.batch_sizes.split(",")]
        backends = {
            b: FasterWhisperSpeechBackend(batch_size=b, cpu_threads=args.threads) for b in sizes
        }
        backends[sizes[0]].extract(clip)  # model load + warm-up
        times: dict[int, list[tuple[float, float]]] = {b: [] for b in sizes}
        for _ in range(args.repeat):
            for b, backend in backends.items():
                wall, cpu = time.perf_counter(), time.process_time()
                words = len(backend.extract(clip).words)
                times[b].append((time.perf_counter() - wall, time.process_time() - cpu))
                print(f"batch_size={b}: {times[b][-1][0]:.2f} s wall, {words} words", flush=True)
        print(f"clip {duration:.1f} s, {args.threads} threads, load {os.getloadavg()}")
        for b, runs in times.items():
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            name = "sequential" if b == 0 else f"batched ({b})"
            print(f"{name:14s} wall {wall:6.2f} s ({duration / wall:5.1f}x)  cpu {cpu:6.2f} s")


if __name__ == "__main__":
    main()
