"""``annotator team ...``: the people who review, their roles and sign-in tokens, and who
reviews which clip.

A token is never printed: it goes into a file only its owner can read (mode 0600), to be
handed over the way the team passes secrets; the database keeps its PBKDF2 hash. A person
without a token can sign in only to a review app served on 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from annotator.cli_common import DbOpt, HomeOpt, console, err, settings_for

team_app = typer.Typer(
    help="Annotators: add, list, deactivate, rotate tokens, assign clips with overlap.",
    no_args_is_help=True,
)

ROLES = ("annotator", "adjudicator", "admin")  # db.models.Role, without importing db here
TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        help="Write a fresh sign-in token here (mode 0600; never printed). Without it the "
        "person can sign in only on 127.0.0.1.",
    ),
]


def write_secret(path: Path, secret: str) -> None:
    """``secret`` into ``path``, readable by its owner only (0600 even when the file existed
    with looser bits); a symlink is refused rather than followed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secret + "\n").encode("ascii"))
    finally:
        os.close(fd)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]✗[/] {escape(message)}")
    return typer.Exit(1)


def _set_token(token_file: Path) -> str:
    """A fresh token written to ``token_file``; its hash is returned for the database."""
    from db.tokens import hash_token, new_token

    token = new_token()
    try:
        write_secret(token_file, token)
    except OSError as exc:
        raise _fail(f"cannot write the token file {token_file}: {exc.strerror or exc}") from None
    return hash_token(token)


@team_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The name shown on this person's reviews.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")] = "annotator",
    token_file: TokenFileOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Add a person, or give an existing one this role and reactivate them.

    An existing person keeps their token unless --token-file gives them a new one.
    """
    from db import session_scope
    from db.team import TeamError, upsert_member

    if not name.strip():
        raise _fail("the name must not be empty")
    if role not in ROLES:  # checked before a token file is written
        raise _fail(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    settings = settings_for(home, db)
    token_hash = _set_token(token_file) if token_file is not None else None
    try:
        with session_scope(settings.db_url) as session:
            person, created = upsert_member(session, name, role, token_hash)
            clean = person.name
    except Exception as exc:
        if token_file is not None:  # a token the database does not know would only mislead
            token_file.unlink(missing_ok=True)
        if isinstance(exc, TeamError):
            raise _fail(str(exc)) from None
        raise
    where = f"token written to {token_file}" if token_file else "no token: 127.0.0.1 only"
    verb = "added" if created else "updated"
    console.print(f"{verb} {escape(clean)} ({role}); {escape(where)}")


@team_app.command("token")
def token(
    name: Annotated[str, typer.Argument()],
    token_file: Annotated[Path, typer.Option("--token-file", help="Where the new token goes.")],
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Give a person a new token (the old one stops working)."""
    from db import session_scope
    from db.team import TeamError, get_annotator, set_token_hash

    settings = settings_for(home, db)
    with session_scope(settings.db_url) as session:
        if get_annotator(session, name) is None:  # before a token file is written
            raise _fail(f"no annotator {name.strip()!r}; add them with `annotator team add`")
        try:
            person = set_token_hash(session, name, _set_token(token_file))
        except TeamError as exc:
            raise _fail(str(exc)) from None
        clean = person.name
    console.print(f"new token for {escape(clean)} written to {escape(str(token_file))}")


@team_app.command("list")
def list_team(home: HomeOpt = None, db: DbOpt = None) -> None:
    """Everyone: role, whether active, whether they have a token, reviews done, assigned."""
    from db import session_scope
    from db.team import team_summary

    settings = settings_for(home, db)
    with session_scope(settings.db_url) as session:
        members = team_summary(session)
    table = Table(title="team")
    for column in ("name", "role", "active", "token", "reviews done", "assigned"):
        table.add_column(column)
    for m in members:
        table.add_row(
            escape(m.name),
            m.role,
            "yes" if m.active else "no",
            "yes" if m.has_token else "no",
            str(m.reviews_done),
            str(m.assigned),
        )
    console.print(table)


@team_app.command("deactivate")
def deactivate(
    name: Annotated[str, typer.Argument()], home: HomeOpt = None, db: DbOpt = None
) -> None:
    """Stop a person from signing in and saving; their reviews stay."""
    from db import session_scope
    from db.team import TeamError
    from db.team import deactivate as deactivate_member

    settings = settings_for(home, db)
    try:
        with session_scope(settings.db_url) as session:
            clean = deactivate_member(session, name).name
    except TeamError as exc:
        raise _fail(str(exc)) from None
    console.print(f"deactivated {escape(clean)}")


@team_app.command("assign")
def assign(
    annotators: Annotated[
        str, typer.Option("--annotators", help="Comma-separated names (added with `team add`).")
    ],
    overlap: Annotated[
        float, typer.Option("--overlap", help="Share of clips reviewed by several people.")
    ] = 0.1,
    per_clip: Annotated[
        int, typer.Option("--per-clip", help="Reviewers of each overlap clip.")
    ] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Which clips overlap.")] = 0,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Assign each drafted clip to one person round-robin, the overlap share to several.

    Rerun it after new clips arrive: only those are assigned.
    """
    from sqlalchemy.exc import IntegrityError

    from db import session_scope
    from db.team import TeamError, assign_overlap

    names = [n.strip() for n in annotators.split(",") if n.strip()]
    settings = settings_for(home, db)
    try:
        with session_scope(settings.db_url) as session:
            report = assign_overlap(session, names, overlap, per_clip, seed)
    except TeamError as exc:
        raise _fail(str(exc)) from None
    except IntegrityError:  # the unique (clip, annotator) key: another assign ran at once
        raise _fail("another `team assign` saved assignments meanwhile; run it again") from None
    console.print(
        f"{report.n_clips} drafted clips; {report.n_new_clips} newly assigned, "
        f"{report.n_overlap_clips} with {per_clip}+ reviewers; {report.n_added} assignments "
        f"added ({report.n_from_reviews} from reviews already made)"
    )
    table = Table(title="assigned clips")
    table.add_column("annotator")
    table.add_column("clips")
    for who, n in report.per_annotator.items():
        table.add_row(escape(who), str(n))
    console.print(table)
