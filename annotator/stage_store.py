"""What the stages store and read back: cue records and stage runs keyed by (clip, stage,
config hash), and the clip's cue text. The Runner (annotator/pipeline.py) decides what runs;
this mixin keeps its rows, so a rerun finds them and a failure is recorded, never lost."""

from __future__ import annotations

import dataclasses
import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from annotator.config import Settings
from annotator.extraction import Extraction
from annotator.speakers import speaker_baseline
from db import Clip, CueRecord, CueTextRecord, Stage, StageRun, StageStatus, session_scope
from db.models import OutcomeStatus, utcnow
from db.queries import stage_run
from extractors.errors import AnnotatorError, first_line
from extractors.schema import (
    CUES_SCHEMA_VERSION,
    Cues,
    FaceCues,
    SpeakerBaseline,
    SpeechCues,
    VoiceCues,
    config_hash,
)
from textualize import TEXTUALIZER_VERSION, CueText, render
from textualize.hints import HINTS_VERSION, Hint, cue_hints, with_hints, with_hints_readable
from textualize.speaker import key_of as speaker_key
from textualize.speaker import with_speaker_baseline

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def once_more_on_conflict(step: Callable[[], _T]) -> _T:
    """``step()``, tried again once if a unique key refused its insert: another worker
    stored the same (clip, stage, key) row between our look-up and insert, and the second
    try finds that row and updates it instead of adding a duplicate."""
    try:
        return step()
    except IntegrityError:
        log.debug("unique-key conflict (another worker stored it first); trying again")
        return step()


@dataclass
class ClipOutcome:
    clip_id: int
    name: str
    status: OutcomeStatus
    errors: list[tuple[str, str]] = field(default_factory=list)  # (code, message)
    missing: dict[str, str] = field(default_factory=dict)
    draft_status: str | None = None
    skipped_stages: int = 0


