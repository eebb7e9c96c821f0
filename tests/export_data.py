"""A small real database for the export tests: real clips through the real pipeline (the
scripted drafter writes three samples a clip), then reviews as a team makes them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import select

from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import Draft, session_scope
from db.models import ReviewKind, ReviewSource, ReviewStatus
from db.queries import ReviewInput, find_clip, save_review
from tests.plugins.scripted import VALID_DRAFT, scripted

OTHER_DRAFT = {**VALID_DRAFT, "caption": "The speaker sounds calm and neutral.",
               "labels": ["neutral"], "valence": 0.0, "arousal": 0.2}  # fmt: skip
#: Three samples a clip: the valid one twice (so it is chosen), another valid, an invalid.
OUTPUTS = [json.dumps(VALID_DRAFT), json.dumps(OTHER_DRAFT), json.dumps(VALID_DRAFT), "{oops"]

ADJUDICATED = "Warm greeting; surprise at first, then plain joy."
ALICE_V2 = "Warm, slightly surprised greeting."


@dataclass
class Home:
    """Where the database is, what was reviewed, and the expected counts."""

    home: Path
    media: Path
    names: dict[str, str]  # role -> clip name (file stem)
    n_samples: int
    n_review_events: int


def build(root: Path, demo_clip: Path, feat_data: Path) -> Home:
    from annotator.config import Settings

    media = root / "media in ü"
    media.mkdir(parents=True)
    shutil.copy(demo_clip, media / "greeting.mp4")
    shutil.copy(feat_data / "single_face.mp4", media / "face only 日本.mp4")
    shutil.copy(feat_data / "no_face.mp4", media / "nobody.mp4")
    settings = scripted(Settings.load(home=root / "home"), OUTPUTS)
    settings.samples = 4
    ingest(settings, [media / "greeting.mp4"], speaker="spk-a")
    ingest(settings, [media / "face only 日本.mp4"], speaker="spk-b")
    ingest(settings, [media / "nobody.mp4"], speaker="spk-c")
    Runner(settings).run()
    with session_scope(settings.db_url) as session:
        greeting = find_clip(session, str((media / "greeting.mp4").resolve()))
        face = find_clip(session, str((media / "face only 日本.mp4").resolve()))
        assert greeting and face and greeting.id and face.id

        def chosen(clip_id: int) -> Draft:
            return session.exec(
                select(Draft).where(Draft.clip_id == clip_id, Draft.chosen == True)  # noqa: E712
            ).one()

        g, f = chosen(greeting.id), chosen(face.id)
        # greeting: alice edits twice, bob disagrees, carol adjudicates
        first = ReviewInput(ReviewStatus.EDITED, "Warm greeting.", ["happy"], 0.5, 0.6,
                            time_spent_s=30.0)  # fmt: skip
        save_review(session, greeting.id, "alice", g.id, first, None)
        second = ReviewInput(ReviewStatus.EDITED, ALICE_V2, ["happy", "surprised"], 0.5, 0.6,
                             time_spent_s=12.5)  # fmt: skip
        save_review(session, greeting.id, "alice", g.id, second, 1)
        bob = ReviewInput(ReviewStatus.EDITED, "Polite but tense.", ["tense"], -0.1, 0.5)
        save_review(session, greeting.id, "bob", g.id, bob, None, source=ReviewSource.CLI)
        final = ReviewInput(ReviewStatus.EDITED, ADJUDICATED, ["happy", "surprised"], 0.6, 0.6,
                            notes="alice's reading")  # fmt: skip
        save_review(session, greeting.id, "carol", g.id, final, None,
                    kind=ReviewKind.ADJUDICATION)  # fmt: skip
        # face only: alice accepts the chosen sample as it is
        accept = ReviewInput(ReviewStatus.ACCEPTED, f.caption, list(f.labels), f.valence,
                             f.arousal, time_spent_s=4.0)  # fmt: skip
        save_review(session, face.id, "alice", f.id, accept, None)
        n_samples = len(session.exec(select(Draft)).all())
    return Home(
        home=root / "home",
        media=media,
        names={"adjudicated": "greeting", "accepted": "face only 日本", "unreviewed": "nobody"},
        n_samples=n_samples,
        n_review_events=5,
    )


_BUILT: dict[str, Home] = {}


def build_once(root: Path, demo_clip: Path, feat_data: Path) -> Home:
    """``build`` once per test session (the test modules only read the database)."""
    if "home" not in _BUILT:
        _BUILT["home"] = build(root, demo_clip, feat_data)
    return _BUILT["home"]


# -- reading an export back as a user would

LOADER = r"""
import json, sys
import datasets
datasets.disable_progress_bars()
out, wanted = sys.argv[1], json.loads(sys.argv[2])
result = {}
for config, splits in wanted.items():
    for split in splits:
        ds = datasets.load_dataset(out, config, split=split)
        rows = []
        for row in ds:
            video = row.get("video")
            if isinstance(video, dict) and video.get("bytes") is not None:
                row["video"] = {"path": video["path"], "n_bytes": len(video["bytes"])}
            rows.append(row)
        result[f"{config}/{split}"] = {"rows": rows, "features": list(ds.features)}
        if "video" in ds.features:
            result["video_feature"] = repr(ds.features["video"])
result["torchcodec"] = "torchcodec" in sys.modules
print(json.dumps(result, default=str))
"""


def load_back(out: Path, wanted: dict[str, list[str]], cache: Path) -> dict[str, Any]:
    """Every configuration and split, loaded in a fresh process (its own datasets cache)."""
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", LOADER, str(out), json.dumps(wanted)],
                          capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
