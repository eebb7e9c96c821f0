"""The draft stage: its key, the prompts, generation in batches, parsing, storage, choice.

The runner hands over clips whose cue text is ready; ``plan`` says which of them are
done already under the current key, and ``generate_and_store`` drafts the others in one
``generate_many`` call, so batch engines (vLLM, concurrent OpenAI requests) get many
prompts at once. A request that fails fails its clip only.

The key is the drafter's own ``config_hash()`` (model file fingerprint included) plus
the prompt version and options, the decoding schema, the cue text, the number of
samples and the hints setting. A stage whose samples are all invalid is recorded as
failed (``invalid_model_output``), so a rerun drafts it again.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlmodel import select

from annotator.drafting.base import DraftingBackend, DraftRequest, Generation, drafter_key
from annotator.drafting.consistency import (
    CONFLICT_CONFIDENCE,
    Sample,
    choose,
    valence_conflict,
)
from annotator.drafting.grounding import ground
from annotator.drafting.prompt import PROMPT_VERSION, build_messages
from annotator.drafting.schema import DraftParseError, decoding_schema, parse_draft
from db import CueTextRecord, Draft, DraftStatus, Stage, StageStatus, session_scope
from db.queries import set_queue_key, stage_run
from extractors.errors import AnnotatorError, first_line
from extractors.schema import config_hash

log = logging.getLogger(__name__)

#: Clips per ``generate_many`` call.
DRAFT_BATCH = 32
#: Bump when the choice among samples or the confidence formula changes.
CHOICE_VERSION = "agreement-2"  # 2: valence/label conflicts flagged, chosen last
#: Keys of a backend's ``config()`` that describe sampling, stored with each draft.
SAMPLING_KEYS = ("temperature", "top_p", "seed", "max_new_tokens")
_PARSED = (
    "visual_clues", "acoustic_clues", "lexical_clues", "reasoning", "caption",
    "valence", "arousal", "confidence",
)  # fmt: skip


class SaveStage(Protocol):
    """``Runner._save_stage``: one StageRun row per (clip, stage, key)."""

    def __call__(
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
    ) -> None: ...


@dataclass(frozen=True)
class DraftOptions:
    samples: int = 1
    hints: bool = True
    emotion_prompt: bool = False
    prompt_version: str = PROMPT_VERSION


@dataclass(frozen=True)
class DraftItem:
    """A clip whose cue text is ready."""

    clip_id: int
    name: str
    text: CueTextRecord


@dataclass(frozen=True)
class PlannedDraft:
    item: DraftItem
    key: str
    cfg: dict[str, Any]


@dataclass
class DraftOutcome:
    """What the stage did for one clip: the status of its chosen draft, or errors."""

    status: str | None = None  # valid | invalid | None (nothing drafted)
    skipped: bool = False
    errors: list[tuple[str, str]] = field(default_factory=list)


class DraftStage:
    def __init__(
        self,
        db_url: str,
        drafter: Callable[[], DraftingBackend],
        options: DraftOptions,
        save_stage: SaveStage,
    ):
        self.db_url = db_url
        self._drafter = drafter
        self.options = options
        self.save_stage = save_stage

    def config(self, text: CueTextRecord) -> dict[str, Any]:
        """What the key is made of (raises what making the drafter raises)."""
        drafter = self._drafter()
        opts = self.options
        return {
            "drafter": drafter_key(drafter),
            "backend": drafter.name,
            "prompt": opts.prompt_version,
            "emotion_prompt": opts.emotion_prompt,
            "decoding_schema": config_hash(decoding_schema()),
            "cue_text": text.config_hash,
            "samples": opts.samples,
            "hints": opts.hints,
            "choice": CHOICE_VERSION,
        }

    def plan(self, item: DraftItem, job_id: int | None) -> PlannedDraft | DraftOutcome:
        """The draft to make, or the outcome when it is done already (or cannot start)."""
        try:
            cfg = self.config(item.text)
        except AnnotatorError as exc:
            return self._failed(item, self._unkeyed(item), {}, job_id, exc.code, str(exc))
        except Exception as exc:  # an unknown option, a backend bug: this clip fails
            log.debug("drafting backend could not start\n%s", traceback.format_exc())
            message = f"drafting backend could not start: {type(exc).__name__}: {exc}"
            return self._failed(item, self._unkeyed(item), {}, job_id, "drafting_failed", message)
        key = config_hash(cfg)
        with session_scope(self.db_url) as session:
            previous = stage_run(session, item.clip_id, Stage.DRAFT, key)
            if previous is not None and previous.status == StageStatus.DONE:
                draft = session.get(Draft, previous.output_id) if previous.output_id else None
                return DraftOutcome(status=draft.status if draft else None, skipped=True)
        return PlannedDraft(item, key, cfg)

    def generate_and_store(
        self, planned: Sequence[PlannedDraft], job_id: int | None
    ) -> list[DraftOutcome]:
        """Draft every planned clip in one ``generate_many`` call; one outcome each."""
        if not planned:
            return []
        opts = self.options
        start = time.perf_counter()
        try:
            drafter = self._drafter()
            schema = decoding_schema()
            requests = [
                DraftRequest(
                    key=str(p.item.clip_id),
                    messages=build_messages(
                        p.item.text.prompt_text,
                        p.item.text.missing_json or None,
                        version=opts.prompt_version,
                        emotion_prompt=opts.emotion_prompt,
                    ),
                    json_schema=schema,
                    n=opts.samples,
                )
                for p in planned
            ]
            results = {r.key: r for r in drafter.generate_many(requests)}
        except AnnotatorError as exc:
            return [self._failed(p.item, p.key, p.cfg, job_id, exc.code, str(exc)) for p in planned]
        except Exception as exc:  # a backend bug fails these clips, not the batch
            log.debug("drafting crashed\n%s", traceback.format_exc())
            message = f"drafting crashed: {type(exc).__name__}: {first_line(exc)}"
            return [
                self._failed(p.item, p.key, p.cfg, job_id, "drafting_failed", message)
                for p in planned
            ]
        duration = (time.perf_counter() - start) / len(planned)
        outcomes = []
        for p in planned:
            result = results.get(str(p.item.clip_id))
            if result is None:
                outcomes.append(
                    self._failed(p.item, p.key, p.cfg, job_id, "drafting_failed", "no result")
                )
            elif result.error is not None:
                outcomes.append(
                    self._failed(p.item, p.key, p.cfg, job_id, result.error.code, str(result.error))
                )
            else:
                outcomes.append(self._store(p, drafter, result.generations, job_id, duration))
        return outcomes

    # -- storage

    def _store(
        self,
        p: PlannedDraft,
        drafter: DraftingBackend,
        generations: list[Generation],
        job_id: int | None,
        duration: float,
    ) -> DraftOutcome:
        item, text = p.item, p.item.text
        assert text.id is not None
        if not generations:
            return self._failed(
                item, p.key, p.cfg, job_id, "invalid_model_output", "the backend returned nothing"
            )
        default_sampling = {k: v for k, v in drafter.config().items() if k in SAMPLING_KEYS}
        rows: list[Draft] = []
        samples: list[Sample] = []
        with session_scope(self.db_url) as session:
            for index, gen in enumerate(generations):
                draft = session.exec(
                    select(Draft).where(
                        Draft.clip_id == item.clip_id,
                        Draft.config_hash == p.key,
                        Draft.sample_index == index,
                    )
                ).first() or Draft(
                    clip_id=item.clip_id,
                    cue_text_id=text.id,
                    config_hash=p.key,
                    sample_index=index,
                    backend=drafter.name,
                    model_id=drafter.model_id,
                    prompt_version=self.options.prompt_version,
                )
                draft.raw_output = gen.text
                draft.prompt_tokens = gen.prompt_tokens
                draft.completion_tokens = gen.completion_tokens
                draft.latency_s = gen.latency_s
                draft.partial = text.partial
                draft.missing_json = dict(text.missing_json)
                draft.sampling_json = {
                    **default_sampling,
                    **(gen.sampling or {}),
                    "n": len(generations),
                }
                samples.append(_fill(draft, gen, text.prompt_text))
                rows.append(draft)
            best, agreement = choose(samples)
            for index, draft in enumerate(rows):
                draft.chosen = index == best
                if len(rows) > 1 and agreement[index] is not None:
                    draft.confidence = agreement[index]
                if samples[index].conflict and draft.confidence is not None:
                    draft.confidence = min(draft.confidence, CONFLICT_CONFIDENCE)
                session.add(draft)
            session.flush()
            output_id = rows[best if best is not None else 0].id
            set_queue_key(session, item.clip_id, rows[best if best is not None else 0])
        if best is None:
            message = f"{item.name}: no valid draft in {len(rows)} sample(s); raw output kept"
            self.save_stage(
                item.clip_id, Stage.DRAFT, p.key, p.cfg, StageStatus.FAILED, job_id,
                output_id=output_id, duration=duration, code="invalid_model_output",
                message=message,
            )  # fmt: skip
            return DraftOutcome(DraftStatus.INVALID, errors=[("invalid_model_output", message)])
        self.save_stage(
            item.clip_id, Stage.DRAFT, p.key, p.cfg, StageStatus.DONE, job_id,
            output_id=output_id, duration=duration,
        )  # fmt: skip
        return DraftOutcome(DraftStatus.VALID)

    def _failed(
        self,
        item: DraftItem,
        key: str,
        cfg: dict[str, Any],
        job_id: int | None,
        code: str,
        message: str,
    ) -> DraftOutcome:
        message = first_line(message)
        self.save_stage(
            item.clip_id, Stage.DRAFT, key, cfg, StageStatus.FAILED, job_id, code=code,
            message=message,
        )  # fmt: skip
        return DraftOutcome(None, errors=[(code, message)])

    def _unkeyed(self, item: DraftItem) -> str:
        """A key for a draft stage that could not even start (no drafter)."""
        return config_hash({"drafter": None, "cue_text": item.text.config_hash})


def _fill(draft: Draft, gen: Generation, cue_text: str) -> Sample:
    """Parse one generation into the row (clearing what an earlier try left); its sample."""
    for name in _PARSED:
        setattr(draft, name, None)
    draft.labels = []
    draft.grounding_rate = None
    draft.ungrounded_clues = []
    draft.model_confidence = None
    try:
        fields = parse_draft(gen.text)
    except DraftParseError as exc:
        draft.status = DraftStatus.INVALID
        cut = " (output cut at max_new_tokens)" if gen.finish_reason == "length" else ""
        draft.error_message = str(exc) + cut
        return Sample(None)
    draft.status = DraftStatus.VALID
    draft.error_message = None
    for name, value in fields.model_dump().items():
        setattr(draft, name, value)
    draft.model_confidence = fields.confidence
    grounding = ground(fields.model_dump(), cue_text)
    draft.grounding_rate = grounding.rate
    conflict = valence_conflict(fields.labels, fields.valence)
    # shown with the ungrounded clues in the review app: a claim the draft cannot support
    draft.ungrounded_clues = grounding.ungrounded + ([conflict] if conflict else [])
    return Sample(list(fields.labels), fields.valence, fields.arousal)
