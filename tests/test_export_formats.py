"""Export filters, the chat formats (ShareGPT, DPO preference pairs), media safety,
speaker splits and push-to-hub's offline checks, on the reviewed team database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from annotator.drafting.prompt import build_messages
from annotator.export import ExportError, ExportOptions, run_export
from annotator.export.chat import ANSWER_KEYS
from annotator.export.collect import ClipExport, select_clips
from annotator.export.hub import layout_problems
from annotator.export.media import place
from annotator.export.splits import assign_speaker_splits, check_disjoint
from db import Clip, session_scope
from tests.export_data import ADJUDICATED, OTHER_DRAFT, Home, build_once
from tests.plugins.scripted import VALID_DRAFT


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path, feat_data: Path) -> Home:
    return build_once(tmp_path_factory.mktemp("export data"), demo_clip, feat_data)


def db_url(data: Home) -> str:
    from annotator.config import Settings

    return Settings.load(home=data.home).db_url


def names(data: Home, **options: object) -> list[str]:
    with session_scope(db_url(data)) as session:
        return [item.name for item in select_clips(session, ExportOptions(**options))]  # type: ignore[arg-type]


def test_filters_by_status_model_and_date(data: Home) -> None:
    assert names(data) == ["greeting", "face only 日本"]
    assert names(data, include_drafts=True) == ["greeting", "face only 日本", "nobody"]
    assert names(data, statuses=("accepted",)) == ["face only 日本"]
    assert names(data, statuses=("rejected",)) == []
    assert names(data, models=("scripted-*",)) == ["greeting", "face only 日本"]
    assert names(data, models=("qwen*",)) == []
    today = date.today()
    assert names(data, since_date=today - timedelta(days=1)) == ["greeting", "face only 日本"]
    assert names(data, since_date=today + timedelta(days=1)) == []
    assert names(data, until_date=today - timedelta(days=1)) == []
    with pytest.raises(ExportError, match="unknown review status maybe"):
        ExportOptions(statuses=("maybe",))
    with pytest.raises(ExportError, match="sum to 1"):
        ExportOptions(split_fractions=(0.5, 0.1, 0.1))


def test_min_agreement_keeps_clips_with_two_annotators_at_or_above(data: Home) -> None:
    from annotator.stats import clip_agreement

    with session_scope(db_url(data)) as session:
        items = select_clips(session, ExportOptions(min_agreement=0.0))
        # one annotation (face only) has no agreement to measure: left out
        assert [i.name for i in items] == ["greeting"]
        value = clip_agreement(session, items[0].clip.id or 0)
        assert value is not None and items[0].agreement == value
        above = select_clips(session, ExportOptions(min_agreement=min(1.0, value + 0.01)))
        assert above == []


def test_sharegpt_records_are_cue_card_in_verified_caption_out(data: Home, tmp_path: Path) -> None:
    with session_scope(db_url(data)) as session:
        result = run_export(session, "sharegpt", tmp_path, ExportOptions(include_drafts=True))
        cue_texts = {i.name: i.cue_text.prompt_text for i in select_clips(session, ExportOptions())
                     if i.cue_text}  # fmt: skip
    records = [json.loads(line) for line in result.path.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["greeting", "face only 日本"]  # no unreviewed draft
    greeting = records[0]["conversations"]
    # The prompt's turns as the drafter saw them (system, the worked example, the cue
    # card), then the verified answer.
    assert [m["from"] for m in greeting] == ["system", "human", "gpt", "human", "gpt"]
    messages = build_messages(cue_texts["greeting"], None)
    assert [m["value"] for m in greeting[:-1]] == [m["content"] for m in messages]
    assert cue_texts["greeting"].strip() in greeting[3]["value"]
    answer = json.loads(greeting[-1]["value"])
    assert tuple(answer) == ANSWER_KEYS
    assert answer["caption"] == ADJUDICATED and answer["labels"] == ["happy", "surprised"]
    assert answer["valence"] == 0.6 and answer["visual_clues"] == VALID_DRAFT["visual_clues"]
    assert (tmp_path / "manifest.json").is_file()


def test_preference_pairs_read_as_trl_conversational_dpo(data: Home, tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "pairs.jsonl"
    with session_scope(db_url(data)) as session:
        run_export(session, "preference", out, ExportOptions())
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    kinds = sorted((r["id"].split(":")[0], r["pair"]) for r in records)
    # greeting: the adjudicated edit over the draft; face only: the accepted sample over the
    # differing valid sample and over the invalid one (the identical sample makes no pair)
    assert kinds == [("face only 日本", "sample"), ("face only 日本", "sample"),
                     ("greeting", "edited")]  # fmt: skip
    for record in records:
        # the drafter's turns (worked example included), ending on the clip's cue card
        assert [m["role"] for m in record["prompt"]] == ["system", "user", "assistant", "user"]
        assert [m["role"] for m in record["chosen"]] == ["assistant"]
        assert [m["role"] for m in record["rejected"]] == ["assistant"]
        assert record["chosen"][0]["content"] != record["rejected"][0]["content"]
    edited = next(r for r in records if r["pair"] == "edited")
    assert json.loads(edited["chosen"][0]["content"])["caption"] == ADJUDICATED
    assert json.loads(edited["rejected"][0]["content"])["caption"] == VALID_DRAFT["caption"]
    rejected = {r["rejected"][0]["content"] for r in records if r["pair"] == "sample"}
    assert "{oops" in rejected
    assert any(OTHER_DRAFT["caption"] in text for text in rejected)
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert ds.num_rows == 3 and ds[0]["prompt"][0]["role"] == "system"


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


def test_media_symlink_out_of_the_source_folder_is_refused(data: Home, tmp_path: Path) -> None:
    import hashlib

    real = _copy(data.media / "greeting.mp4", tmp_path / "elsewhere" / "greeting.mp4")
    sha = hashlib.sha256(real.read_bytes()).hexdigest()
    link = tmp_path / "clips" / "greeting.mp4"
    link.parent.mkdir()
    link.symlink_to(real)
    out = tmp_path / "out"
    refused = place(sha, "greeting.mp4", [str(link)], out, embed=False, link=False)
    assert refused.path is None and "symlink leads outside" in (refused.problem or "")
    allowed = place(sha, "../greeting.mp4", [str(link)], out, embed=False, link=False,
                    extra_roots=(real.parent,))  # fmt: skip
    assert allowed.path == f"media/{sha[:12]}-greeting.mp4"
    assert (out / allowed.path).read_bytes() == real.read_bytes()
    linked = place(sha, "greeting.mp4", [str(real)], tmp_path / "linked", embed=False, link=True)
    assert linked.path is not None
    assert (tmp_path / "linked" / linked.path).stat().st_ino == real.stat().st_ino
    changed = _copy(real, tmp_path / "changed" / "greeting.mp4")
    with changed.open("ab") as fh:
        fh.write(b"x")
    stale = place(sha, "greeting.mp4", [str(changed)], out, embed=False, link=False)
    assert stale.path is None and stale.problem == "source file changed since ingest"


def test_export_refuses_a_folder_that_is_not_an_export(data: Home, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with session_scope(db_url(data)) as session, pytest.raises(ExportError, match=r"notes\.txt"):
        run_export(session, "hf", tmp_path, ExportOptions(copy_media=False, with_stats=False))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def _fake(n: int, speaker: str | None) -> ClipExport:
    clip = Clip(sha256=f"{n:064x}", name=f"c{n}.mp4", source_uri="x", speaker_id=speaker)
    return ClipExport(clip=clip, name=f"c{n}", status="accepted", final=None, reviews=[],
                      draft=None, cue_text=None, cues=[], paths=[])  # fmt: skip


def test_speaker_split_never_puts_a_speaker_in_two_splits() -> None:
    items = [_fake(i, f"s{i % 7}" if i % 5 else None) for i in range(40)]
    counts = assign_speaker_splits(items, (0.8, 0.1, 0.1), seed=1)
    assert sum(counts.values()) == 40 and counts["train"] >= 24
    assert counts["validation"] > 0 and counts["test"] > 0
    by_speaker: dict[str, set[str]] = {}
    for item in items:
        if item.clip.speaker_id:
            by_speaker.setdefault(item.clip.speaker_id, set()).add(item.split)
    assert all(len(splits) == 1 for splits in by_speaker.values())
    first = [i.split for i in items]
    assign_speaker_splits(items, (0.8, 0.1, 0.1), seed=1)
    assert [i.split for i in items] == first
    items[1].split, items[8].split = "train", "test"  # both s1
    with pytest.raises(ExportError, match="speaker:s1 is in both"):
        check_disjoint(items)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "annotator.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip


def test_push_to_hub_checks_layout_and_token_offline(data: Home, tmp_path: Path) -> None:
    out = tmp_path / "export"
    with session_scope(db_url(data)) as session:
        run_export(session, "hf", out, ExportOptions(copy_media=False, with_stats=False))
    assert layout_problems(out) == []
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1"}
    no_token = _cli("push-to-hub", str(out), "someone/emotions", env=env)
    assert no_token.returncode == 1
    assert no_token.stderr.strip().splitlines() == [
        "✗ no Hugging Face token: pass --token-file, set HF_TOKEN or run `hf auth login` "
        "(hub_token_missing)"
    ]
    empty = tmp_path / "token"
    empty.write_text("\n")
    assert _cli("push-to-hub", str(out), "someone/emotions", "--token-file", str(empty),
                env=env).returncode == 1  # fmt: skip
    not_export = _cli("push-to-hub", str(tmp_path / "hf-home"), "someone/x", env=env)
    assert not_export.returncode == 1 and "is not an export folder" in not_export.stderr
    bad_repo = _cli("push-to-hub", str(out), "no-owner", env=env)
    assert "expected owner/name" in bad_repo.stderr
    next((out / "data" / "drafts").glob("*.parquet")).unlink()
    assert layout_problems(out) == ["drafts/train: no data/drafts/train-*.parquet"]


def test_bulk_loading_picks_the_draft_db_queries_picks(data: Home) -> None:
    from sqlmodel import select

    from db import Draft
    from db.queries import chosen_among, chosen_draft

    with session_scope(db_url(data)) as session:
        clips = session.exec(select(Clip)).all()
        assert len(clips) == 3
        for clip in clips:
            drafts = list(session.exec(select(Draft).where(Draft.clip_id == clip.id)))
            expected = chosen_draft(session, clip.id or 0)
            assert expected is not None and chosen_among(drafts) == expected
        items = select_clips(session, ExportOptions(include_drafts=True))
        assert [len(i.samples) for i in items] == [4, 4, 4]
        assert all(i.cue_text is not None and len(i.cues) == 3 for i in items)
        assert [len(i.events) for i in items] == [4, 1, 0]


def test_embedded_media_shards_stay_under_the_byte_cap(data: Home, tmp_path: Path) -> None:
    from tests.export_data import load_back

    out = tmp_path / "sharded"
    options = ExportOptions(embed_media=True, shard_bytes=2048, with_stats=False)
    with session_scope(db_url(data)) as session:
        run_export(session, "hf", out, options)
    shards = sorted(p.name for p in (out / "data" / "captions").iterdir())
    assert shards == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    loaded = load_back(out, {"captions": ["train"]}, tmp_path / "cache")
    sizes = {r["name"]: r["video"]["n_bytes"] for r in loaded["captions/train"]["rows"]}
    assert sizes == {
        "greeting": (data.media / "greeting.mp4").stat().st_size,
        "face only 日本": (data.media / "face only 日本.mp4").stat().st_size,
    }
