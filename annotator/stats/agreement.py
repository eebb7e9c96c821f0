"""Inter-annotator agreement with the ``krippendorff`` package.

Units are clips with two or more judged annotations (``data.JUDGED``); coders are
annotators. Alpha is computed by ``krippendorff.alpha`` on an annotators x clips matrix
(NaN where an annotator did not review a clip):

- ``labels``: nominal, each annotation's primary label (its first) after the emotion
  wheel (``wheel.primary_emotion``);
- ``labels_masi``: the whole label set after the wheel, with the MASI distance
  (Passonneau 2006, ``nltk.metrics.distance.masi_distance``) passed to the package as a
  custom distance: each distinct set is one value of the domain, and the metric looks the
  pair of sets up by their domain index;
- ``valence`` and ``arousal``: interval;
- ``verdict``: nominal, what each annotator did with the draft (accepted / edited /
  rejected), over the clips two or more judged, rejections included.

The package builds a units x values x values array (``_coincidences``), which does not fit
in memory for thousands of clips with continuous valence (50k distinct floats) or many
distinct label sets. Above ``PACKAGE_BYTES`` of that array, the same definition
(alpha = 1 - D_o / D_e over the coincidences, Krippendorff 2011) is summed unit by unit
by ``alpha_units`` instead, in O(values) for interval, O(values + categories^2) otherwise;
``implementation`` says which ran, and the tests hold the two equal on the same matrices.

Alpha is undefined when the matrix holds a single value (no variation to disagree on):
then ``value`` is None and ``note`` says why, rather than a made-up 1.0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np
import numpy.typing as npt
from nltk.metrics.distance import masi_distance

from annotator.stats.alpha_units import (
    alpha_from,
    bootstrap_interval,
    unit_sums,
)
from annotator.stats.data import Rating
from annotator.stats.wheel import emotion_set, primary_emotion


@dataclass(frozen=True)
class Alpha:
    """Krippendorff's alpha of one variable, with what it was computed on."""

    variable: str
    level: str
    value: float | None
    n_clips: int  # units with two or more values of this variable
    n_values: int  # pairable values
    n_annotators: int
    note: str | None = None
    implementation: str = "krippendorff"
    ci_low: float | None = None  # 95% bootstrap interval over clips (alpha_units)
    ci_high: float | None = None
    resamples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _matrix(
    by_clip: dict[int, list[Rating]], value: Callable[[Rating], Any]
) -> tuple[list[str], list[int], list[list[Any]]]:
    annotators = sorted({r.annotator for rs in by_clip.values() for r in rs})
    clips = sorted(by_clip)
    grid: list[list[Any]] = [[None] * len(clips) for _ in annotators]
    row = {a: i for i, a in enumerate(annotators)}
    for j, cid in enumerate(clips):
        for r in by_clip[cid]:
            grid[row[r.annotator]][j] = value(r)
    return annotators, clips, grid


def _pairable(grid: list[list[Any]]) -> tuple[int, int]:
    """(units with >= 2 values, values in those units)."""
    units = values = 0
    for j in range(len(grid[0]) if grid else 0):
        n = sum(1 for row in grid if row[j] is not None)
        if n >= 2:
            units += 1
            values += n
    return units, values


# Working memory allowed to ``krippendorff.alpha`` (its units x V x V float64 array).
PACKAGE_BYTES = 256 * 2**20
STREAMING = "streaming (same definition; the package's units x V^2 array is too large)"


def _units(grid: list[list[Any]]) -> list[list[Any]]:
    columns = (
        [row[j] for row in grid if row[j] is not None] for j in range(len(grid[0]) if grid else 0)
    )
    return [u for u in columns if len(u) >= 2]


