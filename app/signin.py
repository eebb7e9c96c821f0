"""Who is using the review app. On 127.0.0.1 a person picks their name (or types a new one);
served beyond it (``annotator review --address 0.0.0.0``) they give their name and token,
checked by ``app.auth.authenticate``. The name on every review is the signed-in user's.

The role is read from the database again whenever it matters (``role_now``), so a role
taken away, or a person deactivated, stops them at their next save, not at their next
sign-in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st
from sqlmodel import Session, col, select

from app import auth
from db import session_scope
from db.models import Annotator, Role

ADDRESS_ENV = "ANNOTATOR_REVIEW_ADDRESS"
NEW_NAME = "(new name)"

state = st.session_state


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str


def served_address() -> str:
    """The address the server listens on: Streamlit's own option when it has one, else what
    ``annotator review`` put in the environment; empty (every interface) otherwise."""
    option = st.get_option("server.address")
    return str(option or os.environ.get(ADDRESS_ENV) or "")


def role_now(session: Session, user: User) -> str | None:
    """The user's role as the database says now; None when they are gone or deactivated."""
    row = session.get(Annotator, user.id)
    if row is None or not row.active:
        return None
    return row.role


def _names(session: Session) -> list[str]:
    rows = session.exec(
        select(Annotator.name).where(col(Annotator.active).is_(True)).order_by(Annotator.name)
    )
    return [str(n) for n in rows]


def _sign_in_form(url: str, address: str) -> User | None:
    """Loopback: pick a name (or type a new one). Beyond it: name and token."""
    local = not auth.sign_in_required(address)
    names: list[str] = []
    if local:
        with session_scope(url) as s:
            names = _names(s)
    with st.form("sign-in"):
        if local:
            st.markdown("**Sign in** (served on 127.0.0.1: pick your name)")
            picked = st.selectbox("Your name", [*names, NEW_NAME], key="signin_pick")
            typed = st.text_input("New name", key="signin_new", placeholder="only for a new name")
            name, token = (typed if picked == NEW_NAME else picked or ""), ""
        else:
            st.markdown("**Sign in** with your name and token")
            name = st.text_input("Name", key="signin_name")
            token = st.text_input("Token", type="password", key="signin_token")
        go = st.form_submit_button("Sign in", type="primary")
    if not go:
        return None
    name = " ".join(name.split())
    if not name:
        st.error("Type your name to sign in.")
        return None
    with session_scope(url) as s:
        row = auth.sign_in(s, name, token or None, address)
        if row is None or row.id is None:
            st.error(
                "Unknown name or wrong token."
                if token or not local
                else "This annotator is deactivated."
            )
            return None
        return User(row.id, row.name, row.role)


def signed_in(url: str) -> User | None:
    """The signed-in user, or the sign-in form (None until it succeeds)."""
    user: User | None = state.get("user")
    if user is not None:
        with session_scope(url) as s:
            role = role_now(s, user)
        if role is None:
            state.pop("user", None)
            st.error("Your account is no longer active.")
            return None
        user = User(user.id, user.name, role)
        state["user"] = user
        return user
    user = _sign_in_form(url, served_address())
    if user is not None:
        state["user"] = user
        st.rerun()
    return None


def sign_out() -> None:
    for key in ("user", "opened_clip", "conflict", "clip_select"):
        state.pop(key, None)


def may_adjudicate(role: str | None) -> bool:
    return role is not None and auth.can(role, "adjudicate")


__all__ = ["Role", "User", "may_adjudicate", "role_now", "sign_out", "signed_in"]
