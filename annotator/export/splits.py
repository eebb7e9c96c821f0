"""Speaker-disjoint train/validation/test splits: no speaker's voice or face in two splits,
so a model cannot score by recognising the person. Seeded, so an export is repeatable."""

from __future__ import annotations

import random

from annotator.export.collect import ClipExport
from annotator.export.options import SPEAKER_SPLITS, ExportError


def speaker_of(item: ClipExport) -> str:
    """The group a clip moves with: its speaker, else its subject, else the clip alone."""
    clip = item.clip
    if clip.speaker_id:
        return f"speaker:{clip.speaker_id}"
    if clip.subject_id:
        return f"subject:{clip.subject_id}"
    return f"clip:{clip.sha256}"


def assign_speaker_splits(
    items: list[ClipExport], fractions: tuple[float, float, float], seed: int
) -> dict[str, int]:
    """Set each item's split so speakers never straddle two; the clips per split."""
    groups: dict[str, list[ClipExport]] = {}
    for item in items:
        groups.setdefault(speaker_of(item), []).append(item)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    targets = [f * len(items) for f in fractions]
    counts = [0, 0, 0]
    for key in keys:
        # the split furthest below its share takes the whole speaker
        open_splits = [i for i in range(3) if targets[i] > 0]
        pick = min(open_splits, key=lambda i: (counts[i] / targets[i], i))
        counts[pick] += len(groups[key])
        for item in groups[key]:
            item.split = SPEAKER_SPLITS[pick]
    check_disjoint(items)
    return {SPEAKER_SPLITS[i]: counts[i] for i in range(3)}


def check_disjoint(items: list[ClipExport]) -> None:
    """Raise when a speaker (or subject) has clips in two splits."""
    seen: dict[str, str] = {}
    for item in items:
        for key in {speaker_of(item)} - {f"clip:{item.clip.sha256}"}:
            other = seen.setdefault(key, item.split)
            if other != item.split:
                raise ExportError(f"{key} is in both {other} and {item.split}")
