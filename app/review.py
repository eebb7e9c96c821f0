"""Streamlit review app: look at a clip, its cues and the LLM draft; accept, edit, reject or skip.

Started by ``annotator review`` (``streamlit run app/review.py`` with ANNOTATOR_HOME /
ANNOTATOR_DB_URL set). It only reads and writes the database through ``db.queries``:
no extractor or model runs here. Saves name the review version seen when the clip was
opened, so a save over someone else's newer one is refused instead of overwriting it.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st
from sqlalchemy.exc import IntegrityError

from annotator.config import Settings
from app.logic import (
    AROUSAL_RANGE,
    STEP,
    VALENCE_RANGE,
    FormValues,
    ReviewValidationError,
    decide,
    format_labels,
    marked_clues,
    missing_text,
    next_clip,
    prefill,
    queue_label,
)
from db import session_scope
from db.models import Draft, DraftStatus
from db.queries import (
    StaleReviewError,
    chosen_draft,
    find_clip,
    latest_cue_text,
    review_for,
    review_queue,
    save_review,
)

state = st.session_state


def db_url() -> str:
    settings = Settings.load()  # ANNOTATOR_HOME / ANNOTATOR_DB_URL, read on every run
    settings.ensure_home()
    return settings.db_url


def sidebar_queue(url: str) -> int | None:
    """Annotator, queue counts and the clip picker; the chosen clip id (None: nothing to show)."""
    st.sidebar.title("MER review")
    st.sidebar.text_input("Annotator name", key="annotator", placeholder="required to save")
    show_reviewed = st.sidebar.toggle("Show reviewed clips too", key="show_reviewed")
    by_confidence = st.sidebar.toggle("Least confident drafts first", key="by_confidence")
    with session_scope(url) as s:
        todo_ids = [c.id for c in review_queue(s, False, by_confidence) if c.id is not None]
        everything = [
            (c.id, c.name) for c in review_queue(s, True, by_confidence) if c.id is not None
        ]
        # The open clip stays listed when someone else reviews it meanwhile: the save
        # is then refused as stale instead of the form silently switching clips.
        opened = state.get("opened_clip")
        labels: dict[int, str] = {}
        for clip_id, name in everything:
            if clip_id in todo_ids:
                labels[clip_id] = queue_label(clip_id, name, None)
            elif show_reviewed or clip_id == opened:
                review = review_for(s, clip_id)
                labels[clip_id] = queue_label(clip_id, name, review.status if review else None)
    left, right = st.sidebar.columns(2)
    left.metric("To review", len(todo_ids))
    right.metric("Reviewed", len(everything) - len(todo_ids))
    if not labels:
        if everything:
            st.success("Every drafted clip is reviewed; “show reviewed clips too” revisits them.")
        else:
            st.info("No drafted clips yet: run `annotator run` first.")
        return None
    ids = list(labels)
    pending = state.pop("next_clip", None)
    if pending in labels:
        state["clip_select"] = pending
    elif state.get("clip_select") not in labels:
        state["clip_select"] = ids[0]  # unreviewed clips come first
    return st.sidebar.selectbox("Clip", ids, format_func=labels.__getitem__, key="clip_select")


def open_clip(url: str, clip_id: int) -> None:
    """Remember what the annotator starts from: the review version, the form, the time."""
    with session_scope(url) as s:
        review = review_for(s, clip_id)
        draft = chosen_draft(s, clip_id)
        state["expected_version"] = review.version if review is not None else None
        state["prefill"] = prefill(review, draft)
    state["opened_clip"] = clip_id
    state["opened_at"] = time.monotonic()
    state["form_nonce"] = state.get("form_nonce", 0) + 1  # fresh widgets, filled from prefill
    state.pop("stale", None)


def reload_clip() -> None:
    state["reload"] = True


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def show_draft(draft: Draft | None) -> None:
    st.subheader("Draft")
    if draft is None:
        st.info("No draft for this clip.")
        return
    if draft.status == DraftStatus.INVALID:
        st.error(f"The model's output was invalid: {draft.error_message or 'no error message'}")
        st.markdown("Raw model output:")
        st.code(draft.raw_output or "(empty)", language=None)
        return
    st.markdown(f"**Caption:** {draft.caption}")
    st.markdown(f"**Labels:** {format_labels(draft.labels) or '-'}")
    n = int((draft.sampling_json or {}).get("n") or 1)
    cols = st.columns(4)
    cols[0].metric("Valence", fmt(draft.valence))
    cols[1].metric("Arousal", fmt(draft.arousal))
    cols[2].metric("Confidence" + (f" ({n} samples agree)" if n > 1 else ""), fmt(draft.confidence))
    cols[3].metric("Clues grounded", fmt(draft.grounding_rate))
    with st.expander("Clues and reasoning"):
        for title, text in (
            ("Visual clues", draft.visual_clues),
            ("Acoustic clues", draft.acoustic_clues),
            ("Lexical clues", draft.lexical_clues),
        ):
            st.markdown(f"**{title}:** {marked_clues(text, draft.ungrounded_clues)}")
        st.markdown(f"**Reasoning:** {draft.reasoning or '-'}")
    st.caption(f"model {draft.model_id} · prompt {draft.prompt_version} · draft #{draft.id}")


def review_form() -> tuple[str | None, FormValues]:
    """The edit form; the button pressed (accept/edit/reject/skip, None) and the values."""
    pre: FormValues = state["prefill"]
    n = state["form_nonce"]
    with st.form(f"review-{n}"):
        caption = st.text_area("Caption", value=pre.caption, key=f"caption-{n}", height=150)
        labels = st.text_input("Labels (comma-separated)", value=pre.labels, key=f"labels-{n}")
        left, right = st.columns(2)
        valence = left.slider(
            "Valence", *VALENCE_RANGE, value=pre.valence, step=STEP, key=f"valence-{n}"
        )
        arousal = right.slider(
            "Arousal", *AROUSAL_RANGE, value=pre.arousal, step=STEP, key=f"arousal-{n}"
        )
        notes = st.text_area("Notes", value=pre.notes, key=f"notes-{n}", height=70)
        buttons = st.columns(4)
        pressed = {
            "accept": buttons[0].form_submit_button("Accept", type="primary"),
            "edit": buttons[1].form_submit_button("Save edit"),
            "reject": buttons[2].form_submit_button("Reject"),
            "skip": buttons[3].form_submit_button("Skip"),
        }
    action = next((name for name, hit in pressed.items() if hit), None)
    return action, FormValues(caption, labels, float(valence), float(arousal), notes)


def submit(
    url: str, clip_id: int, name: str, action: str, form: FormValues, draft: Draft | None
) -> None:
    annotator = (state.get("annotator") or "").strip()
    try:
        data = decide(action, annotator, form, draft, time.monotonic() - state["opened_at"])
    except ReviewValidationError as exc:
        st.error(str(exc))
        return
    try:
        with session_scope(url) as s:
            review = save_review(
                s, clip_id, annotator, draft.id if draft else None, data, state["expected_version"]
            )
            version = review.version
    except StaleReviewError as exc:
        state["stale"] = str(exc)
        return
    except IntegrityError:  # two first saves raced on the one-review-per-clip constraint
        state["stale"] = f"clip {clip_id}: saved by someone else meanwhile; reload"
        return
    state["flash"] = f"Saved {name} as {data.status} (version {version})."
    with session_scope(url) as s:
        queue = review_queue(s, False, bool(state.get("by_confidence")))
        following = next_clip([c.id for c in queue if c.id is not None], clip_id)
    if following is not None:
        state["next_clip"] = following
    state["opened_clip"] = None  # reopen: new version, new form
    st.rerun()


def main() -> None:
    st.set_page_config(page_title="MER review", layout="wide")
    url = db_url()
    if "flash" in state:
        st.success(state.pop("flash"))
    clip_id = sidebar_queue(url)
    if clip_id is None:
        return
    if state.pop("reload", False) or state.get("opened_clip") != clip_id:
        open_clip(url, clip_id)
    with session_scope(url) as s:
        clip = find_clip(s, str(clip_id))
        cue = latest_cue_text(s, clip_id)
        draft = chosen_draft(s, clip_id)
        review = review_for(s, clip_id)
    if clip is None:
        st.error(f"Clip {clip_id} is no longer in the database.")
        return

    st.title(clip.name)
    st.caption(f"clip #{clip.id} · {clip.duration_s:.1f} s · {clip.source_uri}")
    if clip.partial or clip.missing_json:
        st.warning(f"Partial cues, missing: {missing_text(clip.missing_json) or 'unknown'}")
    if review is not None:
        st.info(f"Already reviewed: {review.status} (version {review.version}).")
    video, cues = st.columns([2, 3])
    with video:
        if Path(clip.source_uri).is_file():
            st.video(clip.source_uri)
        else:
            st.warning(f"video file not found at {clip.source_uri}")
    with cues, st.expander("Cues", expanded=True):
        st.markdown(cue.readable_text if cue is not None else "_No cue text for this clip._")
    show_draft(draft)

    st.subheader("Your review")
    action, form = review_form()
    if action is not None:
        submit(url, clip_id, clip.name, action, form, draft)
    if "stale" in state:
        st.error(state["stale"])
        st.button("Reload the latest version", on_click=reload_clip)


if __name__ == "__main__":
    main()
