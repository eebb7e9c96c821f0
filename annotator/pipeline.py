"""The batch runner: extract -> textualize -> draft each pending clip.

Every stage is keyed by (clip, stage, config hash): a rerun skips what is done
and redoes what failed or changed. One clip's failure is recorded on the clip
(typed code, one-line message) and the batch goes on.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import col, select

from annotator.config import Settings
from annotator.drafting import DraftingBackend, create_drafting
from annotator.drafting.contained import contain
from annotator.drafting.stage import (
    DRAFT_BATCH,
    DraftItem,
    DraftOptions,
    DraftOutcome,
    DraftStage,
    PlannedDraft,
)
from annotator.engines.contained import DOCTOR_HINT, ChildHost, exit_description
from annotator.extraction import (
    Extraction,
    ThreadBudget,
    run_extractions,
    thread_budget,
    verify_media_path,
)
from annotator.stage_store import ClipOutcome, StageStore, once_more_on_conflict
from annotator.work_queue import clip_time_limit
from db import (
    Clip,
    ClipStatus,
    Job,
    Stage,
    session_scope,
)
from db.models import OutcomeStatus, utcnow
from extractors import registry
from extractors.errors import NativeCrashError, first_line
from extractors.media import ClipMedia
from extractors.schema import (
    Cues,
    MediaInfo,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")


MODALITY_STAGES = (Stage.FACE, Stage.VOICE, Stage.SPEECH)


# ----------------------------------------------------------------------------- run


@dataclass
class RunResult:
    job_id: int
    outcomes: list[ClipOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[ClipOutcome]:
        return [o for o in self.outcomes if o.status == OutcomeStatus.FAILED]

    def counts(self) -> Counter[str]:
        return Counter(o.status for o in self.outcomes)

    def error_codes(self) -> Counter[str]:
        return Counter(code for o in self.outcomes for code, _ in o.errors)


class Runner(StageStore):
    """Holds the backends for one run so each model loads once per process."""

    def __init__(
        self,
        settings: Settings,
        draft: bool = True,
        parallel_stages: bool | None = None,
        clip_timeout: float | None = None,
        auto_timeout: bool = False,
        isolate_extraction: bool = False,
    ):
        self.settings = settings
        self.draft = draft
        # Seconds of decoding a clip may take before it is stopped and failed ("timeout");
        # with auto_timeout and none given, max(300 s, 10x the clip's duration).
        self.clip_timeout = clip_timeout
        self.auto_timeout = auto_timeout
        # run(): the extraction pass in a child process (ExtractionService), so a native crash
        # in a face, voice or speech runtime fails its clip and the batch goes on. Workers
        # (engines/processes.py) are such children already and leave it off.
        self.isolate_extraction = isolate_extraction and settings.contain_crashes
        self._parallel_stages = parallel_stages
        # Face beside voice+speech when the cores allow (None: two cores or more), each
        # side with its own thread budget so the two do not oversubscribe the machine.
        self.threads = thread_budget(parallel_stages)
        self.face = registry.create("face", settings.face_backend, **settings.face_options)
        self.voice = registry.create(
            "voice",
            settings.voice_backend,
            **_with_cpu_threads(
                "voice", settings.voice_backend, settings.voice_options, self.threads
            ),
        )
        self.speech = registry.create(
            "speech",
            settings.speech_backend,
            **_with_cpu_threads(
                "speech", settings.speech_backend, settings.speech_options, self.threads
            ),
        )
        self._drafter: DraftingBackend | None = None
        options = DraftOptions(
            samples=settings.samples,
            hints=settings.hints,
            emotion_prompt=settings.emotion_prompt,
            prompt_version=settings.prompt_version,
        )
        self.draft_stage = DraftStage(
            settings.db_url, lambda: self.drafter, options, self._save_stage
        )

    @property
    def drafter(self) -> DraftingBackend:
        if self._drafter is None:
            name, options = self.settings.drafting_backend, self.settings.drafting_options
            self._drafter = create_drafting(name, **options)
            if self.settings.contain_crashes:
                self._drafter = contain(self._drafter, options)
        return self._drafter

    def close(self) -> None:
        """Stop the child processes this Runner started (the drafter's model goes with it)."""
        close = getattr(self._drafter, "close", None)
        if close is not None:
            close()

    def config(self) -> dict[str, Any]:
        return {
            "face": [self.settings.face_backend, self.face.config()],
            "voice": [self.settings.voice_backend, self.voice.config()],
            "speech": [self.settings.speech_backend, self.speech.config()],
            "drafting": [self.settings.drafting_backend, self.settings.drafting_options],
            "samples": self.settings.samples,
            "hints": self.settings.hints,
            "emotion_prompt": self.settings.emotion_prompt,
            "prompt_version": self.settings.prompt_version,
            "draft": self.draft,
        }

    # -- batch

    def run(
        self,
        clip_ids: list[int] | None = None,
        progress: Callable[[Clip, str], None] | None = None,
    ) -> RunResult:
        settings = self.settings
        settings.ensure_home()
        with session_scope(settings.db_url) as session:
            query = select(Clip).order_by(col(Clip.id))
            if clip_ids is not None:
                query = query.where(col(Clip.id).in_(clip_ids))
            clips = list(session.exec(query).all())
            job = Job(command="run", config_json=self.config(), n_clips=len(clips))
            session.add(job)
            session.flush()
            job_id = job.id
        assert job_id is not None
        result = RunResult(job_id=job_id)
        # Two passes. First every clip's cues are extracted and stored (and dropped from
        # memory), so that a speaker's baseline is complete before any of their clips is
        # worded; then each clip's cues are read back, textualized, and its draft waits in
        # a batch of DRAFT_BATCH so a batch engine drafts many at once. Outcomes keep order.
        outcomes: dict[int, ClipOutcome] = {}
        to_word: list[int] = []
        with self._extraction_host() as host:
            for index, clip in enumerate(clips):
                outcome, finished = self._first_pass(host, clip, job_id, progress)
                outcomes[index] = outcome
                if finished:
                    if progress:
                        progress(clip, "finished")
                else:
                    to_word.append(index)
        batch: list[tuple[Clip, ClipOutcome, PlannedDraft]] = []
        for index in to_word:
            clip, outcome = clips[index], outcomes[index]
            planned = self._guarded(
                partial(self._word_stored, clip, outcome, job_id, progress), clip
            )
            if isinstance(planned, ClipOutcome):
                if planned is not outcome:  # crashed: the crash outcome replaces it
                    outcomes[index] = planned
                if progress:
                    progress(clip, "finished")
                continue
            batch.append(planned)
            if len(batch) >= DRAFT_BATCH:
                self._draft_batch(batch, job_id, progress)
                batch = []
        self._draft_batch(batch, job_id, progress)
        result.outcomes = [outcomes[i] for i in range(len(clips))]
        close_job(settings.db_url, job_id, result)
        return result

    def _extraction_host(self) -> ChildHost | contextlib.nullcontext[None]:
        """The child that runs the extraction pass (closed after it, freeing its models
        before drafting), or nothing when extraction runs in this process."""
        if not self.isolate_extraction:
            return contextlib.nullcontext()
        factory = partial(
            ExtractionService,
            self.settings,
            self._parallel_stages,
            self.clip_timeout,
            self.auto_timeout,
        )
        return ChildHost(factory, "extraction")

    def _first_pass(
        self,
        host: ChildHost | None,
        clip: Clip,
        job_id: int,
        progress: Callable[[Clip, str], None] | None,
    ) -> tuple[ClipOutcome, bool]:
        """Extract and store the clip's cues, here or in ``host``: its outcome so far and
        whether it is finished (failed) already."""
        if host is None:
            extracted = self._guarded(partial(self._extract_clip, clip, job_id, progress), clip)
            if isinstance(extracted, ClipOutcome):
                return extracted, True
            return extracted[0], False
        started: list[str] = []  # stages begun (with parallel stages, several at once)

        def on_event(stage: str) -> None:
            started.append(stage)
            if progress:
                progress(clip, stage)

        try:
            answer: tuple[ClipOutcome, bool] = host.call(
                "extract", clip.id, job_id, on_event=on_event
            )
            return answer
        except NativeCrashError:
            message = (
                f"{clip.name}: extraction process died during {', '.join(started) or 'start-up'}: "
                f"{exit_description(host.last_exitcode)}; {DOCTOR_HINT}"
            )
            outcome = ClipOutcome(
                clip.id or 0, clip.name, OutcomeStatus.FAILED, [(NativeCrashError.code, message)]
            )
        except Exception as exc:  # what the child raised: a bug outside the stages
            outcome = self._crashed(clip, exc)
            return outcome, True
        if clip.id is not None:
            self._finish_clip(clip.id, outcome)
        return outcome, True

    # -- one clip

    def process_clip(
        self,
        clip: Clip,
        job_id: int | None = None,
        progress: Callable[[Clip, str], None] | None = None,
    ) -> ClipOutcome:
        """Extract, textualize and draft one clip (``run`` batches the drafts instead)."""
        planned = self._prepare(clip, job_id, progress)
        if isinstance(planned, ClipOutcome):
            return planned
        self._draft_batch([planned], job_id, None)
        return planned[1]

    # -- one phase of one claimed clip (annotator/engines/worker.py)

    def extract_phase(self, clip: Clip, job_id: int | None) -> tuple[ClipOutcome, bool]:
        """The clip's modality stages: its outcome so far, and whether it is finished."""
        extracted = self._guarded(partial(self._extract_clip, clip, job_id, None), clip)
        if isinstance(extracted, ClipOutcome):
            return extracted, True
        return extracted[0], False

    def word_phase(self, clip: Clip, outcome: ClipOutcome, job_id: int | None) -> ClipOutcome:
        """Textualize and draft a clip whose cues are stored; its final outcome."""
        planned = self._guarded(partial(self._word_stored, clip, outcome, job_id, None), clip)
        if isinstance(planned, ClipOutcome):
            return planned
        self._draft_batch([planned], job_id, None)
        return planned[1]

    def _guarded(self, step: Callable[[], _T], clip: Clip) -> _T | ClipOutcome:
        """``step()``, with a crash outside the stages failing this clip only."""
        try:
            return step()
        except Exception as exc:  # a bug outside the stages must not stop the batch either
            return self._crashed(clip, exc)

    def _crashed(self, clip: Clip, exc: Exception) -> ClipOutcome:
        log.debug("clip %s crashed\n%s", clip.name, traceback.format_exc())
        message = f"{clip.name}: internal error: {type(exc).__name__}: {first_line(exc)}"
        outcome = ClipOutcome(
            clip.id or 0, clip.name, OutcomeStatus.FAILED, [("internal_error", message)]
        )
        if clip.id is not None:
            self._finish_clip(clip.id, outcome)
        return outcome

    def _draft_batch(
        self,
        batch: list[tuple[Clip, ClipOutcome, PlannedDraft]],
        job_id: int | None,
        progress: Callable[[Clip, str], None] | None,
    ) -> None:
        """Draft the batch in one ``generate_many`` call, then finish each clip."""
        if not batch:
            return
        for clip, _, _ in batch:
            if progress:
                progress(clip, Stage.DRAFT)
        try:
            # A second try after a unique-key conflict (another worker stored the same
            # draft rows at once) finds their rows and updates them: no duplicate.
            results = once_more_on_conflict(
                partial(self.draft_stage.generate_and_store, [p for _, _, p in batch], job_id)
            )
        except Exception as exc:  # storage or a bug: these clips fail, the run goes on
            for clip, outcome, _ in batch:
                crashed = self._crashed(clip, exc)
                outcome.status, outcome.errors = crashed.status, crashed.errors
                if progress:
                    progress(clip, "finished")
            return
        for (clip, outcome, _), drafted in zip(batch, results, strict=True):
            self._conclude(outcome, drafted)
            if progress:
                progress(clip, "finished")

    def _conclude(self, outcome: ClipOutcome, drafted: DraftOutcome | None) -> None:
        """The clip's status from its stages; written to the clip row."""
        if drafted is not None:
            outcome.draft_status = drafted.status
            outcome.skipped_stages += int(drafted.skipped)
            outcome.errors.extend(drafted.errors)
        if outcome.errors:
            outcome.status = OutcomeStatus.FAILED
        elif outcome.missing:
            outcome.status = OutcomeStatus.PARTIAL
        self._finish_clip(outcome.clip_id, outcome)

    def _prepare(
        self,
        clip: Clip,
        job_id: int | None,
        progress: Callable[[Clip, str], None] | None,
    ) -> ClipOutcome | tuple[Clip, ClipOutcome, PlannedDraft]:
        """Extract and textualize; the finished outcome, or the draft still to make."""
        extracted = self._extract_clip(clip, job_id, progress)
        if isinstance(extracted, ClipOutcome):
            return extracted
        return self._word(clip, *extracted, job_id, progress)

    def _extract_clip(
        self,
        clip: Clip,
        job_id: int | None,
        progress: Callable[[Clip, str], None] | None,
    ) -> ClipOutcome | tuple[ClipOutcome, Cues, dict[str, int | None]]:
        """Every modality stage of the clip: stored results reused, the rest extracted and
        stored; the finished (failed) outcome when the media file is gone."""
        assert clip.id is not None
        outcome = ClipOutcome(clip_id=clip.id, name=clip.name, status=OutcomeStatus.DONE)

        def step(stage: str) -> None:
            if progress:
                progress(clip, stage)

        info = MediaInfo.from_dict(clip.media_json)
        cues = Cues(media=info)
        records: dict[str, int | None] = {}
        # Stages done under the current keys are read back; the media file is looked at
        # only when some stage still has to run (a finished clip reads no media at all).
        pending: list[str] = []
        for stage in MODALITY_STAGES:
            reused = self._reuse(stage, clip, job_id, outcome)
            if reused is None:
                pending.append(stage)
            else:
                records[stage] = reused[1]
                if reused[0] is not None:
                    setattr(cues, stage, reused[0])
        if pending:
            media_path = self._media_path(clip)
            if media_path is None:
                outcome.status = OutcomeStatus.FAILED
                outcome.errors.append(
                    (
                        "file_not_found",
                        f"{clip.source_uri}: no file with this clip's content any more "
                        "(moved, deleted or changed since ingest)",
                    )
                )
                self._finish_clip(clip.id, outcome)
                return outcome
            limit = self.clip_timeout
            if limit is None and self.auto_timeout:
                limit = clip_time_limit(None, clip.duration_s)
            media = ClipMedia(media_path, info, timeout_s=limit)
            try:
                extracted = self._extract(pending, media, step)
            finally:
                media.release()  # the decoded audio goes with the clip
            for name in pending:  # stored in stage order, in this thread
                cue, record_id = self._store(name, clip, extracted[name], job_id, outcome)
                records[name] = record_id
                if cue is not None:
                    setattr(cues, name, cue)
        return outcome, cues, records

    def _read_back(self, clip: Clip) -> tuple[Cues, dict[str, int | None]]:
        """The cues the first pass stored (a stage that failed there stays missing)."""
        scratch = ClipOutcome(clip_id=clip.id or 0, name=clip.name, status=OutcomeStatus.DONE)
        cues = Cues(media=MediaInfo.from_dict(clip.media_json))
        records: dict[str, int | None] = {}
        for stage in MODALITY_STAGES:
            reused = self._reuse(stage, clip, None, scratch)
            if reused is not None:
                records[stage] = reused[1]
                if reused[0] is not None:
                    setattr(cues, stage, reused[0])
        return cues, records

    def _word_stored(
        self,
        clip: Clip,
        outcome: ClipOutcome,
        job_id: int | None,
        progress: Callable[[Clip, str], None] | None,
    ) -> ClipOutcome | tuple[Clip, ClipOutcome, PlannedDraft]:
        return self._word(clip, outcome, *self._read_back(clip), job_id, progress)

    def _word(
        self,
        clip: Clip,
        outcome: ClipOutcome,
        cues: Cues,
        records: dict[str, int | None],
        job_id: int | None,
        progress: Callable[[Clip, str], None] | None,
    ) -> ClipOutcome | tuple[Clip, ClipOutcome, PlannedDraft]:
        """Textualize the clip's cues and plan its draft: the finished outcome when there
        is nothing to draft, else the draft still to make."""
        assert clip.id is not None
        for modality, reason in cues.all_missing().items():
            outcome.missing.setdefault(modality, reason)
        cues.missing.update({k: v for k, v in outcome.missing.items() if getattr(cues, k) is None})
        if progress:
            progress(clip, Stage.TEXTUALIZE)
        text_record = self._textualize(clip.id, cues, records, job_id)
        if not self.draft:
            self._conclude(outcome, None)
            return outcome
        planned = self.draft_stage.plan(DraftItem(clip.id, clip.name, text_record), job_id)
        if isinstance(planned, DraftOutcome):  # done already, or the drafter cannot start
            self._conclude(outcome, planned)
            return outcome
        return clip, outcome, planned

    def _media_path(self, clip: Clip) -> Path | None:
        """A path that still holds this clip's bytes (see ``verify_media_path``): read only
        when its size or mtime changed since its content was last verified."""
        assert clip.id is not None
        with session_scope(self.settings.db_url) as session:
            return verify_media_path(
                session, clip.id, clip.source_uri, clip.sha256, clip.media_json.get("size_bytes")
            )

    def _extract(
        self, stages: list[str], media: ClipMedia, step: Callable[[str], None] | None
    ) -> dict[str, Extraction]:
        """Run the backends (face beside the audio stages when parallel); no DB writes."""
        backends = {stage: self._backend(stage) for stage in stages}
        return run_extractions(stages, backends, media, self.threads.parallel, step)

    def _finish_clip(self, clip_id: int, outcome: ClipOutcome) -> None:
        with session_scope(self.settings.db_url) as session:
            clip = session.get(Clip, clip_id)
            assert clip is not None
            clip.partial = bool(outcome.missing)
            clip.missing_json = dict(outcome.missing)
            if outcome.errors:
                clip.status = ClipStatus.FAILED
                clip.error_code, clip.error_message = outcome.errors[0]
            else:
                clip.error_code = clip.error_message = None
                if clip.status != ClipStatus.REVIEWED:
                    clip.status = ClipStatus.DRAFTED if self.draft else ClipStatus.EXTRACTED
            session.add(clip)


class ExtractionService:
    """The extraction pass of ``Runner.run`` as served from a child process (``ChildHost``):
    a Runner of its own whose face, voice and speech models load once and stay loaded."""

    def __init__(
        self,
        settings: Settings,
        parallel_stages: bool | None,
        clip_timeout: float | None,
        auto_timeout: bool,
    ):
        self.runner = Runner(
            settings,
            draft=False,
            parallel_stages=parallel_stages,
            clip_timeout=clip_timeout,
            auto_timeout=auto_timeout,
        )

    def extract(
        self, clip_id: int, job_id: int | None, emit: Callable[[str], None]
    ) -> tuple[ClipOutcome, bool]:
        with session_scope(self.runner.settings.db_url) as session:
            clip = session.get(Clip, clip_id)
        assert clip is not None
        step = partial(self.runner._extract_clip, clip, job_id, lambda _clip, stage: emit(stage))
        extracted = self.runner._guarded(step, clip)
        if isinstance(extracted, ClipOutcome):
            return extracted, True
        return extracted[0], False


def _with_cpu_threads(
    kind: str, name: str, options: dict[str, Any], budget: ThreadBudget
) -> dict[str, Any]:
    """The options with ``cpu_threads`` set to the audio side's budget when the backend
    takes it (a speed-only option: kept out of the stage key) and the user did not."""
    if not budget.parallel or options.get("cpu_threads"):
        return options
    try:
        params = inspect.signature(registry.backend_class(kind, name)).parameters
    except (TypeError, ValueError):
        return options
    if "cpu_threads" not in params:
        return options
    return {**options, "cpu_threads": budget.audio}


def close_job(
    db_url: str, job_id: int | None, result: RunResult, n_clips: int | None = None
) -> None:
    """Store how a batch went on its Job row (a run's, or a worker's own)."""
    if job_id is None:
        return
    counts = result.counts()
    with session_scope(db_url) as session:
        job = session.get(Job, job_id)
        assert job is not None
        if n_clips is not None:
            job.n_clips = n_clips
        job.n_done = counts.get(OutcomeStatus.DONE, 0)
        job.n_partial = counts.get(OutcomeStatus.PARTIAL, 0)
        job.n_failed = counts.get(OutcomeStatus.FAILED, 0)
        job.errors_json = dict(result.error_codes())
        job.finished_at = utcnow()
        session.add(job)
