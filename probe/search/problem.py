"""One probing problem: a standardised (layer, pooling) slice split the honest way.

Every search method works on a :class:`Problem`. It fixes the protocol once, so no method can
get it wrong:

* the training cache's rows are split (seeded, stratified for classification) into a *fit*
  part and an inner *validation* part; subsets, C and every other choice are made by fitting
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

from probe.errors import DataError
from probe.linear import SubsetFit, balanced_sample_weight, fit_logistic_subsets, fit_ridge_subsets
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
    ) -> Problem:
        """Split, reorder and standardise; ``x_train`` may be consumed (it is copied once).

        ``n_classes`` is ignored for regression. Raises ``DataError`` for shapes or labels
        no probe can use.
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
        if not 0.0 < validation_fraction < 1.0:
            raise DataError(f"validation_fraction must lie in (0, 1), got {validation_fraction}.")
        if kind == "regression":
            y_train = np.asarray(y_train, dtype=np.float64)
            y_eval = np.asarray(y_eval, dtype=np.float64)
            n_classes = 1
        else:
            y_train = np.asarray(y_train, dtype=np.int64)
            y_eval = np.asarray(y_eval, dtype=np.int64)
        fit_rows, validation_rows = inner_split(y_train, kind, seed, validation_fraction)
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
        self, x: np.ndarray, y: np.ndarray, dims: np.ndarray, init: SubsetFit | None = None
    ) -> SubsetFit:
        """Exact subset probes (logistic or ridge) on rows ``x``/``y`` for ``dims`` (m, s)."""
        dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
        if not self.is_classification:
            return fit_ridge_subsets(x, y, dims, alpha=self.alpha)
        return fit_logistic_subsets(
            x,
            y,
            dims,
            C=self.C,
            sample_weight=self.sample_weight(y),
            n_classes=self.n_classes,
            init=init,
        )

    def fit_on_fit(self, dims: np.ndarray, init: SubsetFit | None = None) -> SubsetFit:
        return self.fit(self.x_fit, self.y_fit, dims, init)

    def fit_on_train(self, dims: np.ndarray, init: SubsetFit | None = None) -> SubsetFit:
        return self.fit(self.x_train, self.y_train, dims, init)

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
        return self.primary(self.y_val, fit.predict(self.x_val, dtype))


def inner_split(
    labels: np.ndarray, kind: str, seed: int, validation_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded fit / validation row indices, stratified by class for classification.

    Depends only on the labels and the seed, so every layer and pooling of a cache is
    searched on the same rows. Each part keeps at least one example of every class.
    """
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
