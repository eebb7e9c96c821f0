"""Krippendorff's alpha from per-unit sums: the path for matrices too large for the
``krippendorff`` package, and a cheap bootstrap over clips.

alpha = 1 - D_o / D_e (Krippendorff 2011) with, over pairable values (n of them),
D_o = (1/n) sum_u 1/(m_u - 1) sum_{i != j in u} d(v_i, v_j) and
D_e = 1/(n (n - 1)) sum_{i != j} d(v_i, v_j). Both sums split into per-unit parts, so a
resample of clips is a weighted sum of those parts (``alpha_from``): the package is not
called a thousand times.

The interval is a percentile bootstrap over clips (units drawn with replacement, seeded),
a cluster bootstrap: it shows how much the figure would move with other clips of the same
kind, which is what a reader of a dataset card needs from 11 or 11,000 clips. (Hayes and
Krippendorff 2007 bootstrap the coincidence matrix instead; their intervals are close to
these for the unit counts here, but the two are not the same procedure.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class UnitSums:
    """Per pairable unit: observed disagreement, value count, and what D_e needs (sum and
    sum of squares for interval; category counts otherwise)."""

    level: str
    observed: FloatArray  # (U,) 1/(m-1) * sum over ordered pairs of d
    size: FloatArray  # (U,) m
    s1: FloatArray | None = None  # (U,) interval: sum v
    s2: FloatArray | None = None  # (U,) interval: sum v^2
    counts: FloatArray | None = None  # (U, V) categories
    table: FloatArray | None = None  # (V, V) distance; None: nominal


def unit_sums(units: list[list[Any]], level: str, table: FloatArray | None = None) -> UnitSums:
    """``units``: the values of each unit with two or more; numbers for "interval", else
    integer codes (``table[a, b]`` their distance, None for nominal)."""
    size = np.array([len(u) for u in units], dtype=float)
    if level == "interval":
        arrays = [np.asarray(u, dtype=float) for u in units]
        s1 = np.array([a.sum() for a in arrays])
        s2 = np.array([(a * a).sum() for a in arrays])
        # sum over ordered pairs of (a - b)^2 = 2 m sum v^2 - 2 (sum v)^2
        observed = (2 * size * s2 - 2 * s1 * s1) / (size - 1)
        return UnitSums(level, observed, size, s1=s1, s2=s2)
    n_codes = 1 + max(max(u) for u in units)
    counts = np.zeros((len(units), n_codes))
    observed = np.zeros(len(units))
    for k, u in enumerate(units):
        codes = np.asarray(u, dtype=int)
        np.add.at(counts[k], codes, 1.0)
        if table is None:
            pairs = len(u) * (len(u) - 1) - float(np.sum(counts[k] * (counts[k] - 1)))
        else:
            pairs = float(table[np.ix_(codes, codes)].sum())
        observed[k] = pairs / (len(u) - 1)
    sub = None if table is None else table[:n_codes, :n_codes]
    return UnitSums(level, observed, size, counts=counts, table=sub)


def alpha_from(sums: UnitSums, weights: FloatArray | None = None) -> float:
    """Alpha of the units, each counted ``weights[u]`` times (default once); NaN when the
    values do not vary (D_e = 0)."""
    w = np.ones(len(sums.size)) if weights is None else weights
    n = float(w @ sums.size)
    observed = float(w @ sums.observed)
    if sums.level == "interval":
        assert sums.s1 is not None and sums.s2 is not None
        total = float(w @ sums.s1)
        expected = 2 * n * float(w @ sums.s2) - 2 * total * total
    else:
        assert sums.counts is not None
        c = w @ sums.counts
        expected = float(n * n - c @ c) if sums.table is None else float(c @ sums.table @ c)
    if expected <= 1e-12 * max(1.0, n * n):
        return float("nan")
    return 1.0 - (n - 1) * observed / expected


def streaming_alpha(units: list[list[Any]], level: str, table: FloatArray | None = None) -> float:
    """Krippendorff's alpha of pairable ``units`` (see ``unit_sums``)."""
    return alpha_from(unit_sums(units, level, table))


def bootstrap_interval(
    sums: UnitSums, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile interval of alpha over clips drawn with replacement; None under two units
    or when no resample varies."""
    n_units = len(sums.size)
    if n_units < 2 or resamples <= 0:
        return None
    rng = np.random.default_rng(seed)
    values = np.fromiter(
        (
            alpha_from(
                sums,
                np.bincount(rng.integers(0, n_units, n_units), minlength=n_units).astype(float),
            )
            for _ in range(resamples)
        ),
        dtype=np.float64,
        count=resamples,
    )
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
