"""Face backend "openface": import OpenFace 2 FeatureExtraction CSV files.

OpenFace 2 is not on PyPI (a C++ build), but corpora such as MER2025 ship its
per-frame output, and labs that have it installed run ``FeatureExtraction -f
clip.mp4``. This backend reads that CSV instead of running a model:

- column names come with a leading space (``" AU01_r"``): stripped;
- ``AUxx_r`` (0-5 intensity, OpenFace's SVR) becomes column ``AUxx``. ``AUxx_c``
  (presence, a separate SVM) is *not* used to zero intensities: the two models
  disagree at low intensities, zeroing makes the series jump, and the event
  threshold (1.0) already plays the part of presence. AU28 has only ``_c``: skipped;
- ``success`` says whether a face was tracked (``face_found``); intensities, box and
  pose are NaN on the other frames, whatever OpenFace wrote there;
- ``pose_Rx/Ry/Rz`` (radians) become ``pose_pitch/yaw/roll`` in degrees;
- the box is the extent of the 68 landmarks ``x_0..x_67``, ``y_0..y_67`` if present;
- several faces per frame (``face_id``, FaceLandmarkVidMulti output): the largest
  is kept and ``n_faces`` counts them.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from extractors.base import Availability
from extractors.errors import ExtractionError
from extractors.face.events import au_events
from extractors.media import ClipMedia
from extractors.registry import register
from extractors.schema import FaceCues, config_hash

VERSION = "1.0"
#: OpenFace is a trained AU model (FERA/DISFA/BP4D); one confidence for all its AUs.
OPENFACE_AU_CONFIDENCE = 0.8

_AU_R = re.compile(r"^AU(\d\d)_r$")
_POSE = {"pose_Rx": "pose_pitch", "pose_Ry": "pose_yaw", "pose_Rz": "pose_roll"}


class OpenFaceCsvNotFoundError(ExtractionError, FileNotFoundError):
    """The OpenFace CSV for a clip is not where the backend was told to look."""

    code = "openface_csv_missing"


def _strip_columns(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns=lambda c: str(c).strip())


def openface_landmarks(df: pd.DataFrame) -> np.ndarray:
    """The 2D landmarks ``x_0..x_67``, ``y_0..y_67`` as an (n, 68, 2) pixel array."""
    df = _strip_columns(df)
    xs = [f"x_{i}" for i in range(68)]
    ys = [f"y_{i}" for i in range(68)]
    missing = [c for c in xs + ys if c not in df.columns]
    if missing:
        raise KeyError(f"no 2D landmark columns in this OpenFace output (e.g. {missing[0]})")
    x = df[xs].to_numpy(dtype=np.float64)
    y = df[ys].to_numpy(dtype=np.float64)
    return np.stack([x, y], axis=-1)


def read_openface_csv(path: str | Path) -> FaceCues:
    """Read one OpenFace 2 FeatureExtraction CSV into ``FaceCues``."""
    path = Path(path)
    if not path.is_file():
        raise OpenFaceCsvNotFoundError(f"OpenFace CSV not found: {path}")
    try:
        raw = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ExtractionError(f"{path}: not a readable OpenFace CSV ({exc})") from exc
    raw = _strip_columns(raw)
    au_cols = sorted(c for c in raw.columns if _AU_R.match(c))
    if "timestamp" not in raw.columns or not au_cols:
        raise ExtractionError(
            f"{path}: not OpenFace FeatureExtraction output (needs 'timestamp' and AUxx_r columns)"
        )
    return _to_cues(raw, au_cols)


def _to_cues(raw: pd.DataFrame, au_cols: list[str]) -> FaceCues:
    hash_ = config_hash({"backend": "openface", "version": VERSION})
    au_names = [c[:-2] for c in au_cols]  # "AU01_r" -> "AU01"
    has_landmarks = all(f"x_{i}" in raw.columns and f"y_{i}" in raw.columns for i in range(68))
    df = raw.copy()
    success = (
        pd.to_numeric(df["success"], errors="coerce").fillna(0).to_numpy() > 0
        if "success" in df.columns
        else np.ones(len(df), dtype=bool)
    )
    df["_ok"] = success
    if has_landmarks:
        pts = openface_landmarks(df)
        lo, hi = pts.min(axis=1), pts.max(axis=1)
        df["box_x"], df["box_y"] = lo[:, 0], lo[:, 1]
        df["box_w"], df["box_h"] = hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]
    else:
        for col in ("box_x", "box_y", "box_w", "box_h"):
            df[col] = np.nan
    df["_area"] = (df["box_w"] * df["box_h"]).fillna(0.0)
    df["_conf"] = pd.to_numeric(df["confidence"], errors="coerce") if "confidence" in df else 0.0

    # One row per frame: with several faces, the tracked one with the largest box.
    key = "frame" if "frame" in df.columns else "timestamp"
    counts = df.groupby(key)["_ok"].sum()
    df = df.sort_values([key, "_ok", "_area", "_conf"], ascending=[True, False, False, False])
    df = df.drop_duplicates(subset=key, keep="first").sort_values("timestamp")
    found = df["_ok"].to_numpy(dtype=bool)

    out = pd.DataFrame(
        {
            "time_s": pd.to_numeric(df["timestamp"], errors="coerce").to_numpy(np.float64),
            "face_found": found,
            "n_faces": counts.loc[df[key]].to_numpy(dtype=np.int64),
        }
    )
    for col in ("box_x", "box_y", "box_w", "box_h"):
        out[col] = np.where(found, df[col].to_numpy(np.float64), np.nan)
    for src, dst in _POSE.items():
        if src in df.columns:
            deg = np.degrees(pd.to_numeric(df[src], errors="coerce").to_numpy(np.float64))
            out[dst] = np.where(found, deg, np.nan)
    intensity: dict[str, np.ndarray] = {}
    for src, au in zip(au_cols, au_names, strict=True):
        values = pd.to_numeric(df[src], errors="coerce").to_numpy(np.float64)
        intensity[au] = np.where(found, np.clip(values, 0.0, 5.0), np.nan)
        out[au] = intensity[au]

    n = len(out)
    n_found = int(found.sum())
    common: dict[str, Any] = {
        "backend": "openface",
        "backend_version": VERSION,
        "config_hash": hash_,
        "frames": out,
        "n_frames": n,
        "n_frames_with_face": n_found,
        "max_faces": int(out["n_faces"].max()) if n else 0,
    }
    if n == 0:
        return FaceCues(**common, missing_reason="OpenFace CSV has no frames")
    if n_found == 0:
        return FaceCues(
            **common, missing_reason=f"no face found in {n} frames (OpenFace success = 0)"
        )
    warnings = []
    several = int((out["n_faces"] > 1).sum())
    if several:
        warnings.append(f"several faces in {several} of {n} frames: the largest was used")
    times = out["time_s"].to_numpy()
    events = []
    if np.all(np.diff(times) > 0):
        events = au_events(times, intensity)
    else:
        warnings.append("timestamps are not increasing: no AU events")
    return FaceCues(
        **common,
        au_confidence=dict.fromkeys(au_names, OPENFACE_AU_CONFIDENCE),
        events=events,
        warnings=warnings,
    )


@register("face", "openface")
class OpenFaceCsvBackend:
    """AUs, pose and box from OpenFace 2 CSV output: ``<csv_dir>/<clip stem>.csv``."""

    name: ClassVar[str] = "openface"
    version: ClassVar[str] = VERSION

    def __init__(self, csv_dir: str | None = None, csv_path: str | None = None):
        self.csv_dir = str(csv_dir) if csv_dir is not None else None
        self.csv_path = str(csv_path) if csv_path is not None else None

    def config(self) -> dict[str, Any]:
        return {"csv_dir": self.csv_dir, "csv_path": self.csv_path}

    def config_hash(self) -> str:
        return config_hash({"backend": self.name, "version": self.version, **self.config()})

    def available(self) -> Availability:
        if self.csv_path is not None:
            ok = Path(self.csv_path).is_file()
            return Availability(ok, self.csv_path if ok else f"no such file: {self.csv_path}")
        if self.csv_dir is not None:
            ok = Path(self.csv_dir).is_dir()
            return Availability(ok, self.csv_dir if ok else f"no such folder: {self.csv_dir}")
        return Availability(
            False, "set csv_dir (or csv_path) to OpenFace 2 FeatureExtraction output"
        )

    def csv_for(self, clip: ClipMedia) -> Path:
        """The CSV this backend reads for ``clip``."""
        if self.csv_path is not None:
            return Path(self.csv_path)
        if self.csv_dir is None:
            raise OpenFaceCsvNotFoundError(
                f"openface backend for {clip.path.name}: set csv_dir or csv_path"
            )
        return Path(self.csv_dir) / f"{clip.path.stem}.csv"

    def extract(self, clip: ClipMedia) -> FaceCues:
        path = self.csv_for(clip)
        if not path.is_file():
            raise OpenFaceCsvNotFoundError(f"OpenFace CSV for {clip.path.name} not found: {path}")
        cues = read_openface_csv(path)
        warnings = list(cues.warnings)
        duration = clip.info.duration_s
        if cues.n_frames and duration > 0:
            last = float(np.nanmax(cues.frames["time_s"]))
            if abs(last - duration) > max(1.0, 0.1 * duration):
                warnings.append(f"OpenFace CSV spans {last:.2f} s of a {duration:.2f} s clip")
        return dataclasses.replace(cues, config_hash=self.config_hash(), warnings=warnings)
