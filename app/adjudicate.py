"""The adjudication page: a clip's reviews side by side, the fields they differ in marked,
and the final version the adjudicator records (``save_review(kind='adjudication')``).

Only adjudicators and admins get here, and the role is checked again at save time
(``app.saving.save``); a second adjudicator's save in between is a conflict, shown with both
versions, never overwritten.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import streamlit as st

from app import cached
from app.cues import clue_links, named_aus
from app.logic import (
    AROUSAL_RANGE,
    DEFAULT_AROUSAL,
    DEFAULT_VALENCE,
    STEP,
    VALENCE_RANGE,
    FormValues,
    ReviewValidationError,
    clean_labels,
    decide,
    md_escape,
    snap,
)
from app.saving import PermissionDenied, conflict_view, pending, save
from app.signin import User, may_adjudicate
from app.timeline import cue_timeline
from db import session_scope
from db.models import Clip, ReviewKind
from db.queries import chosen_draft
from db.review_queue import (
    VERDICT_FIELDS,
    QueueFilter,
    QueueOrder,
    Side,
    adjudication_view,
    queue_count,
    queue_page,
)

PAGE_SIZE = 25
SHOWN = (*VERDICT_FIELDS, "notes", "reject_reason")

state = st.session_state


def _value(side: Side, name: str) -> str:
    value: Any = getattr(side, name)
    if value is None or value == []:
        return "-"
    if isinstance(value, list):
        return ", ".join(value)
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def side_column(side: Side, differing: list[str], title: str) -> None:
    st.markdown(f"**{md_escape(title)}** · v{side.version}")
    for name in SHOWN:
        text = f"**{name.replace('_', ' ')}:** {md_escape(_value(side, name))}"
        st.markdown(f":orange-background[{text}]" if name in differing else text)


def _form_from(side: Side | None) -> FormValues:
    if side is None:
        return FormValues()
    return FormValues(
        caption=side.caption or "",
        labels=clean_labels(side.labels),
        valence=snap(side.valence, VALENCE_RANGE, DEFAULT_VALENCE),
        arousal=snap(side.arousal, AROUSAL_RANGE, DEFAULT_AROUSAL),
        notes=side.notes or "",
        reject_reason=side.reject_reason or "",
    )


def _pick_clip(url: str, user: User) -> int | None:
    show = st.sidebar.radio(
        "Clips to adjudicate", ["needs_adjudication", "reviewed"], key="adj_status",
        format_func={"needs_adjudication": "Reviews disagree", "reviewed": "Any reviewed"}.get,
    )  # fmt: skip
    filt = QueueFilter(status=show)
    with session_scope(url) as s:
        total = queue_count(s, user.id, filt)
    pages = max(1, -(-total // PAGE_SIZE))
    page = 1
    if pages > 1:  # paged like the review queue: every clip is reachable
        if state.get("adj_page", 1) > pages:  # clips left the list since the last run
            state["adj_page"] = pages
        page = int(
            st.sidebar.number_input("Page", min_value=1, max_value=pages, step=1, key="adj_page")
        )
    with session_scope(url) as s:
        rows = queue_page(s, user.id, filt, QueueOrder.OLDEST, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    st.sidebar.caption(f"{total} clips" + (f" · page {page} of {pages}" if pages > 1 else ""))
    labels = {r.clip_id: f"#{r.clip_id} {r.name} · {r.n_reviews} reviews" for r in rows}
    if not labels:
        st.info("No clip waits for adjudication.")
        return None
    if state.get("adj_clip") not in labels:
        state["adj_clip"] = next(iter(labels))
    return st.sidebar.selectbox(
        "Clip", list(labels), format_func=labels.__getitem__, key="adj_clip"
    )


def adjudication_page(url: str, home: Path, user: User) -> None:
    if not may_adjudicate(user.role):  # the menu hides the page; a forged request ends here
        st.error("Only adjudicators and admins can adjudicate.")
        return
    clip_id = _pick_clip(url, user)
    if clip_id is None:
        return
    with session_scope(url) as s:
        clip = s.get(Clip, clip_id)
        view = adjudication_view(s, clip_id)
        draft = chosen_draft(s, clip_id)
    if clip is None:
        st.error(f"Clip {clip_id} is no longer in the database.")
        return
    suggestions = cached.suggestions(url)
    media, verdicts = st.columns([2, 3], gap="medium")
    with media:  # the same video and cue timeline as the clip page, to decide from
        st.markdown(f"**{md_escape(clip.name)}** · clip #{clip_id} · adjudication")
        if Path(clip.source_uri).is_file():
            st.video(clip.source_uri)
        timeline = cached.timeline(
            url, str(home), clip_id, clip.duration_s, tuple(named_aus(draft))
        )
        cue_timeline(timeline.payload(clue_links(draft, timeline)), key=f"adj-tl-{clip_id}")
    with verdicts:
        sides = view.annotations
        if view.differing:
            st.caption("They differ in: " + ", ".join(view.differing))
        if not sides:
            st.info("No annotation of this clip yet.")
        columns = st.columns(max(1, len(sides)))
        for column, side in zip(columns, sides, strict=False):
            with column:
                side_column(side, view.differing, side.annotator)
        if view.adjudication is not None:
            st.caption(
                f"Final version recorded by {md_escape(view.adjudication.annotator)} "
                f"(version {view.adjudication.version}, {view.adjudication.status})."
            )
    if state.get("adj_opened") != clip_id:  # opened now: the version a save must name
        state["adj_opened"] = clip_id
        state["adj_expected"] = view.adjudication_version
        state["adj_started"] = time.monotonic()
        state["adj_nonce"] = state.get("adj_nonce", 0) + 1
        state.pop("conflict", None)
    if pending(clip_id, ReviewKind.ADJUDICATION):
        choice = conflict_view(url, user)
        if choice is not None:
            state["flash"] = "Final version saved." if choice == "mine" else "Kept the stored one."
            state.pop("adj_opened", None)
            st.rerun()
        return
    names = [s.annotator for s in sides]
    start = st.selectbox(
        "Start from",
        ["the recorded final version", *names] if view.adjudication else names or ["-"],
        key=f"adj_from-{state['adj_nonce']}",
    )
    base = (
        view.adjudication
        if start == "the recorded final version"
        else next((s for s in sides if s.annotator == start), None)
    )
    pre = _form_from(base)
    n = f"{state['adj_nonce']}-{start}"
    with st.form(f"adjudicate-{n}", border=False):
        caption = st.text_area(
            "Final caption", value=pre.caption, key=f"adj_caption-{n}", height=90
        )
        options = list(dict.fromkeys([*pre.labels, *suggestions]))
        labels = st.multiselect(
            "Final labels", options, default=list(pre.labels), key=f"adj_labels-{n}",
            accept_new_options=True,
        )  # fmt: skip
        left, right = st.columns(2)
        valence = left.slider(
            "Valence", *VALENCE_RANGE, value=pre.valence, step=STEP, key=f"adj_v-{n}"
        )
        arousal = right.slider(
            "Arousal", *AROUSAL_RANGE, value=pre.arousal, step=STEP, key=f"adj_a-{n}"
        )
        notes = st.text_input("Note", value=pre.notes, key=f"adj_notes-{n}")
        reason = st.text_input("Reject reason", value=pre.reject_reason, key=f"adj_reason-{n}")
        record_col, reject_col = st.columns(2)
        record = record_col.form_submit_button(
            "Record final version", type="primary", shortcut="Alt+S"
        )
        reject = reject_col.form_submit_button("Reject the clip", shortcut="Alt+X")
    if not (record or reject):
        return
    form = FormValues(caption, clean_labels(labels), float(valence), float(arousal), notes, reason)
    try:
        data = decide("reject" if reject else "edit", user.name, form, draft,
                      time.monotonic() - state["adj_started"])  # fmt: skip
        version = save(url, user, clip_id, draft.id if draft else None, data,
                       state["adj_expected"], kind=ReviewKind.ADJUDICATION)  # fmt: skip
    except (ReviewValidationError, PermissionDenied) as exc:
        st.error(str(exc))
        return
    if version is not None:
        state["flash"] = f"Final version of {clip.name} recorded (version {version})."
        state.pop("adj_opened", None)
    st.rerun()  # the next clip, or the conflict view
