"""Percentile bootstrap confidence intervals for eval scores, vectorised over resamples.

Why resample weights, not index lists: every GLUE metric is a function of per-example
counts, so a resample is fully described by how often each example was drawn. One
``(n_resamples, n_examples)`` matrix of multinomial counts (:func:`resample_weights`) is
drawn once per eval set and shared by every metric and every prediction vector; a metric of
``m`` candidates on all resamples is then one or two matrix products
(``(B, n) @ (n, m)``), never a Python loop over resamples. Spearman's rho needs ranks
within each resample; :mod:`probe.stats.spearman` gets them from the same counts in one pass
per candidate, without sorting any resample. The statistic on a resample is exactly the
statistic on the duplicated examples (the tests compare with
``scipy.stats.bootstrap(..., method="percentile")`` and, per resample, with scipy on the
duplicated rows).

Resampling unit: examples (sentences or sentence pairs) by default. When several rows belong
to one sentence (token rows: every word token a row), pass ``groups`` (n_rows,) with the
sentence id of each row: sentences are drawn, and a drawn sentence brings all its rows.

Undefined cases, never a crash:

* fewer than ``min_examples`` units (20 by default): the interval is undefined, with the
  reason, because a percentile interval from a handful of examples is not a 95% interval;
* a metric undefined on a resample (MCC or F1 when the resampled labels hold one class only,
  a correlation when the resampled labels or predictions are constant): that resample is
  left out and counted in ``Interval.n_undefined``; when every resample is undefined the
  interval is undefined with the reason.

Conventions kept from :mod:`probe.metrics` for the point estimate: a constant classifier has
MCC 0 (scikit-learn's convention), and that is not an undefined resample.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from probe.errors import FewdimsError
from probe.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from probe.stats.spearman import (
    SPEARMAN_BLOCK_VALUES,
    Rows,
    TieGroups,
    TrueRanks,
    column_spearman,
    mid_ranks,
)

CI_METHOD = "percentile"
# Resamples per block when weights are drawn; bounds the (block, n) float64 temporaries.
RESAMPLE_BLOCK = 1000


class BootstrapSettingsError(FewdimsError, ValueError):
    """Bootstrap settings out of range (too few resamples, a level outside (0, 1))."""


@dataclass(frozen=True)
class BootstrapSpec:
    """How intervals are computed; saved in results provenance so they can be reproduced.

    ``n_resamples`` >= 1,000 (the issue's floor; fewer gives visibly jittery 2.5% tails),
    ``level`` the two-sided coverage, ``seed`` seeds the multinomial counts,
    ``min_examples`` the number of resampling units below which no interval is given.
    """

    n_resamples: int = 1000
    level: float = 0.95
    seed: int = 0
    min_examples: int = 20
    method: str = CI_METHOD

    def check(self) -> None:
        if self.n_resamples < 1000:
            raise BootstrapSettingsError(
                f"n_resamples={self.n_resamples}: use at least 1,000 bootstrap resamples "
                "(the 2.5% tails of fewer are too noisy to report)."
            )
        if not 0.5 < self.level < 1.0:
            raise BootstrapSettingsError(f"level={self.level} must lie in (0.5, 1), e.g. 0.95.")
        if self.method != CI_METHOD:
            raise BootstrapSettingsError(f"method={self.method!r}; fewdims computes 'percentile'.")

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> BootstrapSpec:
        known = {
            key: value for key, value in (record or {}).items() if key in cls.__dataclass_fields__
        }
        return cls(**known)


@dataclass(frozen=True)
class Interval:
    """A confidence interval, or why there is none (``reason`` non-empty, bounds NaN).

    ``n_undefined``: resamples on which the metric was undefined and left out.
    """

    low: float
    high: float
    n_undefined: int = 0
    reason: str = ""

    @property
    def defined(self) -> bool:
        return not self.reason and math.isfinite(self.low) and math.isfinite(self.high)

    def to_record(self) -> list[float] | dict[str, Any]:
        """JSON form: ``[low, high]`` when clean, else a dict with the count or the reason."""
        if self.defined and not self.n_undefined:
            return [round(self.low, 6), round(self.high, 6)]
        record: dict[str, Any] = {"n_undefined": self.n_undefined}
        if self.defined:
            record.update(low=round(self.low, 6), high=round(self.high, 6))
        if self.reason:
            record["reason"] = self.reason
        return record

    @classmethod
    def from_record(cls, record: Any) -> Interval | None:
        """Inverse of :meth:`to_record`; None for anything that is not an interval record."""
        if isinstance(record, list) and len(record) == 2:
            return cls(_float(record[0]), _float(record[1]))
        if isinstance(record, dict):
            return cls(
                _float(record.get("low")),
                _float(record.get("high")),
                int(record.get("n_undefined") or 0),
                str(record.get("reason") or ""),
            )
        return None

    @classmethod
    def undefined(cls, reason: str, n_undefined: int = 0) -> Interval:
        return cls(math.nan, math.nan, n_undefined, reason)


def add_bootstrap_arguments(parser: Any) -> None:
    """``--bootstrap N`` and ``--bootstrap-seed``, declared beside the spec that reads them."""
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=BootstrapSpec.n_resamples,
        metavar="N",
        help="bootstrap resamples for the 95%% CI of every eval score (default %(default)s, "
        "at least 1000; 0 = no CIs and no kept predictions)",
    )
    parser.add_argument(
        "--bootstrap-seed", type=int, default=0, help="seed of the bootstrap resamples (0)"
    )


def bootstrap_from_args(args: Any) -> BootstrapSpec | None:
    """The spec ``--bootstrap`` / ``--bootstrap-seed`` ask for; None for ``--bootstrap 0``."""
    if not args.bootstrap:
        return None
    spec = BootstrapSpec(n_resamples=args.bootstrap, seed=args.bootstrap_seed)
    spec.check()
    return spec


def _float(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Resamples:
    """How often each resampling unit was drawn in each resample.

    ``counts`` (n_resamples, n_units) float64; ``unit_of_row`` (n_rows,) the unit (sentence)
    of each row, or None when every row is its own unit. Statistics are summed per unit first
    (``weighted_sum``), so token rows never need an (n_resamples, n_rows) matrix, which for a
    dev set of 20,000 token rows would be 160 MB. ``counts`` is read-only: one draw is shared
    by every eval set of the same size and settings in this process (:func:`draw_resamples`).

    ``derived``: statistics of these resamples and one label vector that every call on that
    eval set needs again (Spearman's true-value ranks), kept here for the next call; see
    :func:`_spearman_truth`.
    """

    counts: np.ndarray
    unit_of_row: np.ndarray | None = None
    derived: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_resamples(self) -> int:
        return int(self.counts.shape[0])

    def per_unit(self, values: np.ndarray) -> np.ndarray:
        """Row values (n_rows, k) summed within each unit -> (n_units, k)."""
        if self.unit_of_row is None:
            return values
        from scipy.sparse import csr_matrix

        n_rows = self.unit_of_row.size
        membership = csr_matrix(
            (np.ones(n_rows), (self.unit_of_row, np.arange(n_rows))),
            shape=(self.counts.shape[1], n_rows),
        )
        return np.asarray(membership @ values)

    def weighted_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of row values (n_rows, k) over the drawn rows of every resample -> (B, k)."""
        return self.counts @ self.per_unit(values)

    def row_weights(self, resamples: slice = slice(None)) -> np.ndarray:
        """(n_resamples, n_rows) draw count of every row (for statistics that need rows);
        ``resamples`` picks a block of resamples, so token rows never need all at once."""
        counts = self.counts[resamples]
        return counts if self.unit_of_row is None else counts[:, self.unit_of_row]


# The last draw of this process: a sweep draws the same matrix for every (layer, pooling)
# group of a task (same eval size, seed and resamples), and 1,000 multinomial draws over
# 2,700 units take about 0.2 s, most of QNLI's CI seconds before this memo. One entry only,
# so memory stays at one (n_resamples, n_units) matrix.
_last_draw: tuple[tuple[Any, ...], Resamples] | None = None


def draw_resamples(n_rows: int, spec: BootstrapSpec, groups: np.ndarray | None = None) -> Resamples:
    """Multinomial draw counts of every unit in every resample.

    Without ``groups`` each resample draws ``n_rows`` examples with replacement. With
    ``groups`` (n_rows,) it draws as many groups (sentences) as there are, and every row of a
    drawn group counts as often as its group. Seeded by ``spec.seed`` alone, so two
    prediction vectors on the same eval set see the same resamples (the basis of the paired
    tests). A repeated call with the same arguments returns the same (read-only) draw.
    """
    global _last_draw
    key = (n_rows, spec.n_resamples, spec.seed, None if groups is None else _digest(groups))
    if _last_draw is not None and _last_draw[0] == key:
        return _last_draw[1]
    rng = np.random.default_rng([spec.seed, 0xB007])
    if groups is None:
        n_drawn, unit_of_row = n_rows, None
    else:
        group_ids, unit_of_row = np.unique(np.asarray(groups), return_inverse=True)
        n_drawn = group_ids.size
    counts = np.empty((spec.n_resamples, n_drawn))
    uniform = np.full(n_drawn, 1.0 / n_drawn) if n_drawn else np.empty(0)
    for start in range(0, spec.n_resamples, RESAMPLE_BLOCK):
        stop = min(start + RESAMPLE_BLOCK, spec.n_resamples)
        counts[start:stop] = rng.multinomial(n_drawn, uniform, size=stop - start)
    counts.flags.writeable = False
    resamples = Resamples(counts, unit_of_row)
    _last_draw = (key, resamples)
    return resamples


def _digest(values: np.ndarray) -> str:
    """Content key of an array (dtype, shape and bytes)."""
    array = np.ascontiguousarray(values)
    digest = hashlib.blake2b(array.tobytes(), digest_size=16)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    return digest.hexdigest()


def resample_weights(
    n_rows: int, spec: BootstrapSpec, groups: np.ndarray | None = None
) -> np.ndarray:
    """Draw counts of every row in every resample -> (n_resamples, n_rows) float64."""
    return draw_resamples(n_rows, spec, groups).row_weights()


def n_units(n_rows: int, groups: np.ndarray | None) -> int:
    """Resampling units: rows, or distinct groups (sentences)."""
    return n_rows if groups is None else int(np.unique(np.asarray(groups)).size)


def weighted_metric(
    name: str,
    y_true: np.ndarray,
    predictions: np.ndarray,
    weights: np.ndarray | Resamples,
    n_classes: int = 2,
) -> np.ndarray:
    """``name`` of every prediction column on every resample -> (B, m) float64, NaN = undefined.

    ``y_true`` (n,); ``predictions`` (n, m) labels (classification) or values (regression);
    ``weights``: :class:`Resamples`, or (B, n) row draw counts.
    """
    predictions = np.asarray(predictions)
    if predictions.ndim == 1:
        predictions = predictions[:, None]
    resamples = (
        weights
        if isinstance(weights, Resamples)
        else Resamples(np.asarray(weights, dtype=np.float64))
    )
    if name == "accuracy":
        totals = resamples.weighted_sum(np.ones((predictions.shape[0], 1)))  # (B, 1)
        correct = (predictions == np.asarray(y_true)[:, None]).astype(np.float64)
        return resamples.weighted_sum(correct) / totals
    if name in ("mcc", "f1", "f1_macro"):
        return _confusion_metric(name, y_true, predictions, resamples, n_classes)
    if name == "pearson":
        return _weighted_pearson(np.asarray(y_true, np.float64), predictions, resamples)
    if name == "spearman":
        return _weighted_spearman(np.asarray(y_true, np.float64), predictions, resamples)
    known = ", ".join(CLASSIFICATION_METRICS + REGRESSION_METRICS)
    raise FewdimsError(f"No bootstrap for metric {name!r}; fewdims computes: {known}.")


def _confusion_metric(
    name: str, y_true: np.ndarray, predictions: np.ndarray, resamples: Resamples, n_classes: int
) -> np.ndarray:
    """MCC / F1 from weighted confusion counts: one (B, units) @ (units, m*c*c) product."""
    n_rows, n_candidates = predictions.shape
    cells = n_classes * n_classes
    cell = np.asarray(y_true, np.int64)[:, None] * n_classes + predictions.astype(np.int64)
    one_hot = np.zeros((n_rows, n_candidates * cells))
    one_hot[np.arange(n_rows)[:, None], np.arange(n_candidates)[None, :] * cells + cell] = 1.0
    confusion = resamples.weighted_sum(one_hot).reshape(-1, n_classes, n_classes)  # (B*m, c, c)
    labels_present = (confusion.sum(axis=2) > 0).sum(axis=1)  # classes in the resampled labels
    if name == "mcc":
        from probe.metrics import mcc_from_confusion

        values = mcc_from_confusion(confusion)
        values = np.where(labels_present < 2, np.nan, values)
    elif name == "f1_macro":
        from probe.metrics import macro_f1_from_confusion

        values = macro_f1_from_confusion(confusion)
    else:
        from probe.metrics import f1_from_confusion

        denominator = 2 * confusion[:, 1, 1] + confusion[:, 0, 1] + confusion[:, 1, 0]
        values = np.where(denominator > 0, f1_from_confusion(confusion), np.nan)
    return values.reshape(resamples.n_resamples, n_candidates)


def _weighted_pearson(
    y_true: np.ndarray, predictions: np.ndarray, resamples: Resamples
) -> np.ndarray:
    """Weighted Pearson r of ``y_true`` with each column, on every resample -> (B, m).

    Two products: one for the sums that involve ``y_true`` alone, one (n, 3m) for the three
    sums of every column."""
    x = (y_true - y_true.mean())[:, None]  # centred once for numerical safety (r is shift-free)
    y = predictions.astype(np.float64) - predictions.mean(axis=0, dtype=np.float64)
    n_columns = y.shape[1]
    true_sums = resamples.weighted_sum(np.hstack([np.ones_like(x), x, x * x]))  # (B, 3)
    column_sums = resamples.weighted_sum(np.hstack([y, x * y, y * y]))  # (B, 3m)
    totals = true_sums[:, :1]
    mean_x = true_sums[:, 1:2] / totals  # (B, 1)
    mean_y = column_sums[:, :n_columns] / totals  # (B, m)
    cov = column_sums[:, n_columns : 2 * n_columns] / totals - mean_x * mean_y
    var_x = true_sums[:, 2:3] / totals - mean_x**2
    var_y = column_sums[:, 2 * n_columns :] / totals - mean_y**2
    return _correlation(cov, var_x, var_y)


def _correlation(cov: np.ndarray, var_x: np.ndarray, var_y: np.ndarray) -> np.ndarray:
    scale = np.sqrt(np.maximum(var_x, 0.0) * np.maximum(var_y, 0.0))
    tiny = 1e-12 * np.maximum(np.abs(var_x), 1.0) * np.maximum(np.abs(var_y), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = cov / scale
    value = np.where(scale > np.sqrt(tiny), value, np.nan)
    return np.clip(value, -1.0, 1.0)


def _weighted_spearman(
    y_true: np.ndarray, predictions: np.ndarray, resamples: Resamples
) -> np.ndarray:
    """Spearman r of ``y_true`` with each column on every resample -> (B, m), without ranking
    any resample (:mod:`probe.stats.spearman`). Resamples go in blocks that keep the
    (n_rows, block) temporaries near SPEARMAN_BLOCK_VALUES (all 1,000 at once for STS-B)."""
    rho = np.empty((resamples.n_resamples, predictions.shape[1]))
    column_ties = [TieGroups.of(predictions[:, column]) for column in range(predictions.shape[1])]
    block_size = max(1, SPEARMAN_BLOCK_VALUES // max(len(y_true), 1))
    for start in range(0, resamples.n_resamples, block_size):
        block = slice(start, start + block_size)
        truth = _spearman_truth(y_true, resamples, block)
        scratch = truth.scratch()
        for column, ties in enumerate(column_ties):
            rho[block, column] = column_spearman(truth, ties, scratch)
    return rho


def _spearman_truth(y_true: np.ndarray, resamples: Resamples, block: slice) -> TrueRanks:
    """The true values' ranks in a block of resamples (:class:`TrueRanks`).

    When the block is all resamples (up to SPEARMAN_BLOCK_VALUES counts: every pooled GLUE
    dev set) they are kept in ``resamples.derived`` for the next call with the same labels:
    a sweep scores every method's prediction vectors against one eval set, and ranking the
    labels (STS-B: 1,500 rows in 78 runs of ties) costs several columns' worth.
    """
    whole = block.start == 0 and block.stop >= resamples.n_resamples
    key = ("spearman", _digest(y_true))
    if whole and key in resamples.derived:
        return resamples.derived[key]
    truth = TrueRanks.of(TieGroups.of(y_true), resamples.row_weights(block).T)
    if whole:
        resamples.derived.clear()  # one label vector at a time
        resamples.derived[key] = truth
    return truth


def weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mid-ranks of ``values`` (n,) within each resample, as if rows were duplicated -> (B, n).

    A value drawn w times occupies w consecutive ranks; tied values share the mean of their
    ranks (``scipy.stats.rankdata``'s ``average``). One sort for all resamples: the order of
    the values does not depend on the resample, only the counts do.
    """
    counts = np.ascontiguousarray(np.asarray(weights, dtype=np.float64).T)  # (n, B)
    return mid_ranks(TieGroups.of(values), counts, Rows.of(counts))[0].T


def percentile_interval(values: np.ndarray, level: float) -> list[Interval]:
    """Percentile interval of each column of (B, m) resampled statistics; NaN rows left out.

    Columns without NaN (nearly all) share one ``np.quantile`` call; a column with undefined
    resamples takes the quantiles of its finite values alone.
    """
    tail = (1.0 - level) / 2.0
    finite = np.isfinite(values)
    n_finite = finite.sum(axis=0)
    bounds = np.full((2, values.shape[1]), np.nan)
    clean = n_finite == values.shape[0]
    if clean.any():
        bounds[:, clean] = np.quantile(values[:, clean], [tail, 1.0 - tail], axis=0)
    for column in np.flatnonzero(~clean & (n_finite > 0)):
        bounds[:, column] = np.quantile(values[finite[:, column], column], [tail, 1.0 - tail])
    intervals = []
    for column in range(values.shape[1]):
        undefined = int(values.shape[0] - n_finite[column])
        if n_finite[column] == 0:
            intervals.append(
                Interval.undefined("the metric is undefined on every resample", undefined)
            )
        else:
            intervals.append(
                Interval(float(bounds[0, column]), float(bounds[1, column]), undefined)
            )
    return intervals


def metric_intervals(
    names: Iterable[str],
    y_true: np.ndarray,
    predictions: np.ndarray,
    spec: BootstrapSpec,
    *,
    n_classes: int = 2,
    groups: np.ndarray | None = None,
    weights: Resamples | None = None,
) -> list[dict[str, Interval]]:
    """A CI of every metric for every prediction column of (n, m) -> m ``{metric: Interval}``.

    ``weights``: precomputed :func:`draw_resamples` for this eval set (pass them when many
    calls share one eval set); drawn from ``spec`` and ``groups`` otherwise.
    """
    names = list(names)
    predictions = np.asarray(predictions)
    if predictions.ndim == 1:
        predictions = predictions[:, None]
    n_rows, n_candidates = predictions.shape
    units = n_units(n_rows, groups)
    if units < spec.min_examples:
        unit = "sentences" if groups is not None else "eval examples"
        reason = f"only {units} {unit} (< {spec.min_examples}): too few for a bootstrap interval"
        return [{name: Interval.undefined(reason) for name in names} for _ in range(n_candidates)]
    if weights is None:
        weights = draw_resamples(n_rows, spec, groups)
    per_metric = {
        name: percentile_interval(
            weighted_metric(name, y_true, predictions, weights, n_classes), spec.level
        )
        for name in names
    }
    return [{name: per_metric[name][column] for name in names} for column in range(n_candidates)]


def interval_text(interval: Interval | None, digits: int = 3) -> str:
    """``[0.786, 0.838]``, or an empty string when there is no interval."""
    if interval is None or not interval.defined:
        return ""
    return f"[{interval.low:.{digits}f}, {interval.high:.{digits}f}]"


def records_to_intervals(record: dict[str, Any] | None) -> dict[str, Interval]:
    """``{metric: Interval}`` from a stored ``{metric: record}`` dict (bad entries skipped)."""
    parsed = {}
    for name, value in (record or {}).items():
        interval = Interval.from_record(value)
        if interval is not None:
            parsed[name] = interval
    return parsed


def intervals_to_records(intervals: dict[str, Interval]) -> dict[str, Any]:
    return {name: interval.to_record() for name, interval in intervals.items()}


__all__: Sequence[str] = [
    "BootstrapSpec",
    "Interval",
    "Resamples",
    "draw_resamples",
    "interval_text",
    "metric_intervals",
    "percentile_interval",
    "resample_weights",
    "weighted_metric",
    "weighted_ranks",
]
