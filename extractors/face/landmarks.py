"""Face backend "landmarks": dlib's HOG face detector and 68-point shape predictor.

The one face model that installs from PyPI with no download at run time: the
predictor file ships in the ``face-recognition-models`` wheel and dlib in
``dlib-bin``. Landmarks become AU intensities in ``extractors.face.geometry``,
which documents which AUs geometry supports and how well they tracked.

The model is loaded once per process, on first use.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from extractors.base import Availability
from extractors.errors import ModelNotAvailableError
from extractors.extras import missing_extra, require_extra
from extractors.face.events import au_events
from extractors.face.geometry import head_pose, landmarks_to_au
from extractors.media import ClipMedia
from extractors.packages import package_file
from extractors.registry import register
from extractors.schema import FaceCues, config_hash

MODEL_PACKAGE = "face_recognition_models"
MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
INSTALL_HINT = "pip install face-recognition-models"

_MODEL_LOCK = threading.Lock()
_MODELS: dict[str, tuple[Any, Any]] = {}  # predictor path -> (detector, predictor)

BOX_COLUMNS = ("box_x", "box_y", "box_w", "box_h")
POSE_COLUMNS = ("pose_pitch", "pose_yaw", "pose_roll")


def predictor_path() -> Path | None:
    """Where the installed ``face_recognition_models`` keeps the 68-point predictor.

    Found from the package spec, without importing it: its ``__init__`` imports
    ``pkg_resources``, which recent setuptools no longer provides.
    """
    return package_file(MODEL_PACKAGE, "models", MODEL_FILE)


def _load_models() -> tuple[Any, Any]:
    path = predictor_path()
    if path is None:
        raise ModelNotAvailableError(
            f"dlib 68-point landmark model {MODEL_FILE} not found: {INSTALL_HINT}"
        )
    key = str(path)
    with _MODEL_LOCK:
        if key not in _MODELS:
            try:
                import dlib
            except ImportError as exc:
                raise ModelNotAvailableError(
                    f"dlib is not installed (needed for {MODEL_FILE}): pip install dlib-bin"
                ) from exc
            _MODELS[key] = (dlib.get_frontal_face_detector(), dlib.shape_predictor(key))
        return _MODELS[key]


@register("face", "landmarks")
class LandmarkFaceBackend:
    """Faces by dlib HOG, 68 landmarks, AU45/AU25/AU26/AU12 and head pose by geometry.

    With several faces in a frame the largest is used (and counted in ``n_faces``);
    nothing tracks identity across frames, so in a two-person clip the intensities
    are only meaningful while the same person stays the largest. A face turned more
    than about 60 degrees keeps its box and pose but gets NaN AUs.
    """

    name: ClassVar[str] = "landmarks"
    version: ClassVar[str] = "1.0"
    extra: ClassVar[str] = "landmarks"

    def __init__(self, frame_rate: float = 5.0, max_side: int = 640, upsample: int = 1):
        if frame_rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {frame_rate}")
        if max_side < 64:
            raise ValueError(f"max_side must be at least 64 pixels, got {max_side}")
        if upsample < 0:
            raise ValueError(f"upsample must be 0 or more, got {upsample}")
        self.frame_rate = float(frame_rate)
        self.max_side = int(max_side)
        self.upsample = int(upsample)

    def config(self) -> dict[str, Any]:
        return {"frame_rate": self.frame_rate, "max_side": self.max_side, "upsample": self.upsample}

    def config_hash(self) -> str:
        return config_hash({"backend": self.name, "version": self.version, **self.config()})

    def available(self) -> Availability:
        no_extra = missing_extra(self.extra, "the landmarks face backend")
        if no_extra:
            return Availability(False, no_extra)
        path = predictor_path()
        if path is None:
            return Availability(False, f"{MODEL_FILE} not found: {INSTALL_HINT}")
        if importlib.util.find_spec("dlib") is None:
            return Availability(False, "dlib is not installed: pip install dlib-bin")
        return Availability(True, str(path))

    def extract(self, clip: ClipMedia) -> FaceCues:
        if not clip.info.has_video:
            return self._cues(_empty_frames(), missing_reason="no video stream")
        require_extra(self.extra, "the landmarks face backend")
        detector, predictor = _load_models()  # fails fast, before any decoding
        # Frames are streamed; only per-frame numbers are kept (long videos stay small).
        time_list: list[float] = []
        face_counts: list[int] = []
        box_list: list[np.ndarray] = []
        landmark_list: list[np.ndarray] = []
        for frame in clip.frames(self.frame_rate, self.max_side):
            rgb = np.ascontiguousarray(frame.rgb)
            rects = detector(rgb, self.upsample)
            time_list.append(frame.time_s)
            face_counts.append(len(rects))
            if not rects:
                box_list.append(np.full(4, np.nan))
                landmark_list.append(np.full((68, 2), np.nan))
                continue
            rect = max(rects, key=lambda r: r.width() * r.height())
            shape = predictor(rgb, rect)
            landmark_list.append(np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64))
            # Boxes in the source video's pixels, not the downscaled frame's.
            scale = _source_scale(clip, rgb.shape[1])
            box_list.append(
                np.array([rect.left(), rect.top(), rect.width(), rect.height()]) * scale
            )
        if not time_list:
            return self._cues(_empty_frames(), missing_reason="no video frames could be decoded")

        n = len(time_list)
        times = np.array(time_list, dtype=np.float64)
        n_faces = np.array(face_counts, dtype=np.int64)
        boxes = np.stack(box_list)
        landmarks = np.stack(landmark_list)

        found = n_faces > 0
        df = pd.DataFrame({"time_s": times, "face_found": found, "n_faces": n_faces})
        for j, col in enumerate(BOX_COLUMNS):
            df[col] = boxes[:, j]
        for col, values in head_pose(landmarks, found).items():
            df[col] = values
        intensity, confidence = landmarks_to_au(landmarks, found)
        for au in sorted(intensity):
            df[au] = intensity[au]

        n_found = int(found.sum())
        warnings = []
        several = int((n_faces > 1).sum())
        if several:
            warnings.append(f"several faces in {several} of {n} frames: the largest was used")
        if n_found == 0:
            return self._cues(df, n_frames=n, missing_reason=f"no face found in {n} sampled frames")
        return self._cues(
            df,
            au_confidence=confidence,
            events=au_events(times, intensity),
            n_frames=n,
            n_frames_with_face=n_found,
            max_faces=int(n_faces.max()),
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


def _source_scale(clip: ClipMedia, frame_width: int) -> float:
    width = clip.info.width
    return float(width) / frame_width if width and frame_width else 1.0


def _empty_frames() -> pd.DataFrame:
    columns = ["time_s", "face_found", "n_faces", *BOX_COLUMNS]
    df = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    return df.astype({"face_found": "bool", "n_faces": "int64"})
