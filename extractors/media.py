"""Probe and decode media with PyAV (which bundles FFmpeg).

``probe`` hashes the file (sha256, the clip identity) and reads what the container
says; ``ClipMedia`` decodes lazily: audio as 16 kHz mono float32, decoded once and
shared by the voice and speech backends; frames sampled at a fixed rate with their
real presentation timestamps (variable frame rate is common in phone video),
streamed so long videos do not fill memory.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from extractors.errors import (
    AnnotatorError,
    EmptyFileError,
    MediaError,
    MediaNotFoundError,
    NoUsableStreamError,
)
from extractors.schema import MediaInfo


class DecodeTimeoutError(AnnotatorError, TimeoutError):
    """Decoding ran past the clip's time limit (``run --clip-timeout``): a file that keeps
    the decoder busy is stopped between frames, and its clip is marked failed."""

    code = "timeout"


AUDIO_SAMPLE_RATE = 16_000
DEFAULT_FRAME_RATE = 5.0
_HASH_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileStamp:
    """What a file looks like without reading it: a rerun trusts an unchanged stamp."""

    size_bytes: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        st = path.stat()
        return cls(st.st_size, st.st_mtime_ns)


def partial_hash(path: Path, edge: int = _HASH_CHUNK) -> str:
    """sha256 of the size, the first and the last ``edge`` bytes: reads at most 2 MiB.

    Cheap evidence of a change when the stamp moved (a rewritten header or tail, a new
    length); equal partial hashes still need the full sha256 to prove equal content.
    """
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(edge))
        if size > edge:
            fh.seek(max(edge, size - edge))
            digest.update(fh.read(edge))
    return digest.hexdigest()


def _open(path: Path):  # type: ignore[no-untyped-def]
    import av

    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:  # InvalidDataError, EOFError...
        raise MediaError(f"{path}: not readable as media ({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.splitlines()[0].strip() if text else type(exc).__name__


def probe(path: str | Path) -> MediaInfo:
    """Hash a file and read its streams. Raises a typed ``MediaError`` on bad input."""
    path = Path(path)
    if not path.exists():
        raise MediaNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise EmptyFileError(f"{path}: empty file (0 bytes)")
    digest = sha256_file(path)
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is not None and video.codec_context is None:
            video = None
        if video is None and audio is None:
            raise NoUsableStreamError(f"{path}: no audio or video stream")
        duration = _duration(container, video, audio)
        fps = None
        if video is not None:
            rate = video.average_rate or video.guessed_rate or video.base_rate
            fps = float(rate) if rate else None
        info = MediaInfo(
            path=str(path),
            sha256=digest,
            size_bytes=size,
            duration_s=duration,
            has_video=video is not None,
            has_audio=audio is not None,
            fps=fps,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            n_video_frames=(video.frames or None) if video is not None else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            audio_channels=audio.codec_context.channels if audio is not None else None,
            container=container.format.name,
        )
    # The container's claims are not enough for truncated files: decode one packet.
    _check_decodable(path, info)
    return info


def _duration(container, video, audio) -> float:  # type: ignore[no-untyped-def]
    candidates = []
    for stream in (video, audio):
        if stream is not None and stream.duration is not None and stream.time_base:
            candidates.append(float(stream.duration * stream.time_base))
    if container.duration is not None:
        candidates.append(container.duration / 1_000_000)
    return round(max(candidates), 3) if candidates else 0.0


def _check_decodable(path: Path, info: MediaInfo) -> None:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0] if info.has_video else container.streams.audio[0]
            for _frame in container.decode(stream):
                return
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot decode ({_reason(exc)})") from exc
    raise MediaError(f"{path}: no decodable frames (truncated or corrupt)")


@dataclass(frozen=True)
class VideoFrame:
    time_s: float  # presentation timestamp
    rgb: np.ndarray  # (H, W, 3) uint8


class ClipMedia:
    """One clip's media, decoded on first use and cached for the backends that share it.

    The audio is decoded once and shared by the voice and speech stages (16 kHz mono
    float32: 77 MB for 20 minutes); ``release`` drops it when the clip is done. Safe to
    share between threads: one decode even when two stages ask at once.
    """

    def __init__(
        self, path: str | Path, info: MediaInfo | None = None, timeout_s: float | None = None
    ):
        self.path = Path(path)
        self.info = info if info is not None else probe(self.path)
        self._audio: np.ndarray | None = None
        # Decoding stops with DecodeTimeoutError once this much time has passed since now.
        self.deadline = _Deadline.after(timeout_s)
        self._audio_lock = threading.Lock()
        self.audio_decodes = 0  # how many times the audio was decoded (1 at most per use)

    def audio(self) -> np.ndarray:
        """Mono float32 at 16 kHz in [-1, 1]; empty when the clip has no audio stream."""
        with self._audio_lock:
            if self._audio is None:
                self.audio_decodes += 1
                self._audio = (
                    decode_audio(self.path, deadline=self.deadline)
                    if self.info.has_audio
                    else np.zeros(0, np.float32)
                )
            return self._audio

    def release(self) -> None:
        """Drop the cached audio (the clip is done; a long clip's samples go with it)."""
        with self._audio_lock:
            self._audio = None

    def frames(
        self, rate: float = DEFAULT_FRAME_RATE, max_side: int | None = None
    ) -> Iterator[VideoFrame]:
        """Frames sampled at about ``rate`` per second, with their real timestamps.

        Streamed, not cached: an hour of video at 5 fps would not fit in memory.
        """
        if not self.info.has_video:
            return iter(())
        return iter_frames(self.path, rate, max_side, deadline=self.deadline)


@dataclass(frozen=True)
class _Deadline:
    """A point on the monotonic clock; checked between decoded frames (cooperative: a
    single FFmpeg call that never returns is not interrupted)."""

    at: float
    limit_s: float

    @classmethod
    def after(cls, seconds: float | None) -> _Deadline | None:
        return None if seconds is None else cls(time.monotonic() + seconds, seconds)

    def check(self, path: str | Path) -> None:
        if time.monotonic() > self.at:
            raise DecodeTimeoutError(
                f"{path}: stopped after the clip's {self.limit_s:g} s time limit (--clip-timeout)"
            )


class _SampleBuffer:
    """Samples appended into one preallocated float32 array: no list of chunks to
    concatenate at the end, so a long clip's audio is held once, not twice."""

    def __init__(self, capacity: int):
        self.data = np.empty(max(capacity, 1), np.float32)
        self.size = 0

    def append(self, samples: np.ndarray) -> None:
        end = self.size + samples.size
        if end > self.data.size:  # the container's duration was short of the truth
            grown = np.empty(max(end, 2 * self.data.size), np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = samples
        self.size = end

    def array(self) -> np.ndarray:
        out = self.data[: self.size]
        # A view keeps its base alive: copy when the buffer is much larger than its content.
        return out.copy() if self.size < 0.9 * self.data.size else out


def decode_audio(
    path: str | Path, sample_rate: int = AUDIO_SAMPLE_RATE, deadline: _Deadline | None = None
) -> np.ndarray:
    """Decode the first audio stream to mono float32 at ``sample_rate``."""
    import av

    buffer: _SampleBuffer | None = None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return np.zeros(0, np.float32)
            stream = container.streams.audio[0]
            seconds = (
                float(stream.duration * stream.time_base)
                if stream.duration and stream.time_base
                else (container.duration or 0) / 1_000_000
            )
            buffer = _SampleBuffer(int((seconds + 1.0) * sample_rate))
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                if deadline is not None:
                    deadline.check(path)
                for out in resampler.resample(frame):
                    buffer.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                buffer.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as exc:
        if buffer is None or not buffer.size:
            raise MediaError(f"{path}: cannot decode audio ({_reason(exc)})") from exc
        # A truncated tail still leaves usable audio: keep what decoded.
    if buffer is None or not buffer.size:
        return np.zeros(0, np.float32)
    return buffer.array()


def iter_frames(
    path: str | Path,
    rate: float = DEFAULT_FRAME_RATE,
    max_side: int | None = None,
    deadline: _Deadline | None = None,
) -> Iterator[VideoFrame]:
    """Yield frames at about ``rate`` fps, choosing by presentation time, not frame index.

    Frame-index sampling drifts on variable-frame-rate video; choosing the first
    frame at or after each tick of a ``1/rate`` grid keeps the timestamps true.
    """
    import av

    step = 1.0 / rate
    next_tick = 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            time_base = stream.time_base or Fraction(1, 1000)
            start = stream.start_time or 0
            for frame in container.decode(stream):
                if deadline is not None:
                    deadline.check(path)
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None:
                    continue
                t = float((pts - start) * time_base)
                if t + 1e-6 < next_tick:
                    continue
                next_tick = (math.floor(t / step + 1e-6) + 1) * step
                image = frame.to_ndarray(format="rgb24")
                if max_side is not None and max(image.shape[:2]) > max_side:
                    image = _resize(frame, max_side)
                yield VideoFrame(time_s=round(t, 4), rgb=image)
    except av.error.FFmpegError as exc:
        # Truncated files decode up to the damage; the frames before it stand.
        if next_tick == 0.0:
            raise MediaError(f"{path}: cannot decode video ({_reason(exc)})") from exc


def _resize(frame, max_side: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    scale = max_side / max(frame.width, frame.height)
    width = max(2, round(frame.width * scale))
    height = max(2, round(frame.height * scale))
    return frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
