"""Spearman's rho on bootstrap resamples given as draw counts, without ranking any resample.

Why a module of its own: ranking every resample column by column made STS-B's Spearman CIs
cost 2.4x the whole probe sweep they belonged to (``reports/benchmarks/bootstrap-minilm-glue``
before this module). Here every sum but one is a closed form of the counts, and the one that
is not costs one running sum of the counts and one dot product per prediction column.

The identities. A resample is the draw counts ``w`` (n,) of the eval rows, ``N = sum(w)``
rows in all. Sort the values once (the order does not depend on the resample). Runs of equal
values -- and the copies of one drawn row, which tie with each other -- hold ``T`` resampled
rows each, and every row of a run after ``C`` resampled rows has the average rank

    R = C + (T + 1) / 2,

which is ``scipy.stats.rankdata(method="average")`` of the duplicated rows. Spearman's rho is
the ``w``-weighted Pearson r of the two rank vectors, and

* ``sum_i w_i R_i = N (N + 1) / 2`` for either variable (ranks 1..N, however tied), so both
  mean ranks are ``(N + 1) / 2``;
* ``sum_i w_i (R_i - (N + 1) / 2)^2 = (N^3 - N - sum_runs (T^3 - T)) / 12`` (tie correction);
* only the cross term pairs the variables: with ``a = w * Rx``,
  ``sum_i w_i Rx_i Ry_i = sum_i a_i (Ry_i - 1/2) + N (N + 1) / 4``, and for a row of y that
  ties with no other, ``Ry_i - 1/2 = C_i - w_i / 2`` with ``C_i`` the rows drawn with a value
  up to and including y_i.

So a column costs O(B n): the running sums ``C`` (:func:`cumulative_counts`), one dot product
with ``a`` and a correction at the few tied rows; a vector with many ties is done run by run
instead (:func:`run_bounds_by_runs`). The true values' side (``a`` and its sums) is computed
once per eval set (:class:`TrueRanks`). All sums are of integers, halves or quarters below
2^53 while ``N^3 < 2^53`` (N up to about 200,000 rows per resample), so they are exact in
float64 and rho equals ranking each resample up to the rounding of the final division (the
tests compare with ``scipy.stats.spearmanr`` on the duplicated rows to 1e-10).

Layout: counts are (n, b), rows by resamples, so that a row is a contiguous (b,) vector and
the running sum is one vectorised add per row. Callers pass blocks of resamples that keep
(n, b) near :data:`SPEARMAN_BLOCK_VALUES` values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

# Values per (n_rows, block) float64 temporary: 16 MB; all 1,000 resamples of STS-B dev
# (1,500 rows) at once, blocks of 69 resamples for 30,000 token rows.
SPEARMAN_BLOCK_VALUES = 2**21
# Running sums of counts are exact in float32 below 2^24 rows per resample, and the loop
# that makes them (:func:`cumulative_counts`) moves half the bytes: 1.6x faster measured.
FLOAT32_EXACT = 2**24


@dataclass(frozen=True)
class TieGroups:
    """The sort order of a value vector and its runs of equal values, as row indices.

    ``order`` (n,) stable argsort, as a list (it is walked row by row); ``run_of_row`` (n,)
    the run of each row; ``run_last`` (r,) the row sorted last in each run and
    ``run_before`` (r,) the row sorted just before it (-1 for the first run). Rows in a run of
    two or more equal values are the exception for real-valued predictions (a handful) but
    the rule for labels (STS-B: 1,500 rows in 78 runs), so they are listed apart: ``tied``
    (k,) those rows, ``multi`` (r',) those runs.
    """

    order: list[int]
    run_of_row: np.ndarray
    run_last: np.ndarray
    run_before: np.ndarray
    tied: np.ndarray
    multi: np.ndarray

    @property
    def many_ties(self) -> bool:
        """Fewer runs than tied rows: ranked run by run (:func:`run_bounds_by_runs`), not row
        by row with a correction at every tied row. Measured on STS-B predictions (1,500
        rows): a correction costs about 1.5x a run, so labels (78 runs) and one-dim
        predictions (~200 runs) go by runs, and vectors with a few hundred tied rows among
        1,300 runs by rows."""
        return self.run_last.size < self.tied.size

    def multi_sums(self, per_tied_row: np.ndarray) -> np.ndarray:
        """(k, b) values of the tied rows -> (r', b) sums over each run of ``multi``."""
        position = np.searchsorted(self.multi, self.run_of_row[self.tied])
        members = csr_matrix(
            (np.ones(self.tied.size), (position, np.arange(self.tied.size))),
            shape=(self.multi.size, self.tied.size),
        )
        return np.asarray(members @ per_tied_row)

    def run_sums(self, per_row: np.ndarray) -> np.ndarray:
        """(n, b) row values -> (r, b) sums over each run, in one sparse product."""
        n_rows = self.run_of_row.size
        members = csr_matrix(
            (np.ones(n_rows), (self.run_of_row, np.arange(n_rows))),
            shape=(self.run_last.size, n_rows),
        )
        return np.asarray(members @ per_row)

    @classmethod
    def of(cls, values: np.ndarray) -> TieGroups:
        values = np.asarray(values)
        order = np.argsort(values, kind="stable")
        sorted_values = values[order]
        first = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
        last = np.r_[first[1:], sorted_values.size] - 1
        run_of_row = np.empty(values.size, dtype=np.intp)
        run_of_row[order] = np.repeat(np.arange(first.size), last - first + 1)
        is_multi = last > first
        return cls(
            order.tolist(),
            run_of_row,
            order[last],
            np.where(first > 0, order[first - 1], -1),
            np.flatnonzero(is_multi[run_of_row]),
            np.flatnonzero(is_multi),
        )


@dataclass(frozen=True)
class Rows:
    """An (n, b) array, rows by resamples, and a view of each of its rows made once.

    :func:`cumulative_counts` visits every row once per prediction column; indexing prebuilt
    views measured 1.4x faster than ``array[row]`` there.
    """

    array: np.ndarray
    views: list[np.ndarray]

    @classmethod
    def of(cls, array: np.ndarray) -> Rows:
        return cls(array, list(array))

    @classmethod
    def empty_like(cls, other: Rows) -> Rows:
        return cls.of(np.empty_like(other.array))


def cumulative_counts(ties: TieGroups, weights: Rows, out: Rows) -> np.ndarray:
    """Rows drawn with a value up to and including each row's, in sorted order -> (n, b).

    ``weights`` (n, b) draw counts; written into ``out`` (returned). A loop over rows that
    adds whole (b,) rows: numpy's ``cumsum`` along a row of the transposed (b, n) layout is a
    sequential scalar loop, and along axis 0 of this one a strided one; this measured 4-5x
    faster than either, needs no gather into sorted order, and leaves each row's cumulative
    count at the row's own place (so products with other row vectors need no gather either).
    """
    running = np.zeros(weights.array.shape[1], dtype=weights.array.dtype)
    for row in ties.order:
        target = out.views[row]
        np.add(running, weights.views[row], out=target)
        running = target
    return out.array


def run_bounds(
    cumulative: np.ndarray, last: np.ndarray, before: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows drawn up to the end of some runs and before their start -> two (r, b) float64."""
    through = cumulative[last].astype(np.float64)
    preceding = np.where((before >= 0)[:, None], cumulative[before], 0.0).astype(np.float64)
    return through, preceding


def run_bounds_by_runs(ties: TieGroups, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same bounds for every run from the runs' draw counts, without visiting the rows one
    by one: one sparse product and a loop over the (few) runs."""
    run_weight = ties.run_sums(weights)  # (r, b); runs are numbered in sorted order
    through = run_weight.copy()
    for run in range(1, through.shape[0]):
        np.add(through[run - 1], through[run], out=through[run])
    return through, through - run_weight


def tie_term(run_weight: np.ndarray) -> np.ndarray:
    """``sum over runs (T^3 - T)`` (b,) of (r, b) rows per run (a row drawn w times is
    itself a run of w ties)."""
    return np.einsum("rb,rb,rb->b", run_weight, run_weight, run_weight) - run_weight.sum(axis=0)


def mid_ranks(
    ties: TieGroups, counts: np.ndarray, loop_counts: Rows
) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (n, b) float64 of every row within each resample of (n, b) ``counts``,
    and the tie term ``sum over runs (T^3 - T)`` (b,) of those resamples. ``loop_counts``:
    the same counts as the running-sum loop takes them (float32 where exact).

    A run of T rows after C rows has ranks C + 1 .. C + T, so average rank C + (T + 1) / 2.
    """
    if ties.many_ties:
        through, preceding = run_bounds_by_runs(ties, counts)
    else:
        cumulative = cumulative_counts(ties, loop_counts, Rows.empty_like(loop_counts))
        through, preceding = run_bounds(cumulative, ties.run_last, ties.run_before)
    run_rank = (through + preceding + 1.0) / 2.0  # (r, b)
    return run_rank[ties.run_of_row], tie_term(through - preceding)


@dataclass(frozen=True)
class TrueRanks:
    """What every prediction column's rho needs from the true values, for one block of
    (n, b) counts: computed once per block and shared by the columns (and, through
    ``Resamples.derived``, by later calls on the same eval set).

    ``weights`` (n, b) the block's counts; ``weighted`` (n, b) ``a = w * Rx``; ``squares`` (b,)
    their sum of squared deviations; ``spread`` (b,) that of untied ranks 1..N,
    ``(N^3 - N) / 12``; ``copies`` (b,) ``sum_i (w_i^3 - w_i)`` (the tie term of a vector
    without equal values); ``half_a_w`` (b,) ``sum_i a_i w_i / 2``; ``offset`` (b,)
    ``N (N + 1) / 4 - N m^2`` with the mean rank m = (N + 1) / 2; ``loop_counts`` the
    counts again in float32 when that is exact (the running-sum loop's input).
    """

    weights: np.ndarray
    weighted: np.ndarray
    squares: np.ndarray
    spread: np.ndarray
    copies: np.ndarray
    half_a_w: np.ndarray
    offset: np.ndarray
    loop_counts: Rows

    @classmethod
    def of(cls, true_ties: TieGroups, weights: np.ndarray) -> TrueRanks:
        """``weights`` (n, b) draw counts of one block (copied, rows contiguous, read-only)."""
        counts = np.array(weights, dtype=np.float64, order="C")
        counts.flags.writeable = False
        totals = counts.sum(axis=0)  # (b,) rows in each resample
        exact = totals.max(initial=0.0) < FLOAT32_EXACT
        loop_counts = counts.astype(np.float32) if exact else counts
        loop_counts.flags.writeable = False
        loop_rows = Rows.of(loop_counts)
        ranks, true_tie_term = mid_ranks(true_ties, counts, loop_rows)
        weighted = counts * ranks
        weighted.flags.writeable = False
        spread = (totals**3 - totals) / 12.0
        return cls(
            counts,
            weighted,
            spread - true_tie_term / 12.0,
            spread,
            tie_term(counts),
            0.5 * np.einsum("nb,nb->b", weighted, counts),
            totals * (totals + 1.0) / 4.0 - totals * ((totals + 1.0) / 2.0) ** 2,
            loop_rows,
        )

    def scratch(self) -> Rows:
        """A fresh (n, b) buffer for :func:`column_spearman` (one per caller)."""
        return Rows.empty_like(self.loop_counts)


def column_spearman(truth: TrueRanks, ties: TieGroups, scratch: Rows) -> np.ndarray:
    """Spearman's rho of the true values with one prediction column (its :class:`TieGroups`)
    on every resample of the block -> (b,), NaN where either is constant in the resample.

    ``scratch``: an (n, b) :class:`Rows` the caller owns (overwritten; one per caller, so
    threads sharing ``truth`` never share it).
    """
    if ties.many_ties:
        cross, predicted_tie_term = _cross_by_runs(truth, ties)
    else:
        cross, predicted_tie_term = _cross_by_rows(truth, ties, scratch)
    product = truth.squares * (truth.spread - predicted_tie_term / 12.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(
            product > 0, (cross + truth.offset) / np.sqrt(np.maximum(product, 0.0)), np.nan
        )
    return np.clip(rho, -1.0, 1.0)


def _cross_by_runs(truth: TrueRanks, ties: TieGroups) -> tuple[np.ndarray, np.ndarray]:
    """``sum_i a_i (Ry_i - 1/2)`` and y's tie term (both (b,)) run by run:
    ``sum_runs a_run (C_through + C_before) / 2``."""
    through, preceding = run_bounds_by_runs(ties, truth.weights)  # (r, b)
    cross = np.einsum("rb,rb->b", ties.run_sums(truth.weighted), through + preceding) / 2.0
    return cross, tie_term(through - preceding)


def _cross_by_rows(
    truth: TrueRanks, ties: TieGroups, scratch: Rows
) -> tuple[np.ndarray, np.ndarray]:
    """The same row by row: ``sum_i a_i (C_i - w_i / 2)``; at the tied rows that term is
    swapped for their run's ``a_run (C_through + C_before) / 2`` (and the tie term of
    untied values corrected at those runs)."""
    cumulative = cumulative_counts(ties, truth.loop_counts, scratch)  # (n, b)
    cross = np.einsum("nb,nb->b", truth.weighted, cumulative) - truth.half_a_w
    if not ties.tied.size:
        return cross, truth.copies
    tied_true = truth.weighted[ties.tied]  # (k, b)
    tied_weights = truth.weights[ties.tied]
    cross -= np.einsum("kb,kb->b", tied_true, cumulative[ties.tied])
    cross += 0.5 * np.einsum("kb,kb->b", tied_true, tied_weights)
    through, preceding = run_bounds(
        cumulative, ties.run_last[ties.multi], ties.run_before[ties.multi]
    )  # (r', b)
    cross += np.einsum("rb,rb->b", ties.multi_sums(tied_true), through + preceding) / 2.0
    return cross, truth.copies - tie_term(tied_weights) + tie_term(through - preceding)