class StageStore:
    """Stage rows of one run; the Runner provides the settings and the three backends."""

    settings: Settings
    face: Any
    voice: Any
    speech: Any

    def _backend(self, stage: str) -> Any:
        return {"face": self.face, "voice": self.voice, "speech": self.speech}[stage]

    def _reuse(
        self, stage: str, clip: Clip, job_id: int | None, outcome: ClipOutcome
    ) -> tuple[FaceCues | VoiceCues | SpeechCues | None, int | None] | None:
        """The stage's stored result under the backend's current key (or its skip for a
        missing stream); None when the stage must run on the media."""
        assert clip.id is not None
        backend = self._backend(stage)
        # The backend's own hash: it knows which options change output (device and
        # thread counts do not, so changing them must not re-extract).
        key = backend.config_hash()
        needs = "video" if stage == Stage.FACE else "audio"
        has = clip.has_video if needs == "video" else clip.has_audio
        with session_scope(self.settings.db_url) as session:
            previous = stage_run(session, clip.id, stage, key)
            if previous is not None and previous.status in (StageStatus.DONE, StageStatus.PARTIAL):
                record = session.get(CueRecord, previous.output_id) if previous.output_id else None
                if record is not None:
                    outcome.skipped_stages += 1
                    return self._load_cue(stage, record), record.id
            if previous is not None and previous.status == StageStatus.SKIPPED:
                outcome.skipped_stages += 1
                outcome.missing[stage] = previous.error_message or f"no {needs} stream"
                return None, None
        if not has:
            self._save_stage(
                clip.id,
                stage,
                key,
                backend.config(),
                StageStatus.SKIPPED,
                job_id,
                message=f"no {needs} stream",
            )
            outcome.missing[stage] = f"no {needs} stream"
            return None, None
        return None

    def _store(
        self,
        stage: str,
        clip: Clip,
        extracted: Extraction,
        job_id: int | None,
        outcome: ClipOutcome,
    ) -> tuple[FaceCues | VoiceCues | SpeechCues | None, int | None]:
        """Record one extraction (cue record and stage run, or the typed failure)."""
        assert clip.id is not None
        backend = self._backend(stage)
        key = backend.config_hash()
        exc = extracted.error
        if isinstance(exc, AnnotatorError):
            self._stage_failed(
                clip.id, stage, key, backend.config(), job_id, outcome, exc.code, str(exc)
            )
            return None, None
        if exc is not None:  # a backend bug must not stop the batch
            log.debug(
                "stage %s crashed on %s\n%s",
                stage,
                clip.name,
                "".join(traceback.format_exception(exc)),
            )
            message = (
                f"{clip.name}: {stage} backend crashed: {type(exc).__name__}: {first_line(exc)}"
            )
            self._stage_failed(
                clip.id, stage, key, backend.config(), job_id, outcome, "extraction_failed", message
            )
            return None, None
        cue = extracted.cue
        frames_path = self._write_frames(clip, stage, key, cue)
        status = StageStatus.PARTIAL if cue.missing_reason else StageStatus.DONE

        def save() -> int:  # the cue record and its stage run: one transaction
            with session_scope(self.settings.db_url) as session:
                record_id = self._save_cue(session, clip, stage, key, cue, frames_path)
                self._save_stage(
                    clip.id or 0,
                    stage,
                    key,
                    backend.config(),
                    status,
                    job_id,
                    output_id=record_id,
                    duration=extracted.duration_s,
                    message=cue.missing_reason,
                    session=session,
                )
                return record_id

        return cue, once_more_on_conflict(save)

    def _stage_failed(
        self,
        clip_id: int,
        stage: str,
        key: str,
        cfg: dict[str, Any],
        job_id: int | None,
        outcome: ClipOutcome,
        code: str,
        message: str,
    ) -> None:
        message = first_line(message)
        self._save_stage(
            clip_id, stage, key, cfg, StageStatus.FAILED, job_id, code=code, message=message
        )
        outcome.errors.append((code, message))
        outcome.missing[stage] = f"{stage} extraction failed ({code})"

    def _save_stage(
        self,
        clip_id: int,
        stage: str,
        key: str,
        cfg: dict[str, Any],
        status: str,
        job_id: int | None,
        output_id: int | None = None,
        duration: float | None = None,
        code: str | None = None,
        message: str | None = None,
        session: Session | None = None,
    ) -> None:
        """The stage's run row, in ``session``'s transaction when given, else its own."""

        def save(session: Session) -> None:
            row = stage_run(session, clip_id, stage, key) or StageRun(
                clip_id=clip_id, stage=stage, config_hash=key, status=status
            )
            row.config_json = cfg
            row.status = status
            row.output_id = output_id
            row.duration_s = None if duration is None else round(duration, 3)
            row.error_code = code
            row.error_message = message
            row.job_id = job_id
            row.finished_at = utcnow()
            session.add(row)
            session.flush()

        if session is not None:
            save(session)
            return

        def own() -> None:
            with session_scope(self.settings.db_url) as own_session:
                save(own_session)

        once_more_on_conflict(own)

    def _write_frames(
        self, clip: Clip, stage: str, key: str, cue: FaceCues | VoiceCues | SpeechCues
    ) -> str | None:
        """The cue's frame series as Parquet, written to a temporary file and renamed over
        the target: a kill mid-write leaves the old file or none, never a torn one."""
        frames = getattr(cue, "frames", None)
        if not isinstance(frames, pd.DataFrame):
            return None
        rel = Path("cues") / clip.sha256[:2] / clip.sha256 / f"{stage}-{key}.parquet"
        target = self.settings.home / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                frames.reset_index(drop=True).to_parquet(fh, index=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return str(rel)

    def _save_cue(
        self,
        session: Session,
        clip: Clip,
        stage: str,
        key: str,
        cue: FaceCues | VoiceCues | SpeechCues,
        frames_path: str | None,
    ) -> int:
        assert clip.id is not None
        record = session.exec(
            select(CueRecord).where(
                CueRecord.clip_id == clip.id,
                CueRecord.modality == stage,
                CueRecord.config_hash == key,
            )
        ).first() or CueRecord(
            clip_id=clip.id,
            modality=stage,
            backend=cue.backend,
            backend_version=cue.backend_version,
            config_hash=key,
            schema_version=CUES_SCHEMA_VERSION,
        )
        record.summary_json = cue.to_dict()
        record.frames_path = frames_path
        record.missing_reason = cue.missing_reason
        record.backend_version = cue.backend_version
        session.add(record)
        session.flush()
        assert record.id is not None
        return record.id

    def _load_cue(self, stage: str, record: CueRecord) -> FaceCues | VoiceCues | SpeechCues:
        if stage == Stage.SPEECH:
            return SpeechCues.from_dict(record.summary_json)
        frames = (
            pd.read_parquet(self.settings.home / record.frames_path)
            if record.frames_path
            else pd.DataFrame({"time_s": []})
        )
        if stage == Stage.FACE:
            return FaceCues.from_dict(record.summary_json, frames)
        return VoiceCues.from_dict(record.summary_json, frames)

    def _speaker_baseline(self, clip_id: int, cues: Cues) -> SpeakerBaseline | None:
        """The clip's speaker's voice pooled from their other clips; ``None`` without a
        speaker or without speech in this clip (nothing to compare)."""
        if cues.voice is None or cues.voice.missing_reason:
            return None
        with session_scope(self.settings.db_url) as session:
            return speaker_baseline(
                session, clip_id, self.voice.config_hash(), self.settings.speaker_min_clips
            )

    def _textualize(
        self, clip_id: int, cues: Cues, records: dict[str, int | None], job_id: int | None
    ) -> CueTextRecord:
        parts: dict[str, Any] = {
            "textualizer": TEXTUALIZER_VERSION,
            "records": records,
            "missing": cues.missing,
        }
        baseline = self._speaker_baseline(clip_id, cues)
        if baseline is not None and cues.voice is not None:
            # Part of the key: the text is redone (and redrafted) when the baseline moves.
            parts["speaker_baseline"] = speaker_key(baseline)
            cues = dataclasses.replace(cues, voice=with_speaker_baseline(cues.voice, baseline))
        if self.settings.hints:
            parts["hints"] = HINTS_VERSION
        key = config_hash(parts)
        with session_scope(self.settings.db_url) as session:
            existing = session.exec(
                select(CueTextRecord).where(
                    CueTextRecord.clip_id == clip_id, CueTextRecord.config_hash == key
                )
            ).first()
            if existing is not None:
                return existing
        text: CueText = render(cues)
        if self.settings.hints:
            hints = _hints(cues)
            text = dataclasses.replace(
                text,
                prompt_text=with_hints(text.prompt_text, hints),
                readable_text=with_hints_readable(text.readable_text, hints),
            )

        def save() -> CueTextRecord:  # the text and its stage run: one transaction
            with session_scope(self.settings.db_url) as session:
                record = session.exec(
                    select(CueTextRecord).where(
                        CueTextRecord.clip_id == clip_id, CueTextRecord.config_hash == key
                    )
                ).first() or CueTextRecord(
                    clip_id=clip_id,
                    config_hash=key,
                    textualizer_version=text.version,
                    prompt_text=text.prompt_text,
                    readable_text=text.readable_text,
                    partial=text.partial,
                    missing_json=dict(text.missing),
                )
                session.add(record)
                session.flush()
                self._save_stage(
                    clip_id,
                    Stage.TEXTUALIZE,
                    key,
                    {"textualizer": TEXTUALIZER_VERSION},
                    StageStatus.DONE,
                    job_id,
                    output_id=record.id,
                    session=session,
                )
                return record

        return once_more_on_conflict(save)


def _hints(cues: Cues) -> list[Hint]:
    """Rule hints from the cues, plus the transcript's sentiment (a small lexicon model)."""
    hints = cue_hints(cues)
    if cues.speech is not None and not cues.speech.missing_reason:
        from annotator.drafting.sentiment import sentiment_hint

        hints += sentiment_hint(cues.speech.text)
    return hints
