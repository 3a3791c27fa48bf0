"""One out-of-core probing problem: the honest protocol of ``probe.search.problem``, in passes.

The same rules as the in-memory :class:`probe.search.problem.Problem`, so the two paths
answer the same question:

* the training cache's *examples* are split (seeded, stratified) into fit and inner
  validation parts with :func:`probe.search.problem.inner_split`; a token row belongs to its
  example's part;
* features are standardised with training-cache column statistics (one pass);
* classification rows are weighted ``class_weight="balanced"``, counted over the rows of the
  part being fitted;
* selection uses fit and validation rows only; the eval cache is only ever scored.

Nothing here holds a slice: :meth:`StreamProblem.batches` standardises chunk by chunk, and
the Gram screen is the sum of per-chunk moments (:meth:`StreamProblem.screen`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from probe.errors import DataError
from probe.linear import balanced_class_weight
from probe.outofcore.rows import RowSource
from probe.search.gram import (
    GramScreen,
    RawMoments,
    screen_ridge,
    screen_targets,
    weighted_moments,
)
from probe.search.problem import ColumnMoments, inner_split


@dataclass
class ChunkBatch:
    """Standardised rows of one chunk: ``x`` (b, H) float32, ``y`` (b,), ``weight`` (b,);
    ``examples`` (b,) the example (sentence) of each row, for resampling by sentence."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    examples: np.ndarray | None = None


BatchPass = Callable[[], Iterator[ChunkBatch]]


