"""The batch runner on real media, good and bad: values in the database, not "it ran"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlmodel import func, select

from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import Clip, CueRecord, CueTextRecord, Draft, IngestFailure, StageRun, session_scope
from db.queries import find_clip
from extractors.media import sha256_file
from tests.conftest import remux, silent_video
from tests.plugins.scripted import VALID_DRAFT, scripted


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory, feat_data: Path, demo_clip: Path) -> Path:
    """A folder with an odd name holding good, partial and broken clips."""
    root = tmp_path_factory.mktemp("batch") / "Séance 1 – 日本 clips"
    root.mkdir()
    shutil.copy(demo_clip, root / "clip one ü.mp4")
    shutil.copy(demo_clip, root / "same bytes other name.mp4")
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("this is not a video\n" * 20)
    data = demo_clip.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    remux(demo_clip, root / "audio only.m4a", keep="audio")
    remux(demo_clip, root / "video only.mp4", keep="video")
    shutil.copy(feat_data / "no_face.mp4", root / "no face.mp4")
    silent_video(demo_clip, root / "silent face.mp4", seconds=3.0)
    return root


@pytest.fixture(scope="module")
def batch(batch_dir: Path, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Ingest and run the batch once; tests read the outcome."""
    from annotator.config import Settings

    settings = scripted(Settings.load(home=tmp_path_factory.mktemp("home")))
    ingested = ingest(settings, [batch_dir])
    runner = Runner(settings)
    result = runner.run()
    return settings, ingested, result


def _outcome(result, name: str):  # type: ignore[no-untyped-def]
    return next(o for o in result.outcomes if o.name == name)


def test_ingest_reports_each_bad_file_with_code_and_one_line(batch) -> None:  # type: ignore[no-untyped-def]
    settings, ingested, _ = batch
    failed = {Path(p).name: (code, msg) for p, code, msg in ingested.failed}
    assert set(failed) == {"empty.mp4", "notes.mp4", "truncated.mp4"}
    assert failed["empty.mp4"][0] == "empty_file"
    assert failed["notes.mp4"][0] == "unreadable_media"
    assert failed["truncated.mp4"][0] == "unreadable_media"
    for name, (_, message) in failed.items():
        assert name in message and "\n" not in message and "Traceback" not in message
    with session_scope(settings.db_url) as session:
        stored = {Path(r.path).name: r.error_code for r in session.exec(select(IngestFailure))}
    assert stored == {"empty.mp4": "empty_file", "notes.mp4": "unreadable_media",
                      "truncated.mp4": "unreadable_media"}  # fmt: skip


def test_same_content_under_another_name_is_one_clip(batch) -> None:  # type: ignore[no-untyped-def]
    settings, ingested, _ = batch
    assert [Path(p).name for p, _ in ingested.duplicates] == ["same bytes other name.mp4"]
    with session_scope(settings.db_url) as session:
        n_clips = session.exec(select(func.count()).select_from(Clip)).one()
        by_first = find_clip(session, "clip one ü.mp4")
        dup_path = next(Path(p).resolve() for p, _ in ingested.duplicates)
        by_second = find_clip(session, str(dup_path))
    assert n_clips == 5  # clip one, audio only, video only, no face, silent face
    assert by_first is not None and by_second is not None and by_first.id == by_second.id


def test_good_clip_has_all_cues_and_a_valid_draft(batch) -> None:  # type: ignore[no-untyped-def]
    settings, _, result = batch
    outcome = _outcome(result, "clip one ü.mp4")
    assert outcome.status == "done", outcome
    with session_scope(settings.db_url) as session:
        clip = find_clip(session, "clip one ü.mp4")
        records = {
            r.modality: r
            for r in session.exec(select(CueRecord).where(CueRecord.clip_id == clip.id))
        }
        draft = session.exec(select(Draft).where(Draft.clip_id == clip.id)).one()
        text = session.exec(select(CueTextRecord).where(CueTextRecord.clip_id == clip.id)).one()
    assert set(records) == {"face", "voice", "speech"}
    assert (settings.home / records["face"].frames_path).is_file()
    assert records["face"].summary_json["n_frames_with_face"] >= 40  # 12 s at 5 fps, one face
    words = [w["text"].lower().strip(".,?!") for w in records["speech"].summary_json["words"]]
    assert "hello" in words
    assert "Visual cues:" in text.prompt_text and "Transcript:" in text.prompt_text
    assert not text.partial
    assert draft.status == "valid" and draft.labels == ["happy", "friendly"]
    assert draft.caption == VALID_DRAFT["caption"] and draft.valence == 0.6
    assert clip.status == "drafted"


