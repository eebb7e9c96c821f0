"""The review app driven with Streamlit's AppTest against a real SQLite database (see
conftest.py): sign in, open a clip, click, and read what landed in the database."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from app.auth import PermissionDenied
from app.logic import cue_markdown, md_escape, queue_label
from app.saving import save
from app.signin import User
from db.models import Annotator, Assignment, ReviewStatus
from db.queries import ReviewInput, final_review, save_review
from db.tokens import hash_token
from tests.app.conftest import CAPTION, UNGROUNDED, Db, run_app


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


def sign_in(name: str, new: bool = False) -> AppTest:
    at = run_app()
    if new:
        at.selectbox(key="signin_pick").set_value("(new name)")
        at.text_input(key="signin_new").input(name)
    else:
        at.selectbox(key="signin_pick").set_value(name)
    return click(at, "Sign in")


def queue(at: AppTest) -> list[str]:
    return list(at.sidebar.selectbox(key="clip_select").options)


def timeline(at: AppTest) -> dict:  # type: ignore[type-arg]
    found = [e for e in at.main if getattr(e, "type", None) == "bidi_component"]
    assert len(found) == 1
    return json.loads(found[0].proto.json)  # type: ignore[attr-defined]


def test_sign_in_lists_people_and_opens_the_first_clip(db: Db) -> None:
    at = run_app()
    assert at.selectbox(key="signin_pick").options == ["alice", "bob", "judge", "(new name)"]
    assert not at.text_area  # nothing of the clips before signing in
    at = sign_in("alice")
    assert "Signed in as **alice** (annotator)" in texts(at.sidebar.markdown)
    assert at.sidebar.radio(key="page").options == ["Review clips"]  # no adjudication
    assert at.sidebar.selectbox(key="clip_select").value == db.good
    assert by_label(at.text_area, "Caption").value == CAPTION
    assert by_label(at.multiselect, "Labels").value == ["happy", "excited"]
    assert by_label(at.slider, "Valence").value == pytest.approx(0.6)  # 0.62 on the 0.05 grid
    assert by_label(at.slider, "Arousal").value == pytest.approx(0.7)
    assert len(at.get("video")) == 1
    shortcuts = {b.label: b.proto.shortcut for b in at.button}
    assert shortcuts["Accept"] == "alt+a" and shortcuts["Reject"] == "alt+x"


def test_timeline_links_each_clue_to_its_cue_and_time(db: Db) -> None:
    data = timeline(sign_in("alice"))
    clues = {c["text"]: (c["cue"], c["time_s"], c["grounded"]) for c in data["clues"]}
    assert clues == {
        "AU12 (lip corner puller) rises.": ("AU12", 0.9, True),  # the AU12 event's apex
        UNGROUNDED: (None, None, False),
        "Pitch climbs 0.5-2.4 s.": ("pitch", 0.5, True),  # the time the clue states
        'She says "happy".': ("word 'happy!'", 0.6, True),
    }
    assert [s["name"] for s in data["aus"]] == ["AU12", "AU06", "AU04"]  # named, then strongest
    assert max(v for v in data["aus"][0]["v"] if v is not None) == pytest.approx(4.0)
    assert data["pitch"]["v"][:5] == [None] * 5  # unvoiced frames are gaps, not zeros
    assert [w["label"] for w in data["words"]] == ["so", "happy!", "today"]
    assert data["events"] == [{"label": "AU12", "start": 0.4, "end": 1.2, "peak": 0.9}]


def test_new_name_signs_in_as_an_annotator(db: Db) -> None:
    at = sign_in("carol", new=True)
    assert "Signed in as **carol** (annotator)" in texts(at.sidebar.markdown)
    with db.session() as s:
        row = s.exec(select(Annotator).where(Annotator.name == "carol")).one()
    assert row.role == "annotator"


def test_token_required_beyond_loopback(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNOTATOR_REVIEW_ADDRESS", "0.0.0.0")
    with db.session() as s:
        row = s.exec(select(Annotator).where(Annotator.name == "bob")).one()
        row.token_hash = hash_token("s3cret-token", iterations=1000)
        s.add(row)
        s.commit()
    at = run_app()
    assert not at.selectbox  # no list of names to pick from
    at.text_input(key="signin_name").input("bob")
    at.text_input(key="signin_token").input("wrong")
    click(at, "Sign in")
    assert "wrong token" in texts(at.error)
    assert not at.text_area
    at.text_input(key="signin_token").input("s3cret-token")
    click(at, "Sign in")
    assert "Signed in as **bob**" in texts(at.sidebar.markdown)
    assert by_label(at.text_area, "Caption").value == CAPTION


def test_accept_saves_the_draft_as_is_under_the_signed_in_name(db: Db) -> None:
    at = sign_in("alice")
    click(at, "Accept")
    review = db.review(db.good, "alice")
    assert review is not None
    assert review.status == ReviewStatus.ACCEPTED
    assert (review.caption, review.labels) == (CAPTION, ["happy", "excited"])
    assert review.valence == pytest.approx(0.62)  # the draft's value, not the slider's
    assert (review.draft_id, review.version, review.source) == (db.good_draft, 1, "app")
    assert review.time_spent_s is not None and review.time_spent_s >= 0
    assert [(e.version, e.status) for e in db.events(db.good)] == [(1, "accepted")]
    assert "Saved happy.mp4 as accepted" in texts(at.toast)
    assert at.sidebar.selectbox(key="clip_select").value == db.bad  # the next clip


def test_save_edit_stores_the_form_with_new_label_chips(db: Db) -> None:
    at = sign_in("alice")
    by_label(at.text_area, "Caption").input("She is relieved and happy.")
    by_label(at.multiselect, "Labels").set_value(["happy", "Relieved "])
    by_label(at.slider, "Valence").set_value(-0.25)
    by_label(at.text_input, "Note").input("pitch is flat")
    click(at, "Save edit")
    review = db.review(db.good, "alice")
    assert review is not None
    assert review.status == ReviewStatus.EDITED
    assert review.caption == "She is relieved and happy."
    assert review.labels == ["happy", "relieved"]
    assert review.valence == pytest.approx(-0.25)
    assert review.arousal == pytest.approx(0.7)
    assert review.notes == "pitch is flat"


def test_reject_needs_a_reason_and_stores_it(db: Db) -> None:
    at = sign_in("alice")
    click(at, "Reject")
    assert "Say why you reject" in texts(at.error)
    assert db.n_reviews() == 0
    by_label(at.text_input, "Reject reason").input("caption  contradicts the face")
    click(at, "Reject")
    review = db.review(db.good, "alice")
    assert review is not None
    assert (review.status, review.reject_reason) == ("rejected", "caption contradicts the face")


def test_two_annotators_each_keep_their_own_review(db: Db) -> None:
    with db.session() as s:  # the overlap plan gives the clip to both
        for name in ("alice", "bob"):
            who = s.exec(select(Annotator).where(Annotator.name == name)).one()
            s.add(Assignment(clip_id=db.good, annotator_id=who.id))  # type: ignore[arg-type]
        s.commit()
    click(sign_in("alice"), "Accept")
    at = sign_in("bob")
    assert at.sidebar.selectbox(key="clip_select").value == db.good  # still to review for bob
    by_label(at.text_area, "Caption").input("Bob hears sarcasm.")
    click(at, "Save edit")
    reviews = db.reviews(db.good)
    assert [(db.name_of(r.annotator_id), r.caption) for r in reviews] == [
        ("alice", CAPTION),
        ("bob", "Bob hears sarcasm."),
    ]
    with db.session() as s:
        assert final_review(s, db.good) is None  # they disagree: waits for adjudication


def test_stale_save_shows_both_versions_and_lets_you_choose(db: Db) -> None:
    at = sign_in("alice")  # alice opens the clip: no review of hers yet
    with db.session() as s:  # ...and saves it from a second tab meanwhile
        save_review(
            s, db.good, "alice", db.good_draft,
            ReviewInput(ReviewStatus.EDITED, "Tab two caption.", ["calm"], 0.1, 0.2),
            expected_version=None,
        )  # fmt: skip
        s.commit()
    by_label(at.text_area, "Caption").input("Tab one caption.")
    click(at, "Save edit")
    assert "Choose which version to keep" in texts(at.error)
    shown = texts(at.markdown)
    assert "Tab one caption\\." in shown and "Tab two caption\\." in shown
    assert ":orange-background[**caption:** Tab one caption\\.]" in shown  # the difference
    review = db.review(db.good, "alice")
    assert review is not None and (review.caption, review.version) == ("Tab two caption.", 1)

    click(at, "Keep the stored one")  # back to the form, filled with the stored version
    assert by_label(at.text_area, "Caption").value == "Tab two caption."
    assert db.review(db.good, "alice").version == 1  # type: ignore[union-attr]

    with db.session() as s:  # the other tab saves again: stale once more
        save_review(
            s, db.good, "alice", db.good_draft,
            ReviewInput(ReviewStatus.EDITED, "Tab two again.", ["calm"], 0.1, 0.2),
            expected_version=1,
        )  # fmt: skip
        s.commit()
    by_label(at.text_area, "Caption").input("Tab one caption.")
    click(at, "Save edit")
    assert "Tab two again\\." in texts(at.markdown)
    click(at, "Keep mine")
    review = db.review(db.good, "alice")
    assert review is not None and (review.caption, review.version) == ("Tab one caption.", 3)
    assert [e.caption for e in db.events(db.good)] == [
        "Tab two caption.", "Tab two again.", "Tab one caption.",
    ]  # fmt: skip


def test_show_filter_lists_my_reviewed_clips(db: Db) -> None:
    at = sign_in("alice")
    click(at, "Skip")
    assert db.review(db.good, "alice").status == ReviewStatus.SKIPPED  # type: ignore[union-attr]
    at.sidebar.selectbox(key="q_status").set_value("mine").run()
    assert queue(at) == [queue_label(db.good, "happy.mp4", "skipped", 1)]
    at.sidebar.selectbox(key="q_status").set_value("todo").run()
    assert queue(at) == [queue_label(db.bad, "broken.mp4", None, 0, "invalid_draft")]


def test_invalid_draft_shows_raw_output_and_an_empty_form(db: Db) -> None:
    at = sign_in("alice")
    at.sidebar.selectbox(key="clip_select").select(db.bad).run()
    assert not at.exception
    assert "draft\\_parse\\_error\\: expected a JSON object" in texts(at.error)
    assert [c.value for c in at.code] == ["not json"]
    assert "video file not found at" in texts(at.warning)
    assert "No cue series stored for this clip." in texts(at.caption)
    assert by_label(at.text_area, "Caption").value == ""
    click(at, "Accept")  # nothing valid to accept
    assert "no valid draft" in texts(at.error)
    assert db.n_reviews() == 0


def test_model_text_is_shown_as_text(db: Db) -> None:
    with db.session() as s:
        from db.models import Draft

        draft = s.get(Draft, db.good_draft)
        assert draft is not None
        draft.reasoning = reasoning = "<img src=x onerror=alert(1)> **bold** :red[alarm]"
        draft.model_id = "<b>m</b>"
        s.add(draft)
        s.commit()
    at = sign_in("alice")
    bodies = [m.proto.body for m in at.markdown] + [c.proto.body for c in at.caption]
    joined = "\n".join(bodies)
    assert "**Reasoning:** " + md_escape(reasoning) in joined
    assert md_escape(reasoning).startswith("\\<img src\\=x onerror\\=alert\\(1\\)\\>")
    assert "Draft by \\<b\\>m\\</b\\>" in joined
    assert not re.search(r"(?<!\\)<(img|b)\b", joined)  # every tag escaped
    html = [m for m in at.markdown if m.proto.allow_html]
    assert [m.proto.body.startswith("<style>") for m in html] == [True]  # our CSS only


def test_adjudication_is_for_adjudicators_and_checked_at_save_time(db: Db) -> None:
    for name, caption in (("alice", "Happy."), ("bob", "Sarcastic.")):
        with db.session() as s:
            save_review(
                s, db.good, name, db.good_draft,
                ReviewInput(ReviewStatus.EDITED, caption, ["x"], 0.1, 0.2), None,
            )  # fmt: skip
            s.commit()
    at = sign_in("judge")
    judge = at.session_state["user"]
    assert at.sidebar.radio(key="page").options == ["Review clips", "Adjudicate"]
    at.sidebar.radio(key="page").set_value("Adjudicate").run()
    assert at.sidebar.selectbox(key="adj_clip").value == db.good
    shown = texts(at.markdown)
    assert ":orange-background[**caption:** Happy\\.]" in shown
    assert ":orange-background[**caption:** Sarcastic\\.]" in shown
    assert "**labels:** x" in shown  # the same in both: not marked
    assert "They differ in: caption" in texts(at.caption)
    db.set_role("judge", "annotator")  # demoted while the page is open
    click(at, "Record final version")
    assert db.reviews(db.good, "adjudication") == []
    assert at.sidebar.radio(key="page").options == ["Review clips"]
    assert not [t for t in at.text_area if t.label == "Final caption"]
    # The save path itself checks the role the database has now, whatever the page held.
    stale = User(judge.id, "judge", "adjudicator")
    data = ReviewInput(ReviewStatus.EDITED, "Final.", ["x"], 0.1, 0.2)
    with pytest.raises(PermissionDenied, match="may not adjudicate"):
        save(db.url, stale, db.good, db.good_draft, data, None, kind="adjudication")
    assert db.reviews(db.good, "adjudication") == []


def test_adjudicator_records_the_final_version(db: Db) -> None:
    for name, caption in (("alice", "Happy."), ("bob", "Sarcastic.")):
        with db.session() as s:
            save_review(
                s, db.good, name, db.good_draft,
                ReviewInput(ReviewStatus.EDITED, caption, ["x"], 0.1, 0.2), None,
            )  # fmt: skip
            s.commit()
    at = sign_in("judge")
    at.sidebar.radio(key="page").set_value("Adjudicate").run()
    by_label(at.selectbox, "Start from").set_value("bob").run()
    assert by_label(at.text_area, "Final caption").value == "Sarcastic."
    by_label(at.text_area, "Final caption").input("Sarcastic, not happy.")
    click(at, "Record final version")
    [final] = db.reviews(db.good, "adjudication")
    assert (final.caption, final.status, db.name_of(final.annotator_id)) == (
        "Sarcastic, not happy.", "edited", "judge",
    )  # fmt: skip
    with db.session() as s:
        assert final_review(s, db.good).id == final.id  # type: ignore[union-attr]

    with db.session() as s:  # a second adjudicator records another final version meanwhile
        s.add(Annotator(name="judy", role="adjudicator"))
        s.commit()
    at2 = sign_in("judge")
    at2.sidebar.radio(key="page").set_value("Adjudicate").run()
    at2.sidebar.radio(key="adj_status").set_value("reviewed").run()
    with db.session() as s:
        save_review(
            s, db.good, "judy", db.good_draft,
            ReviewInput(ReviewStatus.EDITED, "Judy's final.", ["y"], 0.0, 0.5), 1,
            kind="adjudication",
        )  # fmt: skip
        s.commit()
    by_label(at2.text_area, "Final caption").input("Judge's second thought.")
    click(at2, "Record final version")
    shown = texts(at2.markdown)
    assert "Judge's second thought\\." in shown and "Judy's final\\." in shown
    assert db.reviews(db.good, "adjudication")[0].caption == "Judy's final."
    click(at2, "Keep mine")
    [final] = db.reviews(db.good, "adjudication")
    assert (final.caption, final.version) == ("Judge's second thought.", 3)


def test_adjudication_list_pages_through_every_clip(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past one page the adjudicator pages on (it listed the first 25 clips only)."""
    import app.adjudicate

    for clip_id, draft_id in ((db.good, db.good_draft), (db.bad, None)):
        for name, caption in (("alice", "Happy."), ("bob", "Sarcastic.")):
            with db.session() as s:
                save_review(
                    s, clip_id, name, draft_id,
                    ReviewInput(ReviewStatus.EDITED, caption, ["x"], 0.1, 0.2), None,
                )  # fmt: skip
                s.commit()
    monkeypatch.setattr(app.adjudicate, "PAGE_SIZE", 1)
    at = sign_in("judge")
    at.sidebar.radio(key="page").set_value("Adjudicate").run()
    assert "2 clips · page 1 of 2" in texts(at.sidebar.caption)
    assert at.sidebar.selectbox(key="adj_clip").value == db.good
    at.sidebar.number_input(key="adj_page").set_value(2).run()
    assert "2 clips · page 2 of 2" in texts(at.sidebar.caption)
    assert at.sidebar.selectbox(key="adj_clip").value == db.bad


