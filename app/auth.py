"""Who may use the review app, and for what: tokens, sign-in and roles.

Pure logic over the database (no Streamlit here), so the server side enforces it and the
tests call it directly. A token is shown to nobody but its owner: ``annotator team add``
writes it to a file with mode 0600, and the database keeps only a salted PBKDF2 hash.
On a loopback address the person at the keyboard already owns the database file, so a
name is enough there; beyond it, a token is required.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

from sqlmodel import Session

from db.models import Annotator, Role
from db.team import get_annotator
from db.tokens import _dummy_hash, verify_token
from extractors.errors import AnnotatorError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class PermissionDenied(AnnotatorError, PermissionError):
    """The signed-in person's role does not allow this action (or they were deactivated)."""

    code = "forbidden"


class Permission(StrEnum):
    ANNOTATE = "annotate"
    ADJUDICATE = "adjudicate"
    EXPORT = "export"
    MANAGE = "manage"  # add people, rotate tokens, assign clips


PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.ANNOTATOR: frozenset({Permission.ANNOTATE}),
    Role.ADJUDICATOR: frozenset({Permission.ANNOTATE, Permission.ADJUDICATE}),
    Role.ADMIN: frozenset(Permission),
}


# ---------------------------------------------------------------------------- sign-in


def sign_in_required(server_address: str | None) -> bool:
    """False only when the app listens on a loopback address (127.0.0.0/8, ::1, localhost);
    an empty address means every interface, so it is True then."""
    host = (server_address or "").strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def authenticate(session: Session, name: str, token: str) -> Annotator | None:
    """The active annotator called ``name`` whose token this is; None otherwise (unknown
    name, wrong token, no token set, deactivated), in about the same time either way."""
    person = get_annotator(session, name)
    if person is None or person.token_hash is None:
        verify_token(token or "x", _dummy_hash())
        return None
    if not verify_token(token, person.token_hash) or not person.active:
        return None
    return person


def sign_in(
    session: Session, name: str, token: str | None, server_address: str | None
) -> Annotator | None:
    """What the app's sign-in form calls. Beyond loopback: ``authenticate``. On loopback: the
    active annotator of that name (created with the annotator role when new, as saving a
    review always did); a token, when one is given, must still be right."""
    if sign_in_required(server_address):
        return authenticate(session, name, token or "")
    clean = name.strip()
    if not clean:
        return None
    if token:
        return authenticate(session, clean, token)
    person = get_annotator(session, clean)
    if person is None:
        person = Annotator(name=clean, role=Role.ANNOTATOR)
        session.add(person)
        session.flush()
    return person if person.active else None


# ---------------------------------------------------------------------------- roles


def can(role: str | None, action: str) -> bool:
    """Whether ``role`` allows ``action`` (annotate, adjudicate, export, manage); an unknown
    role or action allows nothing."""
    try:
        wanted = Permission(action)
    except ValueError:
        return False
    return wanted in PERMISSIONS.get(str(role), frozenset())


def require(annotator: Annotator | None, action: str) -> Annotator:
    """``annotator`` when they are signed in, active and allowed ``action``; PermissionDenied
    otherwise. Every saving or exporting path of the app calls this, not only the UI."""
    if annotator is None:
        raise PermissionDenied(f"sign in to {action}")
    if not annotator.active:
        raise PermissionDenied(f"{annotator.name} is deactivated")
    if not can(annotator.role, action):
        raise PermissionDenied(f"{annotator.name} ({annotator.role}) may not {action}")
    return annotator


def require_current(session: Session, annotator_id: int | None, action: str) -> Annotator:
    """``require`` on the person as the database has them now, not as they were at sign-in:
    a deactivation or a role change takes effect on their next save."""
    person = session.get(Annotator, annotator_id) if annotator_id is not None else None
    return require(person, action)
