"""``annotator stats``: agreement between annotators and draft quality, as tables, JSON or
a self-contained HTML report (``annotator.stats``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from annotator.cli_common import DbOpt, HomeOpt, console, err, settings_for


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:.2f}..{high:.2f}"


def stats(
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML report with plots here."),
    ] = None,
    resamples: Annotated[
        int,
        typer.Option(
            "--resamples", min=0, help="Bootstrap draws (clips resampled) for alpha's 95% interval."
        ),
    ] = 1000,
) -> None:
    """Agreement (Krippendorff's alpha, caption similarity) and draft quality per model."""
    from annotator.stats.report import collect
    from db import session_scope

    settings = settings_for(home, db)
    with session_scope(settings.db_url) as session:
        report = collect(session, resamples=resamples)
    if html_out is not None:
        from annotator.stats.html import write_html

        path = write_html(report, html_out)
        err.print(f"report: {escape(str(path))}")
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    console.print(
        f"{report.n_clips_reviewed} clips with an accepted or edited annotation, "
        f"{report.n_clips_multi} with two or more, {report.n_finals} with a final version"
    )
    alphas = Table(title="Krippendorff's alpha (clips with two or more annotations)")
    for col in ("variable", "level", "alpha", "95% interval", "clips", "values", "note"):
        alphas.add_column(col, justify="left" if col in ("variable", "level", "note") else "right")
    for name, a in report.alphas.items():
        alphas.add_row(
            name,
            a.level,
            _fmt(a.value),
            _interval(a.ci_low, a.ci_high),
            str(a.n_clips),
            str(a.n_values),
            escape(a.note or ""),
        )
    console.print(alphas)
    sim = report.caption_similarity
    console.print(
        f"caption similarity: {_fmt(sim.value)} ({escape(sim.method)}; "
        f"{sim.n_pairs} pairs on {sim.n_clips} clips)"
    )
    quality = Table(title="Draft quality per model and prompt version")
    for col in ("model", "prompt", "judged", "accepted", "edit dist.", "label P", "label R",
                "grounding", "finals"):  # fmt: skip
        quality.add_column(col, justify="left" if col in ("model", "prompt") else "right")
    for q in report.quality:
        quality.add_row(
            escape(q.model_id),
            escape(q.prompt_version),
            str(q.n_reviewed),
            _fmt(q.acceptance_rate),
            _fmt(q.edit_distance),
            _fmt(q.label_precision),
            _fmt(q.label_recall),
            _fmt(q.grounding_rate),
            str(q.n_final),
        )
    console.print(quality)
    if report.pairs:
        pairs = Table(title="Annotator pairs")
        for col in ("pair", "clips", "same primary", "agreement", "|Δ valence|", "|Δ arousal|"):
            pairs.add_column(col, justify="left" if col == "pair" else "right")
        for p in report.pairs:
            pairs.add_row(
                escape(f"{p.a} / {p.b}"),
                str(p.n_clips),
                _fmt(p.label_match, 2),
                _fmt(p.agreement, 2),
                _fmt(p.valence_mad, 2),
                _fmt(p.arousal_mad, 2),
            )
        console.print(pairs)
    if report.unknown_labels:
        words = ", ".join(f"{k} ({n})" for k, n in list(report.unknown_labels.items())[:15])
        console.print(f"labels outside the emotion wheel: {escape(words)}")
