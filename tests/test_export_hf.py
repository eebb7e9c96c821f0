"""``annotator export --format hf`` on a real reviewed database, loaded back with
``datasets.load_dataset`` in a separate process that must not import torchcodec."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export_data import ADJUDICATED, ALICE_V2, OTHER_DRAFT, Home, build_once, load_back
from tests.plugins.scripted import VALID_DRAFT

ANNOTATOR = [sys.executable, "-m", "annotator.cli"]


def export(home: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*ANNOTATOR, "export", str(out), "--home", str(home), *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path, feat_data: Path) -> Home:
    return build_once(tmp_path_factory.mktemp("export data"), demo_clip, feat_data)


@pytest.fixture(scope="module")
def default_export(data: Home, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reviewed clips only, splits from the clips' split field, agreement in the card."""
    out = tmp_path_factory.mktemp("exports") / "hf default"
    export(data.home, out)
    return out


def test_every_configuration_loads_back_with_the_reviewed_values(
    data: Home, default_export: Path, tmp_path: Path
) -> None:
    wanted = {c: ["train"] for c in ("captions", "track2", "track3", "reviews", "drafts")}
    loaded = load_back(default_export, wanted, tmp_path / "cache")
    assert loaded["torchcodec"] is False
    assert loaded["video_feature"].startswith("Video(decode=False")
    captions = {r["name"]: r for r in loaded["captions/train"]["rows"]}
    assert sorted(captions) == ["face only 日本", "greeting"]  # the unreviewed clip stays out
    greeting = captions["greeting"]
    assert greeting["caption"] == ADJUDICATED and greeting["openset"] == ["happy", "surprised"]
    assert greeting["review_status"] == "edited" and greeting["adjudicated"] is True
    assert greeting["annotator"] == "carol" and greeting["annotators"] == ["alice", "bob", "carol"]
    assert (greeting["valence"], greeting["arousal"]) == (0.6, 0.6)
    assert greeting["draft_caption"] == VALID_DRAFT["caption"]
    assert greeting["visual_clues"] == VALID_DRAFT["visual_clues"]
    assert "hello" in greeting["transcript"].lower() and "Visual cues:" in greeting["cue_text"]
    assert greeting["model_id"] == "scripted-test-model"
    assert greeting["prompt_version"] == "mer-caption-3"
    assert greeting["video"]["path"].startswith("media/") and greeting["video"]["bytes"] is None
    assert (default_export / greeting["video"]["path"]).read_bytes() == (
        data.media / "greeting.mp4"
    ).read_bytes()
    face = captions["face only 日本"]
    assert face["review_status"] == "accepted" and face["reviewed"] is True
    assert face["caption"] == VALID_DRAFT["caption"] and face["openset"] == ["happy", "friendly"]
    assert face["annotators"] == ["alice"] and face["adjudicated"] is False
    track2 = {r["name"]: r["openset"] for r in loaded["track2/train"]["rows"]}
    assert track2 == {"greeting": "happy, surprised", "face only 日本": "happy, friendly"}
    assert loaded["track2/train"]["features"] == ["name", "openset"]
    track3 = {r["name"]: r["reason"] for r in loaded["track3/train"]["rows"]}
    assert track3["greeting"] == ADJUDICATED
    reviews = loaded["reviews/train"]["rows"]
    assert len(reviews) == data.n_review_events
    alice = sorted((r for r in reviews if r["name"] == "greeting" and r["annotator"] == "alice"),
                   key=lambda r: r["version"])  # fmt: skip
    assert [r["version"] for r in alice] == [1, 2]
    assert alice[0]["caption_before"] == VALID_DRAFT["caption"]  # v1 starts from the draft
    assert alice[0]["caption_after"] == "Warm greeting." == alice[1]["caption_before"]
    assert alice[1]["caption_after"] == ALICE_V2 and alice[1]["labels_before"] == ["happy"]
    assert alice[0]["time_spent_s"] == 30.0 and alice[1]["current"] is True
    assert alice[0]["current"] is False and alice[0]["stands"] is False
    (carol,) = [r for r in reviews if r["annotator"] == "carol"]
    assert carol["kind"] == "adjudication" and carol["stands"] is True
    assert carol["notes"] == "alice's reading"
    (bob,) = [r for r in reviews if r["annotator"] == "bob"]
    assert bob["source"] == "cli" and bob["labels_after"] == ["tense"]
    drafts = loaded["drafts/train"]["rows"]
    assert len(drafts) == 8  # four samples for each of the two exported clips
    by_clip = [d for d in drafts if d["name"] == "greeting"]
    assert [d["valid"] for d in sorted(by_clip, key=lambda d: d["sample_index"])] == [
        True, True, True, False,
    ]  # fmt: skip
    assert sum(d["chosen"] for d in by_clip) == 1
    assert {d["caption"] for d in by_clip if d["valid"]} == {
        VALID_DRAFT["caption"], OTHER_DRAFT["caption"],
    }  # fmt: skip
    assert all(d["prompt_tokens"] == 10 and d["completion_tokens"] == 20 for d in drafts)
    assert all(d["backend"] == "scripted" for d in drafts)


