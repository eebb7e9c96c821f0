"""The draft stage through the runner and the CLI, with scripted backends: failed drafts
stay failed, the key follows the drafter's own config, samples are kept and the most
consistent one is chosen, requests are batched and fail one by one, hints are marked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select
from typer.testing import CliRunner

from annotator.drafting.base import DraftResult, generate_each, register_drafting
from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import Clip, CueRecord, CueTextRecord, Draft, StageRun, session_scope
from db.queries import annotator_id, chosen_draft
from db.review_queue import QueueFilter, QueueOrder, queue_page
from extractors.errors import AnnotatorError
from tests.plugins.scripted import VALID_DRAFT, ScriptedDrafter, scripted

ANGRY = {**VALID_DRAFT, "labels": ["anger"], "valence": -0.7, "arousal": 0.8, "confidence": 0.9}
HAPPY_2 = {**VALID_DRAFT, "labels": ["happiness"], "valence": 0.5}


@register_drafting("scripted-invalid")
class InvalidDrafter(ScriptedDrafter):
    name = "scripted-invalid"

    def __init__(self, max_new_tokens: int = 512, **options: Any):
        # max_new_tokens: the CLI hands it to every drafter that takes it
        super().__init__(outputs=["Sure! The person seems happy :)"])


@register_drafting("scripted-cli")
class CliDrafter(ScriptedDrafter):
    """The valid scripted drafter as the CLI can create it (it passes max_new_tokens)."""

    name = "scripted-cli"

    def __init__(self, max_new_tokens: int = 512, **options: Any):
        super().__init__()


class Unavailable(AnnotatorError):
    code = "server_error"


@register_drafting("scripted-flaky")
class FlakyDrafter(ScriptedDrafter):
    """Fails the request of the lowest clip id, as a server error on one request would."""

    name = "scripted-flaky"

    def generate_many(self, requests):  # type: ignore[no-untyped-def]
        self.batches.append(len(requests))
        worst = min(requests, key=lambda r: int(r.key))
        ok = generate_each(self, [r for r in requests if r is not worst])
        failed = DraftResult(worst.key, [], Unavailable("503 from the server"))
        by_key = {r.key: r for r in [*ok, failed]}
        return [by_key[r.key] for r in requests]


@register_drafting("scripted-penalty")
class PenaltyDrafter(ScriptedDrafter):
    """A backend with a default that changes output (as transformers' repetition_penalty)."""

    name = "scripted-penalty"
    DEFAULT_PENALTY = 1.1

    def __init__(self, repetition_penalty: float | None = None, **options: Any):
        super().__init__(**options)
        self.repetition_penalty = repetition_penalty or self.DEFAULT_PENALTY

    def config(self) -> dict[str, Any]:
        return {**super().config(), "repetition_penalty": self.repetition_penalty}


def _count(settings, table) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.db_url) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_all_invalid_drafts_fail_on_every_run_from_the_cli(tmp_path: Path, demo_clip: Path) -> None:
    from annotator.cli import app
    from annotator.config import Settings

    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(demo_clip), "--home", str(home)]).exit_code == 0
    args = ["run", "--home", str(home), "--drafter", "scripted-invalid", "--no-hints"]
    first = runner.invoke(app, args)
    second = runner.invoke(app, args)
    for result in (first, second):
        assert result.exit_code == 1, result.output
        assert "1 failed (invalid_model_output: 1)" in result.output
    settings = Settings.load(home=home)
    with session_scope(settings.db_url) as session:
        run = session.exec(select(StageRun).where(StageRun.stage == "draft")).one()
        drafts = session.exec(select(Draft)).all()
    assert run.status == "failed" and run.error_code == "invalid_model_output"
    assert run.job_id == 2  # the second run drafted again instead of skipping
    assert len(drafts) == 1 and drafts[0].status == "invalid" and not drafts[0].chosen
    with session_scope(settings.db_url) as session:
        clip = session.exec(select(Clip)).one()
    assert (clip.chosen_draft_id, clip.queue_confidence) == (drafts[0].id, -1.0)  # first in queue


def test_a_changed_backend_default_redrafts(settings, demo_clip: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings.drafting_backend = "scripted-penalty"
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [demo_clip])
    Runner(settings).run()
    again = Runner(settings).run()
    assert again.outcomes[0].skipped_stages == 4  # nothing changed: draft reused
    monkeypatch.setattr(PenaltyDrafter, "DEFAULT_PENALTY", 1.3)  # same settings, new default
    third = Runner(settings).run()
    assert third.outcomes[0].skipped_stages == 3  # cues reused, drafted again
    assert _count(settings, Draft) == 2 and _count(settings, CueRecord) == 3


