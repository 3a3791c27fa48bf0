"""One probing problem: a standardised (layer, pooling) slice split the honest way.

Every search method works on a :class:`Problem`. It fixes the protocol once, so no method can
get it wrong:

* the training cache's rows are split (seeded, stratified for classification) into a *fit*
  part and an inner *validation* part — rows of one group (the words of one sentence) on
  the same side; subsets, C and every other choice are made by fitting
  on *fit* and scoring on *validation*;
* the chosen probe is then refit on all training rows and scored on the *eval* cache, which
  nothing was selected on;
* features are standardised with training-cache statistics only (float64 mean / sd).

Rows are stored once, reordered so that ``x_train[:n_fit]`` is the fit part and
``x_train[n_fit:]`` the validation part: both are views, and the float32 slice is held once
(plus a small eval slice). ``memo`` lets methods of one cell share expensive intermediates
(the Gram screen, the full probe).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from probe.columns import ColumnCache, ColumnView
from probe.errors import DataError
from probe.linear import (
    Rows,
    SubsetFit,
    balanced_sample_weight,
    fit_logistic_subsets,
    fit_ridge_subsets,
)
from probe.linear_prefix import (
    PRODUCTS_MIN_CANDIDATES,
    PairProducts,
    extends_one_subset,
    fit_logistic_extensions,
    fit_logistic_prefixes,
)
from probe.metrics import MetricScores, batch_metric, batch_metrics

# Rows per block when statistics are accumulated: bounds float64 temporaries to ~50 MB at D=768.
ROW_BLOCK = 8192


@dataclass
class Problem:
    """A standardised slice, its labels and the task's metrics; see the module docstring.

    ``x_train`` (n_train, D) float32, fit rows first; ``y_train`` (n_train,) int64 labels or
    float64 targets; ``x_eval`` (n_eval, D) float32; ``kind`` is ``binary``, ``multiclass``
    or ``regression``. ``C`` (logistic) and ``alpha`` (ridge) regularise the subset probes;
    ``balanced`` selects ``class_weight="balanced"`` sample weights.
    """

    kind: str
    n_classes: int
    metrics: tuple[str, ...]
    primary_metric: str
    x_train: np.ndarray
    y_train: np.ndarray
    n_fit: int
    x_eval: np.ndarray
    y_eval: np.ndarray
    C: float = 1.0
    alpha: float = 1.0
    balanced: bool = True
    seed: int = 0
    feature_mean: np.ndarray | None = None
    feature_scale: np.ndarray | None = None
    memo: dict[str, Any] = field(default_factory=dict, repr=False)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_eval: np.ndarray,
        y_eval: np.ndarray,
        *,
        kind: str,
        metrics: tuple[str, ...],
        primary_metric: str,
        n_classes: int = 2,
        seed: int = 0,
        validation_fraction: float = 0.2,
        C: float = 1.0,
        alpha: float = 1.0,
        balanced: bool = True,
        groups: np.ndarray | None = None,
    ) -> Problem:
        """Split, reorder and standardise; ``x_train`` may be consumed (it is copied once).

        ``n_classes`` is ignored for regression. ``groups`` (n_train,): training rows that
        must share a side of the inner split (the sentence of each word row), or None.
        Raises ``DataError`` for shapes or labels no probe can use.
        """
        x_train = np.asarray(x_train)
        x_eval = np.asarray(x_eval)
        if x_train.ndim != 2 or x_eval.ndim != 2 or x_train.shape[1] != x_eval.shape[1]:
            raise DataError(
                f"Train features {x_train.shape} and eval features {x_eval.shape} must be 2-D "
                "with the same number of columns; pass slices of the same layer and pooling."
            )
        if len(y_train) != x_train.shape[0] or len(y_eval) != x_eval.shape[0]:
            raise DataError("Labels and feature rows differ in number; the cache is inconsistent.")
        if groups is not None and len(groups) != x_train.shape[0]:
            raise DataError("Row groups and training rows differ in number; pass one per row.")
        if not 0.0 < validation_fraction < 1.0:
            raise DataError(f"validation_fraction must lie in (0, 1), got {validation_fraction}.")
        if kind == "regression":
            y_train = np.asarray(y_train, dtype=np.float64)
            y_eval = np.asarray(y_eval, dtype=np.float64)
            n_classes = 1
        else:
            y_train = np.asarray(y_train, dtype=np.int64)
            y_eval = np.asarray(y_eval, dtype=np.int64)
        fit_rows, validation_rows = inner_split(y_train, kind, seed, validation_fraction, groups)
        order = np.concatenate([fit_rows, validation_rows])
        features = np.asarray(x_train[order], dtype=np.float32)  # (n_train, D), the one copy
        mean, scale = column_stats(features)
        standardise_inplace(features, mean, scale)
        eval_features = np.array(x_eval, dtype=np.float32, copy=True)
        standardise_inplace(eval_features, mean, scale)
        return cls(
            kind=kind,
            n_classes=n_classes,
            metrics=tuple(metrics),
            primary_metric=primary_metric,
            x_train=features,
            y_train=y_train[order],
            n_fit=int(fit_rows.size),
            x_eval=eval_features,
            y_eval=y_eval,
            C=C,
            alpha=alpha,
            balanced=balanced,
            seed=seed,
            feature_mean=mean,
            feature_scale=scale,
        )

    def with_train_labels(self, y_train: np.ndarray) -> Problem:
        """The same features with other training labels (control tasks); memo not shared."""
        return replace(self, y_train=np.asarray(y_train, dtype=self.y_train.dtype), memo={})

    # --- views --------------------------------------------------------------------------
    @property
    def n_dims(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def x_fit(self) -> np.ndarray:
        return self.x_train[: self.n_fit]

    @property
    def y_fit(self) -> np.ndarray:
        return self.y_train[: self.n_fit]

    @property
    def x_val(self) -> np.ndarray:
        return self.x_train[self.n_fit :]

    @property
    def y_val(self) -> np.ndarray:
        return self.y_train[self.n_fit :]

    def columns(self, rows: slice) -> ColumnView:
        """Training rows ``rows`` through the problem's column cache (:mod:`probe.columns`):
        what the exact fits and the validation scores read, so a column is gathered once."""
        if "columns" not in self.memo:
            self.memo["columns"] = ColumnCache(self.x_train)
        return self.memo["columns"].view(rows)

    @property
    def fit_columns(self) -> ColumnView:
        return self.columns(slice(0, self.n_fit))

    @property
    def val_columns(self) -> ColumnView:
        return self.columns(slice(self.n_fit, None))

    @property
    def train_columns(self) -> ColumnView:
        return self.columns(slice(None))

    @property
    def is_classification(self) -> bool:
        return self.kind != "regression"

    def sample_weight(self, labels: np.ndarray) -> np.ndarray | None:
        """Balanced weights for these labels, or None (unweighted / regression)."""
        if not self.is_classification or not self.balanced:
            return None
        return balanced_sample_weight(labels, self.n_classes)

    # --- exact probes -------------------------------------------------------------------
    def fit(
        self, x: Rows, y: np.ndarray, dims: np.ndarray, init: SubsetFit | None = None
    ) -> SubsetFit:
        """Exact subset probes (logistic or ridge) on rows ``x``/``y`` for ``dims`` (m, s).

        Binary candidates that extend one shared subset (a greedy step) go to the kernel
        that reads the shared columns once (:mod:`probe.linear_prefix`); same optimum.
        """
        dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
        if not self.is_classification:
            return fit_ridge_subsets(x, y, dims, alpha=self.alpha)
        if self.kind == "binary" and extends_one_subset(dims, init):
            products = None
            if dims.shape[0] >= PRODUCTS_MIN_CANDIDATES:
                products = self.pair_products(x, dims[0, :-1])
            return fit_logistic_extensions(
                x,
                y,
                dims,
                C=self.C,
                sample_weight=self.sample_weight(y),
                init=init,
                products=products,
            )
        return fit_logistic_subsets(
            x,
            y,
            dims,
            C=self.C,
            sample_weight=self.sample_weight(y),
            n_classes=self.n_classes,
            init=init,
        )

    def pair_products(self, x: Rows, order: np.ndarray) -> np.ndarray | None:
        """Products of ``[1; x_order]`` on rows ``x`` kept across a greedy path's steps
        (:class:`probe.linear_prefix.PairProducts`, over all training rows), or None where
        ``x`` is not the fit or training rows of this problem's column cache."""
        if not isinstance(x, ColumnView) or x.rows.start not in (0, None):
            return None
        if x.cache is not self.memo.get("columns"):
            return None
        if "pair_products" not in self.memo:
            self.memo["pair_products"] = PairProducts(self.train_columns)
        products = self.memo["pair_products"].rows(order)
        return None if products is None else products[:, : x.shape[0]]

    def fit_on_fit(self, dims: np.ndarray, init: SubsetFit | None = None) -> SubsetFit:
        return self.fit(self.fit_columns, self.y_fit, dims, init)

    def fit_on_train(self, dims: np.ndarray, init: SubsetFit | None = None) -> SubsetFit:
        return self.fit(self.train_columns, self.y_train, dims, init)

    def fit_path_on_train(self, fits: list[SubsetFit]) -> list[SubsetFit]:
        """Refit single probes whose dims are nested prefixes of the last one's (a greedy
        path's steps, ``fits[i]`` the fit-row probe of step i, each the warm start of its
        refit) on all training rows -> one probe per step.

        Binary paths go to one Newton loop over all steps (:func:`fit_logistic_prefixes`);
        other tasks, or subsets that are not nested, refit step by step. Same optimum.
        """
        order = fits[-1].dims[0]
        nested = all(
            fit.dims.shape[0] == 1 and np.array_equal(fit.dims[0], order[: fit.dims.shape[1]])
            for fit in fits
        )
        if self.kind == "binary" and nested and len(fits) > 1:
            return fit_logistic_prefixes(
                self.train_columns,
                self.y_train,
                order,
                np.array([fit.dims.shape[1] for fit in fits]),
                C=self.C,
                sample_weight=self.sample_weight(self.y_train),
                init=fits,
                products=self.pair_products(self.train_columns, order),
            )
        init = self.is_classification
        return [self.fit_on_train(fit.dims, init=fit if init else None) for fit in fits]

    def primary(self, y_true: np.ndarray, predictions: np.ndarray) -> np.ndarray:
        """Primary metric of every candidate column of ``predictions`` (n, m) -> (m,)."""
        return batch_metric(self.primary_metric, y_true, predictions, max(self.n_classes, 2))

    def all_metrics(self, y_true: np.ndarray, predictions: np.ndarray) -> list[dict[str, float]]:
        """Every task metric of every candidate column -> m dicts.

        Scores of the eval rows (``y_true is self.y_eval``) come as
        :class:`~probe.metrics.MetricScores` carrying their prediction column, which the
        sweep turns into bootstrap intervals and kept predictions (:mod:`probe.stats.attach`).
        """
        scores = batch_metrics(self.metrics, y_true, predictions, max(self.n_classes, 2))
        if y_true is not self.y_eval:
            return scores
        return [MetricScores(values, predictions[:, j]) for j, values in enumerate(scores)]

    def validation_primary(self, fit: SubsetFit, dtype: type = np.float64) -> np.ndarray:
        """Primary metric of every candidate of ``fit`` on the validation rows -> (m,)."""
        return self.primary(self.y_val, fit.predict(self.val_columns, dtype, compact=True))