def _alpha_of(
    variable: str,
    grid: list[list[Any]],
    level: str,
    metric: Any = None,
    domain: Sequence[Any] | None = None,
    table: npt.NDArray[np.float64] | None = None,
    resamples: int = 0,
) -> Alpha:
    units, values = _pairable(grid)
    n_annotators = len(grid)
    distinct = {v for row in grid for v in row if v is not None}
    if units == 0:
        return Alpha(variable, level, None, 0, 0, n_annotators, "no clip has two values")
    if len(distinct) < 2:
        return Alpha(
            variable, level, None, units, values, n_annotators, "one value only: alpha undefined"
        )
    streaming = len(grid[0]) * len(distinct) ** 2 * 8 > PACKAGE_BYTES
    sums = None  # per-unit sums: only the streaming path and the bootstrap need them
    if streaming or resamples:
        sums = unit_sums(_units(grid), "interval" if level == "interval" else "categorical", table)
    interval = bootstrap_interval(sums, resamples) if sums is not None and resamples else None
    low, high = interval if interval else (None, None)
    if streaming:
        assert sums is not None
        value = alpha_from(sums)
        return Alpha(
            variable, level, value, units, values, n_annotators, None, STREAMING, low, high,
            resamples,
        )  # fmt: skip
    data = np.array([[np.nan if v is None else float(v) for v in row] for row in grid], dtype=float)
    value = krippendorff.alpha(
        reliability_data=data,
        level_of_measurement=metric or level,  # type: ignore[arg-type]
        value_domain=domain,
    )
    return Alpha(
        variable, level, float(value), units, values, n_annotators, ci_low=low, ci_high=high,
        resamples=resamples,
    )  # fmt: skip


def _coded(grid: list[list[Any]]) -> tuple[list[list[int | None]], list[Any]]:
    """Categories as integer codes 0..K-1, and the categories in code order."""
    domain = sorted({v for row in grid for v in row if v is not None}, key=repr)
    code = {v: i for i, v in enumerate(domain)}
    return [[None if v is None else code[v] for v in row] for row in grid], domain


def alpha_labels(by_clip: dict[int, list[Rating]], resamples: int = 0) -> Alpha:
    """Nominal alpha of the primary label after the emotion wheel."""
    _, _, grid = _matrix(by_clip, lambda r: primary_emotion(list(r.labels)))
    coded, domain = _coded(grid)
    return _alpha_of(
        "labels", coded, "nominal", domain=list(range(len(domain))), resamples=resamples
    )


def masi_table(sets: Sequence[frozenset[str]]) -> npt.NDArray[np.float64]:
    """MASI distances between every two sets (symmetric, zero diagonal): 1 - J * M with J
    the Jaccard index and M 1 (equal), 2/3 (one within the other), 1/3 (overlap), 0 —
    nltk's ``masi_distance``, vectorised over the sets' incidence matrix."""
    words = sorted({w for x in sets for w in x})
    index = {w: i for i, w in enumerate(words)}
    incidence = np.zeros((len(sets), len(words)))
    for i, x in enumerate(sets):
        incidence[i, [index[w] for w in x]] = 1.0
    inter = incidence @ incidence.T
    size = incidence.sum(axis=1)
    union = size[:, None] + size[None, :] - inter
    jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    smaller = np.minimum(size[:, None], size[None, :])
    equal = (inter == size[:, None]) & (inter == size[None, :])
    m = np.where(equal, 1.0, np.where(inter == smaller, 2 / 3, np.where(inter > 0, 1 / 3, 0.0)))
    table: npt.NDArray[np.float64] = 1.0 - jaccard * m
    np.fill_diagonal(table, 0.0)
    return table


def masi_metric(
    sets: Sequence[frozenset[str]], table: npt.NDArray[np.float64] | None = None
) -> Callable[..., npt.NDArray[np.float64]]:
    """A ``krippendorff`` distance over label sets: the value domain is ``range(len(sets))``
    and the distance of two codes is the MASI distance of their sets."""
    table = masi_table(sets) if table is None else table

    def metric(
        v1: Any, v2: Any, i1: Any, i2: Any, n_v: Any, dtype: Any = np.float64
    ) -> npt.NDArray[np.float64]:
        return table[np.asarray(i1, dtype=int), np.asarray(i2, dtype=int)].astype(dtype)

    return metric


def alpha_labels_masi(by_clip: dict[int, list[Rating]], resamples: int = 0) -> Alpha:
    """Alpha of whole label sets (after the wheel) with the MASI distance."""
    _, _, grid = _matrix(by_clip, lambda r: emotion_set(list(r.labels)) or None)
    coded, domain = _coded(grid)
    table = masi_table(domain)
    return _alpha_of(
        "labels_masi",
        coded,
        "masi",
        metric=masi_metric(domain, table),
        domain=list(range(len(domain))),
        table=table,
        resamples=resamples,
    )


