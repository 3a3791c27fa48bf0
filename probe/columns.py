"""Columns of a row-major slice, gathered once and kept features-major (a per-problem cache).

Why: the slice is row-major (n, D) float32, so one column costs a cache line per row —
gathering 16 columns from 67,349 rows takes ~15 ms, as long as a Newton iteration on them.
The searches kept asking for the same few columns: ``pairs`` fits its top 50 on the fit
rows, scores them on the validation rows, refits them on all training rows; greedy re-read
its selected dims at every step, for each of those row sets. A :class:`ColumnCache` gathers
a column once over all training rows (in row blocks, ~1.5x faster than one strided take);
fit-row and validation-row requests are slices of it (:class:`ColumnView`).

What is cached: columns asked for *features-major* (the Newton designs: the fit rows and
all training rows). A row-major request (predictions of many screen candidates on the
validation rows) for columns not all cached is served by ``np.take`` on the rows and
caches nothing: for hundreds of candidates the row-major take reads each row once, while a
features-major copy of 500 columns would cost more than the scoring. ``MAX_CACHED_BYTES``
bounds the cache; past it, columns are gathered per request as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bound on the cached columns: 64 MiB = 250 columns of a 67,349-row slice (greedy to k=16
# keeps its 16 picks and 8 re-fitted candidates per step: 144 columns at most).
MAX_CACHED_BYTES = 64 << 20
# Rows per block of a features-major gather: the strided take of a block and its transpose
# stay in cache (measured 1.5x faster than one take of all rows, then a transpose).
GATHER_ROWS = 4096


def gather_features_major(x: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Columns ``dims`` (u,) of row-major ``x`` (n, D) as a contiguous (u, n) float32 array."""
    dims = np.asarray(dims, dtype=np.int64)
    columns = np.empty((dims.size, x.shape[0]), dtype=np.float32)
    for start in range(0, x.shape[0], GATHER_ROWS):
        stop = min(start + GATHER_ROWS, x.shape[0])
        columns[:, start:stop] = np.take(x[start:stop], dims, axis=1).T
    return columns


class ColumnCache:
    """Features-major float32 copies of columns of one training slice ``features`` (n, D).

    The slice must not change while the cache lives (a :class:`probe.search.problem.Problem`
    never modifies its standardised rows after construction).
    """

    def __init__(self, features: np.ndarray, max_bytes: int = MAX_CACHED_BYTES) -> None:
        self.features = features
        self.max_columns = max(0, max_bytes // max(1, 4 * features.shape[0]))
        self.columns: dict[int, np.ndarray] = {}  # dim -> (n,) float32

    def view(self, rows: slice) -> ColumnView:
        return ColumnView(self, rows)

    def n_rows(self, rows: slice) -> int:
        return len(range(*rows.indices(self.features.shape[0])))

    def features_major(self, dims: np.ndarray, rows: slice) -> np.ndarray:
        """Columns ``dims`` (u,) restricted to ``rows`` -> (u, n_rows) float32, caching them."""
        dims = np.asarray(dims, dtype=np.int64)
        missing = np.setdiff1d(dims, np.fromiter(self.columns, np.int64, len(self.columns)))
        if missing.size and len(self.columns) + missing.size <= self.max_columns:
            gathered = gather_features_major(self.features, missing)
            for dim, column in zip(missing, gathered, strict=True):
                self.columns[int(dim)] = column
            missing = missing[:0]
        if missing.size:  # over the bound: gather these rows only, as without a cache
            return gather_features_major(self.features[rows], dims)
        block = np.empty((dims.size, self.n_rows(rows)), dtype=np.float32)
        for index, dim in enumerate(dims):
            block[index] = self.columns[int(dim)][rows]
        return block

    def rows_major(self, dims: np.ndarray, rows: slice) -> np.ndarray:
        """Columns ``dims`` (u,) on ``rows`` -> (n_rows, u) float32, maybe a transposed view."""
        dims = np.asarray(dims, dtype=np.int64)
        if all(int(dim) in self.columns for dim in np.unique(dims)):
            return self.features_major(dims, rows).T
        return np.take(self.features[rows], dims, axis=1)


@dataclass(frozen=True)
class ColumnView:
    """Rows ``rows`` of a cached slice: stands in for the (n_rows, D) array in fits and
    predictions (:func:`probe.linear.features_major`, :func:`probe.linear.rows_major`)."""

    cache: ColumnCache
    rows: slice

    @property
    def shape(self) -> tuple[int, int]:
        return self.cache.n_rows(self.rows), int(self.cache.features.shape[1])

    def features_major(self, dims: np.ndarray) -> np.ndarray:
        return self.cache.features_major(dims, self.rows)

    def rows_major(self, dims: np.ndarray) -> np.ndarray:
        return self.cache.rows_major(dims, self.rows)
