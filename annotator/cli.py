"""The ``annotator`` command line: a thin typer layer over the pipeline, export and app."""

from __future__ import annotations

import json
import logging
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from annotator.cli_common import DbOpt, HomeOpt, console, err, settings_for
from annotator.cli_export import export, push_to_hub
from annotator.cli_labelstudio import ls_app
from annotator.cli_models import models_app
from annotator.cli_run import _run, run
from annotator.cli_stats import stats
from annotator.cli_team import team_app
from annotator.cli_worker import worker
from annotator.config import Settings
from annotator.safety import mask_url

app = typer.Typer(
    help="mer-annotator: video -> emotion cues -> LLM draft caption -> human review -> dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
    )
    # Keep third-party chatter (transformers, faster-whisper...) out of the user's way.
    for noisy in ("transformers", "faster_whisper", "urllib3", "httpx", "numba", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Our progress is drawn by rich; libraries' own tqdm bars (GGUF loading, datasets)
    # would interleave with it. tqdm reads this when it is first imported.
    os.environ.setdefault("TQDM_DISABLE", "1")
    import warnings

    warnings.filterwarnings("ignore")


@app.callback()
def main_callback(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    _setup_logging(verbose)


@app.command()
def init(home: HomeOpt = None, db: DbOpt = None) -> None:
    """Create the data folder and the database tables."""
    from db import get_engine

    settings = settings_for(home, db)
    get_engine(settings.db_url)
    console.print(f"data folder: {settings.home}\ndatabase:    {mask_url(settings.db_url)}")


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Media files or folders (recursive); default: the CSV's files."),
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    speaker: Annotated[
        str | None, typer.Option("--speaker", help="Speaker id of every file of this call.")
    ] = None,
    speakers_csv: Annotated[
        Path | None,
        typer.Option(
            "--speakers-csv",
            help="CSV with columns file,speaker (file relative to the CSV's folder or absolute).",
        ),
    ] = None,
    allow_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-root",
            help="Another folder media may resolve into (symlinks, ..); repeatable. By default "
            "only the folders given (a file's own folder; the CSV's folder) are allowed.",
        ),
    ] = None,
) -> None:
    """Register clips by content hash; the same file under another name is not added twice.

    With --speaker or --speakers-csv the clips get a speaker id: prosody is then worded
    against the speaker's other clips once there are enough of them.
    """
    from annotator.ingest import ingest as run_ingest
    from annotator.safety import AllowedRoots
    from annotator.speakers import SpeakersCsvError, read_speakers_csv

    table = None
    if speakers_csv is not None:
        try:
            table = read_speakers_csv(speakers_csv)
        except SpeakersCsvError as exc:
            err.print(f"[red]✗[/] {escape(str(exc))} [dim]({exc.code})[/]")
            raise typer.Exit(1) from None
    from_csv = not paths
    if not paths:
        if table is None:
            err.print("[red]✗[/] give media files or folders, or --speakers-csv")
            raise typer.Exit(1)
        paths = [Path(p) for p in table.by_path]
    settings = settings_for(home, db)
    csv_root = [speakers_csv.parent] if speakers_csv is not None and table is not None else []
    allowed = (
        AllowedRoots.of([*csv_root, *(allow_root or [])])
        if from_csv
        else AllowedRoots.for_inputs(paths, [*csv_root, *(allow_root or [])])
    )
    result = run_ingest(
        settings,
        paths,
        speaker=speaker,
        speakers=table.by_path if table else None,
        allowed=allowed,
    )
    for _path, code, message in result.failed:
        err.print(f"[red]✗[/] {escape(message)} [dim]({code})[/]")
    for path, existing in result.duplicates:
        console.print(f"= {escape(path)}: same content as clip {escape(existing)}")
    for path, old, new in result.speaker_changes:
        console.print(f"~ {escape(path)}: speaker {escape(old)} -> {escape(new)}")
    if table is not None:
        for missing in table.missing:
            err.print(f"[yellow]![/] {escape(str(speakers_csv))}: no such file {escape(missing)}")
        unused = sorted(set(table.by_path) - set(result.resolved))
        for path in unused:
            err.print(f"[yellow]![/] {escape(str(speakers_csv))}: {escape(path)} was not ingested")
        if result.without_speaker:
            err.print(
                f"[yellow]![/] {len(result.without_speaker)} file(s) not in the CSV"
                + (f", speaker {escape(speaker)}" if speaker else ", no speaker")
            )
    console.print(
        f"ingested {len(result.added)} new, {len(result.duplicates)} already known, "
        f"{len(result.failed)} failed"
    )
    if result.failed:
        raise typer.Exit(1)


