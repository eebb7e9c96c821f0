"""Streamlit review app: sign in, pick a clip from the queue, look at its video, cue timeline
and LLM draft; accept, edit, reject or skip. Adjudicators also record final versions.

Started by ``annotator review`` (``streamlit run app/review.py`` with ANNOTATOR_HOME,
ANNOTATOR_DB_URL and ANNOTATOR_REVIEW_ADDRESS set). It reads and writes the database through
``db.queries`` / ``db.review_queue`` and the stored cue files; no extractor or model runs
here. Saves name the version seen when the clip was opened, so a save over a newer one is
refused and shown as a conflict instead of overwriting it.
"""

from __future__ import annotations

import streamlit as st

from annotator.config import Settings
from app.adjudicate import adjudication_page
from app.clip_page import SHORTCUTS, clip_page
from app.logic import md_escape
from app.queue_panel import sidebar_queue
from app.signin import User, may_adjudicate, sign_out, signed_in

state = st.session_state

REVIEW, ADJUDICATE = "Review clips", "Adjudicate"

# Less padding above the page: the video, timeline and form must fit a 900 px window.
COMPACT_CSS = (
    "<style>.block-container{padding-top:3.2rem;padding-bottom:1rem}"
    "[data-testid='stVerticalBlock']{gap:0.55rem}</style>"
)


def settings() -> Settings:
    found = Settings.load()  # ANNOTATOR_HOME / ANNOTATOR_DB_URL, read on every run
    found.ensure_home()
    return found


def sidebar_user(user: User) -> str:
    """Who is signed in, the sign-out button and the page menu (adjudication by role)."""
    st.sidebar.markdown(f"Signed in as **{md_escape(user.name)}** ({user.role})")
    st.sidebar.button("Sign out", on_click=sign_out, key="sign_out")
    pages = [REVIEW, ADJUDICATE] if may_adjudicate(user.role) else [REVIEW]
    if state.get("page") not in pages:
        state["page"] = REVIEW
    page: str = st.sidebar.radio("Page", pages, key="page", horizontal=True)
    return page


def main() -> None:
    st.set_page_config(page_title="MER review", layout="wide")
    st.markdown(COMPACT_CSS, unsafe_allow_html=True)  # our constant CSS, no data in it
    found = settings()
    url = found.db_url
    user = signed_in(url)
    if user is None:
        return
    page = sidebar_user(user)
    if "flash" in state:
        st.toast(state.pop("flash"))
    if page == ADJUDICATE:
        adjudication_page(url, found.home, user)  # checks the role itself
        return
    clip_id = sidebar_queue(url, user)
    st.sidebar.caption(
        "Keys: " + ", ".join(f"{k} {v}" for k, v in SHORTCUTS.items()) + " (Alt works in fields)"
    )
    if clip_id is None:
        st.info("Nothing to review in this view: change the filter, or run `annotator run`.")
        return
    clip_page(url, found.home, user, clip_id)


if __name__ == "__main__":
    main()
