"""``annotator ls ...``: the Label Studio sync commands (setup, push, pull)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from annotator.cli_common import DbOpt, HomeOpt, settings_for
from annotator.labelstudio.config import DEFAULT_PROJECT

ls_app = typer.Typer(
    help="Label Studio sync: drafts out as predictions, annotations back as reviews.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="Label Studio URL [env LABEL_STUDIO_URL; default http://127.0.0.1:8080]."
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", help="API token [env LABEL_STUDIO_API_KEY]; never printed.", show_default=False
    ),
]
ProjectOpt = Annotated[str, typer.Option("--project", help="Project title.")]
MEDIA_ENV = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
MediaRootOpt = Annotated[
    Path | None,
    typer.Option(
        "--media-root",
        help="Local folder task URLs are relative to: the server's local-files document root, "
        f"or what --media-url-prefix serves [env {MEDIA_ENV}].",
    ),
]
PrefixOpt = Annotated[
    str | None,
    typer.Option(
        "--media-url-prefix", help="Serve clips from this URL prefix instead of local files."
    ),
]


def _connect(url: str | None, api_key: str | None):  # type: ignore[no-untyped-def]
    from annotator.labelstudio.client import LabelStudio, LabelStudioError

    try:
        from annotator.labelstudio.client import Connection

        ls = LabelStudio(Connection.resolve(url, api_key))
        ls.whoami()  # fail here, in one line, rather than halfway through a push
    except LabelStudioError as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    return ls


def _media_root(media_root: Path | None) -> Path | None:
    root = media_root or (Path(os.environ[MEDIA_ENV]) if os.environ.get(MEDIA_ENV) else None)
    if root is not None and not root.is_dir():
        err.print(f"[red]✗[/] media root {escape(str(root))} is not a folder")
        raise typer.Exit(2)
    return root


@ls_app.command()
def setup(
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    media_dir: Annotated[
        str | None,
        typer.Option(
            "--media-dir",
            help="The clips' folder as the server sees it, for a local-files storage: a "
            f"subfolder of the server's {MEDIA_ENV} (docker-compose: /media/clips).",
        ),
    ] = None,
    media_url_prefix: PrefixOpt = None,
) -> None:
    """Create the project (or find it by name) and its local-files storage for the media."""
    from annotator.labelstudio.client import LabelStudioError
    from annotator.labelstudio.sync import setup as run_setup

    if (media_dir is None) == (media_url_prefix is None):
        err.print("[red]✗[/] give one of --media-dir (local files) or --media-url-prefix")
        raise typer.Exit(2)
    ls = _connect(url, api_key)
    try:
        result = run_setup(ls, project, media_dir=media_dir)
    except LabelStudioError as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    what = "created" if result.created else "found"
    console.print(f"project {project!r}: {what} (id {result.project_id})")
    if result.config_updated:
        console.print("labeling config updated to this version's")
    if result.storage_id is not None:
        state = "created" if result.storage_created else "found"
        console.print(f"local-files storage {media_dir}: {state} (id {result.storage_id})")
    else:
        console.print(f"media from {media_url_prefix} (push with the same --media-url-prefix)")


@ls_app.command()
def push(
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    home: HomeOpt = None,
    db: DbOpt = None,
    media_root: MediaRootOpt = None,
    media_url_prefix: PrefixOpt = None,
    chunk: Annotated[int, typer.Option(min=1, max=5000, help="Tasks per import request.")] = 100,
) -> None:
    """One task per drafted clip, the chosen draft as a prediction; safe to rerun."""
    from annotator.labelstudio.client import LabelStudioError
    from annotator.labelstudio.sync import MediaUrls, project_id
    from annotator.labelstudio.sync import push as run_push
    from db import session_scope

    root = _media_root(media_root)
    if root is None:
        err.print(f"[red]✗[/] give --media-root (or {MEDIA_ENV}): task URLs are relative to it")
        raise typer.Exit(2)
    settings = settings_for(home, db)
    ls = _connect(url, api_key)
    try:
        pid = project_id(ls, project)
        with session_scope(settings.db_url) as session:
            result = run_push(session, ls, pid, MediaUrls(root, media_url_prefix), chunk=chunk)
    except LabelStudioError as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    for name, why in result.skipped:
        err.print(f"[yellow]~[/] {escape(name)}: not pushed: {escape(why)}")
    console.print(
        f"push to {project!r}: {result.tasks_created} tasks created, {result.tasks_found} already "
        f"there, {result.predictions_created} predictions created, {result.unchanged} unchanged, "
        f"{result.predictions_removed} superseded removed, {len(result.skipped)} skipped"
    )
    if result.model_version:
        console.print(f"predictions shown to annotators: model version {result.model_version}")


@ls_app.command()
def pull(
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Annotations back as each Label Studio user's own reviews; malformed ones are skipped and
    conflicts reported (exit 1 when an annotation could not be stored)."""
    from annotator.labelstudio.client import LabelStudioError
    from annotator.labelstudio.pull import pull as run_pull
    from annotator.labelstudio.sync import project_id
    from db import session_scope

    settings = settings_for(home, db)
    ls = _connect(url, api_key)
    try:
        pid = project_id(ls, project)
        with session_scope(settings.db_url) as session:
            result = run_pull(session, ls, pid)
    except LabelStudioError as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    for name, annotation, why in result.malformed:
        err.print(f"[red]✗[/] {escape(name)}: annotation {annotation} skipped: {escape(why)}")
    for line in result.conflicts:
        err.print(f"[yellow]![/] conflict: {escape(line)}")
    console.print(
        f"pull from {project!r}: {len(result.saved)} reviews saved, {result.unchanged} unchanged, "
        f"{len(result.malformed)} malformed, {len(result.conflicts)} clips in conflict "
        f"({result.kept_in_history} annotations kept in history only)"
    )
    # Disagreements between annotators are stored and wait for an adjudicator: not a failure.
    if result.malformed or result.kept_in_history:
        raise typer.Exit(1)
