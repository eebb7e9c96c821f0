"""Real audio for the voice and speech tests: a two-speaker telephone sample shipped
with pyannote.audio, speech synthesised with espeak-ng, silence, and a video-only clip.

Clips are built once per session in a temporary folder; ``ClipMedia`` caches its
decoded audio, so the backends share one decode per clip.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia, decode_audio
from tests.utils import package_folder

#: What sample.stm (the reference transcript next to sample.wav) says, utterance by utterance.
SAMPLE_UTTERANCES = [
    (6.68, 7.16, "Hello?"),
    (7.634, 8.155, "Hello?"),
    (8.436, 8.876, "Oh, hello."),
    (8.916, 9.798, "I didn't know you were there."),
    (9.838, 10.78, "Neither did I."),
    (10.78, 12.54, "Okay, then I thought you know, I heard a beep."),
    (12.542, 14.184, "This is Diane in New Jersey."),
    (14.444, 17.769, "And I'm Sheila in Texas, originally from Chicago."),
    (17.789, 20.113, "Oh, I'm originally from Chicago also."),
    (20.173, 21.475, "I'm in New Jersey now though."),
    (21.935, 23.978, "Well, there isn't that much difference."),
    (24.058, 28.425, "At least you know, they all call me a Yankee down here, so what can I say?"),
    (28.445, 29.987, "Oh, I don't hear that in New Jersey now."),
]

ESPEAK_SENTENCE = (
    "Yesterday I walked to the market and bought fresh bread, apples and cheese "
    "for our dinner with friends."
)


@pytest.fixture(scope="session")
def sample_utterances() -> list[tuple[float, float, str]]:
    """(start_s, end_s, text) of each utterance in sample.wav, from its sample.stm."""
    return list(SAMPLE_UTTERANCES)


@pytest.fixture(scope="session")
def espeak_sentence() -> str:
    """The sentence spoken in ``espeak_m4a_clip``."""
    return ESPEAK_SENTENCE


def write_wav(path: Path, samples: np.ndarray, rate: int = AUDIO_SAMPLE_RATE) -> Path:
    """Mono 16-bit PCM wav from float samples in [-1, 1]."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.tobytes())
    return path


def write_m4a(path: Path, samples: np.ndarray, rate: int = AUDIO_SAMPLE_RATE) -> Path:
    """AAC in an MP4 (.m4a) container, encoded with PyAV: the path a phone clip takes."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        step = 1024
        data = np.clip(samples, -1.0, 1.0).astype(np.float32)
        for i in range(0, len(data), step):
            frame = av.AudioFrame.from_ndarray(
                data[i : i + step].reshape(1, -1), format="fltp", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_video_only(path: Path, n_frames: int = 10, size: int = 64) -> Path:
    """A short MPEG-4 video with no audio stream."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(n_frames):
            image = np.full((size, size, 3), (i * 20) % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def sample_wav() -> Path:
    # pyannote.audio comes with whisperX (the whisperx extra); its sample.wav is real speech
    path = package_folder("pyannote.audio", "whisperx") / "sample" / "sample.wav"
    assert path.is_file(), f"{path} is missing from this pyannote.audio install"
    return path


@pytest.fixture(scope="session")
def sample_clip(sample_wav: Path) -> ClipMedia:
    return ClipMedia(sample_wav)


@pytest.fixture(scope="session")
def silent_clip(clips_dir: Path) -> ClipMedia:
    return ClipMedia(write_wav(clips_dir / "silence.wav", np.zeros(3 * AUDIO_SAMPLE_RATE)))


@pytest.fixture(scope="session")
def loud_sample_clip(sample_wav: Path, clips_dir: Path) -> ClipMedia:
    audio = decode_audio(sample_wav)
    return ClipMedia(write_wav(clips_dir / "sample_x3.wav", np.clip(audio * 3.0, -1.0, 1.0)))


@pytest.fixture(scope="session")
def video_only_clip(clips_dir: Path) -> ClipMedia:
    return ClipMedia(write_video_only(clips_dir / "video_only.mp4"))


def _espeak(clips_dir: Path, name: str, text: str, *args: str) -> Path:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    out = clips_dir / f"{name}.wav"
    subprocess.run([exe, *args, "-w", str(out), text], check=True, timeout=60, capture_output=True)
    return out


@pytest.fixture(scope="session")
def espeak(clips_dir: Path) -> Callable[..., Path]:
    """``espeak(name, text, *espeak_args) -> wav path``; skips when espeak-ng is missing."""

    def make(name: str, text: str, *args: str) -> Path:
        return _espeak(clips_dir, name, text, *args)

    return make


@pytest.fixture(scope="session")
def espeak_m4a_clip(clips_dir: Path) -> ClipMedia:
    """The known sentence, synthesised and re-encoded to AAC/.m4a (1 s of silence first)."""
    wav = _espeak(clips_dir, "sentence", ESPEAK_SENTENCE)
    audio = decode_audio(wav)
    padded = np.concatenate([np.zeros(AUDIO_SAMPLE_RATE, np.float32), audio])
    return ClipMedia(write_m4a(clips_dir / "sentence.m4a", padded))
