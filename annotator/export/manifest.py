"""``manifest.json``: what an export holds, clip by clip, so a later ``--since`` export
writes only the clips whose content changed (new reviews, edits, redrafts)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from annotator.export.options import ExportError

MANIFEST = "manifest.json"
KIND = "mer-annotator-export"
VERSION = 1


@dataclass
class Manifest:
    """Per clip (by sha256): its name and content hash, and whether this export wrote it."""

    fmt: str
    clips: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    since: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = {
            "kind": KIND,
            "version": VERSION,
            "format": self.fmt,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "since": self.since,
            "options": self.options,
            "clips": self.clips,
            "removed": self.removed,
        }
        return json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def load_hashes(export_dir: Path) -> dict[str, str]:
    """sha256 -> content hash of every clip an earlier export saw (written or not)."""
    path = export_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ExportError(f"--since {export_dir.name}: no {MANIFEST} there") from exc
    except ValueError as exc:
        raise ExportError(f"--since {export_dir.name}: {MANIFEST} is not JSON") from exc
    if data.get("kind") != KIND:
        raise ExportError(f"--since {export_dir.name}: {MANIFEST} is not an export manifest")
    return {sha: str(entry.get("hash")) for sha, entry in data.get("clips", {}).items()}
