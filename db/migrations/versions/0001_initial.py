"""Initial schema: the tables as SQLModel.metadata.create_all made them before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Generated with autogenerate against an empty database, then edited by hand: one block per
table, its indexes after it, in foreign-key order. The DDL is unchanged, so a database that an
earlier version made with create_all is this revision, and db.engine stamps it as such.

* Strings are SQLModel's AutoString (VARCHAR; VARCHAR(255) on MySQL); free text is TEXT.
* Datetimes are SQLModel's UTCDateTime: timestamptz on PostgreSQL, naive UTC on SQLite.
* ``*_json`` and ``labels`` are JSON: PostgreSQL ``json`` (its operators work on them).
* Unique: clip.sha256, clippath.path, ingestfailure.path, annotator.name, review.clip_id and
  labelstudiolink.clip_id (as unique indexes ``ix_...``, from ``Field(unique=True, index=True)``);
  (clip_id, stage, config_hash) on stagerun, (clip_id, modality, config_hash) on cuerecord,
  (clip_id, config_hash) on cuetextrecord, (clip_id, config_hash, sample_index) on draft: the
  resume keys, unnamed constraints as the models declare them (PostgreSQL names them
  ``<table>_<columns>_key``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "annotator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_annotator_name", "annotator", ["name"], unique=True)

    op.create_table(
        "clip",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", AutoString(length=64), nullable=False),
        sa.Column("name", AutoString(), nullable=False),
        sa.Column("source_uri", AutoString(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("has_audio", sa.Boolean(), nullable=False),
        sa.Column("has_video", sa.Boolean(), nullable=False),
        sa.Column("media_json", sa.JSON(), nullable=True),
        sa.Column("speaker_id", AutoString(), nullable=True),
        sa.Column("subject_id", AutoString(), nullable=True),
        sa.Column("split", AutoString(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("error_code", AutoString(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("missing_json", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_clip_sha256", "clip", ["sha256"], unique=True)
    op.create_index("ix_clip_status", "clip", ["status"], unique=False)

    op.create_table(
        "ingestfailure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", AutoString(), nullable=False),
        sa.Column("error_code", AutoString(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ingestfailure_path", "ingestfailure", ["path"], unique=True)

    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("command", AutoString(), nullable=False),
        sa.Column("config_json", sa.JSON(), nullable=True),
        sa.Column("n_clips", sa.Integer(), nullable=False),
        sa.Column("n_done", sa.Integer(), nullable=False),
        sa.Column("n_partial", sa.Integer(), nullable=False),
        sa.Column("n_failed", sa.Integer(), nullable=False),
        sa.Column("n_skipped", sa.Integer(), nullable=False),
        sa.Column("errors_json", sa.JSON(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "clippath",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("path", AutoString(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_clippath_clip_id", "clippath", ["clip_id"], unique=False)
    op.create_index("ix_clippath_path", "clippath", ["path"], unique=True)

    op.create_table(
        "cuerecord",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("modality", AutoString(), nullable=False),
        sa.Column("backend", AutoString(), nullable=False),
        sa.Column("backend_version", AutoString(), nullable=False),
        sa.Column("config_hash", AutoString(), nullable=False),
        sa.Column("schema_version", AutoString(), nullable=False),
        sa.Column("summary_json", sa.JSON(), nullable=True),
        sa.Column("frames_path", AutoString(), nullable=True),
        sa.Column("missing_reason", AutoString(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_id", "modality", "config_hash"),
    )
    op.create_index("ix_cuerecord_clip_id", "cuerecord", ["clip_id"], unique=False)

    op.create_table(
        "cuetextrecord",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("config_hash", AutoString(), nullable=False),
        sa.Column("textualizer_version", AutoString(), nullable=False),
        sa.Column("prompt_text", sa.Text(), nullable=True),
        sa.Column("readable_text", sa.Text(), nullable=True),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("missing_json", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_id", "config_hash"),
    )
    op.create_index("ix_cuetextrecord_clip_id", "cuetextrecord", ["clip_id"], unique=False)

    op.create_table(
        "labelstudiolink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("last_synced_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_labelstudiolink_clip_id", "labelstudiolink", ["clip_id"], unique=True)

    op.create_table(
        "stagerun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("stage", AutoString(), nullable=False),
        sa.Column("config_hash", AutoString(), nullable=False),
        sa.Column("config_json", sa.JSON(), nullable=True),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("error_code", AutoString(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("output_id", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_id", "stage", "config_hash"),
    )
    op.create_index("ix_stagerun_clip_id", "stagerun", ["clip_id"], unique=False)
    op.create_index("ix_stagerun_stage", "stagerun", ["stage"], unique=False)
    op.create_index("ix_stagerun_status", "stagerun", ["status"], unique=False)

    op.create_table(
        "draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("cue_text_id", sa.Integer(), nullable=False),
        sa.Column("config_hash", AutoString(), nullable=False),
        sa.Column("sample_index", sa.Integer(), nullable=False),
        sa.Column("backend", AutoString(), nullable=False),
        sa.Column("model_id", AutoString(), nullable=False),
        sa.Column("prompt_version", AutoString(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("raw_output", sa.Text(), nullable=True),
        sa.Column("visual_clues", sa.Text(), nullable=True),
        sa.Column("acoustic_clues", sa.Text(), nullable=True),
        sa.Column("lexical_clues", sa.Text(), nullable=True),
        sa.Column("reasoning", sa.Text(), nullable=True),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("valence", sa.Float(), nullable=True),
        sa.Column("arousal", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("missing_json", sa.JSON(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.ForeignKeyConstraint(["cue_text_id"], ["cuetextrecord.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_id", "config_hash", "sample_index"),
    )
    op.create_index("ix_draft_clip_id", "draft", ["clip_id"], unique=False)
    op.create_index("ix_draft_status", "draft", ["status"], unique=False)

    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=True),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("valence", sa.Float(), nullable=True),
        sa.Column("arousal", sa.Float(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("time_spent_s", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotator.id"]),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.ForeignKeyConstraint(["draft_id"], ["draft.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_clip_id", "review", ["clip_id"], unique=True)

    op.create_table(
        "reviewevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("valence", sa.Float(), nullable=True),
        sa.Column("arousal", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotator.id"]),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.ForeignKeyConstraint(["review_id"], ["review.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reviewevent_clip_id", "reviewevent", ["clip_id"], unique=False)
    op.create_index("ix_reviewevent_review_id", "reviewevent", ["review_id"], unique=False)


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes and constraints.
    for table in (
        "reviewevent",
        "review",
        "draft",
        "stagerun",
        "labelstudiolink",
        "cuetextrecord",
        "cuerecord",
        "clippath",
        "job",
        "ingestfailure",
        "clip",
        "annotator",
    ):
        op.drop_table(table)
