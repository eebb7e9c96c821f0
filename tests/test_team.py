"""Sign-in, roles and the ``annotator team`` commands (app/auth.py, annotator/cli_team.py), on
SQLite and PostgreSQL: tokens verify only themselves, a deactivated person is refused, the
token lands in a 0600 file and never on the terminal."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from annotator.cli import app
from app.auth import (
    Permission,
    PermissionDenied,
    authenticate,
    can,
    require,
    require_current,
    sign_in,
    sign_in_required,
)
from db import Annotator, Assignment, Role, session_scope, sqlite_url
from db.team import TeamError, UnknownAnnotatorError, deactivate, team_summary, upsert_member
from db.tokens import hash_token, new_token, verify_token
from tests.seeds import review_as, seed

FAST = 1_000  # PBKDF2 iterations where the test is not about the hash's cost


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "team.db")
    else:
        yield str(request.getfixturevalue("pg_url"))


# --------------------------------------------------------------------------- tokens


def test_a_token_verifies_only_against_its_own_hash() -> None:
    token, other = new_token(), new_token()
    assert len(token) >= 40 and token != other
    hashed = hash_token(token)
    algorithm, iterations, salt, digest = hashed.split("$")
    assert (algorithm, iterations) == ("pbkdf2_sha256", "600000")
    assert token not in hashed and len(salt) == 22 and len(digest) == 43
    assert hash_token(token, FAST) != hash_token(token, FAST)  # salted
    assert verify_token(token, hashed)
    assert not verify_token(other, hashed)
    assert not verify_token(token[:-1], hashed)
    assert not verify_token("", hashed)
    for broken in (None, "", "nonsense", "md5$1$a$b", "pbkdf2_sha256$x$a$b", "pbkdf2_sha256$0$a$b"):
        assert not verify_token(token, broken)


@pytest.mark.parametrize(
    ("address", "required"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("[::1]", False),
        ("localhost", False),
        ("LOCALHOST", False),
        ("0.0.0.0", True),
        ("", True),
        (None, True),
        ("192.168.1.20", True),
        ("::", True),
        ("review.lab.example", True),
    ],
)
def test_sign_in_is_required_beyond_loopback(address: str | None, required: bool) -> None:
    assert sign_in_required(address) is required


def test_permissions_table() -> None:
    table = {
        role: {p.value for p in Permission if can(role, p.value)}
        for role in ("annotator", "adjudicator", "admin", "guest", None)
    }
    assert table == {
        "annotator": {"annotate"},
        "adjudicator": {"annotate", "adjudicate"},
        "admin": {"annotate", "adjudicate", "export", "manage"},
        "guest": set(),
        None: set(),
    }
    assert not can("admin", "delete")


def test_require_raises_a_typed_error() -> None:
    alice = Annotator(name="alice", role=Role.ANNOTATOR)
    assert require(alice, "annotate") is alice
    with pytest.raises(PermissionDenied, match="alice \\(annotator\\) may not adjudicate") as e:
        require(alice, "adjudicate")
    assert e.value.code == "forbidden" and isinstance(e.value, PermissionError)
    with pytest.raises(PermissionDenied, match="sign in to export"):
        require(None, "export")
    gone = Annotator(name="bob", role=Role.ADMIN, active=False)
    with pytest.raises(PermissionDenied, match="bob is deactivated"):
        require(gone, "annotate")


def test_authenticate_and_sign_in_on_the_database(url: str) -> None:
    token = new_token()
    with session_scope(url) as s:
        s.add(Annotator(name="alice", role=Role.ADJUDICATOR, token_hash=hash_token(token, FAST)))
        s.add(Annotator(name="bob", role=Role.ANNOTATOR))  # no token: 127.0.0.1 only
        s.add(Annotator(name="gone", token_hash=hash_token(token, FAST), active=False))
    with session_scope(url) as s:
        found = authenticate(s, " alice ", token)
        assert found is not None and (found.name, found.role) == ("alice", "adjudicator")
        assert authenticate(s, "alice", new_token()) is None
        assert authenticate(s, "alice", "") is None
        assert authenticate(s, "nobody", token) is None
        assert authenticate(s, "bob", token) is None
        assert authenticate(s, "gone", token) is None  # right token, deactivated
        # beyond loopback a token is required; on loopback a name is enough
        assert sign_in(s, "bob", None, "0.0.0.0") is None
        assert sign_in(s, "alice", token, "10.0.0.5") is not None
        bob = sign_in(s, "bob", None, "127.0.0.1")
        assert bob is not None and bob.name == "bob"
        assert sign_in(s, "alice", "wrong", "127.0.0.1") is None  # a given token must be right
        assert sign_in(s, "gone", None, "localhost") is None
        new = sign_in(s, "carol", None, "::1")
        assert new is not None and new.role == "annotator" and new.id is not None
        assert sign_in(s, "  ", None, "127.0.0.1") is None
        carol_id = new.id
    with session_scope(url) as s:
        assert s.exec(select(Annotator.name).where(Annotator.id == carol_id)).one() == "carol"
        assert require_current(s, carol_id, "annotate").name == "carol"
        s.exec(select(Annotator).where(Annotator.name == "carol")).one().active = False
        s.flush()
        with pytest.raises(PermissionDenied, match="carol is deactivated"):
            require_current(s, carol_id, "annotate")


# ------------------------------------------------------------------------------ CLI


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_team_commands_write_a_private_token_and_never_print_it(url: str, tmp_path: Path) -> None:
    where = ["--home", str(tmp_path / "home"), "--db", url]
    token_file = tmp_path / "secrets" / "alice.token"
    code, out = _cli(
        "team", "add", "alice", "--role", "adjudicator", "--token-file", str(token_file), *where
    )
    assert code == 0, out
    token = token_file.read_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token not in out and "added alice (adjudicator)" in out
    code, out = _cli("team", "add", "bob", *where)
    assert code == 0 and "no token: 127.0.0.1 only" in out
    with session_scope(url) as s:
        alice = authenticate(s, "alice", token)
        assert alice is not None and alice.role == "adjudicator"
        assert s.exec(select(Annotator).where(Annotator.name == "bob")).one().token_hash is None

    # rotate: a looser existing file is made 0600, the old token stops working
    token_file.chmod(0o644)
    code, out = _cli("team", "token", "alice", "--token-file", str(token_file), *where)
    rotated = token_file.read_text().strip()
    assert code == 0 and rotated != token and rotated not in out and token not in out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    with session_scope(url) as s:
        assert authenticate(s, "alice", token) is None
        assert authenticate(s, "alice", rotated) is not None
    code, out = _cli("team", "token", "nobody", "--token-file", str(tmp_path / "n"), *where)
    assert code == 1 and "no annotator 'nobody'" in out and not (tmp_path / "n").exists()

    # work: assign 10 drafted clips among alice and bob, one reviewed by bob already
    ids = seed(url, n=10)
    with session_scope(url) as s:
        review_as(s, ids[0], "bob")
    code, out = _cli("team", "assign", "--annotators", "alice,bob", "--overlap", "0.2", *where)
    assert code == 0, out
    assert "10 drafted clips; 9 newly assigned, 2 with 2+ reviewers; 12 assignments added" in out
    code, out = _cli("team", "list", *where)
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]) == 6
    }
    assert rows["alice"] == ["adjudicator", "yes", "yes", "0", "6"]
    assert rows["bob"] == ["annotator", "yes", "no", "1", "6"]

    code, out = _cli("team", "deactivate", "alice", *where)
    assert code == 0 and "deactivated alice" in out
    with session_scope(url) as s:
        assert authenticate(s, "alice", rotated) is None
        assert len(s.exec(select(Assignment)).all()) == 12  # assignments stay
    code, out = _cli("team", "assign", "--annotators", "alice,bob", *where)
    assert code == 1 and "not active team members: alice" in out
    code, out = _cli("team", "add", "alice", "--role", "admin", *where)  # reactivates
    assert code == 0 and "updated alice (admin)" in out
    with session_scope(url) as s:
        again = authenticate(s, "alice", rotated)  # the token was kept
        assert again is not None and again.role == "admin" and again.active
    code, out = _cli("team", "add", "eve", "--role", "root", *where)
    assert code == 1 and "unknown role 'root'" in out


def test_a_token_file_symlink_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANNOTATOR_DB_URL", raising=False)
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    link = tmp_path / "t.token"
    link.symlink_to(target)
    code, out = _cli(
        "team", "add", "alice", "--token-file", str(link), "--home", str(tmp_path / "h")
    )
    assert code == 1 and "cannot write the token file" in out
    assert target.read_text() == "keep\n"
    with session_scope(sqlite_url(tmp_path / "h" / "annotator.db")) as s:
        assert s.exec(select(Annotator)).all() == []


def test_team_functions_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "t.db")
    with session_scope(url) as s:
        person, created = upsert_member(s, " ann ", "adjudicator")
        assert created and person.name == "ann" and person.token_hash is None
        again, created = upsert_member(s, "ann", "admin", "pbkdf2_sha256$1$a$b")
        assert not created and again.id == person.id and again.role == "admin"
        with pytest.raises(TeamError, match="unknown role 'boss'"):
            upsert_member(s, "bea", "boss")
        with pytest.raises(TeamError, match="must not be empty"):
            upsert_member(s, "  ", "admin")
        with pytest.raises(UnknownAnnotatorError) as missing:
            deactivate(s, "nobody")
        assert missing.value.code == "unknown_annotator" and isinstance(missing.value, LookupError)
        assert deactivate(s, "ann").active is False
        assert [(m.name, m.role, m.active, m.has_token) for m in team_summary(s)] == [
            ("ann", "admin", False, True)
        ]
