"""Facial action-unit intensities from 68 facial landmarks, in pure numpy.

Why geometry: a dlib shape predictor is the one face model we can ship (pip
``face-recognition-models``), and a handful of AUs are plain distances between
landmarks: eye closure (AU45), lips apart (AU25), jaw drop (AU26), lip corners
pulled up and out (AU12). The brow AUs (AU01/AU02/AU04) are left out on purpose:
on real OpenFace and py-feat output the brow landmarks moved with eye closure far
more than with the brow AUs themselves (see ``AU_CONFIDENCE``).

Landmarks are in iBUG-68 order (dlib, OpenFace, py-feat all use it), image pixels,
shape ``(n_frames, 68, 2)``.

Two normalisations make the numbers comparable across people and head poses:

1. Pose and scale: each frame is fitted to a generic 3D face (weak perspective,
   rigid points only: nose, eye corners, upper face outline), then every landmark
   is back-projected onto the frontal plane. Distances come out in millimetres of
   the generic face whatever the head size, distance to camera, pitch or yaw.
   Without this, nodding alone moved the "jaw drop" feature (r = 0.75-0.87 with
   head pitch on py-feat's test clips).
2. The person's resting face: each feature is taken relative to the clip's own
   neutral level (a robust percentile over the frames with a face), so a wide
   mouth or narrow eyes at rest do not read as an action.
"""

from __future__ import annotations

import numpy as np

#: A generic face, 68 iBUG points in mm (x right, y down, z away from the camera),
#: centred on the rigid points. Made from OpenFace 2's 3D landmarks on py-feat's
#: ``OpenFace_Test.csv`` (rotated to frontal with OpenFace's own head pose, averaged
#: over its 100 frames, mirrored left/right and averaged to be symmetric).
_MEAN_SHAPE_TEXT = """
-75.3 -3.2 56.1  -74.9 16.0 53.4  -73.0 35.2 51.7  -69.7 54.3 49.3
-63.3 72.0 45.0  -51.9 86.3 37.1  -36.4 96.2 25.0  -19.2 102.6 11.9
0.0 103.9 6.5  19.2 102.6 11.9  36.4 96.2 25.0  51.9 86.3 37.1
63.3 72.0 45.0  69.7 54.3 49.3  73.0 35.2 51.7  74.9 16.0 53.4
75.3 -3.2 56.1  -59.7 -23.9 22.7  -50.8 -34.2 15.9  -37.5 -38.7 8.3
-23.7 -38.1 0.6  -11.0 -34.0 -4.7  11.0 -34.0 -4.7  23.7 -38.1 0.6
37.5 -38.7 8.3  50.8 -34.2 15.9  59.7 -23.9 22.7  0.0 -14.7 -4.1
0.0 -4.8 -11.7  0.0 4.7 -19.8  0.0 14.5 -27.5  -13.6 30.4 -11.3
-6.9 32.0 -13.2  0.0 33.1 -14.9  6.9 32.0 -13.2  13.6 30.4 -11.3
-45.4 -8.3 15.7  -37.3 -13.8 10.8  -27.4 -14.1 8.8  -19.3 -8.1 7.6
-28.0 -5.3 8.1  -37.9 -5.1 10.0  19.3 -8.1 7.6  27.4 -14.1 8.8
37.3 -13.8 10.8  45.4 -8.3 15.7  37.9 -5.1 10.0  28.0 -5.3 8.1
-24.5 62.1 -0.2  -14.5 54.7 -10.6  -5.9 50.0 -15.5  0.0 51.7 -16.0
5.9 50.0 -15.5  14.5 54.7 -10.6  24.5 62.1 -0.2  14.8 64.2 -10.9
6.3 64.4 -16.2  0.0 64.6 -17.1  -6.3 64.4 -16.2  -14.8 64.2 -10.9
-19.9 61.2 -3.5  -6.0 57.6 -13.8  0.0 57.9 -14.6  6.0 57.6 -13.8
19.9 61.2 -3.5  6.0 55.7 -15.0  0.0 55.9 -16.0  -6.0 55.7 -15.0
"""
_MEAN_SHAPE_MM = np.array(_MEAN_SHAPE_TEXT.split(), dtype=np.float64).reshape(68, 3)

