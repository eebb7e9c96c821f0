"""Face backend "pyfeat": py-feat's Detector (RetinaFace, MobileFaceNet landmarks,
XGBoost AUs, ResMaskNet emotions, landmark-to-pose MLP) on the sampled frames.

The full-quality path once its weights are on disk. py-feat downloads each model
from the Hugging Face hub (``py-feat/*`` repositories) into its own resource folder
on first use; this backend never does. It looks for every file it needs, before a
frame is decoded, in ``pyfeat_dir`` (``--pyfeat-dir``: a Hugging Face cache folder,
as ``annotator models fetch pyfeat --dir`` writes it), then py-feat's resource folder,
then the user's Hugging Face cache, and fails at once with one line naming what is
missing and ``annotator models fetch pyfeat``. While the detector is built, py-feat's
hub calls are pointed at the files found, so nothing reaches the network even when
``HF_HUB_OFFLINE`` is unset.

AU scale. py-feat's XGBoost AU model gives, per AU, the probability that the AU is
present (0-1), not an intensity. It is mapped to the FACS-like 0-5 scale piecewise
linearly so that the classifier's decision threshold lands on the presence level:
``p <= 0.5 -> 2p`` (0-1, "trace"), ``p > 0.5 -> 1 + 8 (p - 0.5)`` (1-5). So "present"
downstream means "py-feat says present", and 5 means p = 1. ``au_confidence`` is the
mean decisiveness ``|2p - 1|`` over frames with a face. Raw probabilities are kept as
``pf_AUxx`` columns and emotions as ``emo_<name>`` columns (0-1).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from extractors.base import Availability
from extractors.errors import ModelNotAvailableError
from extractors.extras import missing_extra, require_extra
from extractors.face.events import au_events
from extractors.media import ClipMedia, VideoFrame
from extractors.packages import package_dir
from extractors.registry import register
from extractors.schema import FaceCues, config_hash

FETCH_HINT = "annotator models fetch pyfeat"


@dataclass(frozen=True)
class WeightFile:
    """One file py-feat fetches from the hub; ``alternatives`` are accepted instead."""

    repo_id: str
    filename: str
    alternatives: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.filename, *self.alternatives)


#: What Detectorv1(face_model="retinaface", landmark_model="mobilefacenet",
#: au_model="xgb", emotion_model="resmasknet", identity_model=None, gaze_model=None)
#: downloads (py-feat 2.1: detector.py, Retinaface_test.py, utils/face_pose_mlp.py).
WEIGHT_FILES: tuple[WeightFile, ...] = (
    WeightFile("py-feat/retinaface_r34", "model.safetensors", ("retinaface_r34.safetensors",)),
    WeightFile("py-feat/mobilefacenet", "mobilefacenet_model_best.pth.tar"),
    WeightFile("py-feat/xgb_au", "xgb_au_classifier_v2.skops", ("xgb_au_classifier.skops",)),
    WeightFile("py-feat/resmasknet", "config.json"),
    WeightFile("py-feat/resmasknet", "ResMaskNet_Z_resmasking_dropout1_rot30.pth"),
    WeightFile("py-feat/pose_mlp_v2", "pose_mlp_v2.safetensors"),
    WeightFile("py-feat/pose_mlp_v2", "pose_mlp_v2.json"),
)
DETECTOR_OPTIONS = {
    "face_model": "retinaface",
    "landmark_model": "mobilefacenet",
    "au_model": "xgb",
    "emotion_model": "resmasknet",
    "identity_model": None,
    "gaze_model": None,
}
EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
BOX_COLUMNS = {
    "FaceRectX": "box_x",
    "FaceRectY": "box_y",
    "FaceRectWidth": "box_w",
    "FaceRectHeight": "box_h",
}
POSE_COLUMNS = {"Pitch": "pose_pitch", "Yaw": "pose_yaw", "Roll": "pose_roll"}


# -- where the weights are -------------------------------------------------------------
def _pyfeat_resource_dir() -> Path | None:
    """py-feat's own download folder (``feat/resources``), found without importing feat
    (its import loads torch and xgboost)."""
    folder = package_dir("feat")
    return folder / "resources" if folder is not None else None


def search_dirs(pyfeat_dir: str | Path | None = None) -> list[Path]:
    """Hugging Face cache folders searched, in order."""
    from huggingface_hub import constants

    dirs = [Path(pyfeat_dir).expanduser()] if pyfeat_dir else []
    resources = _pyfeat_resource_dir()
    if resources is not None:
        dirs.append(resources)
    dirs.append(Path(constants.HF_HUB_CACHE))
    return dirs


def _cached(repo_id: str, filename: str, cache_dir: Path) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_dir))
    except Exception:  # a malformed cache folder counts as absent
        return None
    return found if isinstance(found, str) else None


def find_weights(
    pyfeat_dir: str | Path | None = None,
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """(found: (repo, requested filename) -> local path, missing: ``repo/filename``)."""
    found: dict[tuple[str, str], str] = {}
    missing: list[str] = []
    dirs = search_dirs(pyfeat_dir)
    for weight in WEIGHT_FILES:
        path = next(
            (p for d in dirs for name in weight.names if (p := _cached(weight.repo_id, name, d))),
            None,
        )
        if path is None:
            missing.append(f"{weight.repo_id}/{weight.filename}")
            continue
        for name in weight.names:  # py-feat may ask for the main name or its fallback
            found[(weight.repo_id, name)] = path
    return found, missing


def missing_message(missing: list[str], pyfeat_dir: str | Path | None = None) -> str:
    where = ", ".join(str(d) for d in search_dirs(pyfeat_dir))
    return (
        f"py-feat weights missing ({len(missing)} of {len(WEIGHT_FILES)}: {', '.join(missing)}) "
        f"in {where}: run `{FETCH_HINT}` on a machine with the network "
        "(or pass --pyfeat-dir to a copied Hugging Face cache)"
    )


def require_weights(pyfeat_dir: str | Path | None = None) -> dict[tuple[str, str], str]:
    found, missing = find_weights(pyfeat_dir)
    if missing:
        raise ModelNotAvailableError(missing_message(missing, pyfeat_dir))
    return found


@contextlib.contextmanager
def _local_hub(found: dict[tuple[str, str], str]) -> Iterator[None]:
    """Point py-feat's ``hf_hub_download`` calls at the files already found."""
    import feat.detector
    import huggingface_hub

    def local_download(repo_id: str, filename: str, **_: Any) -> str:
        try:
            return found[(repo_id, filename)]
        except KeyError:
            from huggingface_hub.utils import EntryNotFoundError

            raise EntryNotFoundError(f"{repo_id}/{filename} not on disk ({FETCH_HINT})") from None

    saved = (huggingface_hub.hf_hub_download, feat.detector.hf_hub_download)
    huggingface_hub.hf_hub_download = local_download  # function-local imports in py-feat
    feat.detector.hf_hub_download = local_download  # bound at import in detector.py
    try:
        yield
    finally:
        huggingface_hub.hf_hub_download, feat.detector.hf_hub_download = saved