@app.command()
def speakers(home: HomeOpt = None, db: DbOpt = None) -> None:
    """Speakers and how many clips each has (set with `ingest --speaker/--speakers-csv`)."""
    from annotator.speakers import speaker_counts
    from db import session_scope

    settings = settings_for(home, db)
    with session_scope(settings.db_url) as session:
        rows = speaker_counts(session)
    if not rows:
        console.print("no speakers yet: `annotator ingest --speaker NAME` or --speakers-csv")
        return
    table = Table(title="speakers")
    table.add_column("speaker")
    table.add_column("clips", justify="right")
    for name, count in rows:
        table.add_row(escape(name), str(count))
    console.print(table)


app.command()(run)  # annotator/cli_run.py


@app.command()
def cues(
    clip: Annotated[str, typer.Argument(help="Clip id, name, sha256 prefix or original path.")],
    home: HomeOpt = None,
    db: DbOpt = None,
    readable: Annotated[
        bool, typer.Option(help="The annotators' version instead of the prompt text.")
    ] = False,
) -> None:
    """Print a clip's cue text (what the LLM is given)."""
    from db import session_scope
    from db.queries import find_clip, latest_cue_text

    settings = settings_for(home, db)
    with session_scope(settings.db_url) as session:
        found = find_clip(session, clip) or find_clip(session, str(Path(clip).resolve()))
        if found is None or found.id is None:
            err.print(f"[red]✗[/] no clip {escape(clip)!r}; see `annotator status`")
            raise typer.Exit(1)
        text = latest_cue_text(session, found.id)
        if text is None:
            err.print(
                f"[red]✗[/] clip {escape(found.name)} has no cue text yet: run `annotator run`"
            )
            raise typer.Exit(1)
        console.print(text.readable_text if readable else text.prompt_text, markup=False)