#: Landmarks that do not move with expressions: upper face outline, nose, eye corners.
RIGID_POINTS = (0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45)

#: A frame is dropped when its head is turned so far that the frontal plane cannot be
#: recovered: |det| of the 2x2 in-plane part of the rotation below this (about 60 deg).
_MIN_FRONTAL_DET = 0.5

#: How well each geometric AU tracked a trained AU model on real data (Pearson r of
#: the final 0-5 intensities, frame by frame); the confidence is about the lower r,
#: rounded down. References: OpenFace 2 ``AUxx_r`` on py-feat's OpenFace_Test.csv
#: (100 frames, its own landmarks) and py-feat's AU outputs in its test files
#: 001.csv (40 frames) and 002.csv (28 frames), again on their own landmarks.
#: - AU45 vs OpenFace AU45_r: r = 0.94; vs py-feat AU43 (eyes closed): 0.95, 0.89.
#:   Squinting (AU06/AU07, as in a broad smile or crying) narrows the eyes too and
#:   reads as AU45: a sustained AU45 is rather a squint than a blink.
#: - AU25 vs py-feat AU25: r = 0.85, 0.81. OpenFace_Test has no lips-apart frames
#:   (AU25_c = 0 throughout), so it cannot score AU25; ours stays below 0.6 there.
#: - AU12 vs py-feat AU12: r = 0.62, 0.67 (OpenFace_Test has no smile: AU12_r = 0).
#:   Geometry cannot tell a smile from a wide lateral lip stretch (AU20, crying).
#: - AU26 vs py-feat AU26: r = 0.31, 0.26; OpenFace_Test's AU26_r stays below 0.32
#:   with AU26_c = 0 (noise), r = -0.13. Weak: jaw drop is hard to tell from lips
#:   parting and from the chin point's jitter. Kept, with a low confidence.
#: - Brows (not emitted): on frontalised OpenFace landmarks, inner-brow height vs
#:   AU01_r r = 0.38, outer-brow height vs AU02_r r = -0.36 (wrong sign), inner-brow
#:   height vs AU04_r r = +0.47 (wrong sign), while brow heights correlated 0.85-0.90
#:   with AU45_r; likewise 0.79-0.85 with py-feat's AU43: they follow the eyelids.
AU_CONFIDENCE: dict[str, float] = {"AU12": 0.6, "AU25": 0.75, "AU26": 0.3, "AU45": 0.8}

#: Resting level of the actions that only add (mouth opening, lip corner pull): the
#: least active tenth of the clip's frames. A clip that never rests (lips apart or a
#: smile throughout) would then read as neutral, so the rest is capped at what a
#: resting face measures: lips touching (gap <= 1 mm; dlib, py-feat and OpenFace
#: gave -2.5 to 0.1 mm) and corners at most 12 mm on the ``corner`` feature (7.4-8.5
#: mm on the resting faces of single_face.mp4 and OpenFace_Test.csv, 13.6-14 mm on
#: py-feat's 001/002.csv, which smile throughout).
_REST_PERCENTILE = 10.0
_REST_CAP_MM = {"AU25": 1.0, "AU12": 12.0}
#: Eyes are open most of the time and closing only lowers openness: the resting
#: openness is the 75th percentile, robust to closures that fill half the clip.
_EYE_REST_PERCENTILE = 75.0