# -- frames in, cues out ---------------------------------------------------------------
def frame_batches(
    frames: Iterable[VideoFrame], batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(times (B,), images (B, 3, H, W) uint8) in batches of equal-size frames, as
    py-feat's ``read_image`` lays them out; a size change starts a new batch."""
    times: list[float] = []
    images: list[np.ndarray] = []
    for frame in frames:
        rgb = np.asarray(frame.rgb, dtype=np.uint8)
        if images and (len(images) >= batch_size or rgb.shape != images[0].shape):
            yield np.array(times), np.stack(images).transpose(0, 3, 1, 2).copy()
            times, images = [], []
        times.append(float(frame.time_s))
        images.append(rgb)
    if images:
        yield np.array(times), np.stack(images).transpose(0, 3, 1, 2).copy()


def au_probability_to_intensity(p: np.ndarray | pd.Series) -> np.ndarray:
    """P(AU present) -> 0-5: ``2p`` up to the 0.5 threshold (= 1.0), then ``1 + 8(p-0.5)``."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return np.where(p <= 0.5, 2.0 * p, 1.0 + 8.0 * (p - 0.5))


def fex_to_frames(fex: pd.DataFrame, times: np.ndarray, scale: float = 1.0) -> pd.DataFrame:
    """py-feat output (one row per detected face, ``frame`` = index into ``times``) ->
    one row per sampled frame: the largest face, its box (source pixels), pose, AUs on
    the 0-5 scale, raw AU probabilities and emotions; frames without a face are NaN."""
    au_cols = sorted(c for c in fex.columns if c.startswith("AU") and c[2:].isdigit())
    out = pd.DataFrame({"time_s": np.asarray(times, dtype=np.float64)})
    n = len(out)
    faces = fex.dropna(subset=["FaceRectWidth", "FaceRectHeight"]) if len(fex) else fex
    faces = (
        faces[(faces["FaceRectWidth"] > 0) & (faces["FaceRectHeight"] > 0)] if len(faces) else faces
    )
    counts = faces.groupby("frame").size() if len(faces) else pd.Series(dtype="int64")
    out["n_faces"] = np.array([int(counts.get(i, 0)) for i in range(n)], dtype=np.int64)
    out["face_found"] = out["n_faces"] > 0
    if len(faces):
        area = faces["FaceRectWidth"] * faces["FaceRectHeight"]
        best = faces.loc[area.groupby(faces["frame"]).idxmax()].set_index("frame")
    else:
        best = pd.DataFrame(columns=[*BOX_COLUMNS, *POSE_COLUMNS, *au_cols, *EMOTIONS])
    best = best.reindex(range(n))
    for src, dst in BOX_COLUMNS.items():
        out[dst] = best[src].to_numpy(dtype=np.float64) * scale
    for src, dst in POSE_COLUMNS.items():
        out[dst] = best[src].to_numpy(dtype=np.float64) if src in best else np.nan
    for col in au_cols:
        p = best[col].to_numpy(dtype=np.float64)
        out[col] = au_probability_to_intensity(p)
        out[col] = out[col].where(~np.isnan(p))
        out[f"pf_{col}"] = p
    for emo in EMOTIONS:
        out[f"emo_{emo}"] = best[emo].to_numpy(dtype=np.float64) if emo in best else np.nan
    return out


def au_confidence(frames: pd.DataFrame) -> dict[str, float]:
    """Mean ``|2p - 1|`` per AU over frames with a face: how decided the classifier was."""
    out = {}
    for col in (c for c in frames.columns if c.startswith("pf_AU")):
        p = frames[col].dropna().to_numpy()
        if p.size:
            out[col[3:]] = round(float(np.mean(np.abs(2.0 * p - 1.0))), 3)
    return out


# -- the backend -----------------------------------------------------------------------
_DETECTORS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _version() -> str:
    try:
        return f"py-feat-{metadata.version('py-feat')}"
    except metadata.PackageNotFoundError:
        return "py-feat-missing"


def _device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


@register("face", "pyfeat")
class PyFeatFaceBackend:
    """py-feat Detectorv1 on frames sampled at ``frame_rate``, ``batch_size`` at a time."""

    name: ClassVar[str] = "pyfeat"
    version: ClassVar[str] = _version()
    extra: ClassVar[str] = "pyfeat"

    def __init__(
        self,
        frame_rate: float = 5.0,
        max_side: int = 640,
        batch_size: int = 8,
        device: str = "auto",
        pyfeat_dir: str | None = None,
        face_threshold: float = 0.5,
    ):
        if frame_rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {frame_rate}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.frame_rate = float(frame_rate)
        self.max_side = int(max_side)
        self.batch_size = int(batch_size)
        self.device = device
        self.pyfeat_dir = str(pyfeat_dir) if pyfeat_dir else None
        self.face_threshold = float(face_threshold)

    def config(self) -> dict[str, Any]:
        return {
            "frame_rate": self.frame_rate,
            "max_side": self.max_side,
            "batch_size": self.batch_size,
            "device": self.device,
            "pyfeat_dir": self.pyfeat_dir,
            "face_threshold": self.face_threshold,
        }

    def config_hash(self) -> str:
        keyed = {
            k: v
            for k, v in self.config().items()
            if k not in ("batch_size", "device", "pyfeat_dir")  # speed and place, not values
        }
        return config_hash(
            {"backend": self.name, "version": self.version, **keyed, **DETECTOR_OPTIONS}
        )

    def available(self) -> Availability:
        no_extra = missing_extra(self.extra, "the pyfeat face backend")
        if no_extra:
            return Availability(False, no_extra)
        found, missing = find_weights(self.pyfeat_dir)
        if missing:
            return Availability(False, missing_message(missing, self.pyfeat_dir))
        folders = sorted({str(Path(p).parents[3]) for p in found.values()})
        return Availability(True, f"py-feat weights in {', '.join(folders)}")

    def _detector(self) -> Any:
        require_extra(self.extra, "the pyfeat face backend")
        found = require_weights(self.pyfeat_dir)  # fails before anything heavy loads
        device = _device(self.device)
        key = (device, self.pyfeat_dir or "")
        with _LOCK:
            if key not in _DETECTORS:
                from feat.detector import Detectorv1

                with _local_hub(found):
                    try:
                        _DETECTORS[key] = Detectorv1(device=device, **DETECTOR_OPTIONS)
                    except Exception as exc:
                        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                        raise ModelNotAvailableError(
                            f"py-feat detector could not load ({first}): {FETCH_HINT}"
                        ) from exc
            return _DETECTORS[key]

    def extract(self, clip: ClipMedia) -> FaceCues:
        if not clip.info.has_video:
            return self._cues(
                fex_to_frames(pd.DataFrame(), np.zeros(0)), missing_reason="no video stream"
            )
        detector = self._detector()  # before any frame is decoded
        import torch

        parts: list[pd.DataFrame] = []
        for times, images in frame_batches(
            clip.frames(self.frame_rate, self.max_side), self.batch_size
        ):
            fex = detector.detect(
                torch.from_numpy(images),
                data_type="tensor",
                batch_size=len(images),
                face_detection_threshold=self.face_threshold,
                progress_bar=False,
            )
            scale = float(clip.info.width) / images.shape[3] if clip.info.width else 1.0
            parts.append(fex_to_frames(pd.DataFrame(fex), times, scale))
        if not parts:
            return self._cues(
                fex_to_frames(pd.DataFrame(), np.zeros(0)),
                missing_reason="no video frames could be decoded",
            )
        frames = pd.concat(parts, ignore_index=True)
        return self._from_frames(frames)

    def _from_frames(self, frames: pd.DataFrame) -> FaceCues:
        n = len(frames)
        n_found = int(frames["face_found"].sum())
        if n_found == 0:
            return self._cues(
                frames, n_frames=n, missing_reason=f"no face found in {n} sampled frames"
            )
        aus = [c for c in frames.columns if c.startswith("AU")]
        times = frames["time_s"].to_numpy()
        intensity = {au: frames[au].to_numpy(dtype=np.float64) for au in aus}
        several = int((frames["n_faces"] > 1).sum())
        warnings = (
            [f"several faces in {several} of {n} frames: the largest was used"] if several else []
        )
        return self._cues(
            frames,
            au_confidence=au_confidence(frames),
            events=au_events(times, intensity),
            n_frames=n,
            n_frames_with_face=n_found,
            max_faces=int(frames["n_faces"].max()),
            warnings=warnings,
        )

    def _cues(self, frames: pd.DataFrame, **fields: Any) -> FaceCues:
        return FaceCues(
            backend=self.name,
            backend_version=self.version,
            config_hash=self.config_hash(),
            frames=frames,
            **fields,
        )