def test_the_card_declares_configs_features_provenance_and_agreement(default_export: Path) -> None:
    import yaml

    text = (default_export / "README.md").read_text(encoding="utf-8")
    head = yaml.safe_load(text.split("---\n")[1])
    configs = {c["config_name"]: c for c in head["configs"]}
    assert list(configs) == ["captions", "track2", "track3", "reviews", "drafts"]
    assert configs["captions"]["default"] is True
    assert configs["reviews"]["data_files"] == [
        {"split": "train", "path": "data/reviews/train-*.parquet"}
    ]
    infos = {i["config_name"]: i for i in head["dataset_info"]}
    video = next(f for f in infos["captions"]["features"] if f["name"] == "video")
    assert video["dtype"] == {"video": {"decode": False}}
    assert infos["reviews"]["splits"][0]["num_examples"] == 5
    assert "face: mediapipe" in text and "voice: opensmile" in text and "faster-whisper" in text
    assert "scripted-test-model (scripted): 8" in text and "mer-caption-3: 8" in text
    assert "Krippendorff's alpha" in text  # annotator.stats.card_summary is installed
    assert "iBUG 300-W" in text and "research and" in text
    assert (default_export / "LICENSE.md").is_file()
    manifest = json.loads((default_export / "manifest.json").read_text(encoding="utf-8"))
    assert {c["name"] for c in manifest["clips"].values()} == {"greeting", "face only 日本"}
    assert all(c["written"] for c in manifest["clips"].values())


