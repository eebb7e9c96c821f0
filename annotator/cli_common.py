"""What every command module shares: consoles, the --home/--db options, settings, progress."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from annotator.config import Settings

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", envvar="ANNOTATOR_HOME", help="Data folder (database, cue files)."),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="ANNOTATOR_DB_URL", help="SQLAlchemy URL; default SQLite in --home."
    ),
]


def settings_for(home: Path | None, db: str | None, **overrides: Any) -> Settings:
    settings = Settings.load(home=home, db_url=db, **overrides)
    settings.ensure_home()
    return settings


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