def test_queue_filters_orders_and_pages(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.queue_panel

    at = sign_in("alice")
    good = queue_label(db.good, "happy.mp4", None)
    bad = queue_label(db.bad, "broken.mp4", None, 0, "invalid_draft")
    assert queue(at) == [good, bad]  # oldest first
    at.sidebar.selectbox(key="q_order").set_value("uncertain").run()
    assert queue(at) == [bad, good]  # the invalid draft is the least certain
    at.sidebar.selectbox(key="q_error").set_value("with an error").run()
    assert queue(at) == [bad]
    at.sidebar.selectbox(key="q_error").set_value("(any)").run()
    assert at.sidebar.selectbox(key="q_model").options == ["(any)", "bundled:smollm2-135m"]
    at.sidebar.toggle(key="q_mine").set_value(True).run()  # nothing is assigned to alice
    assert "Nothing in this view." in texts(at.sidebar.info)

    monkeypatch.setattr(app.queue_panel, "PAGE_SIZE", 1)
    at.sidebar.toggle(key="q_mine").set_value(False).run()
    assert queue(at) == [bad]
    assert "page 1 of 2 · 2 clips" in texts(at.sidebar.caption)
    at.sidebar.button(key="q_next").click().run()
    assert queue(at) == [good]
    assert "page 2 of 2" in texts(at.sidebar.caption)


def test_cue_text_keeps_its_structure_and_escapes_the_rest() -> None:
    text = '## Cues: a.mp4\n**Missing:** none\n- AU12 (67%)\nTranscript:\n"[x](http://e) <b>"'
    assert cue_markdown(text).split("  \n") == [
        "**Cues\\: a\\.mp4**",
        "**Missing\\:** none",
        "- AU12 \\(67%\\)",
        "Transcript\\:",
        '"\\[x\\]\\(http\\://e\\) \\<b\\>"',
    ]
