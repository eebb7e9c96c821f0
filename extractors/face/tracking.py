"""Which face is the speaker's: pick a target face and keep it across frames.

In an interview clip the interviewer, a poster or a passer-by may also be in view.
The target is first the face that is large and central (area share times
closeness to the frame centre); from then on, the face that overlaps the previous
target box most (or, after a fast move, whose centre is nearest to it) stays the
target, even when another face is momentarily larger. A target missing for longer
than ``max_gap_s`` is chosen afresh. Boxes are ``(x, y, w, h)`` in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]

#: Overlap (intersection over union) with the previous target that keeps a face as target.
MIN_IOU = 0.2
#: Else a face whose centre is within this many previous-box widths is the target.
MAX_CENTRE_SHIFT = 0.75
#: A target missing this long is forgotten; the next one is chosen afresh.
DEFAULT_MAX_GAP_S = 2.0


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def salience(box: Box, width: float, height: float) -> float:
    """Area share times closeness of the box centre to the frame centre (0-1)."""
    x, y, w, h = box
    area = (w * h) / (width * height) if width > 0 and height > 0 else 0.0
    dx = (x + w / 2) - width / 2
    dy = (y + h / 2) - height / 2
    half_diag = math.hypot(width / 2, height / 2) or 1.0
    return area * max(0.0, 1.0 - math.hypot(dx, dy) / half_diag)


@dataclass
class TargetTracker:
    """Stateful: feed each frame's boxes in time order, get the target's index."""

    width: float
    height: float
    max_gap_s: float = DEFAULT_MAX_GAP_S
    switches: int = 0  # times a remembered target was lost and another face chosen
    _box: Box | None = field(default=None, repr=False)
    _time_s: float = field(default=-math.inf, repr=False)

    def choose(self, boxes: list[Box], time_s: float) -> int | None:
        """Index of the target among ``boxes`` (``None`` when there is no face)."""
        if not boxes:
            return None
        if self._box is not None and time_s - self._time_s > self.max_gap_s:
            self._box = None
        index = self._follow(self._box, boxes) if self._box is not None else None
        if index is None:
            if self._box is not None and len(boxes) > 1:
                self.switches += 1
            index = max(
                range(len(boxes)), key=lambda i: salience(boxes[i], self.width, self.height)
            )
        self._box = boxes[index]
        self._time_s = time_s
        return index

    @staticmethod
    def _follow(prev: Box, boxes: list[Box]) -> int | None:
        overlaps = [iou(prev, b) for b in boxes]
        best = max(range(len(boxes)), key=lambda i: overlaps[i])
        if overlaps[best] >= MIN_IOU:
            return best
        px, py = prev[0] + prev[2] / 2, prev[1] + prev[3] / 2
        shifts = [math.hypot(b[0] + b[2] / 2 - px, b[1] + b[3] / 2 - py) for b in boxes]
        nearest = min(range(len(boxes)), key=lambda i: shifts[i])
        if shifts[nearest] <= MAX_CENTRE_SHIFT * max(prev[2], 1.0):
            return nearest
        if len(boxes) == 1:
            return 0  # the only face in view: the person moved, or the shot changed
        return None
