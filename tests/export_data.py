"""A small real database for the export tests: real clips through the real pipeline (the
scripted drafter writes three samples a clip), then reviews as a team makes them."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import Draft, session_scope
from db.models import ReviewKind, ReviewSource, ReviewStatus
from db.queries import ReviewInput, find_clip, save_review
from tests.test_pipeline import VALID_DRAFT, scripted

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