def _text_of(path: Path) -> str:
    """A file's content as text; Parquet decompressed, so compression cannot hide a path."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = json.dumps(
            {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        )
        return json.dumps(table.to_pylist(), default=repr, ensure_ascii=False) + meta
    return path.read_bytes().decode("utf-8", errors="replace")


def test_no_path_of_this_machine_is_written_anywhere(
    data: Home, default_export: Path, tmp_path: Path
) -> None:
    speaker_export = tmp_path / "by speaker"
    export(data.home, speaker_export, "--include-drafts", "--split-by-speaker", "--no-stats")
    forbidden = {str(data.home.parent), str(data.media), str(Path.home()), str(tmp_path)}
    forbidden |= {os.fsdecode(os.path.realpath(p)) for p in list(forbidden)}
    files = [p for root in (default_export, speaker_export) for p in root.rglob("*") if p.is_file()]
    assert len(files) >= 18
    for path in files:
        if path.suffix == ".mp4":
            continue  # the clips themselves
        text = _text_of(path)
        for bad in forbidden:
            assert bad not in text, (path.name, bad)
    media = sorted(p.name for p in (default_export / "media").iterdir())
    assert len(media) == 2
    assert all(re.fullmatch(r"[0-9a-f]{12}-\w[\w.-]*", name) for name in media), media


def test_speaker_disjoint_splits_are_seeded_and_load(data: Home, tmp_path: Path) -> None:
    out = tmp_path / "split"
    proc = export(data.home, out, "--include-drafts", "--split-by-speaker", "--no-stats",
                  "--split-fractions", "0.34,0.33,0.33", "--seed", "3")  # fmt: skip
    assert "speaker-disjoint splits: train 1, validation 1, test 1" in proc.stdout
    splits = ["train", "validation", "test"]
    loaded = load_back(out, {"captions": splits, "drafts": splits}, tmp_path / "c")
    assert loaded["torchcodec"] is False
    speakers = {
        split: {r["speaker_id"] for r in loaded[f"captions/{split}"]["rows"]}
        for split in ("train", "validation", "test")
    }
    assert sorted(s for group in speakers.values() for s in group) == ["spk-a", "spk-b", "spk-c"]
    assert all(len(group) == 1 for group in speakers.values())
    rows = [r for split in speakers for r in loaded[f"captions/{split}"]["rows"]]
    nobody = next(r for r in rows if r["name"] == "nobody")
    assert nobody["reviewed"] is False and nobody["review_status"] == "unreviewed"
    assert nobody["caption"] == VALID_DRAFT["caption"]  # the chosen draft, flagged
    assert sum(len(loaded[f"drafts/{s}"]["rows"]) for s in speakers) == data.n_samples == 12
    again = tmp_path / "split again"
    export(data.home, again, "--include-drafts", "--split-by-speaker", "--no-stats",
           "--split-fractions", "0.34,0.33,0.33", "--seed", "3")  # fmt: skip
    for split in ("train", "validation", "test"):
        first = (out / "data" / "captions" / f"{split}-00000-of-00001.parquet").read_bytes()
        second = (again / "data" / "captions" / f"{split}-00000-of-00001.parquet").read_bytes()
        assert first == second


def test_embedded_media_round_trip(data: Home, tmp_path: Path) -> None:
    out = tmp_path / "embedded"
    export(data.home, out, "--embed-media", "--no-stats")
    assert not (out / "media").exists()
    loaded = load_back(out, {"captions": ["train"]}, tmp_path / "c")
    assert loaded["torchcodec"] is False
    greeting = next(r for r in loaded["captions/train"]["rows"] if r["name"] == "greeting")
    size = (data.media / "greeting.mp4").stat().st_size
    assert greeting["video"] == {"path": "93677d0fb6ad-greeting.mp4", "n_bytes": size}


def test_since_writes_only_what_changed(data: Home, tmp_path: Path) -> None:
    from annotator.config import Settings
    from db import session_scope
    from db.models import ReviewKind, ReviewStatus
    from db.queries import ReviewInput, adjudication_for, find_clip, save_review

    home = tmp_path / "home"
    shutil.copytree(data.home, home)
    first = tmp_path / "first"
    export(home, first, "--no-stats", "--no-media")
    unchanged = export(home, tmp_path / "none", "--no-stats", "--since", str(first))
    assert "exported (hf) 0 clips, 2 unchanged left out" in unchanged.stdout
    with session_scope(Settings.load(home=home).db_url) as session:
        clip = find_clip(session, "greeting.mp4")
        assert clip is not None and clip.id is not None
        old = adjudication_for(session, clip.id)
        assert old is not None
        save_review(session, clip.id, "carol", old.draft_id,
                    ReviewInput(ReviewStatus.EDITED, "Joy, then calm.", ["happy"], 0.7, 0.4),
                    old.version, kind=ReviewKind.ADJUDICATION)  # fmt: skip
    second = tmp_path / "second"
    proc = export(home, second, "--no-stats", "--since", str(first))
    assert "exported (hf) 1 clips, 1 unchanged left out" in proc.stdout
    loaded = load_back(second, {"captions": ["train"], "reviews": ["train"]}, tmp_path / "c")
    (row,) = loaded["captions/train"]["rows"]
    assert row["name"] == "greeting" and row["caption"] == "Joy, then calm."
    assert len(loaded["reviews/train"]["rows"]) == 5  # greeting's history: 4 + the new save
    manifest = json.loads((second / "manifest.json").read_text(encoding="utf-8"))
    written = {c["name"]: c["written"] for c in manifest["clips"].values()}
    assert written == {"greeting": True, "face only 日本": False}
    assert manifest["since"] == "first"
