"""The ``annotator`` command as a user runs it (subprocesses), and the exported datasets."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import Draft, session_scope
from db.models import ReviewStatus
from db.queries import ReviewInput, find_clip, save_review
from tests.plugins.scripted import VALID_DRAFT, scripted

ANNOTATOR = [sys.executable, "-m", "annotator.cli"]


def cli(*args: str, home: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ANNOTATOR, *args, "--home", str(home)], capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def test_help_lists_every_command() -> None:
    """The Commands box names each command once, at the start of a row (not somewhere in
    another command's help text)."""
    out = subprocess.run([*ANNOTATOR, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    listed = re.findall(r"^│ ([a-z][a-z-]*) {2,}", out.stdout, flags=re.MULTILINE)
    assert listed == [
        "init", "ingest", "speakers", "run", "cues", "status", "doctor", "review", "demo",
        "worker", "stats", "export", "push-to-hub", "ls", "models", "team",
    ], listed  # fmt: skip


def test_ingest_bad_and_good_files_exits_nonzero_with_one_line_each(
    tmp_path: Path, demo_clip: Path
) -> None:
    media = tmp_path / "in put"
    media.mkdir()
    shutil.copy(demo_clip, media / "good ü.mp4")
    (media / "zero.mp4").write_bytes(b"")
    (media / "text.mov").write_text("hello")
    home = tmp_path / "home"
    out = cli("ingest", str(media), home=home)
    assert out.returncode == 1
    assert "ingested 1 new, 0 already known, 2 failed" in out.stdout
    errors = [line for line in out.stderr.splitlines() if line.startswith("✗")]
    assert len(errors) == 2 and "Traceback" not in out.stderr
    assert any("zero.mp4" in e and "empty file" in e for e in errors)
    assert any("text.mov" in e and "not readable as media" in e for e in errors)
    status = cli("status", "--json", home=home)
    counts = json.loads(status.stdout)
    assert counts["clips"] == {"ingested": 1}
    assert counts["errors"] == {"empty_file": 1, "unreadable_media": 1}


def test_models_reports_offline_availability() -> None:
    out = subprocess.run([*ANNOTATOR, "models"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0
    # Columns: kind, backend, model, present, where; a wrapped row's first line has them all.
    cells = [line.split("│")[1:6] for line in out.stdout.splitlines() if line.count("│") >= 6]
    present: dict[tuple[str, str], set[str]] = {}
    for kind, backend, _model, ok, _where in cells:
        if kind.strip():
            present.setdefault((kind.strip(), backend.strip()), set()).add(ok.strip())
    for key in [("face", "landmarks"), ("voice", "opensmile"), ("speech", "faster-whisper"),
                ("drafting", "transformers")]:  # fmt: skip
        assert "yes" in present.get(key, set()), (key, out.stdout)


@pytest.fixture(scope="module")
def drafted_home(tmp_path_factory, demo_clip: Path, feat_data: Path) -> Path:
    """A data folder with two drafted clips, one reviewed (edited) and one not."""
    from annotator.config import Settings

    home = tmp_path_factory.mktemp("home")
    media = tmp_path_factory.mktemp("media")
    face = media / "face only 日本.mp4"
    shutil.copy(feat_data / "single_face.mp4", face)
    settings = scripted(Settings.load(home=home))
    ingest(settings, [demo_clip, face])
    Runner(settings).run()
    with session_scope(settings.db_url) as session:
        clip = find_clip(session, str(demo_clip.resolve()))
        draft = session.exec(select(Draft).where(Draft.clip_id == clip.id)).one()
        save_review(
            session,
            clip.id,
            "alice",
            draft.id,
            ReviewInput(
                ReviewStatus.EDITED,
                "Warm, slightly surprised greeting.",
                ["happy", "surprised"],
                0.5,
                0.6,
            ),
            expected_version=None,
        )
    return home


def test_cues_prints_the_prompt_text_by_path(drafted_home: Path, demo_clip: Path) -> None:
    out = cli("cues", str(demo_clip), home=drafted_home)
    assert out.returncode == 0, out.stderr
    assert "Visual cues:" in out.stdout and "Transcript:" in out.stdout
    assert "hello" in out.stdout.lower()
    missing = cli("cues", "no-such-clip", home=drafted_home)
    assert missing.returncode == 1 and "no clip 'no-such-clip'" in missing.stderr


def test_export_hf_loads_back_with_datasets(drafted_home: Path, tmp_path: Path) -> None:
    import datasets

    out_dir = tmp_path / "hf out"
    out = cli("export", str(out_dir), "--format", "hf", "--no-stats", home=drafted_home)
    assert out.returncode == 0, out.stderr
    assert "exported (hf) 1 clips" in out.stdout  # reviewed clips only by default
    ds = datasets.load_dataset(str(out_dir), split="train")
    (reviewed,) = list(ds)
    assert reviewed["review_status"] == "edited" and reviewed["annotator"] == "alice"
    assert reviewed["caption"] == "Warm, slightly surprised greeting."
    assert reviewed["openset"] == ["happy", "surprised"]
    assert reviewed["draft_caption"] == VALID_DRAFT["caption"]  # the model's text is kept too
    assert reviewed["valence"] == 0.5 and reviewed["arousal"] == 0.6
    assert "hello" in reviewed["transcript"].lower()
    assert (out_dir / reviewed["video"]["path"]).is_file()
    card = (out_dir / "README.md").read_text()
    assert card.startswith("---\n") and "path: data/captions/train-*.parquet" in card
    assert "research and" in card and "iBUG 300-W" in card  # licences that restrict use

    with_drafts = tmp_path / "with drafts"
    out = cli("export", str(with_drafts), "--include-drafts", "--no-stats", home=drafted_home)
    assert out.returncode == 0, out.stderr
    rows = {r["file_name"]: r for r in datasets.load_dataset(str(with_drafts), split="train")}
    unreviewed = rows["face only 日本.mp4"]
    assert unreviewed["review_status"] == "unreviewed" and unreviewed["reviewed"] is False
    assert unreviewed["caption"] == VALID_DRAFT["caption"] and unreviewed["openset"] == [
        "happy",
        "friendly",
    ]
    assert unreviewed["model_id"] == "scripted-test-model"
    track2 = datasets.load_dataset(str(with_drafts), "track2", split="train")
    assert track2["name"] == ["demo"]  # drafts never enter the challenge tracks


def test_export_jsonl_and_mer_csv(drafted_home: Path, tmp_path: Path) -> None:
    out = cli("export", str(tmp_path / "all.jsonl"), "--format", "jsonl", "--include-drafts",
              home=drafted_home)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert sorted(r["name"] for r in lines) == ["demo", "face only 日本"]
    assert {r["name"]: r["reviewed"] for r in lines} == {"demo": True, "face only 日本": False}
    out = cli("export", str(tmp_path / "mer"), "--format", "mer-csv", home=drafted_home)
    assert out.returncode == 0, out.stderr
    with (tmp_path / "mer" / "openset.csv").open() as fh:
        openset = {r["name"]: r["openset"] for r in csv.DictReader(fh)}
    with (tmp_path / "mer" / "reason.csv").open() as fh:
        reason = {r["name"]: r["reason"] for r in csv.DictReader(fh)}
    assert openset == {"demo": "happy, surprised"}  # the unreviewed clip is not exported
    assert reason == {"demo": "Warm, slightly surprised greeting."}
    bad = cli("export", str(tmp_path / "x"), "--format", "parquet", home=drafted_home)
    assert bad.returncode == 2
    assert "known formats: hf, jsonl, mer-csv, sharegpt, preference" in bad.stderr
    bad = cli("export", str(tmp_path / "x"), "--status", "maybe", home=drafted_home)
    assert bad.returncode == 2 and "unknown review status maybe" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_demo_runs_the_main_job_with_the_bundled_models(tmp_path: Path) -> None:
    """The README's main job: real face, voice, speech backends and the bundled LLM."""
    import datasets

    home = tmp_path / "demo"
    out = subprocess.run([*ANNOTATOR, "demo", "--home", str(home)], capture_output=True,
                         text=True, timeout=900)  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "1 done, 0 partial, 0 failed" in out.stdout
    ds = datasets.load_dataset(str(home / "export-hf"), split="train")
    (row,) = list(ds)
    assert row["draft_status"] == "valid"
    assert row["model_id"].startswith("qwen2.5-coder-1.5b-instruct")  # the default model
    assert row["caption"] and row["openset"]
    assert -1 <= row["valence"] <= 1 and 0 <= row["arousal"] <= 1
    assert "Visual cues:" in row["cue_text"] and "AU" in row["cue_text"]