@pytest.mark.parametrize(
    ("name", "modality", "reason"),
    [
        ("audio only.m4a", "face", "no video stream"),
        ("video only.mp4", "voice", "no audio stream"),
        ("video only.mp4", "speech", "no audio stream"),
        ("no face.mp4", "face", "no face"),
        ("silent face.mp4", "speech", "no speech"),
        ("silent face.mp4", "voice", "silence"),
    ],
)
def test_partial_clips_say_what_is_missing(batch, name: str, modality: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    settings, _, result = batch
    outcome = _outcome(result, name)
    assert outcome.status == "partial", outcome
    assert reason in outcome.missing[modality]
    with session_scope(settings.db_url) as session:
        clip = find_clip(session, name)
        text = session.exec(select(CueTextRecord).where(CueTextRecord.clip_id == clip.id)).one()
        draft = session.exec(select(Draft).where(Draft.clip_id == clip.id)).one()
    assert clip.partial and reason in clip.missing_json[modality]
    assert text.partial and modality in text.missing_json
    missing_line = next(
        line for line in text.prompt_text.splitlines() if line.startswith("Missing:")
    )
    assert modality in missing_line
    assert draft.partial and modality in draft.missing_json  # the draft is marked too


def test_rerun_skips_finished_stages_and_adds_no_rows(batch) -> None:  # type: ignore[no-untyped-def]
    settings, _, first = batch

    def counts() -> tuple[int, ...]:
        with session_scope(settings.db_url) as session:
            return tuple(
                session.exec(select(func.count()).select_from(t)).one()
                for t in (StageRun, CueRecord, CueTextRecord, Draft, Clip)
            )

    before = counts()
    again = Runner(settings).run()
    assert counts() == before
    assert [o.status for o in again.outcomes] == [o.status for o in first.outcomes]
    assert all(o.skipped_stages >= 3 for o in again.outcomes)


def test_invalid_model_output_is_kept_raw_with_a_typed_status(settings, demo_clip: Path) -> None:  # type: ignore[no-untyped-def]
    scripted(settings, ["Sure! The person seems happy :)"])
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [demo_clip])
    result = Runner(settings).run()
    (outcome,) = result.outcomes
    assert outcome.status == "failed"
    assert outcome.errors[0][0] == "invalid_model_output"
    with session_scope(settings.db_url) as session:
        draft = session.exec(select(Draft)).one()
        clip = session.exec(select(Clip)).one()
    assert draft.status == "invalid"
    assert draft.raw_output == "Sure! The person seems happy :)"
    assert draft.caption is None and draft.labels == []
    assert "no JSON object" in (draft.error_message or "")
    assert clip.status == "failed" and clip.error_code == "invalid_model_output"


def test_out_of_range_values_fail_validation(settings, demo_clip: Path) -> None:  # type: ignore[no-untyped-def]
    scripted(settings, [json.dumps({**VALID_DRAFT, "valence": -3})])
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [demo_clip])
    Runner(settings).run()
    with session_scope(settings.db_url) as session:
        draft = session.exec(select(Draft)).one()
    assert draft.status == "invalid" and "valence" in (draft.error_message or "")


def test_changed_config_redrafts_but_reuses_cues(settings, demo_clip: Path) -> None:  # type: ignore[no-untyped-def]
    scripted(settings)
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [demo_clip])
    Runner(settings).run()
    other = {**VALID_DRAFT, "caption": "A second opinion."}
    scripted(settings, [json.dumps(other)])
    second = Runner(settings).run()
    assert second.outcomes[0].skipped_stages == 3  # face, voice, speech reused
    with session_scope(settings.db_url) as session:
        captions = [d.caption for d in session.exec(select(Draft).order_by(Draft.id))]
        n_cues = session.exec(select(func.count()).select_from(CueRecord)).one()
    assert captions == [VALID_DRAFT["caption"], "A second opinion."]
    assert n_cues == 3


def test_a_crash_outside_the_stages_fails_that_clip_only(
    settings, demo_clip: Path, feat_data: Path, monkeypatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import annotator.stage_store as pipeline

    scripted(settings)
    settings.face_options = {"frame_rate": 1.0}
    other = tmp_path / "other.mp4"
    shutil.copy(feat_data / "single_face.mp4", other)
    ingest(settings, [demo_clip, other])
    real_render = pipeline.render

    def render_or_crash(cues):  # type: ignore[no-untyped-def]
        if cues.media.duration_s > 10:  # the 12 s demo clip, not the 2.4 s one
            raise RuntimeError("textualizer bug")
        return real_render(cues)

    monkeypatch.setattr(pipeline, "render", render_or_crash)
    result = Runner(settings).run()
    by_name = {o.name: o for o in result.outcomes}
    assert by_name["demo.mp4"].status == "failed"
    assert by_name["demo.mp4"].errors == [
        ("internal_error", "demo.mp4: internal error: RuntimeError: textualizer bug")
    ]
    with session_scope(settings.db_url) as session:
        crashed = find_clip(session, "demo.mp4")
    assert crashed.status == "failed" and crashed.error_code == "internal_error"
    assert by_name["other.mp4"].status in ("done", "partial")
    assert by_name["other.mp4"].draft_status == "valid"


def test_speed_only_options_do_not_redo_stages(settings, demo_clip: Path) -> None:  # type: ignore[no-untyped-def]
    scripted(settings)
    settings.face_options = {"frame_rate": 1.0}
    ingest(settings, [demo_clip])
    Runner(settings).run()
    settings.drafting_options = {**settings.drafting_options, "threads": 1, "device": "cpu"}
    settings.speech_options = {"cpu_threads": 1, "device": "cpu"}
    again = Runner(settings).run()
    assert again.outcomes[0].skipped_stages == 4  # face, voice, speech and the draft
    with session_scope(settings.db_url) as session:
        assert session.exec(select(func.count()).select_from(Draft)).one() == 1


def test_a_file_changed_in_place_is_not_extracted_as_the_old_clip(
    settings, demo_clip: Path, feat_data: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    scripted(settings)
    settings.face_options = {"frame_rate": 1.0}
    path = tmp_path / "take.mp4"
    shutil.copy(feat_data / "single_face.mp4", path)
    ingest(settings, [path])
    shutil.copy(demo_clip, path)  # overwritten before `run`
    (outcome,) = Runner(settings).run().outcomes
    assert outcome.status == "failed"
    code, message = outcome.errors[0]
    assert code == "file_not_found" and "changed since ingest" in message
    ingest(settings, [path])  # the new content is a new clip; the path now points to it
    with session_scope(settings.db_url) as session:
        assert find_clip(session, str(path)).sha256 == sha256_file(demo_clip)
