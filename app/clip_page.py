"""The clip page: the video and a compact cue timeline on the left, the draft and the review
form on the right, so a 1400x900 window shows all three without scrolling; the full cue text
and the draft's reasoning fold away under the timeline.

Every piece of model text is shown as text (escaped markdown, ``st.text``, ``st.code`` or
the timeline's text nodes), never as HTML.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from app import cached
from app.cues import clue_links, named_aus
from app.logic import (
    AROUSAL_RANGE,
    STEP,
    VALENCE_RANGE,
    FormValues,
    ReviewValidationError,
    clean_labels,
    cue_markdown,
    decide,
    marked_clues,
    md_escape,
    missing_text,
    prefill,
)
from app.queue_panel import current_filter
from app.saving import PermissionDenied, conflict_view, pending, save
from app.signin import User
from app.timeline import cue_timeline
from db import session_scope
from db.models import Clip, Draft, DraftStatus, ReviewKind
from db.queries import chosen_draft, latest_cue_text, review_by
from db.review_queue import next_clip

#: button -> keyboard shortcut (Alt: works while typing in a field; no browser binding)
SHORTCUTS = {"accept": "Alt+A", "edit": "Alt+S", "reject": "Alt+X", "skip": "Alt+N"}
BUTTONS = {"accept": "Accept", "edit": "Save edit", "reject": "Reject", "skip": "Skip"}

state = st.session_state


def open_clip(url: str, user: User, clip_id: int) -> None:
    """Remember what the person starts from: their review's version, the form, the time."""
    with session_scope(url) as s:
        mine = review_by(s, clip_id, user.id)
        draft = chosen_draft(s, clip_id)
        state["expected_version"] = mine.version if mine is not None else None
        state["prefill"] = prefill(mine, draft)
    state["opened_clip"] = clip_id
    state["opened_at"] = time.monotonic()
    state["form_nonce"] = state.get("form_nonce", 0) + 1  # fresh widgets, filled from prefill
    state.pop("conflict", None)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def show_draft(draft: Draft | None) -> None:
    if draft is None:
        st.info("No draft for this clip.")
        return
    if draft.status == DraftStatus.INVALID:
        st.error(f"The model's output was invalid: {md_escape(draft.error_message or '-')}")
        with st.expander("Raw model output"):
            st.code(draft.raw_output or "(empty)", language=None)
        return
    n = int((draft.sampling_json or {}).get("n") or 1)
    st.caption(
        f"Draft by {md_escape(draft.model_id)} · confidence {fmt(draft.confidence)}"
        + (f" ({n} samples)" if n > 1 else "")
        + f" · clues grounded {fmt(draft.grounding_rate)}"
        + f" · labels: {md_escape(', '.join(draft.labels or [])) or '-'}"
        + f" · V {fmt(draft.valence)} A {fmt(draft.arousal)}"
    )


def show_clues(draft: Draft | None) -> None:
    if draft is None or draft.status != DraftStatus.VALID:
        return
    with st.expander("Clues and reasoning"):
        for title, text in (
            ("Visual", draft.visual_clues),
            ("Acoustic", draft.acoustic_clues),
            ("Lexical", draft.lexical_clues),
        ):
            st.markdown(f"**{title}:** {marked_clues(text, draft.ungrounded_clues)}")
        st.markdown(f"**Reasoning:** {md_escape(draft.reasoning or '-')}")


