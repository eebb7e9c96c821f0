"""Ingest: probe and hash media files into clips; the same bytes under another name join the
existing clip, a file that is not media is recorded as an ingest failure and the rest go on.
Ingest also says who speaks (``speaker`` for every file, or per file from a CSV): the
speaker's other clips become the baseline of their prosody.

Only files inside the folders named (``AllowedRoots``: the folders given, a named file's own
folder, ``--allow-root``) are read: a symlink or ``..`` leading elsewhere is refused with one
line, and a file that is not media is refused before its full hash is read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import select

from annotator.config import Settings
from annotator.safety import AllowedRoots, refuse_non_media
from db import Clip, ClipPath, IngestFailure, session_scope
from db.models import utcnow
from extractors.errors import AnnotatorError
from extractors.media import FileStamp, partial_hash, probe
from extractors.schema import MediaInfo

ProgressFn = Callable[[str], None]

MEDIA_SUFFIXES = {
    ".mp4",
    ".mov",
    ".mkv",
    ".avi",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".flv",
    ".wmv",
    ".wav",
    ".mp3",
    ".m4a",
    ".flac",
    ".ogg",
    ".opus",
    ".aac",
}


@dataclass
class IngestResult:
    added: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, existing clip name)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (path, code, message)
    #: (path, previous speaker, new speaker): a clip ingested again under another speaker.
    speaker_changes: list[tuple[str, str, str]] = field(default_factory=list)
    #: Files ingested while a speaker table was given, with no row in it.
    without_speaker: list[str] = field(default_factory=list)
    #: Resolved paths of every file ingested (added or already known).
    resolved: list[str] = field(default_factory=list)


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given, folders walked recursively for media suffixes, in sorted order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in MEDIA_SUFFIXES:
                    yield child
        else:
            yield path


def ingest(
    settings: Settings,
    paths: Iterable[str | Path],
    progress: ProgressFn | None = None,
    *,
    speaker: str | None = None,
    speakers: Mapping[str, str] | None = None,
    allowed: AllowedRoots | None = None,
) -> IngestResult:
    """Probe and hash each file; the same bytes under another name join the existing clip.

    ``speakers`` (resolved path -> speaker id, e.g. from ``read_speakers_csv``) sets each
    listed file's ``Clip.speaker_id``; ``speaker`` is used for files it does not list.
    A new speaker for a clip that had another replaces it and is reported.
    ``allowed`` (default: the folders of ``paths``) bounds where files may resolve to.
    """
    settings.ensure_home()
    result = IngestResult()
    paths = list(paths)
    allowed = allowed or AllowedRoots.for_inputs(paths)
    for path in expand_paths(paths):
        shown = str(path)
        if progress:
            progress(shown)
        resolved = str(path.resolve()) if path.exists() else shown
        try:
            allowed.check(path)
            stamp = FileStamp.of(path) if path.is_file() else None  # before the hash: a
            if stamp is not None and stamp.size_bytes > 0:
                refuse_non_media(path)  # milliseconds, where the full sha256 of 4 GB is not
            info = probe(path)  # change while hashing then shows as a moved mtime
            partial = partial_hash(path)
        except AnnotatorError as exc:
            result.failed.append((shown, exc.code, str(exc)))
            _record_ingest_failure(settings, resolved, exc.code, str(exc))
            continue
        with session_scope(settings.db_url) as session:
            clip = session.exec(select(Clip).where(Clip.sha256 == info.sha256)).first()
            if clip is None:
                clip = _new_clip(info, path, resolved)
                session.add(clip)
                session.flush()
                result.added.append(shown)
            else:
                result.duplicates.append((shown, clip.name))
            assert clip.id is not None
            result.resolved.append(resolved)
            _set_speaker(clip, shown, resolved, speaker, speakers, result)
            known_path = session.exec(select(ClipPath).where(ClipPath.path == resolved)).first()
            if known_path is None:
                known_path = ClipPath(clip_id=clip.id, path=resolved)
            elif known_path.clip_id != clip.id:  # the file at this path has new content
                known_path.clip_id, known_path.seen_at = clip.id, utcnow()
            if stamp is not None:  # lets a rerun trust this path without reading it
                known_path.size_bytes, known_path.mtime_ns = stamp.size_bytes, stamp.mtime_ns
                known_path.partial_hash = partial
            session.add(known_path)
            failure = session.exec(
                select(IngestFailure).where(IngestFailure.path == resolved)
            ).first()
            if failure is not None:
                session.delete(failure)
    return result


def _set_speaker(
    clip: Clip,
    shown: str,
    resolved: str,
    speaker: str | None,
    speakers: Mapping[str, str] | None,
    result: IngestResult,
) -> None:
    new = (speakers or {}).get(resolved) or speaker
    if speakers is not None and resolved not in speakers:
        result.without_speaker.append(shown)
    if not new or new == clip.speaker_id:
        return
    if clip.speaker_id:
        result.speaker_changes.append((shown, clip.speaker_id, new))
    clip.speaker_id = new


def _new_clip(info: MediaInfo, path: Path, resolved: str) -> Clip:
    return Clip(
        sha256=info.sha256,
        name=path.name,
        source_uri=resolved,
        duration_s=info.duration_s,
        fps=info.fps,
        width=info.width,
        height=info.height,
        has_audio=info.has_audio,
        has_video=info.has_video,
        media_json=info.to_dict(),
    )


def _record_ingest_failure(settings: Settings, path: str, code: str, message: str) -> None:
    with session_scope(settings.db_url) as session:
        row = session.exec(select(IngestFailure).where(IngestFailure.path == path)).first()
        if row is None:
            row = IngestFailure(path=path, error_code=code, error_message=message)
        else:
            row.error_code, row.error_message, row.seen_at = code, message, utcnow()
        session.add(row)
