"""Media placed inside the export: copied (or hard-linked) under ``media/`` with a safe
relative name, or embedded as bytes. A file is taken only when its content still has the
clip's sha256, and a symlink must not lead out of the folders the clip came from."""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from extractors.media import sha256_file

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def safe_name(name: str) -> str:
    """Letters, digits, dot, dash and underscore only; never a folder, never hidden."""
    stem = re.sub(r"[^\w.-]+", "_", Path(name).name, flags=re.UNICODE).strip("._") or "clip"
    return stem[-80:]


@dataclass(frozen=True)
class Placed:
    """Where a clip's media ended up: a path relative to the export, or (embedding) the
    checked source file whose bytes go into the Parquet shard when it is written."""

    path: str | None
    source: Path | None = None  # embedding: read when its shard is written, not before
    size: int = 0
    problem: str | None = None


def inside(path: Path, roots: list[Path]) -> bool:
    real = path.resolve()
    return any(real.is_relative_to(root.resolve()) for root in roots)


def place(
    sha256: str,
    file_name: str,
    paths: list[str],
    out: Path,
    *,
    embed: bool,
    link: bool,
    extra_roots: tuple[Path, ...] = (),
) -> Placed:
    """Put the first readable, unchanged source of the clip into ``out``."""
    problems: list[str] = []
    rel = f"media/{sha256[:12]}-{safe_name(file_name)}"
    for text in paths:
        source = Path(text)
        if not source.is_file():
            problems.append("source file not found")
            continue
        # the folder the clip was ingested from, and any the user named, bound a symlink
        roots = [source.parent, *extra_roots]
        if not inside(source, roots):
            problems.append("symlink leads outside the source folders (refused)")
            continue
        if sha256_file(source) != sha256:
            problems.append("source file changed since ingest")
            continue
        if embed:
            real = source.resolve()
            return Placed(path=rel.removeprefix("media/"), source=real, size=real.stat().st_size)
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            _copy_or_link(source.resolve(), target, link)
        return Placed(path=rel)
    problem = "; ".join(sorted(set(problems))) or "no source path"
    log.warning("media of %s not exported: %s", file_name, problem)
    return Placed(path=None, problem=problem)


def _copy_or_link(source: Path, target: Path, link: bool) -> None:
    if link:
        try:
            os.link(source, target)
            return
        except OSError:  # another file system, or links not allowed: copy instead
            pass
    shutil.copyfile(source, target)
