"""The review app driven with Streamlit's AppTest against a real SQLite database.

Each test fills a fresh database with two drafted clips (one with a real video and
a valid draft, one whose video is gone and whose draft did not parse), runs
``app/review.py``, clicks, and reads what landed in the database.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.logic import (
    FormValues,
    ReviewValidationError,
    decide,
    next_clip,
    parse_labels,
    queue_label,
    snap,
)
from db.engine import get_engine
from db.models import (
    Annotator,
    Clip,
    CueTextRecord,
    Draft,
    DraftStatus,
    Review,
    ReviewEvent,
    ReviewStatus,
)
from db.queries import ReviewInput, save_review

APP = Path(__file__).resolve().parents[2] / "app" / "review.py"
VIDEO = (
    Path(importlib.util.find_spec("feat").submodule_search_locations[0])  # type: ignore[index,union-attr]
    / "tests"
    / "data"
    / "single_face.mp4"
)
CAPTION = "The speaker smiles broadly and her voice rises: she sounds happy and excited."


@dataclass
class Db:
    url: str
    good: int  # clip with a real video and a valid draft
    good_draft: int
    bad: int  # clip with a missing video and an invalid draft

    def session(self) -> Session:
        return Session(get_engine(self.url))

    def review(self, clip_id: int) -> Review | None:
        with self.session() as s:
            return s.exec(select(Review).where(Review.clip_id == clip_id)).first()

    def annotator(self, annotator_id: int) -> str:
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


def _add_clip(s: Session, name: str, uri: str, **extra: object) -> tuple[int, int]:
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


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Db:
    assert VIDEO.is_file(), VIDEO
    url = f"sqlite:///{tmp_path}/a.db"
    with Session(get_engine(url)) as s:
        good, good_cue = _add_clip(s, "happy.mp4", str(VIDEO), duration_s=2.5, has_video=True)
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
            visual_clues="broad smile",
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
        s.commit()
        assert draft.id is not None
        draft_id = draft.id
    monkeypatch.setenv("ANNOTATOR_DB_URL", url)
    monkeypatch.setenv("ANNOTATOR_HOME", str(tmp_path / "home"))
    return Db(url=url, good=good, good_draft=draft_id, bad=bad)


def run_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def by_label(widgets, label: str):  # type: ignore[no-untyped-def]
    matches = [w for w in widgets if w.label == label]
    assert len(matches) == 1, [w.label for w in widgets]
    return matches[0]


def click(at: AppTest, label: str) -> AppTest:
    by_label(at.button, label).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(elements) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(str(e.value) for e in elements)


def test_queue_lists_both_clips_and_shows_the_first_draft(db: Db) -> None:
    at = run_app()
    queue = at.sidebar.selectbox(key="clip_select")
    assert queue.options == [
        queue_label(db.good, "happy.mp4", None),
        queue_label(db.bad, "broken.mp4", None),
    ]
    assert queue.value == db.good
    assert [m.value for m in at.sidebar.metric] == ["2", "0"]  # to review, reviewed
    assert at.title[0].value == "happy.mp4"
    assert CAPTION in texts(at.markdown)
    assert "happy, excited" in texts(at.markdown)
    assert "AU12 (lip corner puller)" in texts(at.markdown)  # the cue text
    assert by_label(at.text_area, "Caption").value == CAPTION
    assert by_label(at.text_input, "Labels (comma-separated)").value == "happy, excited"
    assert by_label(at.slider, "Valence").value == pytest.approx(0.6)  # 0.62 on the 0.05 grid
    assert by_label(at.slider, "Arousal").value == pytest.approx(0.7)
    assert len(at.get("video")) == 1
    assert not at.warning


def test_accept_saves_the_draft_as_is_and_advances(db: Db) -> None:
    at = run_app()
    at.sidebar.text_input(key="annotator").input("alice")
    click(at, "Accept")

    review = db.review(db.good)
    assert review is not None
    assert review.status == ReviewStatus.ACCEPTED
    assert review.caption == CAPTION
    assert review.labels == ["happy", "excited"]
    assert review.valence == pytest.approx(0.62)  # the draft's value, not the slider's
    assert review.draft_id == db.good_draft
    assert review.version == 1
    assert db.annotator(review.annotator_id) == "alice"
    assert review.time_spent_s is not None and review.time_spent_s >= 0
    events = db.events(db.good)
    assert [(e.version, e.status, e.caption) for e in events] == [(1, "accepted", CAPTION)]

    assert "Saved happy.mp4 as accepted" in texts(at.success)
    assert at.sidebar.selectbox(key="clip_select").value == db.bad  # next unreviewed
    assert at.sidebar.text_input(key="annotator").value == "alice"  # remembered
    assert [m.value for m in at.sidebar.metric] == ["1", "1"]


def test_save_edit_stores_the_form(db: Db) -> None:
    at = run_app()
    at.sidebar.text_input(key="annotator").input("alice")
    by_label(at.text_area, "Caption").input("She is relieved and happy.")
    by_label(at.text_input, "Labels (comma-separated)").input("Happy, relieved")
    by_label(at.slider, "Valence").set_value(-0.25)
    by_label(at.text_area, "Notes").input("pitch is flat")
    click(at, "Save edit")

    review = db.review(db.good)
    assert review is not None
    assert review.status == ReviewStatus.EDITED
    assert review.caption == "She is relieved and happy."
    assert review.labels == ["happy", "relieved"]
    assert review.valence == pytest.approx(-0.25)
    assert review.arousal == pytest.approx(0.7)
    assert review.notes == "pitch is flat"
    assert review.version == 1


def test_save_edit_without_changes_is_an_accept(db: Db) -> None:
    at = run_app()
    at.sidebar.text_input(key="annotator").input("alice")
    click(at, "Save edit")
    review = db.review(db.good)
    assert review is not None
    assert review.status == ReviewStatus.ACCEPTED
    assert review.caption == CAPTION
    assert review.valence == pytest.approx(0.62)


def test_stale_save_is_refused_and_reload_shows_the_other_review(db: Db) -> None:
    at = run_app()  # alice opens the clip: no review yet
    with db.session() as s:  # bob saves it meanwhile
        save_review(
            s,
            db.good,
            "bob",
            db.good_draft,
            ReviewInput(ReviewStatus.EDITED, "Bob's caption.", ["calm"], 0.1, 0.2),
            expected_version=None,
        )
        s.commit()
    at.sidebar.text_input(key="annotator").input("alice")
    by_label(at.text_area, "Caption").input("Alice's caption.")
    click(at, "Save edit")

    assert "someone else" in texts(at.error)
    review = db.review(db.good)
    assert review is not None
    assert review.caption == "Bob's caption."
    assert review.version == 1
    assert db.annotator(review.annotator_id) == "bob"
    assert len(db.events(db.good)) == 1
    assert by_label(at.text_area, "Caption").value == "Alice's caption."  # her edit is kept

    click(at, "Accept")  # still stale: refused again
    assert db.review(db.good).caption == "Bob's caption."  # type: ignore[union-attr]

    click(at, "Reload the latest version")
    assert not at.error
    assert by_label(at.text_area, "Caption").value == "Bob's caption."
    by_label(at.text_area, "Caption").input("Alice's caption.")
    click(at, "Save edit")
    review = db.review(db.good)
    assert review is not None
    assert (review.caption, review.version) == ("Alice's caption.", 2)
    assert db.annotator(review.annotator_id) == "alice"
    assert [e.version for e in db.events(db.good)] == [1, 2]


def test_no_annotator_name_saves_nothing(db: Db) -> None:
    at = run_app()
    click(at, "Accept")
    assert "annotator name" in texts(at.error)
    assert db.n_reviews() == 0
    assert at.sidebar.selectbox(key="clip_select").value == db.good  # did not advance


def test_empty_caption_on_edit_saves_nothing(db: Db) -> None:
    at = run_app()
    at.sidebar.text_input(key="annotator").input("alice")
    by_label(at.text_area, "Caption").input("   ")
    click(at, "Save edit")
    assert "caption is empty" in texts(at.error)
    assert db.n_reviews() == 0


def test_invalid_draft_shows_raw_output_and_an_empty_form(db: Db) -> None:
    at = run_app()
    at.sidebar.selectbox(key="clip_select").select(db.bad).run()
    assert not at.exception
    assert at.title[0].value == "broken.mp4"
    assert "draft_parse_error: expected a JSON object" in texts(at.error)
    assert [c.value for c in at.code] == ["not json"]
    assert "video file not found at" in texts(at.warning)
    assert "missing: voice (no audio stream)" in texts(at.warning)
    assert by_label(at.text_area, "Caption").value == ""
    assert by_label(at.text_input, "Labels (comma-separated)").value == ""

    at.sidebar.text_input(key="annotator").input("alice")
    click(at, "Accept")  # nothing valid to accept
    assert "no valid draft" in texts(at.error)
    assert db.n_reviews() == 0

    click(at, "Reject")
    review = db.review(db.bad)
    assert review is not None
    assert review.status == ReviewStatus.REJECTED
    assert review.caption is None


def test_show_reviewed_toggle_lists_reviewed_clips(db: Db) -> None:
    at = run_app()
    at.sidebar.text_input(key="annotator").input("alice")
    click(at, "Skip")
    assert db.review(db.good).status == ReviewStatus.SKIPPED  # type: ignore[union-attr]
    assert at.sidebar.selectbox(key="clip_select").options == [
        queue_label(db.bad, "broken.mp4", None)
    ]
    at.sidebar.toggle(key="show_reviewed").set_value(True).run()
    assert at.sidebar.selectbox(key="clip_select").options == [
        queue_label(db.bad, "broken.mp4", None),
        queue_label(db.good, "happy.mp4", "skipped"),
    ]


# -- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("happy, Excited ,,", ["happy", "excited"]),
        ("", []),
        (" , ;", []),
        ("Happy, relieved", ["happy", "relieved"]),
        ("happy, HAPPY, sad", ["happy", "sad"]),
        ("mildly   Annoyed; tired，sad", ["mildly annoyed", "tired", "sad"]),
    ],
)
def test_parse_labels(text: str, labels: list[str]) -> None:
    assert parse_labels(text) == labels


def test_snap_and_next_clip() -> None:
    assert snap(0.62, (-1.0, 1.0), 0.0) == pytest.approx(0.6)
    assert snap(1.7, (0.0, 1.0), 0.5) == 1.0
    assert snap(None, (0.0, 1.0), 0.5) == 0.5
    assert next_clip([2, 5, 9], 5) == 9
    assert next_clip([2, 5, 9], 9) == 2
    assert next_clip([], 3) is None


def test_decide_rules() -> None:
    draft = Draft(
        clip_id=1,
        cue_text_id=1,
        config_hash="d",
        backend="b",
        model_id="m",
        prompt_version="1",
        caption="Calm.",
        labels=["calm"],
        valence=0.12,
        arousal=0.3,
    )
    same = FormValues(caption=" Calm. ", labels="Calm", valence=0.1, arousal=0.3)
    assert decide("edit", "a", same, draft).status == ReviewStatus.ACCEPTED
    edited = decide("edit", "a", FormValues("Calm.", "calm, bored", 0.1, 0.3), draft)
    assert (edited.status, edited.labels) == (ReviewStatus.EDITED, ["calm", "bored"])
    accepted = decide("accept", "a", FormValues(notes=" n "), draft)
    assert (accepted.caption, accepted.valence, accepted.notes) == ("Calm.", 0.12, "n")
    with pytest.raises(ReviewValidationError, match="annotator"):
        decide("accept", " ", same, draft)
    with pytest.raises(ReviewValidationError, match="empty"):
        decide("edit", "a", FormValues(caption=""), draft)
    assert decide("skip", "a", FormValues(), None).status == ReviewStatus.SKIPPED
