"""scikit-learn feature selectors built on the vectorised subset search.

Use them in a ``Pipeline`` on any numeric matrix, not only caches::

    Pipeline([("dims", GreedyDimSelector(n_features_to_select=3)), ("clf", LogisticRegression())])

Both follow the ``SequentialFeatureSelector`` contract (``fit`` returns self, no work in
``__init__``, ``get_support``, ``transform``, ``random_state``) and add what its users keep
asking for: the score of every step (``scores_``). Selection happens on a seeded inner
validation split of the rows passed to ``fit`` (``validation_fraction``), with the same
probes, screen and exact re-fit as ``fewdims probe``. Features are standardised internally
for the search only; ``transform`` returns the original columns.

* :class:`GreedyDimSelector`: forward selection; ``scores_[i]`` is the validation score after
  picking ``selected_dims_[i]``.
* :class:`ExhaustiveDimSelector`: the best 1, 2 or 3 dims over *all* singles / pairs /
  triples; ``scores_`` are the exact validation scores of the re-fitted top candidates,
  best first, with their dims in ``candidate_dims_``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

from probe.errors import FewdimsError
from probe.search import greedy, pairs, rank, triples
from probe.search.base import SearchConfig
from probe.search.problem import Problem

DEFAULT_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "pearson"}


class SelectorInputError(FewdimsError, ValueError):
    """Settings or targets a dimension selector cannot work with."""


class _DimSelector(SelectorMixin, BaseEstimator):
    """Shared fitting logic; subclasses implement ``_search(problem, config)``."""

    def __init__(
        self,
        n_features_to_select: int = 3,
        *,
        scoring: str | None = None,
        C: float = 1.0,
        alpha: float = 1.0,
        class_weight: str | None = "balanced",
        validation_fraction: float = 0.2,
        top_k: int = 50,
        random_state: int | None = 0,
    ) -> None:
        self.n_features_to_select = n_features_to_select
        self.scoring = scoring
        self.C = C
        self.alpha = alpha
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.top_k = top_k
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> _DimSelector:
        """Select ``n_features_to_select`` columns of ``X`` (n, D) for targets ``y`` (n,)."""
        X, y = check_X_y(X, y, dtype=(np.float64, np.float32), y_numeric=False)
        validate_data(self, X, reset=True, skip_check_array=True)
        n_dims = X.shape[1]
        if not 1 <= self.n_features_to_select <= n_dims:
            raise SelectorInputError(
                f"n_features_to_select={self.n_features_to_select} must lie in 1..{n_dims} (the columns of X)."
            )
        if self.class_weight not in ("balanced", None):
            raise SelectorInputError("class_weight must be 'balanced' or None.")
        target_type = type_of_target(y)
        if target_type == "continuous":
            kind, labels, self.classes_ = "regression", np.asarray(y, np.float64), None
        elif target_type in ("binary", "multiclass"):
            self.classes_, labels = np.unique(y, return_inverse=True)
            kind = "binary" if self.classes_.size == 2 else "multiclass"
        else:
            raise SelectorInputError(
                f"Targets of type {target_type!r} are not supported; pass 1-D labels or values."
            )
        metric = self.scoring or DEFAULT_METRIC[kind]
        metrics = (metric,)
        seed = 0 if self.random_state is None else int(self.random_state)
        problem = Problem.from_arrays(
            X,
            labels,
            X[:0],
            labels[:0],
            kind=kind,
            metrics=metrics,
            primary_metric=metric,
            n_classes=1 if kind == "regression" else self.classes_.size,
            seed=seed,
            validation_fraction=self.validation_fraction,
            C=self.C,
            alpha=self.alpha,
            balanced=self.class_weight == "balanced",
        )
        config = SearchConfig(
            k=self.n_features_to_select,
            top_k=self.top_k,
            pool_size=max(500, self.top_k),
            greedy_top_k=min(self.top_k, 8) if n_dims > self.top_k else n_dims,
            seed=seed,
        )
        self._search(problem, config)
        support = np.zeros(n_dims, dtype=bool)
        support[self.selected_dims_] = True
        self.support_ = support
        return self

    def _search(self, problem: Problem, config: SearchConfig) -> None:
        raise NotImplementedError

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):  # sklearn Tags object
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class GreedyDimSelector(_DimSelector):
    """Forward selection of ``n_features_to_select`` dims with per-step validation scores.

    Fitted attributes: ``selected_dims_`` (pick order), ``scores_`` (validation metric after
    each pick), ``support_``, ``classes_`` (None for regression), ``n_features_in_``.
    """

    def _search(self, problem: Problem, config: SearchConfig) -> None:
        steps = greedy.search(problem, config)
        self.selected_dims_ = np.array(steps[-1]["dims"], dtype=np.int64)
        self.scores_ = np.array([step["validation"] for step in steps])


class ExhaustiveDimSelector(_DimSelector):
    """The best 1, 2 or 3 dims over all candidates of that size (screen + exact re-fit).

    Fitted attributes: ``selected_dims_``, ``scores_`` (exact validation scores of the
    re-fitted top candidates, best first), ``candidate_dims_`` (their dims), ``support_``.
    """

    def _search(self, problem: Problem, config: SearchConfig) -> None:
        size = self.n_features_to_select
        if size == 1:
            found = rank.best_singles(problem, config)[0]
        elif size == 2:
            found = pairs.search(problem, config)
        elif size == 3:
            found = triples.search(problem, config)
        else:
            raise SelectorInputError(
                f"ExhaustiveDimSelector searches 1, 2 or 3 dims, not {size}; use GreedyDimSelector for more."
            )
        self.selected_dims_ = found.dims[0].copy()
        self.candidate_dims_ = found.dims.copy()
        self.scores_ = found.validation.copy()


__all__ = ["ExhaustiveDimSelector", "GreedyDimSelector"]
