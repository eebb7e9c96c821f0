"""``annotator export`` and ``annotator push-to-hub``: the dataset out of the database, and
an export folder up to the Hugging Face Hub."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from annotator.cli_common import DbOpt, HomeOpt, console, err, fail, settings_for
from extractors.errors import AnnotatorError


def _date(text: str | None, option: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(f"[red]✗[/] {option} {escape(text)}: a date like 2026-11-30")
        raise typer.Exit(2) from None


def export(
    out: Annotated[Path, typer.Argument(help="Output folder (or a .jsonl file).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="hf | jsonl | mer-csv | sharegpt | preference")
    ] = "hf",
    home: HomeOpt = None,
    db: DbOpt = None,
    status: Annotated[
        str, typer.Option(help="Standing review statuses to export (accepted,edited,rejected).")
    ] = "accepted,edited",
    include_drafts: Annotated[
        bool,
        typer.Option(
            "--include-drafts", help="Also clips without a standing review, flagged reviewed=false."
        ),
    ] = False,
    min_agreement: Annotated[
        float | None,
        typer.Option(help="Only clips whose annotators agree at least this much (0..1)."),
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="Draft model id (glob pattern); repeatable.")
    ] = None,
    since_date: Annotated[str | None, typer.Option(help="Changed on/after YYYY-MM-DD.")] = None,
    until_date: Annotated[str | None, typer.Option(help="Changed on/before YYYY-MM-DD.")] = None,
    since: Annotated[
        Path | None, typer.Option(help="An earlier export: write only clips changed since.")
    ] = None,
    split_by_speaker: Annotated[
        bool, typer.Option("--split-by-speaker", help="Speaker-disjoint train/validation/test.")
    ] = False,
    split_fractions: Annotated[
        str, typer.Option(help="train,validation,test shares for --split-by-speaker.")
    ] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(help="Seed of the speaker split.")] = 0,
    no_media: Annotated[bool, typer.Option("--no-media", help="hf: leave the videos out.")] = False,
    embed_media: Annotated[
        bool, typer.Option("--embed-media", help="hf: video bytes inside the Parquet files.")
    ] = False,
    link_media: Annotated[
        bool, typer.Option("--link-media", help="hf: hard-link videos instead of copying.")
    ] = False,
    media_root: Annotated[
        list[Path] | None,
        typer.Option(help="Another folder a symlinked clip may point into; repeatable."),
    ] = None,
    no_stats: Annotated[
        bool, typer.Option("--no-stats", help="hf: leave agreement figures out of the card.")
    ] = False,
) -> None:
    """Write the dataset: a Hugging Face dataset repository folder, JSONL, MER-style CSV,
    ShareGPT chat records or DPO preference pairs. Reviewed clips only unless asked."""
    from annotator.export import FORMATS, ExportOptions, run_export
    from annotator.export.options import parse_fractions, parse_statuses
    from db import session_scope

    if fmt not in FORMATS:
        err.print(f"[red]✗[/] unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
        raise typer.Exit(2)
    try:
        options = ExportOptions(
            statuses=parse_statuses(status),
            include_drafts=include_drafts,
            min_agreement=min_agreement,
            models=tuple(model or ()),
            since_date=_date(since_date, "--since-date"),
            until_date=_date(until_date, "--until-date"),
            since=since,
            split_by_speaker=split_by_speaker,
            split_fractions=parse_fractions(split_fractions),
            seed=seed,
            copy_media=not no_media,
            embed_media=embed_media and not no_media,
            link_media=link_media,
            media_roots=tuple(media_root or ()),
            with_stats=not no_stats,
        )
    except AnnotatorError as exc:
        fail(exc, 2)
    settings = settings_for(home, db)
    try:
        with session_scope(settings.db_url) as session:
            result = run_export(session, fmt, out, options)
    except AnnotatorError as exc:
        fail(exc)
    for note in result.notes:
        console.print(f"  {note}", markup=False)
    unchanged = f", {result.n_unchanged} unchanged left out" if since else ""
    console.print(f"exported ({fmt}) {result.n_clips} clips{unchanged} to {result.path}")


def push_to_hub(
    out: Annotated[Path, typer.Argument(help="An export folder (annotator export --format hf).")],
    repo: Annotated[str, typer.Argument(help="Hub dataset repository, owner/name.")],
    private: Annotated[bool, typer.Option("--private", help="A private repository.")] = False,
    token_file: Annotated[
        Path | None, typer.Option(help="File holding the Hub token [else HF_TOKEN, or login].")
    ] = None,
) -> None:
    """Upload an export folder to the Hugging Face Hub as a dataset repository."""
    from annotator.export.hub import push

    try:
        url = push(out, repo, private=private, token_file=token_file)
    except AnnotatorError as exc:
        fail(exc)
    console.print(f"pushed {out.name} to {url}", markup=False)
