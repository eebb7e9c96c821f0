"""Modality extraction for one clip: find its bytes cheaply, decode once, run stages side by side.

Three things the runner needs and that do no database writes of their own:

* ``verify_media_path``: the path that still holds a clip's bytes, trusted without reading
  it when size and mtime match what was recorded when its content was last verified; else
  the partial hash rules a change out cheaply and the full sha256 proves equality.
* ``run_extractions``: the face stage in one thread and the audio stages (voice, then
  speech, sharing one decoded signal) in another, when the cores allow. The heavy work
  (MediaPipe/dlib, CTranslate2, openSMILE's C core, PyAV) releases the GIL. Workers only
  extract: every result is stored by the caller, in stage order, in its own thread, so the
  rows are those of the serial path.
* ``thread_budget``: how many threads each side gets, so two stages do not oversubscribe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from db import ClipPath
from extractors.base import usable_cpus
from extractors.media import ClipMedia, FileStamp, partial_hash, sha256_file

#: Stages that read the video; the others read the shared audio.
VIDEO_STAGES = frozenset({"face"})


# ----------------------------------------------------------------------------- media path


def verify_media_path(
    session: Session, clip_id: int, source_uri: str, sha256: str, size: int | None
) -> Path | None:
    """A path that still holds the clip's bytes: its first path, then any other it was
    ingested from; None when none does. A file overwritten in place is another clip and
    must not be extracted under this one's name.

    Reads nothing when a path's size and mtime match its record; otherwise checks the
    partial hash, then the full sha256, and records the new stamp once proven equal.
    """
    rows = {
        row.path: row for row in session.exec(select(ClipPath).where(ClipPath.clip_id == clip_id))
    }
    for candidate in dict.fromkeys([source_uri, *rows]):
        path = Path(candidate)
        try:
            stamp = FileStamp.of(path) if path.is_file() else None
        except OSError:
            stamp = None
        if stamp is None or (size is not None and stamp.size_bytes != size):
            continue
        row = rows.get(candidate)
        if row is not None and (row.size_bytes, row.mtime_ns) == (stamp.size_bytes, stamp.mtime_ns):
            return path  # unchanged since its content was verified: no read
        partial = partial_hash(path)
        if row is not None and row.partial_hash is not None and row.partial_hash != partial:
            continue  # head, tail or length differ: changed, no need to read it all
        if sha256_file(path) != sha256:
            continue
        if row is not None:  # proven equal: the next run trusts the new stamp
            row.size_bytes, row.mtime_ns, row.partial_hash = (
                stamp.size_bytes,
                stamp.mtime_ns,
                partial,
            )
            session.add(row)
        return path
    return None


# ----------------------------------------------------------------------------- extraction


@dataclass
class Extraction:
    """One stage's result or its error, with the time it took (stored by the caller)."""

    stage: str
    cue: Any = None
    error: BaseException | None = None
    duration_s: float = 0.0


def _extract(stage: str, backend: Any, media: ClipMedia) -> Extraction:
    start = time.perf_counter()
    try:
        cue = backend.extract(media)
    except Exception as exc:  # the caller types it (AnnotatorError code or a crash)
        return Extraction(stage, error=exc, duration_s=time.perf_counter() - start)
    return Extraction(stage, cue=cue, duration_s=time.perf_counter() - start)


def run_extractions(
    stages: Sequence[str],
    backends: dict[str, Any],
    media: ClipMedia,
    parallel: bool,
    on_start: Callable[[str], None] | None = None,
) -> dict[str, Extraction]:
    """Extract ``stages``; with ``parallel``, the video stage beside the audio stages.

    ``on_start`` is called in the caller's thread (progress bars are not thread-safe).
    The audio stages run in the caller's thread, the face stage in one worker thread.
    """
    video = [s for s in stages if s in VIDEO_STAGES]
    audio = [s for s in stages if s not in VIDEO_STAGES]
    results: dict[str, Extraction] = {}
    if not (parallel and video and audio):
        for stage in stages:
            if on_start:
                on_start(stage)
            results[stage] = _extract(stage, backends[stage], media)
        return results
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-stage") as pool:
        if on_start:
            on_start(video[0])
        future = pool.submit(_extract, video[0], backends[video[0]], media)
        for stage in audio:
            if on_start:
                on_start(stage)
            results[stage] = _extract(stage, backends[stage], media)
        results[video[0]] = future.result()
    return {stage: results[stage] for stage in stages}


# ----------------------------------------------------------------------------- threads


@dataclass(frozen=True)
class ThreadBudget:
    """Threads for each side of a clip: the face stage and the audio stages."""

    parallel: bool
    face: int
    audio: int


def thread_budget(parallel: bool | None = None, cpus: int | None = None) -> ThreadBudget:
    """Side by side when there are two cores or more (``parallel=None``: decide from them);
    then the face stage gets one thread and the audio stages the rest."""
    cpus = cpus or usable_cpus()
    if parallel is None:
        parallel = cpus >= 2
    if not parallel:
        return ThreadBudget(False, cpus, cpus)
    return ThreadBudget(True, 1, max(1, cpus - 1))
