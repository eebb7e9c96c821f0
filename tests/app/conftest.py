"""A fresh SQLite database for the review app tests: two drafted clips (one with a real video,
its stored cue records and Parquet frames and a valid draft; one whose video is gone and
whose draft did not parse), three people (two annotators, one adjudicator)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from db.engine import get_engine
from db.models import (
    Annotator,
    Clip,
    CueRecord,
    CueTextRecord,
    Draft,
    DraftStatus,
    Review,
    ReviewEvent,
    Role,
)
from db.review_queue import refresh_queue_keys

APP = Path(__file__).resolve().parents[2] / "app" / "review.py"
VIDEO = (
    Path(importlib.util.find_spec("feat").submodule_search_locations[0])  # type: ignore[index,union-attr]
    / "tests"
    / "data"
    / "single_face.mp4"
)
CAPTION = "The speaker smiles broadly and her voice rises: she sounds happy and excited."
UNGROUNDED = "Her eyebrows jump in surprise."


@dataclass
class Db:
    url: str
    home: Path
    good: int  # clip with a real video, cue records and a valid draft
    good_draft: int
    bad: int  # clip with a missing video and an invalid draft

    def session(self) -> Session:
        return Session(get_engine(self.url))

    def reviews(self, clip_id: int, kind: str = "annotation") -> list[Review]:
        with self.session() as s:
            rows = s.exec(
                select(Review).where(Review.clip_id == clip_id, Review.kind == kind)
            ).all()
            return sorted(rows, key=lambda r: r.id or 0)

    def review(self, clip_id: int, name: str, kind: str = "annotation") -> Review | None:
        with self.session() as s:
            who = s.exec(select(Annotator).where(Annotator.name == name)).first()
            if who is None:
                return None
            return s.exec(
                select(Review).where(
                    Review.clip_id == clip_id, Review.annotator_id == who.id, Review.kind == kind
                )
            ).first()

    def name_of(self, annotator_id: int) -> str:
        with self.session() as s:
            row = s.get(Annotator, annotator_id)
            assert row is not None
            return row.name

    def events(self, clip_id: int) -> list[ReviewEvent]:
        with self.session() as s:
            return list(s.exec(select(ReviewEvent).where(ReviewEvent.clip_id == clip_id)).all())

    def n_reviews(self) -> int:
        with self.session() as s:
            return len(s.exec(select(Review)).all())

    def set_role(self, name: str, role: str) -> None:
        with self.session() as s:
            row = s.exec(select(Annotator).where(Annotator.name == name)).one()
            row.role = role
            s.add(row)
            s.commit()


def _add_clip(s: Session, name: str, uri: str, **extra: Any) -> tuple[int, int]:
    clip = Clip(
        sha256=name.ljust(64, "0")[:64], name=name, source_uri=uri, status="drafted", **extra
    )
    s.add(clip)
    s.flush()
    assert clip.id is not None
    cue = CueTextRecord(
        clip_id=clip.id,
        config_hash="c1",
        textualizer_version="1",
        prompt_text="prompt",
        readable_text=f"### Face\n- {name}: AU12 (lip corner puller) strong from 0.4 s",
    )
    s.add(cue)
    s.flush()
    assert cue.id is not None
    return clip.id, cue.id


def _cue_records(s: Session, home: Path, clip_id: int) -> None:
    """Face, voice and speech records as the pipeline stores them (frames in Parquet under
    the data dir, the path relative to it)."""
    times = [round(0.1 * i, 1) for i in range(26)]
    au12 = [0.2] * 4 + [1.0, 2.0, 3.0, 3.6, 3.9, 4.0, 3.8, 3.0, 2.0] + [1.0] * 13
    face = pd.DataFrame({"time_s": times, "AU12": au12, "AU06": [0.5] * 26, "AU04": [0.1] * 26})
    voice = pd.DataFrame(
        {
            "time_s": times,
            "F0semitoneFrom27.5Hz_sma3nz": [0.0] * 5 + [30 + i for i in range(20)] + [0.0],
            "Loudness_sma3": [0.2 + 0.01 * i for i in range(26)],
        }
    )
    for modality, frames in (("face", face), ("voice", voice)):
        rel = Path("cues") / f"{clip_id}" / f"{modality}.parquet"
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        frames.to_parquet(home / rel, index=False)
        summary = {}
        if modality == "face":
            summary = {
                "events": [
                    {
                        "au": "AU12",
                        "onset_s": 0.4,
                        "apex_s": 0.9,
                        "offset_s": 1.2,
                        "peak_intensity": 4.0,
                    }
                ]
            }
        s.add(
            CueRecord(
                clip_id=clip_id,
                modality=modality,
                backend="b",
                backend_version="1",
                config_hash="k",
                schema_version="2",
                summary_json=summary,
                frames_path=str(rel),
            )
        )
    words = [
        {"text": " so", "start_s": 0.3, "end_s": 0.5},
        {"text": " happy!", "start_s": 0.6, "end_s": 1.1},
        {"text": " today", "start_s": 1.2, "end_s": 1.6},
    ]
    s.add(
        CueRecord(
            clip_id=clip_id,
            modality="speech",
            backend="b",
            backend_version="1",
            config_hash="k",
            schema_version="2",
            summary_json={"words": words},
        )
    )


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Db:
    assert VIDEO.is_file(), VIDEO
    url = f"sqlite:///{tmp_path}/a.db"
    home = tmp_path / "home"
    home.mkdir()
    with Session(get_engine(url)) as s:
        for name, role in (("alice", Role.ANNOTATOR), ("bob", Role.ANNOTATOR)):
            s.add(Annotator(name=name, role=role))
        s.add(Annotator(name="judge", role=Role.ADJUDICATOR))
        good, good_cue = _add_clip(s, "happy.mp4", str(VIDEO), duration_s=2.5, has_video=True)
        _cue_records(s, home, good)
        draft = Draft(
            clip_id=good,
            cue_text_id=good_cue,
            config_hash="d1",
            backend="transformers",
            model_id="bundled:smollm2-135m",
            prompt_version="1",
            status=DraftStatus.VALID,
            raw_output="{...}",
            caption=CAPTION,
            labels=["happy", "excited"],
            valence=0.62,
            arousal=0.7,
            confidence=0.8,
            visual_clues=f"AU12 (lip corner puller) rises. {UNGROUNDED}",
            acoustic_clues="Pitch climbs 0.5-2.4 s.",
            lexical_clues='She says "happy".',
            ungrounded_clues=[UNGROUNDED],
            reasoning="smile plus rising pitch",
        )
        s.add(draft)
        bad, bad_cue = _add_clip(
            s,
            "broken.mp4",
            str(tmp_path / "gone.mp4"),
            partial=True,
            missing_json={"voice": "no audio stream"},
        )
        s.add(
            Draft(
                clip_id=bad,
                cue_text_id=bad_cue,
                config_hash="d1",
                backend="transformers",
                model_id="bundled:smollm2-135m",
                prompt_version="1",
                status=DraftStatus.INVALID,
                raw_output="not json",
                error_message="draft_parse_error: expected a JSON object",
            )
        )
        s.flush()
        refresh_queue_keys(s)  # what the drafting stage stores on the clip for the queue
        s.commit()
        assert draft.id is not None
        draft_id = draft.id
    monkeypatch.setenv("ANNOTATOR_DB_URL", url)
    monkeypatch.setenv("ANNOTATOR_HOME", str(home))
    monkeypatch.setenv("ANNOTATOR_REVIEW_ADDRESS", "127.0.0.1")
    return Db(url=url, home=home, good=good, good_draft=draft_id, bad=bad)


def run_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, [e.message for e in at.exception]
    return at
