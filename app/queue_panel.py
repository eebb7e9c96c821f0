"""The sidebar queue: filters, order, one page of clips at a time (``db.review_queue``), so a
render costs two bounded queries however large the corpus is."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from sqlmodel import Session

from app import cached
from app.logic import queue_label
from app.signin import User
from db import session_scope
from db.models import Clip
from db.queries import review_by
from db.review_queue import QueueFilter, QueueOrder, QueueRow, queue_count, queue_page

PAGE_SIZE = 25
STATUS_LABELS = {
    "todo": "To review",
    "mine": "Reviewed by me",
    "reviewed": "Reviewed by anyone",
    "needs_adjudication": "Reviews disagree",
    "all": "All drafted clips",
}
ORDER_LABELS = {QueueOrder.OLDEST: "Oldest first", QueueOrder.UNCERTAIN: "Most uncertain first"}
ANY = "(any)"
ERROR_CHOICES = {ANY: None, "with an error": True, "without an error": False}

state = st.session_state


def current_filter(user: User) -> tuple[QueueFilter, QueueOrder]:
    """The filter and order the sidebar widgets hold (defaults before they are drawn)."""
    model = state.get("q_model", ANY)
    return (
        QueueFilter(
            status=state.get("q_status", "todo"),
            model_id=None if model == ANY else model,
            has_error=ERROR_CHOICES.get(state.get("q_error", ANY)),
            assigned_to=user.id if state.get("q_mine") else None,
        ),
        QueueOrder(state.get("q_order", QueueOrder.OLDEST)),
    )


def _reset_page() -> None:
    """A new filter: first page, and the open clip is no longer kept in the list."""
    state["q_page"] = 0
    state["opened_clip"] = None


def _row_label(row: QueueRow) -> str:
    flag = row.error_code or ("reviews disagree" if row.needs_adjudication else None)
    return queue_label(row.clip_id, row.name, row.my_review_status, row.n_reviews, flag)


def _pager(total: int) -> int:
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(int(state.get("q_page", 0)), pages - 1)
    left, mid, right = st.sidebar.columns([1, 2, 1])
    if left.button("‹", key="q_prev", disabled=page == 0, help="previous page"):
        page -= 1
        state["opened_clip"] = None  # a new page: its first clip, not the one kept open
    if right.button("›", key="q_next", disabled=page >= pages - 1, help="next page"):
        page += 1
        state["opened_clip"] = None
    state["q_page"] = page
    mid.caption(f"page {page + 1} of {pages} · {total} clips")
    return page


def sidebar_queue(url: str, user: User) -> int | None:
    """Filters, the page of clips and the picker; the chosen clip id (None: nothing shown).

    The open clip stays selectable when a save moves it out of the filter, so its page
    does not switch clips under the person; ``state['next_clip']`` (set after a save)
    selects the next one."""
    models = cached.model_ids(url)
    st.sidebar.selectbox(
        "Show",
        list(STATUS_LABELS),
        format_func=STATUS_LABELS.__getitem__,
        key="q_status",
        on_change=_reset_page,
    )
    order_col, error_col = st.sidebar.columns(2)
    order_col.selectbox(
        "Order",
        list(ORDER_LABELS),
        format_func=ORDER_LABELS.__getitem__,
        key="q_order",
        on_change=_reset_page,
    )
    error_col.selectbox("Errors", list(ERROR_CHOICES), key="q_error", on_change=_reset_page)
    st.sidebar.selectbox("Model", [ANY, *models], key="q_model", on_change=_reset_page)
    st.sidebar.toggle("Assigned to me", key="q_mine", on_change=_reset_page)
    filt, order = current_filter(user)
    with session_scope(url) as s:
        total = queue_count(s, user.id, filt)
        page = _pager(total)
        rows = queue_page(s, user.id, filt, order, page * PAGE_SIZE, PAGE_SIZE)
        labels = {row.clip_id: _row_label(row) for row in rows}
        pending = state.pop("next_clip", None)
        opened = state.get("opened_clip")
        extra = [c for c in (pending, opened) if c is not None and c not in labels]
        labels.update(_labels_of(s, user, extra))  # open / next clip outside this page
    if not labels:
        st.sidebar.info("Nothing in this view.")
        return None
    ids: Sequence[int] = list(labels)
    if pending in labels:
        state["clip_select"] = pending
    elif state.get("clip_select") not in labels:
        state["clip_select"] = ids[0]
    return st.sidebar.selectbox("Clip", ids, format_func=labels.__getitem__, key="clip_select")


def _labels_of(session: Session, user: User, clip_ids: list[int]) -> dict[int, str]:
    labels = {}
    for clip_id in clip_ids:
        clip = session.get(Clip, clip_id)
        if clip is not None:
            mine = review_by(session, clip_id, user.id)
            labels[clip_id] = queue_label(clip_id, clip.name, mine.status if mine else None)
    return labels
