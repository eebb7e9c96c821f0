"""Export reviewed clips: a Hugging Face dataset repository (five typed configurations),
MER-style CSV, JSONL, ShareGPT fine-tuning records and DPO preference pairs.

By default only clips whose standing review (``db.queries.final_of``) accepted or edited
the draft are exported; ``ExportOptions`` sets the filters. No absolute path of the
user's machine is written anywhere: media go into the export under safe relative names.

``export(session, fmt, out)`` without options exports every drafted clip, unreviewed ones
flagged (``reviewed = False``), as the demo shows its one draft; the CLI passes options
whose default is reviewed clips only.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from annotator.export.card import LICENCE_NOTES
from annotator.export.collect import (
    ClipExport,
    annotator_names,
    caption_row,
    content_hash,
    select_clips,
)
from annotator.export.manifest import MANIFEST, Manifest, load_hashes
from annotator.export.options import FORMATS, ExportError, ExportOptions
from annotator.export.splits import assign_speaker_splits, check_disjoint

__all__ = [
    "FORMATS",
    "LICENCE_NOTES",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "collect_rows",
    "export",
    "run_export",
    "write_jsonl",
    "write_mer_csv",
]


@dataclass
class ExportResult:
    path: Path
    n_clips: int  # clips written
    n_unchanged: int = 0  # left out by --since
    notes: list[str] = field(default_factory=list)


def collect_rows(session: Session, options: ExportOptions | None = None) -> list[dict[str, Any]]:
    """The ``captions`` rows of the clips the options let through (without media)."""
    options = options or ExportOptions(include_drafts=True)
    names = annotator_names(session)
    return [caption_row(item, names) for item in select_clips(session, options)]


def export(
    session: Session,
    fmt: str,
    out: Path,
    copy_media: bool = True,
    options: ExportOptions | None = None,
) -> Path:
    """Write ``fmt`` to ``out``; the path written (a folder, or the JSONL file)."""
    if options is None:
        options = ExportOptions(include_drafts=True, copy_media=copy_media)
    return run_export(session, fmt, out, options).path


def run_export(session: Session, fmt: str, out: Path, options: ExportOptions) -> ExportResult:
    """Select, split, compare with ``--since``, write; what was written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; known formats: {', '.join(FORMATS)}")
    items = select_clips(session, options)
    notes: list[str] = []
    if options.split_by_speaker:
        counts = assign_speaker_splits(items, options.split_fractions, options.seed)
        notes.append("speaker-disjoint splits: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    names = annotator_names(session)
    rows = [caption_row(item, names) for item in items]
    hashes = [content_hash(row, item) for row, item in zip(rows, items, strict=True)]
    manifest = Manifest(fmt=fmt, options=_public(options))
    previous: dict[str, str] = {}
    if options.since is not None:
        previous = load_hashes(options.since)
        manifest.since = options.since.name
    keep = [previous.get(item.clip.sha256) != h for item, h in zip(items, hashes, strict=True)]
    for item, digest, written in zip(items, hashes, keep, strict=True):
        manifest.clips[item.clip.sha256] = {"name": item.name, "hash": digest, "written": written}
    manifest.removed = sorted(set(previous) - set(manifest.clips))
    unchanged = keep.count(False)
    items = [i for i, k in zip(items, keep, strict=True) if k]
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    check_disjoint(items)
    path = _write(session, fmt, out, items, rows, names, options, notes)
    if out.is_dir():  # a folder export (not one .jsonl file) keeps its manifest
        (out / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    return ExportResult(path, len(items), unchanged, notes)


def _public(options: ExportOptions) -> dict[str, Any]:
    """The options as the manifest records them: no paths of the user's machine."""
    return {
        "statuses": list(options.statuses),
        "include_drafts": options.include_drafts,
        "min_agreement": options.min_agreement,
        "models": list(options.models),
        "since_date": str(options.since_date) if options.since_date else None,
        "until_date": str(options.until_date) if options.until_date else None,
        "split_by_speaker": options.split_by_speaker,
        "split_fractions": list(options.split_fractions),
        "seed": options.seed,
        "embed_media": options.embed_media,
    }


def _write(
    session: Session,
    fmt: str,
    out: Path,
    items: list[ClipExport],
    rows: list[dict[str, Any]],
    names: dict[int, str],
    options: ExportOptions,
    notes: list[str],
) -> Path:
    if fmt == "hf":
        from annotator.export.hf import write_hf

        path, more = write_hf(session, items, rows, names, out, options)
        notes.extend(more)
        return path
    if fmt == "jsonl":
        return write_jsonl(rows, out)
    if fmt == "mer-csv":
        return write_mer_csv(rows, out)
    from annotator.export.chat import preference_records, sharegpt_records

    records = sharegpt_records(items) if fmt == "sharegpt" else preference_records(items)
    return _write_lines(records, out, f"{fmt}.jsonl")


def _write_lines(records: list[dict[str, Any]], out: Path, default_name: str) -> Path:
    if out.suffix != ".jsonl":
        out.mkdir(parents=True, exist_ok=True)
        out = out / default_name
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return out


def write_jsonl(rows: list[dict[str, Any]], out: Path) -> Path:
    """One ``captions`` row per line (``dataset.jsonl`` inside ``out`` unless it is a file)."""
    return _write_lines(rows, out, "dataset.jsonl")


def write_mer_csv(rows: list[dict[str, Any]], out: Path) -> Path:
    """MER-style files: ``openset.csv`` (name,openset) and ``reason.csv`` (name,reason)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "openset.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "openset"])
        for row in rows:
            writer.writerow([row["name"], ", ".join(row["openset"])])
    with (out / "reason.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "reason"])
        for row in rows:
            writer.writerow([row["name"], row["caption"]])
    return out