def alpha_scale(by_clip: dict[int, list[Rating]], variable: str, resamples: int = 0) -> Alpha:
    """Interval alpha of ``valence`` or ``arousal``."""
    _, _, grid = _matrix(by_clip, lambda r: getattr(r, variable))
    return _alpha_of(variable, grid, "interval", resamples=resamples)


def all_alphas(
    by_clip: dict[int, list[Rating]],
    resamples: int = 0,
    verdicts: dict[int, dict[str, str]] | None = None,
) -> dict[str, Alpha]:
    """The four alphas, and the verdicts' when ``verdicts`` (``data.judgements``) is given:
    what the report and the dataset card show. ``resamples`` > 0 adds a 95% bootstrap
    interval over clips."""
    alphas = {
        "labels": alpha_labels(by_clip, resamples),
        "labels_masi": alpha_labels_masi(by_clip, resamples),
        "valence": alpha_scale(by_clip, "valence", resamples),
        "arousal": alpha_scale(by_clip, "arousal", resamples),
    }
    if verdicts is not None:
        alphas["verdict"] = alpha_verdict(verdicts, resamples)
    return alphas


def alpha_verdict(by_clip: dict[int, dict[str, str]], resamples: int = 0) -> Alpha:
    """Nominal alpha of the annotators' verdicts on the draft (accepted / edited /
    rejected), over clips two or more judged (``data.judgements``)."""
    annotators = sorted({a for v in by_clip.values() for a in v})
    grid = [[by_clip[cid].get(a) for cid in sorted(by_clip)] for a in annotators]
    coded, domain = _coded(grid)
    return _alpha_of(
        "verdict", coded, "nominal", domain=list(range(len(domain))), resamples=resamples
    )


def pair_agreement(a: Rating, b: Rating) -> float | None:
    """How much two annotations of one clip agree, 0..1: the mean of the parts both have —
    label sets (1 - MASI distance, after the wheel), valence (1 - |difference| / 2, the
    scale spans 2) and arousal (1 - |difference|)."""
    parts: list[float] = []
    sa, sb = emotion_set(list(a.labels)), emotion_set(list(b.labels))
    if sa and sb:
        parts.append(1.0 - float(masi_distance(set(sa), set(sb))))
    if a.valence is not None and b.valence is not None:
        parts.append(1.0 - abs(a.valence - b.valence) / 2.0)
    if a.arousal is not None and b.arousal is not None:
        parts.append(1.0 - abs(a.arousal - b.arousal))
    return sum(parts) / len(parts) if parts else None


def ratings_agreement(rs: Sequence[Rating]) -> float | None:
    """Mean ``pair_agreement`` over every pair of a clip's annotations; None under two."""
    values = [v for a, b in combinations(rs, 2) if (v := pair_agreement(a, b)) is not None]
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class PairStats:
    """Two annotators over the clips both judged."""

    a: str
    b: str
    n_clips: int
    label_match: float | None  # share of shared clips with the same primary emotion
    agreement: float | None  # mean pair_agreement
    valence_mad: float | None  # mean |valence difference|
    arousal_mad: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def annotator_pairs(by_clip: dict[int, list[Rating]]) -> list[PairStats]:
    shared: dict[tuple[str, str], list[tuple[Rating, Rating]]] = {}
    for rs in by_clip.values():
        for a, b in combinations(sorted(rs, key=lambda r: r.annotator), 2):
            shared.setdefault((a.annotator, b.annotator), []).append((a, b))
    out = []
    for (na, nb), pairs in sorted(shared.items()):
        prim = [
            (pa, pb)
            for a, b in pairs
            if (pa := primary_emotion(list(a.labels))) and (pb := primary_emotion(list(b.labels)))
        ]
        agree = [v for a, b in pairs if (v := pair_agreement(a, b)) is not None]
        dv = [
            abs(a.valence - b.valence)
            for a, b in pairs
            if a.valence is not None and b.valence is not None
        ]
        da = [
            abs(a.arousal - b.arousal)
            for a, b in pairs
            if a.arousal is not None and b.arousal is not None
        ]
        out.append(
            PairStats(
                a=na,
                b=nb,
                n_clips=len(pairs),
                label_match=_mean([float(x == y) for x, y in prim]),
                agreement=_mean(agree),
                valence_mad=_mean(dv),
                arousal_mad=_mean(da),
            )
        )
    return out
