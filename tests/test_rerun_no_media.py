"""A rerun over a finished batch reads no media, and still notices a file changed in place.

Every way this process can read a media file is watched: Python's ``open`` (hashing goes
through it), PyAV's ``av.open`` (probe and decode), and the two hash functions the path
check uses. The stamps (size, mtime_ns) and the partial hash come from ingest.
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import av
import pytest
from sqlmodel import select

import annotator.extraction as extraction
from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import Clip, ClipPath, StageRun, session_scope
from extractors.media import partial_hash

MIB = 1 << 20


class MediaReads:
    """Counts every open of a watched path and every hash the path check computes."""

    def __init__(self, watched: list[Path]):
        self.watched = {str(p.resolve()) for p in watched}
        self.opened: list[str] = []
        self.calls: Counter[str] = Counter()

    def _seen(self, target: Any) -> None:
        try:
            name = str(Path(os.fsdecode(target)).resolve())
        except (TypeError, ValueError):
            return  # a file descriptor or a file object: not a path
        if name in self.watched:
            self.opened.append(name)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> MediaReads:
        real_open, real_av_open = builtins.open, av.open

        def spy_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            self._seen(file)
            return real_open(file, *args, **kwargs)

        def spy_av_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            self._seen(file)
            return real_av_open(file, *args, **kwargs)

        def counted(name: str, fn: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                self.calls[name] += 1
                return fn(*args, **kwargs)

            return wrapper

        monkeypatch.setattr(builtins, "open", spy_open)
        monkeypatch.setattr(io, "open", spy_open)  # pathlib.Path.open goes through io.open
        monkeypatch.setattr(av, "open", spy_av_open)
        monkeypatch.setattr(extraction, "sha256_file", counted("sha256", extraction.sha256_file))
        monkeypatch.setattr(extraction, "partial_hash", counted("partial", extraction.partial_hash))
        return self


def _bump_mtime(path: Path, seconds: int = 7) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def _clip(settings: Any, path: Path) -> Clip:
    with session_scope(settings.db_url) as session:
        row = session.exec(select(ClipPath).where(ClipPath.path == str(path.resolve()))).one()
        clip = session.get(Clip, row.clip_id)
        assert clip is not None
        session.expunge(clip)
        return clip


def test_ingest_records_size_mtime_and_partial_hash(
    settings, feat_data: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "clip.mov"
    shutil.copy(feat_data / "noface_face.mov", path)
    ingest(settings, [path])
    with session_scope(settings.db_url) as session:
        row = session.exec(select(ClipPath)).one()
        st = path.stat()
        assert (row.size_bytes, row.mtime_ns) == (st.st_size, st.st_mtime_ns)
        assert row.partial_hash == partial_hash(path)
    # the partial hash reads the size, the first and the last MiB, and nothing between
    data = bytearray(path.read_bytes())
    assert len(data) > 2 * MIB
    data[len(data) // 2] ^= 0xFF
    changed = tmp_path / "middle.mov"
    changed.write_bytes(bytes(data))
    assert partial_hash(changed) == partial_hash(path)
    data[10] ^= 0xFF
    changed.write_bytes(bytes(data))
    assert partial_hash(changed) != partial_hash(path)


def test_rerun_over_a_finished_batch_opens_no_media_file(  # type: ignore[no-untyped-def]
    settings, feat_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clips = [tmp_path / "one.mp4", tmp_path / "two.mov"]
    shutil.copy(feat_data / "single_face.mp4", clips[0])
    shutil.copy(feat_data / "noface_face.mov", clips[1])
    ingest(settings, clips)
    first = Runner(settings, draft=False).run()
    assert not first.failed
    with session_scope(settings.db_url) as session:
        n_runs = len(session.exec(select(StageRun)).all())

    reads = MediaReads(clips).install(monkeypatch)
    again = Runner(settings, draft=False).run()

    assert reads.opened == [] and reads.calls == Counter()
    assert [o.status for o in again.outcomes] == [o.status for o in first.outcomes]
    assert [o.skipped_stages for o in again.outcomes] == [3, 3]  # face, voice, speech
    with session_scope(settings.db_url) as session:
        assert len(session.exec(select(StageRun)).all()) == n_runs
    # and when a stage does have to run, an unchanged file is still trusted unread
    runner = Runner(settings, draft=False)
    for path in clips:
        assert runner._media_path(_clip(settings, path)) == path.resolve()
    assert reads.opened == [] and reads.calls == Counter()


def test_a_file_overwritten_in_place_with_the_same_size_is_caught(  # type: ignore[no-untyped-def]
    settings, feat_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clip.mov"
    shutil.copy(feat_data / "noface_face.mov", path)
    ingest(settings, [path])
    clip = _clip(settings, path)
    runner = Runner(settings, draft=False)
    reads = MediaReads([path]).install(monkeypatch)

    # same bytes, new mtime (touched, or copied back): read once in full, then trusted again
    _bump_mtime(path)
    assert runner._media_path(clip) == path.resolve()
    assert reads.calls == Counter(partial=1, sha256=1)
    assert runner._media_path(clip) == path.resolve()
    assert reads.calls == Counter(partial=1, sha256=1)

    # one byte changed in the middle, same size: the partial hash agrees, the sha256 does not
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    _bump_mtime(path, 13)  # a real overwrite moves the mtime; coarse clocks might not
    reads.calls.clear()
    assert runner._media_path(clip) is None
    assert reads.calls == Counter(partial=1, sha256=1)

    # a changed head: the partial hash alone rules it out, no full read
    data[len(data) // 2] ^= 0xFF
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    _bump_mtime(path, 21)
    reads.calls.clear()
    assert runner._media_path(clip) is None
    assert reads.calls == Counter(partial=1)


def test_run_fails_a_clip_whose_file_changed_in_place_when_a_stage_must_run(  # type: ignore[no-untyped-def]
    settings, feat_data: Path, tmp_path: Path
) -> None:
    path = tmp_path / "clip.mp4"
    shutil.copy(feat_data / "single_face.mp4", path)
    ingest(settings, [path])
    (done,) = Runner(settings, draft=False).run().outcomes
    assert done.status != "failed"

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    path.write_bytes(bytes(data))
    _bump_mtime(path)

    # every stage done: nothing to extract, the file is not even looked at
    (rerun,) = Runner(settings, draft=False).run().outcomes
    assert rerun.status == done.status and rerun.skipped_stages == 3
    # a new face setting must extract: the changed file is refused, not used as the clip
    settings.face_options = {"frame_rate": 2.0}
    (changed,) = Runner(settings, draft=False).run().outcomes
    assert changed.status == "failed"
    code, message = changed.errors[0]
    assert code == "file_not_found" and "changed since ingest" in message
