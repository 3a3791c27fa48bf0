"""Columns of a row-major slice, gathered once and kept features-major (a per-problem cache).

Why: the slice is row-major (n, D) float32, so one column costs a cache line per row —
gathering 16 columns from 67,349 rows takes ~15 ms, as long as a Newton iteration on them.
The searches kept asking for the same few columns: ``pairs`` fits its top 50 on the fit
rows, scores them on the validation rows, refits them on all training rows; greedy re-read
its selected dims at every step, for each of those row sets. A :class:`ColumnCache` gathers
a column once over all training rows (in row blocks, ~1.5x faster than one strided take);
fit-row and validation-row requests are slices of it (:class:`ColumnView`).

What is cached: columns asked for *features-major* (the Newton designs), over all training
rows; and the columns of row-major requests of up to ``ROWS_MAJOR_GATHER`` columns (the
predictions of a greedy step's screen pool on the validation rows), over those rows. A
wider row-major request (a pairs pool of 500 candidates) is served by ``np.take`` on the
rows and caches nothing: the row-major take reads each row once, while a
features-major copy of 500 columns would cost more than the scoring. ``MAX_CACHED_BYTES``
bounds the cache; past it, columns are gathered per request as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bound on the cached columns: 64 MiB = 250 columns of a 67,349-row slice (greedy to k=16
# keeps its 16 picks and 8 re-fitted candidates per step: 144 columns at most).
MAX_CACHED_BYTES = 64 << 20
# Most columns a row-major request is served from the cache (a greedy step's screen pool: 64);
# wider requests (a pairs pool of hundreds of columns) are taken row-major, uncached.
ROWS_MAJOR_GATHER = 64
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

    Columns are kept per row range: over all rows (asked for features-major: the fits), or
    over just the rows a row-major request named (the validation rows of a greedy step's
    screen pool, which reuses most columns of the step before: 245 distinct columns over 16
    steps of 64 candidates in the benchmark). The slice must not change while the cache
    lives (a :class:`probe.search.problem.Problem` never modifies its standardised rows).
    """

    def __init__(self, features: np.ndarray, max_bytes: int = MAX_CACHED_BYTES) -> None:
        self.features = features
        self.free_bytes = max_bytes
        # (start, stop) of the rows -> dim -> (stop - start,) float32 column
        self.columns: dict[tuple[int, int], dict[int, np.ndarray]] = {}
        # (start, stop) -> (D,) bool, which dims are cached over those rows
        self.cached: dict[tuple[int, int], np.ndarray] = {}

    def view(self, rows: slice) -> ColumnView:
        return ColumnView(self, rows)

    def n_rows(self, rows: slice) -> int:
        return len(range(*rows.indices(self.features.shape[0])))

    def features_major(self, dims: np.ndarray, rows: slice) -> np.ndarray:
        """Columns ``dims`` (u,) restricted to ``rows`` -> (u, n_rows) float32; each column
        is gathered over all rows once and kept (within ``MAX_CACHED_BYTES``)."""
        dims = np.asarray(dims, dtype=np.int64)
        everything = (0, self.features.shape[0])
        self._gather(dims, everything)
        block = self._assemble(dims, rows)
        return block if block is not None else gather_features_major(self.features[rows], dims)

    def rows_major(self, dims: np.ndarray, rows: slice) -> np.ndarray:
        """Columns ``dims`` (u,) on ``rows`` -> (n_rows, u) float32, maybe a transposed view.

        Requests for up to ``ROWS_MAJOR_GATHER`` columns are served from the cache, the
        missing ones gathered over ``rows`` and kept; larger ones (a screen pool of hundreds
        of pairs) are taken row-major and keep nothing: a transposed view that wide makes
        the caller's arithmetic slower than the take (measured 3x on 500 pairs).
        """
        dims = np.asarray(dims, dtype=np.int64)
        if dims.size > ROWS_MAJOR_GATHER:
            return np.take(self.features[rows], dims, axis=1)
        block = self._assemble(dims, rows)
        if block is None:
            span = rows.indices(self.features.shape[0])[:2]
            kept = self._cached(span) | self._cached((0, self.features.shape[0]))
            self._gather(np.unique(dims[~kept[dims]]), span)
            block = self._assemble(dims, rows)
        if block is None:
            return np.take(self.features[rows], dims, axis=1)
        return block.T

    def _cached(self, span: tuple[int, int]) -> np.ndarray:
        if span not in self.cached:
            self.cached[span] = np.zeros(self.features.shape[1], dtype=bool)
            self.columns[span] = {}
        return self.cached[span]

    def _gather(self, dims: np.ndarray, span: tuple[int, int]) -> None:
        """Keep columns ``dims`` over rows ``span`` if all missing ones fit in the bound."""
        cached = self._cached(span)
        missing = np.unique(dims[~cached[dims]])
        cost = 4 * missing.size * (span[1] - span[0])
        if missing.size == 0 or cost > self.free_bytes:
            return
        gathered = self._collect(missing, span)
        for dim, column in zip(missing, gathered, strict=True):
            self.columns[span][int(dim)] = column
        cached[missing] = True
        self.free_bytes -= cost

    def _collect(self, dims: np.ndarray, span: tuple[int, int]) -> np.ndarray:
        """Columns ``dims`` (u,) over rows ``span`` -> (u, rows) float32: the rows a narrower
        kept copy holds are copied from it, only the others gathered. Why: a greedy step's
        re-fitted candidates come from its screen pool, whose validation rows are kept
        already; their all-rows copies then gather the fit rows alone (a fifth less)."""
        start, stop = span
        collected = np.empty((dims.size, stop - start), dtype=np.float32)
        pending = np.ones(dims.size, dtype=bool)
        for (first, last), kept in self.columns.items():
            if (first, last) == span or first < start or last > stop:
                continue
            rows = [row for row in np.flatnonzero(pending) if int(dims[row]) in kept]
            if not rows:
                continue
            group = dims[rows]
            collected[rows, first - start : last - start] = [kept[int(dim)] for dim in group]
            if first > start:
                collected[rows, : first - start] = gather_features_major(
                    self.features[start:first], group
                )
            if last < stop:
                collected[rows, last - start :] = gather_features_major(
                    self.features[last:stop], group
                )
            pending[rows] = False
        rest = np.flatnonzero(pending)
        if rest.size:
            collected[rest] = gather_features_major(self.features[start:stop], dims[rest])
        return collected

    def _assemble(self, dims: np.ndarray, rows: slice) -> np.ndarray | None:
        """(u, n_rows) from the kept columns, or None if one of ``dims`` is not kept: each
        column from the all-rows copy (sliced) or from a copy over exactly these rows."""
        start, stop = rows.indices(self.features.shape[0])[:2]
        everything = (0, self.features.shape[0])
        whole = self._cached(everything)
        exact = self._cached((start, stop))
        if not np.all(whole[dims] | exact[dims]):
            return None
        block = np.empty((dims.size, stop - start), dtype=np.float32)
        for index, dim in enumerate(dims.tolist()):
            if whole[dim]:
                block[index] = self.columns[everything][dim][start:stop]
            else:
                block[index] = self.columns[(start, stop)][dim]
        return block


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
