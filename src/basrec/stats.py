"""Summary statistics and paired tests for the experiment reports.

- ``mean_std``: the mean and the *sample* standard deviation (``ddof=1``, what the paper's
  "mean ± std over 5 seeds" conventionally means); the std is NaN for a single value.
- ``paired_ttest``: Student's paired t-test (``scipy.stats.ttest_rel``, two-sided) over seeds.
- ``wilcoxon``: the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided, zero
  differences dropped: ``zero_method="wilcox"``) over users.

A test that cannot be computed (fewer than 2 pairs, every difference zero) returns ``None``;
reports print it as "n/a".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class TestResult:
    """A test's statistic, two-sided p-value and number of pairs."""

    __test__ = False  # not a pytest test class

    statistic: float
    pvalue: float
    n: int


def mean_std(values: ArrayLike) -> tuple[float, float]:
    """(mean, sample std with ddof=1); std is NaN for one value, both NaN for none."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return math.nan, math.nan
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if a.size > 1 else math.nan
    return mean, std


def _pairs(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples need two 1-d arrays of one length, got "
                         f"{x.shape} and {y.shape}")
    return x, y


def paired_ttest(a: ArrayLike, b: ArrayLike) -> TestResult | None:
    """Two-sided paired t-test of a vs b (e.g. a variant's and the base's per-seed scores).

    ``None`` with fewer than 2 pairs or when the differences have no spread (t undefined)."""
    x, y = _pairs(a, b)
    if x.size < 2:
        return None
    d = x - y
    if np.all(d == d[0]):
        return None
    from scipy import stats

    res = stats.ttest_rel(x, y)
    return TestResult(float(res.statistic), float(res.pvalue), int(x.size))


def wilcoxon(a: ArrayLike, b: ArrayLike) -> TestResult | None:
    """Two-sided Wilcoxon signed-rank test of a vs b (zero differences dropped).

    ``None`` with no pair or when every difference is zero."""
    x, y = _pairs(a, b)
    if x.size == 0 or np.all(x == y):
        return None
    from scipy import stats

    res = stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    return TestResult(float(res.statistic), float(res.pvalue), int(np.count_nonzero(x != y)))


def improvement(value: float, base: float) -> float:
    """Relative improvement in percent, (value − base) / base · 100; NaN when base is 0/NaN."""
    if not math.isfinite(base) or base == 0 or not math.isfinite(value):
        return math.nan
    return (value - base) / base * 100.0


def per_user_ranks(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(users, 0-based ranks) of a per-user file (a run's ``per_user_test.npz``, ``basrec
    evaluate --per-user``), sorted by user. ValueError where the two arrays differ in shape."""
    with np.load(path) as z:
        users, ranks = np.asarray(z["users"]), np.asarray(z["ranks"])
    if users.ndim != 1 or users.shape != ranks.shape:
        raise ValueError(f"one rank per user needed (users {users.shape}, ranks {ranks.shape})")
    order = np.argsort(users, kind="stable")
    return users[order], ranks[order]


def per_user_metric(ranks: np.ndarray, metric: str) -> np.ndarray:
    """Each user's HR@K, NDCG@K or MRR from 0-based ranks (as ``basrec.metrics``)."""
    r = np.asarray(ranks, dtype=np.float64)
    name, _, k = metric.partition("@")
    if name == "MRR":
        return 1.0 / (r + 1.0)
    if name not in ("HR", "NDCG") or not k.isdigit():
        raise ValueError(f"metric {metric!r} must be HR@K, NDCG@K or MRR")
    hit = r < int(k)
    if name == "HR":
        return hit.astype(np.float64)
    return np.where(hit, 1.0 / np.log2(r + 2.0), 0.0)