def test_samples_are_kept_and_the_majority_is_chosen(settings, demo_clip: Path) -> None:  # type: ignore[no-untyped-def]
    scripted(settings, [json.dumps(ANGRY), json.dumps(VALID_DRAFT), json.dumps(HAPPY_2)])
    settings.face_options = {"frame_rate": 1.0}
    settings.samples = 3
    ingest(settings, [demo_clip])
    (outcome,) = Runner(settings).run().outcomes
    assert outcome.status == "done" and outcome.draft_status == "valid"
    with session_scope(settings.db_url) as session:
        drafts = session.exec(select(Draft).order_by(col(Draft.sample_index))).all()
        chosen = chosen_draft(session, drafts[0].clip_id)
        clip = session.get(Clip, drafts[0].clip_id)
    assert clip is not None and chosen is not None  # the queue's index key follows the choice
    assert (clip.chosen_draft_id, clip.queue_confidence) == (chosen.id, chosen.confidence)
    assert [d.sample_index for d in drafts] == [0, 1, 2]
    assert [d.chosen for d in drafts] == [False, False, True]
    assert chosen is not None and chosen.sample_index == 2 and chosen.labels == ["happiness"]
    # confidence = agreement, the mean similarity to the other samples, worked by hand:
    # to "anger" (-0.7, 0.8): labels 0, valence 1 - 1.2/2, arousal 1 - 0.3 -> 0.275;
    # to "happy, friendly" (0.6, 0.5): labels 1/2, valence 0.95, arousal 1 -> 0.7375.
    # The model's own number is kept beside it.
    assert chosen.confidence == 0.506
    assert chosen.model_confidence == 0.7 and drafts[0].model_confidence == 0.9
    assert drafts[0].confidence is not None and drafts[0].confidence < chosen.confidence
    assert all(d.sampling_json["n"] == 3 for d in drafts)
    assert chosen.grounding_rate is not None and isinstance(chosen.ungrounded_clues, list)


def test_a_draft_whose_valence_contradicts_its_labels_is_flagged_and_capped(
    settings, demo_clip: Path
) -> None:  # type: ignore[no-untyped-def]
    wrong_sign = {**ANGRY, "valence": 1.0, "confidence": 0.9}
    scripted(settings, [json.dumps(wrong_sign)])
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [demo_clip])
    (outcome,) = Runner(settings).run().outcomes
    assert outcome.draft_status == "valid"
    with session_scope(settings.db_url) as session:
        (draft,) = session.exec(select(Draft)).all()
    assert draft.model_confidence == 0.9 and draft.confidence == 0.2
    assert draft.ungrounded_clues[-1] == (
        "valence +1.0 contradicts the labels (anger): check the sign"
    )


def test_drafts_go_in_one_batch_and_a_failed_request_fails_its_clip_only(
    settings, demo_clip: Path, feat_data: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    settings.drafting_backend = "scripted-flaky"
    settings.face_options = {"frame_rate": 1.0}
    other = tmp_path / "other.mp4"
    shutil.copy(feat_data / "single_face.mp4", other)
    ingest(settings, [demo_clip, other])
    runner = Runner(settings)
    result = runner.run()
    assert runner.drafter.batches == [2]  # type: ignore[attr-defined]
    first, second = result.outcomes
    assert first.status == "failed" and first.errors == [("server_error", "503 from the server")]
    assert second.draft_status == "valid" and second.status in ("done", "partial")
    with session_scope(settings.db_url) as session:
        me = annotator_id(session, "alice")
        rows = queue_page(session, me, QueueFilter(status="todo"), QueueOrder.UNCERTAIN)
    assert [r.name for r in rows] == ["other.mp4"]  # the failed clip has no draft to review


def test_hints_are_marked_in_the_cue_text_and_switchable(settings, demo_clip: Path) -> None:  # type: ignore[no-untyped-def]
    scripted(settings)
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [demo_clip])
    Runner(settings).run()
    settings.hints = False
    Runner(settings).run()
    with session_scope(settings.db_url) as session:
        texts = session.exec(select(CueTextRecord).order_by(col(CueTextRecord.id))).all()
        keys = {
            r.config_hash for r in session.exec(select(StageRun).where(StageRun.stage == "draft"))
        }
    with_hints, without = texts[0].prompt_text, texts[1].prompt_text
    assert "[hint, rule prosody] arousal" in with_hints
    assert with_hints.index("Hints (automatic guesses") < with_hints.index("Missing:")
    assert "[hint" not in without and len(keys) == 2


def test_prompt_version_from_the_cli_redrafts_and_is_stored(
    tmp_path: Path, demo_clip: Path
) -> None:
    """`run --prompt-version` drafts under an older prompt (stored on the draft, part of the
    draft key: switching back drafts again); an unknown version is refused in one line."""
    from annotator.cli import app
    from annotator.config import Settings
    from annotator.drafting.prompt import PROMPT_VERSION

    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(demo_clip), "--home", str(home)]).exit_code == 0
    base = ["run", "--home", str(home), "--drafter", "scripted-cli", "--no-hints"]
    for args in ([], ["--prompt-version", "mer-caption-2"], ["--prompt-version", "mer-caption-2"]):
        result = runner.invoke(app, base + args)
        assert result.exit_code == 0, result.output
    bad = runner.invoke(app, [*base, "--prompt-version", "mer-caption-9"])
    assert bad.exit_code == 2
    assert "--prompt-version mer-caption-9: use one of mer-caption-1" in bad.output
    with session_scope(Settings.load(home=home).db_url) as session:
        drafts = session.exec(select(Draft).order_by(col(Draft.id))).all()
    # the rerun under the same older version drafted nothing new
    assert [d.prompt_version for d in drafts] == [PROMPT_VERSION, "mer-caption-2"]
    assert PROMPT_VERSION != "mer-caption-2"
