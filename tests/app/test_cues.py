"""The cue timeline's data: binning, clue links, and reading only under the data dir."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import Session

from app.cues import MAX_POINTS, Span, Timeline, binned, link_clue, load_timeline
from db.models import CueRecord
from tests.app.conftest import Db


def test_binned_keeps_gaps_and_bounds_the_points() -> None:
    times = pd.Series([i * 0.01 for i in range(12_000)])  # 2 min of 10 ms frames
    values = pd.Series([float("nan") if i < 6_000 else 1.0 for i in range(12_000)])
    series = binned("pitch", times, values)
    assert len(series.t) == MAX_POINTS
    assert series.v[0] is None and series.v[-1] == 1.0
    assert series.t[0] == pytest.approx(0.25, abs=0.01) and series.t[-1] < 120
    small = binned("x", pd.Series([0.0, 0.5]), pd.Series([1.0, 2.0]))
    assert (small.t, small.v) == ([0.0, 0.5], [1.0, 2.0])


def test_link_clue_prefers_a_stated_time_then_the_cue() -> None:
    tl = Timeline(
        duration_s=5.0,
        events=[Span("AU04", 1.0, 2.0, 1.5)],
        words=[Span("Never!", 3.1, 3.4)],
    )
    assert link_clue("visual", "Brows lowered (AU4).", tl, True).time_s == 1.5
    assert link_clue("visual", "AU04 from 0.8 s.", tl, True).time_s == 0.8
    lexical = link_clue("lexical", "She shouts 'never'.", tl, True)
    assert (lexical.cue, lexical.time_s) == ("word 'Never!'", 3.1)
    assert link_clue("visual", "AU20 stretches the lips.", tl, False).cue is None
    assert link_clue("acoustic", "pitch rises", tl, True).time_s is None  # no pitch track


def test_frames_outside_the_data_dir_are_not_read(db: Db, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.parquet"
    pd.DataFrame({"time_s": [0.0], "AU09": [5.0]}).to_parquet(outside)
    with Session(db.session().get_bind()) as s:
        s.add(
            CueRecord(
                clip_id=db.bad,
                modality="face",
                backend="b",
                backend_version="1",
                config_hash="k2",
                schema_version="2",
                frames_path="../elsewhere.parquet",
            )
        )
        s.commit()
        timeline = load_timeline(s, db.home, db.bad, 0.0, [])
    assert timeline.aus == []
    with Session(db.session().get_bind()) as s:
        good = load_timeline(s, db.home, db.good, 2.5, [])
    assert [a.name for a in good.aus] == ["AU12", "AU06", "AU04"]