@app.command()
def status(
    home: HomeOpt = None, db: DbOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Counts of clips by status, stages by outcome, errors by code."""
    from db import session_scope
    from db.queries import status_counts

    settings = settings_for(home, db)
    with session_scope(settings.db_url) as session:
        counts = status_counts(session)
    if as_json:
        console.print_json(json.dumps(counts))
        return
    table = Table(title=f"mer-annotator: {settings.home}")
    table.add_column("what")
    table.add_column("counts")
    table.add_row("clips", _fmt(counts["clips"]))
    for stage, by_status in sorted(counts["stages"].items()):
        table.add_row(f"stage {stage}", _fmt(by_status))
    table.add_row("drafts", _fmt(counts["drafts"]))
    table.add_row("reviews", _fmt(counts["reviews"]))
    table.add_row("errors", _fmt(counts["errors"]))
    console.print(table)
    for _path, message in counts["ingest_failures"]:
        err.print(f"[red]✗[/] {escape(message)}")


@app.command()
def doctor(
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for scripts.")] = False,
    decode: Annotated[
        bool,
        typer.Option(
            "--decode/--no-decode",
            help="Have the llamacpp drafter decode one token (in a subprocess: a crash is "
            "reported, not suffered).",
        ),
    ] = True,
) -> None:
    """Check what a run needs on this machine, one line each; exit 1 when a check fails."""
    from annotator.cli_common import db_url_from_file
    from annotator.doctor import Status, run_checks

    settings = Settings.load(home=home, db_url=db or db_url_from_file())  # creates nothing
    checks = run_checks(settings, decode=decode)
    failed = [c for c in checks if c.status == Status.FAIL]
    if as_json:
        payload = {"ok": not failed, "checks": [c.to_dict() for c in checks]}
        console.print_json(json.dumps(payload))
    else:
        marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]", "skip": "-"}
        for check in checks:
            console.print(f"{marks[check.status]} {check.name:<13} {escape(check.detail)}")
    if failed:
        raise typer.Exit(1)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"


def review_command(settings: Settings, port: int, address: str = "127.0.0.1") -> list[str]:
    script = Path(__file__).resolve().parent.parent / "app" / "review.py"
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",  # no "Deploy" button for annotators
    ]


@app.command()
def review(
    home: HomeOpt = None,
    db: DbOpt = None,
    port: Annotated[int, typer.Option(help="Port for the Streamlit app.")] = 8501,
    address: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Beyond 127.0.0.1 (e.g. 0.0.0.0) everyone signs in "
            "with a name and token (annotator team add)."
        ),
    ] = "127.0.0.1",
) -> None:
    """Start the Streamlit review app (headless): open the printed URL in a browser."""
    settings = settings_for(home, db)
    env = {
        **os.environ,
        "ANNOTATOR_HOME": str(settings.home),
        "ANNOTATOR_DB_URL": settings.db_url,
        "ANNOTATOR_REVIEW_ADDRESS": address,  # the app asks for tokens beyond loopback
    }
    console.print(f"review app: http://{address}:{port}  (Ctrl-C to stop)")
    command = review_command(settings, port, address)
    # Become the Streamlit server (exec, not a child process): stopping this process
    # stops the server, with no orphan left holding the port.
    sys.stdout.flush()
    os.execve(command[0], command, env)


def sample_clip() -> Path:
    """The bundled demo clip: a real face video muxed with real speech (scripts/make_sample.py)."""
    return Path(str(resources.files("annotator") / "samples" / "demo.mp4"))


@app.command()
def demo(
    home: Annotated[Path, typer.Option("--home", help="Where the demo writes.")] = Path(
        "demo-output"
    ),
    max_new_tokens: Annotated[int, typer.Option(help="Draft length cap.")] = 512,
) -> None:
    """Run the whole flow on the bundled sample: ingest, extract, draft, export."""
    from annotator.export import export as run_export
    from annotator.ingest import ingest as run_ingest
    from db import session_scope
    from db.queries import find_clip, latest_draft

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = settings_for(home, None, drafting_options={"max_new_tokens": max_new_tokens})
    sample = sample_clip()
    console.print(f"[bold]1/4 ingest[/] {sample.name}")
    ingested = run_ingest(settings, [sample])
    if ingested.failed:
        err.print(f"[red]✗[/] {ingested.failed[0][2]}")
        raise typer.Exit(1)
    console.print("[bold]2/4 extract, textualize, draft[/] (the first run loads the models)")
    result = _run(settings, draft=True, clips=[str(sample.resolve())])
    out = settings.home / "export-hf"
    console.print(f"[bold]3/4 export[/] Hugging Face dataset -> {out}")
    with session_scope(settings.db_url) as session:
        run_export(session, "hf", out)
        clip = find_clip(session, str(sample.resolve()))
        draft = latest_draft(session, clip.id) if clip and clip.id else None
    console.print("[bold]4/4 done[/]")
    if draft is not None:
        console.rule("draft")
        console.print(
            f"labels:  {', '.join(draft.labels) or '-'}   valence {draft.valence}  "
            f"arousal {draft.arousal}  ({draft.status})",
            markup=False,
        )
        console.print(f"caption: {draft.caption or draft.error_message}", markup=False)
        console.rule()
    console.print(
        f"database:     {mask_url(settings.db_url)}\n"
        f"cue text:     .venv/bin/annotator cues {clip.id if clip else 1} --home {settings.home}\n"
        f'dataset:      .venv/bin/python -c "import datasets; '
        f"print(datasets.load_dataset('{out}', split='train'))\"\n"
        f"review UI:    .venv/bin/annotator review --home {settings.home}   (then open http://127.0.0.1:8501)",
        markup=False,
    )
    if result is None or result.failed:
        raise typer.Exit(1)


app.add_typer(ls_app, name="ls")
app.add_typer(models_app, name="models")
app.add_typer(team_app, name="team")
app.command()(worker)  # annotator/cli_worker.py
app.command()(stats)  # annotator/cli_stats.py
app.command()(export)  # annotator/cli_export.py
app.command("push-to-hub")(push_to_hub)


def main() -> None:
    """The ``annotator`` command. A database lost in the middle of a command (a stopped one
    fails earlier, in ``settings_for``) ends in one line, not a traceback; driver messages
    name the host, never the password."""
    from sqlalchemy.exc import OperationalError

    from annotator.cli_common import fail
    from db.engine import DatabaseUnavailableError

    try:
        app()
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        try:
            fail(DatabaseUnavailableError(f"lost the database during the command: {reason}"))
        except typer.Exit as stop:
            sys.exit(stop.exit_code)


if __name__ == "__main__":
    main()
