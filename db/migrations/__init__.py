"""Alembic migrations of the database schema (``env.py``, ``versions/``), shipped in the wheel.

``db.engine.upgrade_to_head`` runs them; ``alembic -c db/alembic.ini ...`` is for people.

Adding a migration, after changing ``db/models.py``::

    alembic -c db/alembic.ini -x url=sqlite:////tmp/m.db upgrade head
    alembic -c db/alembic.ini -x url=sqlite:////tmp/m.db revision --autogenerate \\
        --rev-id 0002 -m "what changed"

then review ``versions/0002_what_changed.py`` by hand and set ``HEAD`` below to ``"0002"``.
tests/test_migrations.py fails until both are done. Never edit a migration that has shipped.
"""

from __future__ import annotations

# The newest revision in versions/. get_engine compares alembic_version with it before
# importing Alembic at all, which keeps opening an up-to-date database cheap.
HEAD = "0008"

# The first revision: the schema that versions before migrations made with create_all.
INITIAL = "0001"


def _columns(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Tables and columns that revision INITIAL creates, frozen: a database without an
# alembic_version table that has all of them was made by create_all and is stamped INITIAL.
# This describes the past; never change it when the models change.
CREATE_ALL_SCHEMA: dict[str, frozenset[str]] = {
    "annotator": _columns("id name created_at"),
    "clip": _columns(
        "id sha256 name source_uri duration_s fps width height has_audio has_video media_json"
        " speaker_id subject_id split status error_code error_message partial missing_json"
        " created_at"
    ),
    "clippath": _columns("id clip_id path seen_at"),
    "cuerecord": _columns(
        "id clip_id modality backend backend_version config_hash schema_version summary_json"
        " frames_path missing_reason created_at"
    ),
    "cuetextrecord": _columns(
        "id clip_id config_hash textualizer_version prompt_text readable_text partial"
        " missing_json created_at"
    ),
    "draft": _columns(
        "id clip_id cue_text_id config_hash sample_index backend model_id prompt_version status"
        " error_message raw_output visual_clues acoustic_clues lexical_clues reasoning caption"
        " labels valence arousal confidence partial missing_json prompt_tokens"
        " completion_tokens latency_s created_at"
    ),
    "ingestfailure": _columns("id path error_code error_message seen_at"),
    "job": _columns(
        "id command config_json n_clips n_done n_partial n_failed n_skipped errors_json"
        " started_at finished_at"
    ),
    "labelstudiolink": _columns("id clip_id project_id task_id last_synced_at"),
    "review": _columns(
        "id clip_id draft_id annotator_id status caption labels valence arousal notes"
        " time_spent_s version created_at updated_at"
    ),
    "reviewevent": _columns(
        "id review_id clip_id annotator_id version status caption labels valence arousal created_at"
    ),
    "stagerun": _columns(
        "id clip_id stage config_hash config_json status error_code error_message output_id"
        " duration_s job_id finished_at"
    ),
}