@dataclass
class StreamProblem:
    """A slice probed in passes; fields mirror :class:`probe.search.problem.Problem`.

    ``train_labels`` / ``eval_labels`` are per *example*; ``is_validation`` (n_train_examples,)
    marks the inner validation examples; ``class_weight[part]`` (n_classes,) are the balanced
    weights of each training part (None: unweighted); ``row_counts[part]`` rows per training
    part (fit, validation, train); ``rows_per_example`` (n_train_examples,) training rows of
    each example (1 for pooled and word rows, its word tokens for token rows).
    """

    kind: str
    n_classes: int
    metrics: tuple[str, ...]
    primary_metric: str
    train: RowSource
    evaluation: RowSource
    train_labels: np.ndarray
    eval_labels: np.ndarray
    is_validation: np.ndarray
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    class_weight: dict[str, np.ndarray | None]
    row_counts: dict[str, int]
    n_dims: int
    C: float = 1.0
    alpha: float = 1.0
    seed: int = 0
    rows_per_example: np.ndarray | None = None
    memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        train: RowSource,
        evaluation: RowSource,
        train_labels: np.ndarray,
        eval_labels: np.ndarray,
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
    ) -> StreamProblem:
        """Split the examples, then one pass for column statistics and per-part row counts.

        ``groups`` (n_train_examples,): "examples" that must share a side of the inner split
        (word rows: their sentence), or None.
        """
        dtype = np.float64 if kind == "regression" else np.int64
        train_labels = np.asarray(train_labels, dtype=dtype)
        eval_labels = np.asarray(eval_labels, dtype=dtype)
        n_classes = 1 if kind == "regression" else n_classes
        _, validation_rows = inner_split(train_labels, kind, seed, validation_fraction, groups)
        is_validation = np.zeros(train_labels.size, dtype=bool)
        is_validation[validation_rows] = True
        mean, scale, counts, per_example = _train_pass(
            train, train_labels, is_validation, max(n_classes, 1)
        )
        class_weight: dict[str, np.ndarray | None] = {}
        for part, per_class in counts.items():
            class_weight[part] = (
                balanced_class_weight(per_class) if balanced and kind != "regression" else None
            )
        row_counts = {part: int(per_class.sum()) for part, per_class in counts.items()}
        return cls(
            kind=kind,
            n_classes=n_classes,
            metrics=tuple(metrics),
            primary_metric=primary_metric,
            train=train,
            evaluation=evaluation,
            train_labels=train_labels,
            eval_labels=eval_labels,
            is_validation=is_validation,
            feature_mean=mean,
            feature_scale=scale,
            class_weight=class_weight,
            row_counts=row_counts,
            n_dims=int(mean.size),
            C=C,
            alpha=alpha,
            seed=seed,
            rows_per_example=per_example,
        )

    @property
    def is_classification(self) -> bool:
        return self.kind != "regression"

    def batches(self, part: str) -> Iterator[ChunkBatch]:
        """One pass over the standardised rows of ``part`` (fit, validation, train or eval)."""
        for batch_part, batch in self._read(part):
            if part in ("train", "eval") or batch_part == part:
                yield batch

    def fit_and_validation_batches(self) -> Iterator[tuple[str, ChunkBatch]]:
        """One read of the training slice, each chunk split into its fit and validation rows."""
        return self._read("split")

    def _read(self, part: str) -> Iterator[tuple[str, ChunkBatch]]:
        source = self.evaluation if part == "eval" else self.train
        labels = self.eval_labels if part == "eval" else self.train_labels
        mean32 = self.feature_mean.astype(np.float32)
        inverse32 = (1.0 / self.feature_scale).astype(np.float32)
        for chunk in source.chunks():
            features = chunk.features
            features -= mean32
            features *= inverse32
            if part in ("train", "eval"):
                pieces = [(part, chunk.examples, features)]
            else:
                validation = self.is_validation[chunk.examples]
                pieces = [
                    ("fit", chunk.examples[~validation], features[~validation]),
                    ("validation", chunk.examples[validation], features[validation]),
                ]
                if part != "split":
                    pieces = [piece for piece in pieces if piece[0] == part]
            for piece_part, examples, rows in pieces:
                if not examples.size:
                    continue
                y = labels[examples]
                weights = self.class_weight.get(piece_part)
                weight = np.ones(y.size) if weights is None else weights[y]
                yield piece_part, ChunkBatch(rows, y, weight, examples)

    def pass_of(self, part: str) -> BatchPass:
        """A re-startable pass over ``part`` (what the Newton fits and the scorers take)."""
        return lambda: self.batches(part)

    def gather_train_rows(self, positions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Standardised training rows at ``positions`` (one pass): ``x`` (s, H) float32, ``y``.

        Positions count training rows in the in-memory problem's order — the fit examples'
        rows, then the validation examples' rows, examples ascending, an example's rows in
        storage order — so for one row per example (pooled and word rows) they pick the rows
        ``Problem.x_train[positions]`` holds. None: every training row. Row sources yield each
        example's rows together, examples ascending (all of them do).
        """
        if self.rows_per_example is None:
            raise ValueError("rows_per_example is unknown; build the problem with build()")
        per_example = self.rows_per_example
        order = np.concatenate(
            [np.flatnonzero(~self.is_validation), np.flatnonzero(self.is_validation)]
        )
        if positions is None:
            positions = np.arange(int(per_example.sum()))
        positions = np.asarray(positions, dtype=np.int64)
        ordered_start = np.concatenate([[0], np.cumsum(per_example[order])])
        slot = np.searchsorted(ordered_start, positions, side="right") - 1
        example = order[slot]
        stored_start = np.concatenate([[0], np.cumsum(per_example)])
        stored = stored_start[example] + positions - ordered_start[slot]  # storage row numbers
        by_storage = np.argsort(stored, kind="stable")
        wanted = stored[by_storage]
        x = np.empty((positions.size, self.n_dims), dtype=np.float32)
        y = np.empty(positions.size, dtype=self.train_labels.dtype)
        first_row = 0
        for batch in self.batches("train"):
            stop_row = first_row + batch.y.size
            low, high = np.searchsorted(wanted, [first_row, stop_row])
            picked = by_storage[low:high]
            x[picked] = batch.x[wanted[low:high] - first_row]
            y[picked] = batch.y[wanted[low:high] - first_row]
            first_row = stop_row
        return x, y

    def screen(self) -> GramScreen:
        """The Gram screen of this slice: fit and validation moments in one pass, memoised."""
        if "gram_screen" not in self.memo:
            moments: dict[str, RawMoments | None] = {"fit": None, "validation": None}
            for part, batch in self.fit_and_validation_batches():
                targets = screen_targets(self.kind, self.n_classes, batch.y)
                chunk = weighted_moments(batch.x, batch.weight, targets)
                moments[part] = chunk if moments[part] is None else moments[part] + chunk
            fit, validation = moments["fit"], moments["validation"]
            if fit is None or validation is None:
                raise DataError(
                    f"The inner fit or validation part of {self.train.path} (layer "
                    f"{self.train.layer}, {self.train.kind} rows) has no rows: its examples hold "
                    "no word tokens. Use a larger training split, or probe a pooling instead."
                )
            self.memo["gram_screen"] = GramScreen.from_moments(
                self.kind, fit, validation, screen_ridge(self.kind, self.C, self.alpha)
            )
        return self.memo["gram_screen"]


def _train_pass(
    train: RowSource, labels: np.ndarray, is_validation: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Column mean / sd over all training rows, rows per (part, class) (regression counts
    everything in class 0) and rows per example."""
    moments = ColumnMoments()
    counts = {part: np.zeros(n_classes, dtype=np.int64) for part in ("fit", "validation")}
    per_example = np.zeros(labels.size, dtype=np.int64)
    for chunk in train.chunks():
        moments.add(chunk.features)
        per_example += np.bincount(chunk.examples, minlength=labels.size)
        classes = labels[chunk.examples].astype(np.int64) if n_classes > 1 else None
        validation = is_validation[chunk.examples]
        for part, mask in (("fit", ~validation), ("validation", validation)):
            if classes is None:
                counts[part][0] += int(mask.sum())
            else:
                counts[part] += np.bincount(classes[mask], minlength=n_classes)
    if not moments.n_rows:
        raise DataError(
            f"{train.path} has no {train.kind} rows at layer {train.layer} (no example holds a "
            "word token). Probe a pooling (cls, mean, maxnorm) instead."
        )
    mean, scale = moments.mean_and_scale()
    counts["train"] = counts["fit"] + counts["validation"]
    return mean, scale, counts, per_example