def inner_split(
    labels: np.ndarray,
    kind: str,
    seed: int,
    validation_fraction: float,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded fit / validation row indices, stratified by class for classification.

    Depends only on the labels, the groups and the seed, so every layer and pooling of a
    cache is searched on the same rows. Each part keeps at least one example of every class.

    ``groups`` (n,): rows that must fall on the same side (word rows of one sentence), else
    None (every row its own group, the sentence-level split). A validation row whose
    sentence-mates were fitted would let the search pick dims on the sentence it was fitted
    on; see :func:`grouped_split` for how groups are split.
    """
    if groups is not None:
        return grouped_split(labels, groups, kind, seed, validation_fraction)
    rng = np.random.default_rng(seed)
    n_rows = len(labels)
    if kind == "regression":
        permutation = rng.permutation(n_rows)
        n_val = min(max(1, round(validation_fraction * n_rows)), n_rows - 2)
        return np.sort(permutation[n_val:]), np.sort(permutation[:n_val])
    validation_parts = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if rows.size < 2:
            raise DataError(
                f"Class {label} has {rows.size} training example(s); the inner validation split "
                "needs at least 2 per class. Use a larger training split."
            )
        n_val = min(max(1, round(validation_fraction * rows.size)), rows.size - 1)
        validation_parts.append(rng.permutation(rows)[:n_val])
    validation_rows = np.sort(np.concatenate(validation_parts))
    fit_mask = np.ones(n_rows, dtype=bool)
    fit_mask[validation_rows] = False
    return np.flatnonzero(fit_mask), validation_rows


def grouped_split(
    labels: np.ndarray, groups: np.ndarray, kind: str, seed: int, validation_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`inner_split` with whole groups on each side -> (fit rows, validation rows).

    Classification: groups are visited in a seeded random order, groups holding the rarest
    classes first, and one goes to validation when that brings the validation part's class
    counts closer to their targets (``validation_fraction`` of each class, at least 1, as
    the ungrouped split takes), closeness measured relative to each class's size. Then
    every class is given a fit row (a validation group holding it moves back, the smallest
    first), and every class a validation row where a fit group can move without leaving any
    class without fit rows. So the fit part holds every class; the validation part holds
    every class unless the class's groups cannot be parted that way. A class needs rows in
    at least 2 groups. Regression: whole groups in seeded order until the fraction is met.
    """
    labels = np.asarray(labels)
    _, group_of_row = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(group_of_row.max()) + 1 if group_of_row.size else 0
    if n_groups < 2:
        raise DataError(
            f"The training rows come from {n_groups} sentence(s); the inner validation split "
            "keeps each sentence on one side and needs at least 2. Use a larger training file."
        )
    rng = np.random.default_rng(seed)
    rows_per_group = np.bincount(group_of_row, minlength=n_groups)
    if kind == "regression":
        order = rng.permutation(n_groups)
        target = max(1, round(validation_fraction * labels.size))
        taken = int(np.searchsorted(np.cumsum(rows_per_group[order]), target)) + 1
        in_validation = np.zeros(n_groups, dtype=bool)
        in_validation[order[: min(taken, n_groups - 1)]] = True
        return _rows_of(in_validation, group_of_row)
    classes, class_of_row = np.unique(labels, return_inverse=True)
    counts = np.zeros((n_groups, classes.size), dtype=np.int64)  # (groups, classes) rows
    np.add.at(counts, (group_of_row, class_of_row), 1)
    present = counts > 0
    groups_per_class = present.sum(axis=0)
    if np.any(groups_per_class < 2):
        label = classes[int(np.argmin(groups_per_class))]
        raise DataError(
            f"Class {label} occurs in 1 training sentence only; the inner validation split keeps "
            "each sentence on one side and needs every class in at least 2. Use a larger "
            "training file."
        )
    totals = counts.sum(axis=0)
    targets = np.minimum(np.maximum(1, np.round(validation_fraction * totals)), totals - 1)
    weight = 1.0 / totals.astype(np.float64) ** 2
    order = rng.permutation(n_groups)
    rarity = np.where(present, groups_per_class, n_groups + 1).min(axis=1)
    order = order[np.argsort(rarity[order], kind="stable")]
    in_validation = np.zeros(n_groups, dtype=bool)
    validation = np.zeros(classes.size, dtype=np.float64)
    # one group after another: each decision depends on the ones before (greedy, serial)
    for group in order:
        added = counts[group]
        columns = np.flatnonzero(added)
        gain = added[columns] * (2.0 * (validation[columns] - targets[columns]) + added[columns])
        if float(weight[columns] @ gain) < 0.0:
            in_validation[group] = True
            validation[columns] += added[columns]
    _give_every_class_fit_rows(in_validation, counts, rows_per_group)
    _give_classes_validation_rows(in_validation, counts, rows_per_group)
    return _rows_of(in_validation, group_of_row)


def _give_every_class_fit_rows(
    in_validation: np.ndarray, counts: np.ndarray, rows_per_group: np.ndarray
) -> None:
    """Move validation groups back to fit until every class has a fit row (in place)."""
    for label in range(counts.shape[1]):
        if counts[~in_validation, label].sum() > 0:
            continue
        holders = np.flatnonzero(in_validation & (counts[:, label] > 0))
        in_validation[holders[np.argmin(rows_per_group[holders])]] = False


def _give_classes_validation_rows(
    in_validation: np.ndarray, counts: np.ndarray, rows_per_group: np.ndarray
) -> None:
    """Move a fit group to validation for each class without validation rows, where one can
    move without emptying any class's fit part (in place)."""
    for label in range(counts.shape[1]):
        if counts[in_validation, label].sum() > 0:
            continue
        fit_counts = counts[~in_validation].sum(axis=0)
        holders = np.flatnonzero(~in_validation & (counts[:, label] > 0))
        movable = holders[np.all(fit_counts[None, :] - counts[holders] > 0, axis=1)]
        if movable.size:
            in_validation[movable[np.argmin(rows_per_group[movable])]] = True


def _rows_of(in_validation: np.ndarray, group_of_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    validation_row = in_validation[group_of_row]
    return np.flatnonzero(~validation_row), np.flatnonzero(validation_row)


class ColumnMoments:
    """Running float64 column sums of row blocks -> mean and standard deviation.

    Sums are shifted by the first row seen (avoids cancellation for large means). Fed one
    slice in row blocks (:func:`column_stats`) or chunk by chunk from disk
    (``probe.outofcore``); constant columns get scale 1 (they stay zero after centring
    instead of becoming NaN).
    """

    def __init__(self) -> None:
        self.n_rows = 0
        self.shift: np.ndarray | None = None
        self.total: np.ndarray | None = None
        self.total_sq: np.ndarray | None = None

    def add(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        if self.shift is None:
            self.shift = rows[0].astype(np.float64)
            self.total = np.zeros(rows.shape[1])
            self.total_sq = np.zeros(rows.shape[1])
        block = rows.astype(np.float64) - self.shift
        self.total += block.sum(axis=0)
        self.total_sq += np.einsum("nd,nd->d", block, block)
        self.n_rows += rows.shape[0]

    def mean_and_scale(self) -> tuple[np.ndarray, np.ndarray]:
        if self.shift is None or self.total is None or self.total_sq is None:
            raise ValueError("no rows were added")
        mean_shifted = self.total / self.n_rows
        variance = np.maximum(self.total_sq / self.n_rows - mean_shifted**2, 0.0)
        scale = np.sqrt(variance)
        scale[~(scale > 1e-12)] = 1.0
        return mean_shifted + self.shift, scale


def column_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 column mean and standard deviation of (n, D) rows, accumulated in row blocks."""
    moments = ColumnMoments()
    for start in range(0, features.shape[0], ROW_BLOCK):
        moments.add(features[start : start + ROW_BLOCK])
    return moments.mean_and_scale()


def standardise_inplace(features: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> None:
    """(x - mean) / scale on a float32 (n, D) array, in place and in row blocks."""
    mean32 = mean.astype(np.float32)
    inverse32 = (1.0 / scale).astype(np.float32)
    for start in range(0, features.shape[0], ROW_BLOCK):
        block = features[start : start + ROW_BLOCK]
        block -= mean32
        block *= inverse32