def review_form(suggestions: list[str]) -> tuple[str | None, FormValues]:
    """The form; the button pressed (accept/edit/reject/skip, None) and the values."""
    pre: FormValues = state["prefill"]
    n = state["form_nonce"]
    with st.form(f"review-{n}", border=False, enter_to_submit=False):
        caption = st.text_area("Caption", value=pre.caption, key=f"caption-{n}", height=110)
        options = list(dict.fromkeys([*pre.labels, *suggestions]))
        labels = st.multiselect(
            "Labels",
            options,
            default=list(pre.labels),
            key=f"labels-{n}",
            accept_new_options=True,
            placeholder="choose or type a label",
        )
        left, right = st.columns(2)
        valence = left.slider(
            "Valence", *VALENCE_RANGE, value=pre.valence, step=STEP, key=f"valence-{n}"
        )
        arousal = right.slider(
            "Arousal", *AROUSAL_RANGE, value=pre.arousal, step=STEP, key=f"arousal-{n}"
        )
        notes_col, reason_col = st.columns(2)
        notes = notes_col.text_input("Note", value=pre.notes, key=f"notes-{n}")
        reason = reason_col.text_input(
            "Reject reason", value=pre.reject_reason, key=f"reason-{n}", placeholder="to reject"
        )
        buttons = [*st.columns(2), *st.columns(2)]  # two rows: labels and keys both show
        pressed = {
            action: buttons[i].form_submit_button(
                BUTTONS[action],
                type="primary" if action == "accept" else "secondary",
                shortcut=SHORTCUTS[action],
                width="stretch",
            )
            for i, action in enumerate(BUTTONS)
        }
    action = next((name for name, hit in pressed.items() if hit), None)
    form = FormValues(caption, clean_labels(labels), float(valence), float(arousal), notes, reason)
    return action, form


def _advance(url: str, user: User, clip_id: int, message: str) -> None:
    state["flash"] = message
    filt, order = current_filter(user)
    with session_scope(url) as s:
        following = next_clip(s, user.id, filt, order, after_clip_id=clip_id)
    if following is not None:
        state["next_clip"] = following
    state["opened_clip"] = None  # reopen: new version, new form
    st.rerun()


def submit(
    url: str, user: User, clip: Clip, action: str, form: FormValues, draft: Draft | None
) -> None:
    assert clip.id is not None
    try:
        data = decide(action, user.name, form, draft, time.monotonic() - state["opened_at"])
        version = save(
            url, user, clip.id, draft.id if draft else None, data, state["expected_version"]
        )
    except (ReviewValidationError, PermissionDenied) as exc:
        st.error(str(exc))
        return
    if version is None:
        st.rerun()  # show the conflict view
    _advance(url, user, clip.id, f"Saved {clip.name} as {data.status} (version {version}).")


def clip_page(url: str, home: Path, user: User, clip_id: int) -> None:
    if state.get("opened_clip") != clip_id:
        open_clip(url, user, clip_id)
    with session_scope(url) as s:
        clip = s.get(Clip, clip_id)
        cue = latest_cue_text(s, clip_id)
        draft = chosen_draft(s, clip_id)
        mine = review_by(s, clip_id, user.id)
        final = review_by(s, clip_id, user.id, ReviewKind.ADJUDICATION)
    if clip is None:
        st.error(f"Clip {clip_id} is no longer in the database.")
        return
    timeline = cached.timeline(url, str(home), clip_id, clip.duration_s, tuple(named_aus(draft)))
    suggestions = cached.suggestions(url)
    links = clue_links(draft, timeline)

    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.markdown(
            f"**{md_escape(clip.name)}** · clip #{clip.id} · {clip.duration_s:.1f} s"
            + (f" · partial, missing: {md_escape(missing_text(clip.missing_json))}"
               if clip.partial or clip.missing_json else "")
        )  # fmt: skip
        if Path(clip.source_uri).is_file():
            st.video(clip.source_uri)
        else:
            st.warning(f"video file not found at {md_escape(clip.source_uri)}")
        cue_timeline(timeline.payload(links), key=f"timeline-{clip_id}")
        with st.expander("Cue text"):
            st.markdown(cue_markdown(cue.readable_text) if cue else "No cue text for this clip.")
        show_clues(draft)
    with right:
        show_draft(draft)
        if mine is not None:
            st.caption(f"Your review: {mine.status} (version {mine.version}).")
        if final is not None:
            st.caption(f"Final version recorded by adjudication: {final.status}.")
        if pending(clip_id, ReviewKind.ANNOTATION):
            choice = conflict_view(url, user)
            if choice == "mine":
                _advance(url, user, clip_id, f"Saved {clip.name}: your version kept.")
            elif choice == "stored":
                open_clip(url, user, clip_id)
                st.rerun()
            return
        action, form = review_form(suggestions)
        if action is not None:
            submit(url, user, clip, action, form, draft)
