"""Saving a review from the app, and the conflict view when the save is stale.

A save names the version the person opened; ``save_review`` refuses it when the stored
review moved on (the same person in a second tab, or a second adjudicator). Nothing is
overwritten then: the page shows both versions, the differing fields marked, and the person
chooses: keep theirs (saved over the stored version they have now seen) or take the stored
one. The role is checked again here, at save time, not only when the page was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from app.auth import Permission, PermissionDenied, require_current
from app.logic import VERDICT, differing, md_escape, verdict_of
from app.signin import User
from db import session_scope
from db.models import Annotator, Review, ReviewKind, ReviewSource
from db.queries import ReviewInput, StaleReviewError, review_by, save_review

state = st.session_state


@dataclass(frozen=True)
class Stored:
    """The stored version a stale save ran into, as the conflict view shows it."""

    review: ReviewInput
    version: int
    by: str
    updated_at: datetime | None


@dataclass(frozen=True)
class Conflict:
    clip_id: int
    kind: str
    draft_id: int | None
    mine: ReviewInput
    stored: Stored | None  # None: the review they edited was deleted


def _stored(review: Review | None, by: str) -> Stored | None:
    if review is None:
        return None
    data = ReviewInput(
        status=review.status,  # type: ignore[arg-type]
        caption=review.caption,
        labels=list(review.labels or []),
        valence=review.valence,
        arousal=review.arousal,
        notes=review.notes,
        time_spent_s=review.time_spent_s,
        reject_reason=review.reject_reason,
    )
    return Stored(data, review.version, by, review.updated_at)


def save(
    url: str,
    user: User,
    clip_id: int,
    draft_id: int | None,
    data: ReviewInput,
    expected_version: int | None,
    kind: str = ReviewKind.ANNOTATION,
) -> int | None:
    """Save; the new version, or None after recording a conflict in ``state['conflict']``.
    Raises PermissionDenied when the user may not (any longer) make this save."""
    action = Permission.ADJUDICATE if kind == ReviewKind.ADJUDICATION else Permission.ANNOTATE
    with session_scope(url) as s:
        require_current(s, user.id, action)  # the role as the database has it now
    try:
        with session_scope(url) as s:
            review = save_review(
                s, clip_id, user.name, draft_id, data, expected_version,
                kind=kind, source=ReviewSource.APP,
            )  # fmt: skip
            version = review.version
    except StaleReviewError:
        with session_scope(url) as s:
            current = review_by(s, clip_id, user.id, kind)
            who = s.get(Annotator, current.annotator_id) if current is not None else None
            stored = _stored(current, who.name if who is not None else "?")
        state["conflict"] = Conflict(clip_id, str(kind), draft_id, data, stored)
        return None
    state.pop("conflict", None)
    return version


def pending(clip_id: int, kind: str) -> bool:
    """Whether a conflict waits for a choice on this clip and page (annotation or
    adjudication); one left from another clip or page is dropped (nothing was saved)."""
    conflict: Conflict | None = state.get("conflict")
    if conflict is None:
        return False
    if conflict.clip_id == clip_id and conflict.kind == str(kind):
        return True
    state.pop("conflict", None)
    return False


def _show(data: ReviewInput, marked: list[str]) -> None:
    values = verdict_of(data)
    for name in VERDICT:
        value = values[name]
        if value in (None, ()):
            continue
        shown = ", ".join(value) if isinstance(value, tuple) else str(value)  # type: ignore[arg-type]
        text = f"**{name.replace('_', ' ')}:** {md_escape(shown)}"
        st.markdown(f":orange-background[{text}]" if name in marked else text)


def conflict_view(url: str, user: User) -> str | None:
    """Both versions side by side and the choice; 'mine' (saved), 'stored' or None (not yet).

    'mine' saves the person's version over the stored one they are now looking at; if
    that moved on again meanwhile, the view shows the newer one instead."""
    conflict: Conflict = state["conflict"]
    stored = conflict.stored
    st.error(
        "Not saved: this review was saved elsewhere after you opened it "
        "(another tab, or another adjudicator). Choose which version to keep."
    )
    marked = differing(conflict.mine, stored.review) if stored else list(VERDICT)
    mine_col, stored_col = st.columns(2)
    with mine_col:
        st.markdown("**Yours (not saved)**")
        _show(conflict.mine, marked)
    with stored_col:
        if stored is None:
            st.markdown("**Stored:** deleted meanwhile")
        else:
            when = stored.updated_at.strftime("%H:%M:%S") if stored.updated_at else "?"
            st.markdown(f"**Stored (version {stored.version}, {md_escape(stored.by)}, {when})**")
            _show(stored.review, marked)
    keep_mine = mine_col.button("Keep mine", type="primary", key="conflict_mine")
    keep_stored = stored_col.button("Keep the stored one", key="conflict_stored")
    if keep_stored:
        state.pop("conflict", None)
        return "stored"
    if keep_mine:
        version = save(
            url, user, conflict.clip_id, conflict.draft_id, conflict.mine,
            stored.version if stored else None, conflict.kind,
        )  # fmt: skip
        return "mine" if version is not None else None
    return None


__all__ = ["Conflict", "PermissionDenied", "Stored", "conflict_view", "pending", "save"]