#: Millimetres of the generic face (eye centres 65 mm apart) per intensity unit, so
#: that a maximal action reaches about 5: lips 15 mm apart, chin dropped 20 mm, lip
#: corners 15 mm further out and up (a broad open-mouth smile measured 14 mm).
_MM_PER_UNIT = {"AU25": 3.0, "AU26": 4.0, "AU12": 3.0}
#: Eye closure is a fraction of the resting openness; eyes shut (the eye aspect
#: ratio falls to about a sixth of its resting value) reads as 5.
_AU45_PER_CLOSURE = 6.0


def fit_pose(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weak-perspective fit of the generic face to each frame's rigid points.

    Returns ``rotation`` (n, 3, 3, generic face to camera), ``scale`` (n,) in pixels
    per mm and ``translation`` (n, 2) in pixels. Closed form: a least-squares affine
    map, then the nearest pair of orthonormal rows (polar decomposition).
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    rigid = list(RIGID_POINTS)
    model = _MEAN_SHAPE_MM[rigid]
    model_mean = model.mean(axis=0)
    model_c = model - model_mean
    image = pts[:, rigid]
    image_mean = image.mean(axis=1)
    image_c = image - image_mean[:, None]
    affine = np.einsum("nki,kj->nij", image_c, model_c) @ np.linalg.inv(model_c.T @ model_c)
    u, sv, vt = np.linalg.svd(affine, full_matrices=False)
    rows = u @ vt  # (n, 2, 3), orthonormal rows
    third = np.cross(rows[:, 0], rows[:, 1])
    rotation = np.concatenate([rows, third[:, None]], axis=1)
    scale = sv.mean(axis=-1)
    translation = image_mean - scale[:, None] * np.einsum("nij,j->ni", rows, model_mean)
    return rotation, scale, translation


def head_pose(landmarks: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Head pitch, yaw, roll in degrees (OpenFace's pose_Rx/Ry/Rz convention).

    On OpenFace_Test.csv these track OpenFace's own pose at r = 0.96 (pitch), 0.99
    (yaw), 0.79 (roll, which barely moves there). Signs follow OpenFace: the generic
    face's zero is OpenFace's frontal head.
    """
    n = len(valid)
    out = {k: np.full(n, np.nan) for k in ("pose_pitch", "pose_yaw", "pose_roll")}
    idx = np.flatnonzero(_usable(landmarks, valid))
    if idx.size == 0:
        return out
    rot, _, _ = fit_pose(landmarks[idx])
    out["pose_pitch"][idx] = np.degrees(np.arctan2(rot[:, 2, 1], rot[:, 2, 2]))
    out["pose_yaw"][idx] = np.degrees(np.arcsin(np.clip(-rot[:, 2, 0], -1.0, 1.0)))
    out["pose_roll"][idx] = np.degrees(np.arctan2(rot[:, 1, 0], rot[:, 0, 0]))
    return out


def frontalise(landmarks: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks on the generic face's frontal plane, in mm; NaN where not recoverable.

    Each point keeps its image position but takes the generic face's depth, then the
    fitted rotation and scale are undone: pose and head size drop out of distances.
    Returns ``(points (n, 68, 2), ok (n,) bool)``.
    """
    n = len(valid)
    front = np.full((n, 68, 2), np.nan)
    ok = _usable(landmarks, valid)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return front, ok
    pts = np.asarray(landmarks, dtype=np.float64)[idx]
    rot, scale, trans = fit_pose(pts)
    in_plane = rot[:, :2, :2]
    det = np.linalg.det(in_plane)
    good = np.abs(det) >= _MIN_FRONTAL_DET
    depth_term = rot[:, :2, 2][:, None, :] * _MEAN_SHAPE_MM[None, :, 2, None]
    rhs = (pts - trans[:, None]) / scale[:, None, None] - depth_term
    safe = np.where(good[:, None, None], in_plane, np.eye(2))
    solved = np.einsum("nij,nkj->nki", np.linalg.inv(safe), rhs)
    solved[~good] = np.nan
    front[idx] = solved
    ok = ok.copy()
    ok[idx[~good]] = False
    return front, ok


def _usable(landmarks: np.ndarray, valid: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    return valid & np.isfinite(pts).all(axis=(1, 2))


def geometric_features(front: np.ndarray) -> dict[str, np.ndarray]:
    """Raw features on frontal landmarks (mm, except ``eye_open`` which is a ratio)."""
    y = front[..., 1]
    x = front[..., 0]

    def dist(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(front[:, a] - front[:, b], axis=-1)

    # Eye aspect ratio (Soukupova & Cech 2016): lid gap over eye width, both eyes.
    right = (dist(37, 41) + dist(38, 40)) / (2.0 * dist(36, 39))
    left = (dist(43, 47) + dist(44, 46)) / (2.0 * dist(42, 45))
    # Inner-lip gap: the three upper/lower inner-lip pairs (61-67, 62-66, 63-65).
    lip_gap = np.mean([y[:, 67 - k] - y[:, 61 + k] for k in range(3)], axis=0)
    # Jaw: chin (8) below the nose base (33), which the jaw does not move.
    jaw = y[:, 8] - y[:, 33]
    # Lip corners (48, 54): how far out from the nose base's vertical (half weight)
    # plus how far above the mouth's centre line (midpoint of the inner lips) they
    # are. The zygomatic pulls them out and up; measuring "up" from the mouth centre
    # rather than from the nose keeps a jaw drop from lowering it.
    out = ((x[:, 33] - x[:, 48]) + (x[:, 54] - x[:, 33])) / 2.0
    centre = np.mean([(y[:, 61 + k] + y[:, 67 - k]) / 2.0 for k in range(3)], axis=0)
    up = centre - (y[:, 48] + y[:, 54]) / 2.0
    corner = out / 2.0 + up
    return {"eye_open": (right + left) / 2.0, "lip_gap": lip_gap, "jaw": jaw, "corner": corner}


def landmarks_to_au(
    landmarks: np.ndarray, valid: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """AU45, AU25, AU26, AU12 intensities (0-5, NaN where ``valid`` is False).

    ``landmarks``: (n_frames, 68, 2) pixels; ``valid``: (n_frames,) bool, the frames
    with a face. Returns ``(intensity per AU, confidence per AU)``; the confidence is
    a constant per AU from validation against trained AU models (``AU_CONFIDENCE``).
    Intensities are relative to the clip's resting face, so a clip needs several
    frames of one person for them to mean much.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (n_frames, 68, 2), got {landmarks.shape}")
    if valid.shape != (landmarks.shape[0],):
        raise ValueError(f"valid must be ({landmarks.shape[0]},), got {valid.shape}")
    n = landmarks.shape[0]
    front, ok = frontalise(landmarks, valid)
    out = {au: np.full(n, np.nan) for au in AU_CONFIDENCE}
    if not ok.any():
        return out, dict(AU_CONFIDENCE)
    feats = {k: v[ok] for k, v in geometric_features(front).items()}

    rest_eye = np.percentile(feats["eye_open"], _EYE_REST_PERCENTILE)
    closure = 1.0 - feats["eye_open"] / rest_eye if rest_eye > 0 else np.zeros(ok.sum())
    raw = {
        "AU45": closure * _AU45_PER_CLOSURE,
        "AU25": _above_rest(feats["lip_gap"], _REST_CAP_MM["AU25"]) / _MM_PER_UNIT["AU25"],
        "AU26": _above_rest(feats["jaw"], None) / _MM_PER_UNIT["AU26"],
        "AU12": _above_rest(feats["corner"], _REST_CAP_MM["AU12"]) / _MM_PER_UNIT["AU12"],
    }
    for au, values in raw.items():
        out[au][ok] = np.clip(values, 0.0, 5.0)
    return out, dict(AU_CONFIDENCE)


def _above_rest(values: np.ndarray, cap: float | None) -> np.ndarray:
    rest = float(np.percentile(values, _REST_PERCENTILE))
    if cap is not None:
        rest = min(rest, cap)
    return values - rest
