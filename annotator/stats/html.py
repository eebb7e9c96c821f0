"""The stats report as one self-contained HTML file: matplotlib PNGs embedded as base64
``data:`` URIs, inline CSS, no script and no link to anything outside the file, so it
opens offline and can be mailed or attached to a dataset card."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from annotator.stats.report import StatsReport
from annotator.stats.wheel import BASIC_EMOTIONS

# One colour per basic emotion (Plutchik's wheel colours, roughly); others grey.
COLOURS = {
    "joy": "#f2c500",
    "trust": "#7bc043",
    "fear": "#1b8a3a",
    "surprise": "#2ab0c5",
    "sadness": "#3465a4",
    "disgust": "#8e5aa8",
    "anger": "#d62728",
    "anticipation": "#ff8c1a",
    "neutral": "#9a9a9a",
}


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 6.0, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def plot_labels(report: StatsReport) -> str | None:
    if not report.label_counts:
        return None
    fig, ax = _figure()
    names = list(report.label_counts)[:20]
    counts = [report.label_counts[n] for n in names]
    ax.barh(names[::-1], counts[::-1], color=[COLOURS.get(n, "#bbbbbb") for n in names[::-1]])
    ax.set_xlabel("final clips naming the emotion (after the wheel)")
    ax.set_title(f"Label distribution ({report.n_finals} final clips)")
    return _png(fig)


def plot_va(report: StatsReport) -> str | None:
    if not report.va_points:
        return None
    fig, ax = _figure(5.0, 4.0)
    for emotion in [*BASIC_EMOTIONS, None]:
        pts = [
            (v, a)
            for v, a, e in report.va_points
            if (e == emotion if emotion else e not in BASIC_EMOTIONS)
        ]
        if pts:
            ax.scatter(
                [p[0] for p in pts],
                [p[1] for p in pts],
                s=18,
                alpha=0.7,
                color=COLOURS.get(emotion or "", "#bbbbbb"),
                label=emotion or "other",
            )
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.axvline(0, color="#dddddd", lw=0.8)
    ax.set_xlabel("valence")
    ax.set_ylabel("arousal")
    ax.set_title("Final valence / arousal, by primary emotion")
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def plot_pairs(report: StatsReport) -> str | None:
    pairs = [p for p in report.pairs if p.agreement is not None]
    if not pairs:
        return None
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    import numpy as np

    grid = np.full((len(names), len(names)), np.nan)
    for p in pairs:
        i, j = names.index(p.a), names.index(p.b)
        grid[i, j] = grid[j, i] = p.agreement if p.agreement is not None else np.nan
    side = 1.2 + 0.5 * len(names)
    fig, ax = _figure(side + 1.5, side)
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for p in pairs:
        i, j = names.index(p.a), names.index(p.b)
        for r, c in ((i, j), (j, i)):
            ax.text(c, r, f"{p.agreement:.2f}\nn={p.n_clips}", ha="center", va="center",
                    fontsize=7, color="black" if (p.agreement or 0) > 0.6 else "white")  # fmt: skip
    fig.colorbar(image, ax=ax, label="mean pair agreement (0..1)")
    ax.set_title("Agreement per annotator pair")
    return _png(fig)


def plot_acceptance(report: StatsReport) -> str | None:
    days = report.acceptance_by_day
    if not days:
        return None
    fig, ax = _figure()
    ax.plot([d.day for d in days], [d.rate for d in days], marker="o")
    for d in days:
        ax.annotate(str(d.n_reviewed), (d.day, d.rate), fontsize=7, xytext=(0, 5),
                    textcoords="offset points", ha="center")  # fmt: skip
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("accepted unchanged / judged")
    ax.set_title("Acceptance over time (numbers: reviews that day)")
    fig.autofmt_xdate()
    return _png(fig)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ci(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:.2f} .. {high:.2f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


CSS = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;"
    "text-align:right}th{background:#f4f4f4}img{max-width:100%;display:block;margin:1em 0}"
)


def render(report: StatsReport) -> str:
    alpha_rows = [
        [k, a.level, _fmt(a.value), _ci(a.ci_low, a.ci_high), str(a.n_clips), str(a.n_values),
         a.note or ""]
        for k, a in report.alphas.items()
    ]  # fmt: skip
    sim = report.caption_similarity
    quality_rows = [
        [q.model_id, q.prompt_version, str(q.n_reviewed), _fmt(q.acceptance_rate),
         _fmt(q.edit_distance), _fmt(q.label_precision), _fmt(q.label_recall),
         _fmt(q.grounding_rate), str(q.n_final)]
        for q in report.quality
    ]  # fmt: skip
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>mer-annotator stats</title><style>{CSS}</style></head><body>",
        "<h1>Agreement and draft quality</h1>",
        f"<p>{report.n_clips_reviewed} clips with an accepted or edited annotation, "
        f"{report.n_clips_multi} with two or more (the agreement units), "
        f"{report.n_finals} with a final version.</p>",
        "<h2>Krippendorff's alpha</h2>",
        _table(
            [
                "variable",
                "level",
                "alpha",
                "95% interval (clips resampled)",
                "clips",
                "values",
                "note",
            ],
            alpha_rows,
        ),
        f"<p>Caption similarity between annotators: <b>{_fmt(sim.value)}</b> "
        f"({html.escape(sim.method)}; {sim.n_pairs} pairs on {sim.n_clips} clips).</p>",
        "<h2>Draft quality per model and prompt version</h2>",
        _table(
            [
                "model",
                "prompt",
                "judged",
                "accepted",
                "edit dist.",
                "label P",
                "label R",
                "grounding",
                "finals",
            ],
            quality_rows,
        ),
    ]
    if report.unknown_labels:
        unknown = ", ".join(f"{k} ({n})" for k, n in list(report.unknown_labels.items())[:30])
        parts.append(
            f"<p>Labels outside the emotion wheel (kept as written): {html.escape(unknown)}</p>"
        )
    for title, png in (
        ("Label distribution", plot_labels(report)),
        ("Valence / arousal", plot_va(report)),
        ("Agreement per annotator pair", plot_pairs(report)),
        ("Acceptance over time", plot_acceptance(report)),
    ):
        parts.append(f"<h2>{title}</h2>")
        if png is None:
            parts.append("<p>No data yet.</p>")
        else:
            parts.append(f"<img alt='{title}' src='data:image/png;base64,{png}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: StatsReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path
