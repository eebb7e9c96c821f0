"""What every command module shares: consoles, the --home/--db options, settings, progress.

``settings_for`` also opens the database: a command pointed at one that cannot be reached (or
a URL that is not one) stops there with one line naming it, password masked, exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from annotator.config import Settings
from annotator.safety import db_url_from_file
from extractors.errors import AnnotatorError

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", envvar="ANNOTATOR_HOME", help="Data folder (database, cue files)."),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="ANNOTATOR_DB_URL",
        help="SQLAlchemy URL [or a file holding it: ANNOTATOR_DB_URL_FILE]; default SQLite "
        "in --home. Its password is never printed.",
    ),
]


def settings_for(
    home: Path | None, db: str | None, *, open_db: bool = True, **overrides: Any
) -> Settings:
    """Settings from the options and the environment; the database opened (and migrated) when
    ``open_db``, so an unreachable one fails here in one line rather than as a traceback."""
    try:
        settings = Settings.load(home=home, db_url=db or db_url_from_file(), **overrides)
        settings.ensure_home()
        if open_db:
            from db.engine import get_engine

            get_engine(settings.db_url)
    except AnnotatorError as exc:
        fail(exc)
    return settings


def fail(exc: AnnotatorError, exit_code: int = 1) -> NoReturn:
    """Print ``exc`` as one line with its code on stderr and stop the command."""
    err.print(f"[red]✗[/] {escape(str(exc))} [dim]({exc.code})[/]")
    raise typer.Exit(exit_code)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
        console=err,
        transient=False,
    )
