"""A folder that is a Hugging Face dataset repository: Parquet shards per configuration and
split (``data/<config>/<split>-NNNNN-of-NNNNN.parquet``), media under ``media/``, the card
(README.md), LICENSE.md and ``manifest.json``.

Tables are built with pyarrow from the ``datasets`` schema (its metadata carries the
features), not through ``Dataset``, so writing never imports a video decoder and an empty
split is simply left out.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlmodel import Session

from annotator.export.card import LICENCE_NOTES, SplitInfo, render
from annotator.export.collect import ClipExport, draft_rows, review_rows, track_rows
from annotator.export.features import CONFIGS, features
from annotator.export.media import place
from annotator.export.options import ExportError, ExportOptions

#: What an export folder may hold; anything else there means it is not ours to clear.
OWNED = {"data", "media", "README.md", "LICENSE.md", "manifest.json", "videos", ".gitattributes"}


def prepare(out: Path) -> None:
    """Make ``out`` empty of an earlier export's files; refuse a folder that holds others."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out.name}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OWNED)
    if foreign:
        raise ExportError(
            f"{out.name}: holds files that are not an export ({', '.join(foreign[:3])}); "
            "choose an empty folder"
        )
    for name in OWNED:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _shards(rows: list[dict[str, Any]], max_rows: int, max_bytes: int) -> Iterator[list[Any]]:
    shard: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        weight = 1024 + int(row.get("_size", 0))
        if shard and (len(shard) >= max_rows or size + weight > max_bytes):
            yield shard
            shard, size = [], 0
        shard.append(row)
        size += weight
    if shard:
        yield shard


def _with_bytes(row: dict[str, Any]) -> dict[str, Any]:
    """An embedding row with its video bytes, read only now (one shard in memory at once)."""
    source = row.get("_source")
    if source is None:
        return row
    return {**row, "video": {"path": row["video"]["path"], "bytes": source.read_bytes()}}


def write_config(
    out: Path, config: str, rows: list[dict[str, Any]], options: ExportOptions
) -> list[SplitInfo]:
    """Write one configuration's shards; the splits that have rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features(config).arrow_schema
    by_split: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_split.setdefault(row["split"], []).append(row)
    infos: list[SplitInfo] = []
    for split in sorted(by_split, key=lambda s: (s != "train", s != "validation", s)):
        shards = list(_shards(by_split[split], options.shard_rows, options.shard_bytes))
        folder = out / "data" / config
        folder.mkdir(parents=True, exist_ok=True)
        n_bytes = 0
        for index, shard in enumerate(shards):
            table = pa.Table.from_pylist([_with_bytes(row) for row in shard], schema=schema)
            n_bytes += table.nbytes
            name = f"{split}-{index:05d}-of-{len(shards):05d}.parquet"
            pq.write_table(table, folder / name)
        infos.append(SplitInfo(split, len(by_split[split]), n_bytes))
    return infos


def write_hf(
    session: Session,
    items: list[ClipExport],
    captions: list[dict[str, Any]],
    names: dict[int, str],
    out: Path,
    options: ExportOptions,
) -> tuple[Path, list[str]]:
    """The Hub folder; the notes the card and the CLI report (media left out, and why)."""
    prepare(out)
    notes: list[str] = []
    missing_media = 0
    rows = []
    for item, row in zip(items, captions, strict=True):
        video, extra = None, {}
        if options.copy_media or options.embed_media:
            placed = place(
                item.clip.sha256, item.clip.name, item.paths, out,
                embed=options.embed_media, link=options.link_media,
                extra_roots=options.media_roots,
            )  # fmt: skip
            if placed.path is not None:
                video = {"path": placed.path, "bytes": None}
                extra = {"_source": placed.source, "_size": placed.size}
            else:
                missing_media += 1
                notes.append(f"{item.name}: media not exported ({placed.problem})")
        rows.append({**row, "video": video, **extra})
    if missing_media:
        notes = [f"clips without media: {missing_media}", *notes[:20]]
    track2, track3 = track_rows(items)
    tables: dict[str, list[dict[str, Any]]] = {
        "captions": rows,
        "track2": track2,
        "track3": track3,
        "reviews": [r for item in items for r in review_rows(item, names)],
        "drafts": [r for item in items for r in draft_rows(item)],
    }
    splits: dict[str, list[SplitInfo]] = {}
    for config in CONFIGS:
        written = write_config(out, config, tables[config], options)
        if written:
            splits[config] = written
    if "captions" not in splits:
        notes.append("no clip matched the filters: the captions configuration is empty")
    card = render(
        session, items, splits, embedded=options.embed_media,
        with_stats=options.with_stats, notes=notes,
    )  # fmt: skip
    (out / "README.md").write_text(card, encoding="utf-8")
    (out / "LICENSE.md").write_text(
        "# Licences\n\nThe captions and reviews were written by the annotators of this data "
        "set. The cues and drafts come from these models, whose licences restrict use:\n\n"
        + LICENCE_NOTES,
        encoding="utf-8",
    )
    return out, notes
