"""SQLModel tables: the one place state lives.

Stage outputs are keyed by (clip, stage, config hash) so a rerun finds what is
done. Frame-level cue series live in Parquet files next to the database; the
tables hold summaries and the file path. ``Review.version`` guards edits: a save
names the version it started from, and a stale one matches no row and is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Stage(StrEnum):
    PROBE = "probe"
    FACE = "face"
    VOICE = "voice"
    SPEECH = "speech"
    TEXTUALIZE = "textualize"
    DRAFT = "draft"


class StageStatus(StrEnum):
    DONE = "done"
    PARTIAL = "partial"  # ran, but a modality was missing (no face, silence...)
    FAILED = "failed"
    SKIPPED = "skipped"  # not applicable (no video stream for the face stage)


class ClipStatus(StrEnum):
    INGESTED = "ingested"
    EXTRACTED = "extracted"
    DRAFTED = "drafted"
    REVIEWED = "reviewed"
    FAILED = "failed"


class OutcomeStatus(StrEnum):
    """How a clip came out of one run (``ClipStatus`` says where it is in its life)."""

    DONE = "done"
    PARTIAL = "partial"  # finished, with a modality missing (no face, silence...)
    FAILED = "failed"


class DraftStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # model output kept raw; it did not parse or validate


class ReviewStatus(StrEnum):
    ACCEPTED = "accepted"
    EDITED = "edited"
    REJECTED = "rejected"
    SKIPPED = "skipped"


class ReviewKind(StrEnum):
    """An annotator's own verdict, or the adjudicator's final version of a clip several
    annotators reviewed (at most one per clip)."""

    ANNOTATION = "annotation"
    ADJUDICATION = "adjudication"


class ReviewSource(StrEnum):
    """Where a review was made: conflicts between the review app and Label Studio are told
    apart by it."""

    APP = "app"
    LABEL_STUDIO = "labelstudio"
    CLI = "cli"


class Role(StrEnum):
    """What a signed-in person may do; enforced on the server side by the review app."""

    ANNOTATOR = "annotator"
    ADJUDICATOR = "adjudicator"  # also annotates
    ADMIN = "admin"  # also adjudicates, exports and manages people


class Clip(SQLModel, table=True):
    """A media file, identified by content: the same bytes under another name are the same clip."""

    __table_args__ = (Index("ix_clip_queue_confidence", "queue_confidence", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True, unique=True, max_length=64)
    name: str  # the first file name seen, without folders
    source_uri: str  # the first path seen
    duration_s: float = 0.0
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    has_audio: bool = False
    has_video: bool = False
    media_json: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    speaker_id: str | None = None
    subject_id: str | None = None
    split: str = "train"
    status: str = Field(default=ClipStatus.INGESTED, index=True)
    error_code: str | None = None
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    partial: bool = False
    missing_json: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    # Kept by the drafting stage, so the review queue's "most uncertain first" walks an
    # index instead of finding every clip's chosen draft: the chosen draft (see
    # db.queries.chosen_draft) and its confidence, -1 when it is invalid or unscored.
    chosen_draft_id: int | None = None  # draft.id; no foreign key: it would make a cycle
    queue_confidence: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ClipPath(SQLModel, table=True):
    """Every path a clip was ingested from, so ``annotator cues PATH`` finds it by any of them."""

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    path: str = Field(index=True, unique=True)
    seen_at: datetime = Field(default_factory=utcnow)
    # What the file looked like when its content was last verified: a rerun trusts a path
    # whose size and mtime still match without reading it; otherwise the partial hash
    # (first and last MiB + size) rules out a change cheaply before the full sha256.
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    mtime_ns: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    partial_hash: str | None = None


class IngestFailure(SQLModel, table=True):
    """A file that could not be ingested at all (not media, empty): kept so ``status`` shows it."""

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(index=True, unique=True)
    error_code: str
    error_message: str = Field(sa_column=Column(Text))
    seen_at: datetime = Field(default_factory=utcnow)


class StageRun(SQLModel, table=True):
    """One stage on one clip under one config: the resume key."""

    __table_args__ = (UniqueConstraint("clip_id", "stage", "config_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    stage: str = Field(index=True)
    config_hash: str
    config_json: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    status: str = Field(index=True)
    error_code: str | None = None
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    output_id: int | None = None  # row id of the CueRecord / CueTextRecord / Draft it made
    duration_s: float | None = None
    job_id: int | None = Field(default=None, foreign_key="job.id")
    finished_at: datetime = Field(default_factory=utcnow)


class CueRecord(SQLModel, table=True):
    """One modality's cues for one clip: summary here, frame series in Parquet."""

    __table_args__ = (UniqueConstraint("clip_id", "modality", "config_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    modality: str  # face | voice | speech
    backend: str
    backend_version: str
    config_hash: str
    schema_version: str
    summary_json: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    frames_path: str | None = None  # relative to the data dir
    missing_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class CueTextRecord(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("clip_id", "config_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    config_hash: str  # textualizer version + the cue records it read
    textualizer_version: str
    prompt_text: str = Field(sa_column=Column(Text))
    readable_text: str = Field(sa_column=Column(Text))
    partial: bool = False
    missing_json: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class Draft(SQLModel, table=True):
    """What the emotion LLM wrote for a clip: raw output always kept, parsed fields when valid."""

    __table_args__ = (UniqueConstraint("clip_id", "config_hash", "sample_index"),)

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    cue_text_id: int = Field(foreign_key="cuetextrecord.id")
    config_hash: str
    sample_index: int = 0
    backend: str
    model_id: str
    prompt_version: str
    status: str = Field(default=DraftStatus.VALID, index=True)
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    raw_output: str = Field(default="", sa_column=Column(Text))
    visual_clues: str | None = Field(default=None, sa_column=Column(Text))
    acoustic_clues: str | None = Field(default=None, sa_column=Column(Text))
    lexical_clues: str | None = Field(default=None, sa_column=Column(Text))
    reasoning: str | None = Field(default=None, sa_column=Column(Text))
    caption: str | None = Field(default=None, sa_column=Column(Text))
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    valence: float | None = None
    arousal: float | None = None
    confidence: float | None = None
    partial: bool = False
    missing_json: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    # The draft used downstream (review, export): of N samples, the valid one most
    # consistent with the others (annotator.drafting.consistency).
    chosen: bool = False
    # What the model said about itself; ``confidence`` is the samples' agreement when N > 1.
    model_confidence: float | None = None
    # Share of clue sentences that name a cue present in the cue text, and the others.
    grounding_rate: float | None = None
    ungrounded_clues: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    # temperature, top_p, seed, n, max_new_tokens as the backend used them.
    sampling_json: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class Annotator(SQLModel, table=True):
    """A person who reviews. ``token_hash`` (PBKDF2, never the token) lets them sign in to a
    review app served beyond 127.0.0.1; NULL means they can only sign in on 127.0.0.1."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    role: str = Field(default=Role.ANNOTATOR)
    token_hash: str | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Review(SQLModel, table=True):
    """One person's verdict on a clip: one row per (clip, annotator, kind), and at most one
    adjudication per clip. ``version`` guards against lost updates (two tabs, two
    adjudicators): a save names the version it read and a stale one is refused."""

    __table_args__ = (
        UniqueConstraint("clip_id", "annotator_id", "kind"),
        Index(
            "uq_review_one_adjudication",
            "clip_id",
            unique=True,
            sqlite_where=text("kind = 'adjudication'"),
            postgresql_where=text("kind = 'adjudication'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    draft_id: int | None = Field(default=None, foreign_key="draft.id")
    annotator_id: int = Field(foreign_key="annotator.id", index=True)
    kind: str = Field(default=ReviewKind.ANNOTATION, index=True)
    source: str = Field(default=ReviewSource.APP)
    status: str
    caption: str | None = Field(default=None, sa_column=Column(Text))
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    valence: float | None = None
    arousal: float | None = None
    notes: str | None = Field(default=None, sa_column=Column(Text))
    reject_reason: str | None = None
    time_spent_s: float | None = None
    version: int = Field(default=1)  # bumped by every save; a save names the version it read
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReviewEvent(SQLModel, table=True):
    """Append-only history of review saves: nothing is overwritten without a trace."""

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="review.id", index=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    annotator_id: int = Field(foreign_key="annotator.id")
    version: int
    kind: str = Field(default=ReviewKind.ANNOTATION)
    source: str = Field(default=ReviewSource.APP)
    status: str
    caption: str | None = Field(default=None, sa_column=Column(Text))
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    valence: float | None = None
    arousal: float | None = None
    notes: str | None = Field(default=None, sa_column=Column(Text))
    reject_reason: str | None = None
    time_spent_s: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Assignment(SQLModel, table=True):
    """Who is to review which clip: the overlap plan (``annotator assign``), so no one is
    given a clip twice and the second reviews of the overlap go to someone else."""

    __table_args__ = (UniqueConstraint("clip_id", "annotator_id"),)

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    annotator_id: int = Field(foreign_key="annotator.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class LabelStudioLink(SQLModel, table=True):
    """A clip's task in a Label Studio project. ``pushed_draft_id`` is the draft whose
    prediction the task shows (``prediction_id``), so a push re-sends only redrafted clips;
    ``last_synced_at`` is the newest annotation pull has handled (Label Studio's clock)."""

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True, unique=True)
    project_id: int
    task_id: int
    last_synced_at: datetime | None = None
    pushed_draft_id: int | None = None
    prediction_id: int | None = None


class Job(SQLModel, table=True):
    """A batch run: what it was asked, how it went."""

    id: int | None = Field(default=None, primary_key=True)
    command: str
    config_json: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    n_clips: int = 0
    n_done: int = 0
    n_partial: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    errors_json: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON))
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class WorkState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"  # a worker holds it until ``lease_until``; past that, anyone may
    DONE = "done"
    FAILED = "failed"


class WorkItem(SQLModel, table=True):
    """One clip of one run's queue (``run --workers``, ``annotator worker``, Ray actors).

    The queue key is the run's config hash, so workers started with the same options share
    one queue. A worker claims an item for a lease it keeps renewing while it works; a worker
    that dies stops renewing, and once the lease has passed the item is claimable again.
    ``phase`` is extract, then word: no clip is worded before every clip is extracted, so
    each speaker's baseline is complete (as in the single-process run).
    """

    __table_args__ = (
        UniqueConstraint("queue_key", "clip_id"),
        Index("ix_workitem_queue_state", "queue_key", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    queue_key: str
    clip_id: int = Field(foreign_key="clip.id", index=True)
    phase: str = "extract"  # extract | word
    state: str = Field(default=WorkState.PENDING)
    worker_id: str | None = None  # host:pid of the process that holds (or last held) it
    lease_until: datetime | None = None
    attempts: int = 0  # claims so far; a claim taken over after a lease counts again
    error_code: str | None = None
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    outcome_json: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    finished_at: datetime | None = None
