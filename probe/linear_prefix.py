"""Exact binary logistic probes for candidates that extend one shared subset by one dim each.

A greedy step re-fits its best candidates ``S + {j}`` exactly: all of them share the
columns of ``S`` and the intercept, and each adds one column of its own. The per-candidate
kernel (:func:`probe.linear.fit_logistic_subsets`) copies ``S`` into every candidate's
design and gives every candidate its own thin (s+1) x (s+1) Hessian product; here the shared
rows ``U = [x_S; 1]`` (s, n) are read once per pass for all candidates:

* scores: one GEMM ``W_U @ U`` plus one elementwise term for the own column ``z``;
* gradient: one float64 GEMM ``r @ U'`` (an exact accumulation, like the per-candidate
  kernel's float64 block sums) plus one dot per candidate;
* Hessian: every candidate's shared block at once as one GEMM ``c @ P'`` of the
  curvatures ``c`` (m, n) with the pairwise products ``P`` of ``U``'s rows (built once per
  fit: they do not depend on the candidate), its ``z`` row from one more GEMM.

Measured at D = 768, n = 54,000 fit rows, 8 candidates of 16 dims: 2.6x less CPU per
Newton iteration than the per-candidate kernel, and no (m, s+1, n) design copy. Same
objective, same damped Newton loop (:func:`probe.linear.binary_newton`), same stopping
rule, so the optimum is the same to the solver's tolerance (a test checks that).

:func:`fit_logistic_prefixes` does the same for a greedy path's picks, nested prefixes of one
ordered set, when they are refit on all training rows (measured at D = 768, n = 67,349, k =
16: 0.109 -> 0.078 CPU-s for the 16 refits).
"""

from __future__ import annotations

import numpy as np

from probe.linear import (
    DESIGN_BUDGET,
    Rows,
    SubsetFit,
    _check_labels,
    _sigmoid_inplace,
    _thread_controller,
    binary_newton,
    features_major,
)

# Candidates from which the shared Hessian block is one GEMM with the pairwise products;
# below, one syrk per candidate costs less than building the products.
PRODUCTS_MIN_CANDIDATES = 3
# Subset size from which this kernel beats the per-candidate one (measured at n = 54,000:
# 8 candidates of 4 dims 13% less CPU, of 16 dims 26% less; of 2-3 dims, or 50 pairs that
# share a dim, the per-candidate kernel's cache-blocked pass wins) ...
MIN_SIZE = 4
# ... unless the candidates start from one shared probe (a greedy step's warm start): then
# the cheap own-weight step (``_ExtensionNewton.own_weight_start``) saves a pass, and
# greedy's steps of 2 and 3 dims take 30% less CPU here (measured at D = 768, n = 54,000).
MIN_SIZE_SHARED_START = 2


def extends_one_subset(dims: np.ndarray, init: SubsetFit | None = None) -> bool:
    """Whether ``dims`` (m, s) are m > 1 candidates that share their first s-1 dims, of
    s >= ``MIN_SIZE`` dims, or of s >= ``MIN_SIZE_SHARED_START`` when ``init`` is one
    shared start (the same coefficients on the shared dims, 0 on each own dim): the cases
    this kernel is faster for."""
    if dims.shape[0] < 2 or dims.shape[1] < MIN_SIZE_SHARED_START:
        return False
    if not np.all(dims[:, :-1] == dims[:1, :-1]):
        return False
    if dims.shape[1] >= MIN_SIZE:
        return True
    return init is not None and shared_start(init.coef[..., 0], init.intercept[:, 0])


def shared_start(own_and_shared: np.ndarray, intercept: np.ndarray) -> bool:
    """Whether coefficients (m, s) (own dim last) and intercepts (m,) are one probe of the
    shared dims extended by 0 on every own dim."""
    return bool(
        np.all(own_and_shared[:, -1] == 0.0)
        and np.all(own_and_shared[:, :-1] == own_and_shared[:1, :-1])
        and np.all(intercept == intercept[0])
    )


def fit_logistic_extensions(
    x: Rows,
    y: np.ndarray,
    dims: np.ndarray,
    *,
    C: float = 1.0,
    sample_weight: np.ndarray | None = None,
    init: SubsetFit | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
    products: np.ndarray | None = None,
) -> SubsetFit:
    """Binary L2 logistic regression (scikit-learn's objective) on subsets ``dims`` (m, s)
    that share their first s-1 dims; the same contract as
    :func:`probe.linear.fit_logistic_subsets` with ``n_classes=2``.

    ``products``: the pairwise products of ``[1; x_shared]`` on these rows in
    :class:`PairProducts`' layout, if the caller keeps them (a greedy path); else built here.
    """
    labels = _check_labels(y, 2)
    dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
    if dims.shape[1] < 2 or not np.all(dims[:, :-1] == dims[:1, :-1]):
        raise ValueError("fit_logistic_extensions needs candidates sharing all but their last dim")
    n_candidates, size = dims.shape
    weights = (
        np.ones(labels.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    )
    shared = np.empty((size, labels.size), dtype=np.float32)  # U: ones, then shared dims
    shared[0] = 1.0
    shared[1:] = features_major(x, dims[0, :-1])
    own = features_major(x, dims[:, -1])  # z (m, n)
    theta = np.zeros((n_candidates, size + 1))  # [shared dims, own dim, intercept]
    if init is not None:
        theta[:, :size] = init.coef[..., 0]
        theta[:, size] = init.intercept[:, 0]
    with _thread_controller().limit(limits=1, user_api="blas"):
        newton = _ExtensionNewton(shared, own, labels, C * weights, products)
        theta = newton.run(theta, max_iter, tol)
    return SubsetFit("binary", dims, theta[:, :size, None].copy(), theta[:, size:].copy())


class _ExtensionNewton:
    """Derivatives of the candidates ``[U; z_j]`` for :func:`probe.linear.binary_newton`.

    Parameter order (q = s + 1): the s - 1 shared dims, the own dim, the intercept;
    ``shared_params`` maps ``U``'s rows (ones, then shared dims) to it.
    """

    def __init__(
        self,
        shared: np.ndarray,
        own: np.ndarray,
        labels: np.ndarray,
        weight: np.ndarray,
        products: np.ndarray | None = None,
    ) -> None:
        n_shared, n_rows = shared.shape
        self.shared, self.own = shared, own  # (s, n), (m, n) float32
        self.shared64, self.own64 = shared.astype(np.float64), own.astype(np.float64)
        self.labels, self.weight = labels, weight
        self.labels32, self.weight32 = labels.astype(np.float32), weight.astype(np.float32)
        self.own_param = n_shared - 1
        self.shared_params = np.r_[n_shared, np.arange(n_shared - 1)]
        self.first, self.second = np.tril_indices(n_shared)  # PairProducts' layout
        fits = self.first.size * n_rows <= DESIGN_BUDGET
        self.products = None  # P (s(s+1)/2, n) float32
        if own.shape[0] >= PRODUCTS_MIN_CANDIDATES and fits:
            self.products = products if products is not None else pair_products(shared)

    def run(self, theta: np.ndarray, max_iter: int, tol: float) -> np.ndarray:
        reach = np.empty(theta.shape)
        reach[:, self.shared_params] = np.abs(self.shared).max(axis=1)
        reach[:, self.own_param] = np.abs(self.own).max(axis=1)
        return binary_newton(
            self.derivatives,
            self.designs,
            reach,
            self.labels,
            self.weight,
            self.own_weight_start(theta),
            max_iter=max_iter,
            tol=tol,
        )

    def own_weight_start(self, theta: np.ndarray) -> np.ndarray:
        """From a greedy step's warm start (the previous probe, own weights 0), one Newton
        step on each candidate's own weight alone; other starts are returned unchanged.

        Why: all candidates then share their scores, so the step costs one elementwise
        pass over (m, n) instead of a full Newton pass, and it puts the own weight close
        enough that the full Newton loop usually stops after one iteration fewer (measured
        on the D = 768 benchmark: 3 -> 2 passes on most steps). The optimum is unchanged:
        only the starting point moves.
        """
        shared_params, own_param = self.shared_params, self.own_param
        start = theta[0, shared_params]
        if np.any(theta[:, own_param] != 0.0) or np.any(theta[:, shared_params] != start):
            return theta
        prob = _sigmoid_inplace(start.astype(np.float32) @ self.shared)  # (n,) shared scores
        residual = (prob - self.labels32) * self.weight32
        curvature = (1.0 - prob) * prob * self.weight32
        gradient = self.own @ residual  # (m,)
        hessian = (self.own * self.own) @ curvature + 1.0  # + the penalty's curvature
        theta = theta.copy()
        theta[:, own_param] = -gradient / hessian
        return theta

    def designs(self, rows: np.ndarray) -> np.ndarray:
        """The per-candidate (k, q, n) designs of candidates ``rows`` (for damping only)."""
        design = np.empty((rows.size, self.shared.shape[0] + 1, self.shared.shape[1]), np.float32)
        design[:, self.shared_params] = self.shared
        design[:, self.own_param] = self.own[rows]
        return design

    def derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Loss gradient (m, q) float64 and Hessian (m, q, q) at ``theta`` (m, q)."""
        shared_params, own_param = self.shared_params, self.own_param
        theta32 = theta.astype(np.float32)
        prob = theta32[:, shared_params] @ self.shared  # (m, n) scores
        prob += theta32[:, own_param, None] * self.own
        _sigmoid_inplace(prob)
        residual = prob - self.labels32
        residual *= self.weight32
        curvature = np.subtract(1.0, prob)
        curvature *= prob
        curvature *= self.weight32
        n_candidates, n_params = theta.shape
        residual64 = residual.astype(np.float64)
        gradient = np.empty((n_candidates, n_params))
        gradient[:, shared_params] = residual64 @ self.shared64.T  # float64 accumulation
        gradient[:, own_param] = np.einsum("mn,mn->m", residual64, self.own64)
        hessian = np.empty((n_candidates, n_params, n_params))
        hessian[:, shared_params[:, None], shared_params[None, :]] = self._shared_block(curvature)
        weighted_own = curvature * self.own  # (m, n)
        cross = (weighted_own @ self.shared.T).astype(np.float64)  # (m, s)
        hessian[:, own_param, shared_params] = cross
        hessian[:, shared_params, own_param] = cross
        hessian[:, own_param, own_param] = np.einsum("mn,mn->m", weighted_own, self.own)
        return gradient, hessian

    def _shared_block(self, curvature: np.ndarray) -> np.ndarray:
        """``U diag(c_j) U'`` of every candidate: (m, n) curvatures -> (m, s, s) float64."""
        n_candidates, n_shared = curvature.shape[0], self.shared.shape[0]
        block = np.empty((n_candidates, n_shared, n_shared))
        if self.products is not None:
            # (s(s+1)/2, n) @ (n, m): 2.3x faster in OpenBLAS than (m, n) @ (n, s(s+1)/2)
            # with the products transposed (measured)
            values = (self.products @ np.ascontiguousarray(curvature.T)).T.astype(np.float64)
            block[:, self.first, self.second] = values
            block[:, self.second, self.first] = values
            return block
        root = np.sqrt(curvature)
        for candidate in range(n_candidates):  # BLAS on one thread: see fit_logistic_subsets
            scaled = self.shared * root[candidate]
            block[candidate] = scaled @ scaled.T  # numpy calls syrk for a @ a.T
        return block


def fit_logistic_prefixes(
    x: Rows,
    y: np.ndarray,
    order: np.ndarray,
    sizes: np.ndarray,
    *,
    C: float = 1.0,
    sample_weight: np.ndarray | None = None,
    init: list[SubsetFit] | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
    products: np.ndarray | None = None,
) -> list[SubsetFit]:
    """Binary L2 logistic probes on the prefixes ``order[:size]`` for each of ``sizes`` (m,):
    the nested subsets of a greedy path, all fitted in one Newton loop.

    Why: a greedy run refits each step's pick on all training rows (its reported probe), and
    those picks are nested. Their columns ``U = [x_order; 1]`` are read once per pass for all
    of them (one score GEMM, one gradient GEMM, one Hessian GEMM with the pairwise products
    of ``U``'s rows) instead of one pass over a per-candidate design each. A prefix's
    parameters beyond its size are pinned at 0 (their gradient and Hessian rows are zeroed,
    so the penalty's unit curvature makes their Newton step exactly 0): each candidate
    solves its own objective, and the loop stops by the same rule as
    :func:`probe.linear.fit_logistic_subsets`. Returns one :class:`SubsetFit` per size, in
    the order of ``sizes``; ``init`` optionally one warm start per size; ``products`` as
    for :func:`fit_logistic_extensions` (of ``[1; x_order]``).
    """
    labels = _check_labels(y, 2)
    order = np.asarray(order, dtype=np.int64).reshape(-1)
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1)
    if sizes.size == 0 or sizes.min() < 1 or sizes.max() > order.size:
        raise ValueError("fit_logistic_prefixes needs prefix sizes in 1..len(order)")
    weights = (
        np.ones(labels.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    )
    n_dims = order.size
    columns = np.empty((n_dims + 1, labels.size), dtype=np.float32)  # U: ones, then the dims
    columns[0] = 1.0
    columns[1:] = features_major(x, order)
    theta = np.zeros((sizes.size, n_dims + 1))  # [dims in order, intercept]
    if init is not None:
        for row, (size, start) in enumerate(zip(sizes, init, strict=True)):
            theta[row, :size] = start.coef[0, :, 0]
            theta[row, n_dims] = start.intercept[0, 0]
    with _thread_controller().limit(limits=1, user_api="blas"):
        newton = _PrefixNewton(columns, sizes, labels, C * weights, products)
        theta = newton.run(theta, max_iter, tol)
    return [
        SubsetFit(
            "binary",
            order[None, :size].copy(),
            theta[row, None, :size, None].copy(),
            theta[row, None, n_dims:].copy(),
        )
        for row, size in enumerate(sizes.tolist())
    ]


class _PrefixNewton:
    """Derivatives of nested candidates ``[1; U[1:size+1]]`` for
    :func:`probe.linear.binary_newton`.

    Parameters (q = len(order) + 1): the ordered dims, then the intercept; ``params`` maps
    ``U``'s rows (ones, then the dims) to them; ``active`` (m, q) marks each candidate's own
    prefix and the intercept.
    """

    def __init__(
        self,
        columns: np.ndarray,
        sizes: np.ndarray,
        labels: np.ndarray,
        weight: np.ndarray,
        products: np.ndarray | None = None,
    ) -> None:
        n_params, n_rows = columns.shape
        self.columns, self.columns64 = columns, columns.astype(np.float64)  # (q, n)
        self.labels, self.weight = labels, weight
        self.labels32, self.weight32 = labels.astype(np.float32), weight.astype(np.float32)
        self.params = np.r_[n_params - 1, np.arange(n_params - 1)]
        self.active = np.arange(n_params)[None, :] < sizes[:, None]  # (m, q)
        self.active[:, -1] = True
        first, second = np.tril_indices(n_params)  # pair_products' layout
        self.first, self.second = self.params[first], self.params[second]
        self.products = products  # P (q(q+1)/2, n) float32
        if products is None and first.size * n_rows <= DESIGN_BUDGET:
            self.products = pair_products(columns)

    def run(self, theta: np.ndarray, max_iter: int, tol: float) -> np.ndarray:
        reach = np.empty(theta.shape)
        reach[:, self.params] = np.abs(self.columns).max(axis=1)
        return binary_newton(
            self.derivatives,
            self.designs,
            reach,
            self.labels,
            self.weight,
            np.where(self.active, theta, 0.0),
            max_iter=max_iter,
            tol=tol,
        )

    def designs(self, rows: np.ndarray) -> np.ndarray:
        """The (k, q, n) designs of candidates ``rows`` (for damping only): their pinned
        parameters are 0 and stay 0, so the full columns score the same."""
        design = np.empty((rows.size, *self.columns.shape), dtype=np.float32)
        design[:, self.params] = self.columns
        return design

    def derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Loss gradient (m, q) float64 and Hessian (m, q, q) at ``theta`` (m, q), with the
        pinned parameters' rows and columns zero."""
        params = self.params
        prob = _sigmoid_inplace(theta[:, params].astype(np.float32) @ self.columns)  # (m, n)
        residual = prob - self.labels32
        residual *= self.weight32
        curvature = np.subtract(1.0, prob)
        curvature *= prob
        curvature *= self.weight32
        n_candidates, n_params = theta.shape
        gradient = np.empty((n_candidates, n_params))
        gradient[:, params] = residual.astype(np.float64) @ self.columns64.T  # float64 sums
        hessian = np.empty((n_candidates, n_params, n_params))
        if self.products is not None:
            values = (self.products @ np.ascontiguousarray(curvature.T)).T.astype(np.float64)
            hessian[:, self.first, self.second] = values
            hessian[:, self.second, self.first] = values
        else:
            root = np.sqrt(curvature)
            for candidate in range(n_candidates):
                scaled = self.columns * root[candidate]
                hessian[candidate][np.ix_(params, params)] = scaled @ scaled.T
        gradient *= self.active
        hessian *= self.active[:, :, None]
        hessian *= self.active[:, None, :]
        return gradient, hessian


def pair_products(columns: np.ndarray, out: np.ndarray | None = None, done: int = 0) -> np.ndarray:
    """Pairwise products of the rows of ``columns`` (q, n): row ``a(a+1)/2 + b`` of the
    result holds ``columns[a] * columns[b]`` (b <= a: ``np.tril_indices(q)`` order), so the
    products of the first rows are a prefix of those of more. ``out`` with its first
    ``done`` rows of ``columns`` already multiplied: only the new rows are added."""
    n_columns, n_rows = columns.shape
    if out is None:
        out = np.empty((n_columns * (n_columns + 1) // 2, n_rows), dtype=np.float32)
    for first in range(done, n_columns):
        base = first * (first + 1) // 2
        np.multiply(columns[first], columns[: first + 1], out=out[base : base + first + 1])
    return out


class PairProducts:
    """The pairwise products of ``U = [1; x_order]`` on one row set, kept while the ``order``
    asked for only grows (the shared dims of a greedy path's steps, then its picks).

    Why: every greedy step's shared-prefix fit needs the products of its ``U`` (the Hessian
    is one GEMM with them), and a step's ``U`` is the previous one plus one row; rebuilt
    per step they cost ~40% of a step's Newton passes. Kept in :func:`pair_products`'
    layout, so ``rows(order)[:, :n]`` also serves the first ``n`` rows (the fit rows of a
    slice stored fit rows first). Holds at most ``DESIGN_BUDGET`` float32 values.
    """

    def __init__(self, x: Rows) -> None:
        self.x = x
        self.order: list[int] = []  # the dims whose products ``buffer`` holds
        self.done = 0  # rows of U multiplied into ``buffer`` (len(order) + 1, or 0)
        self.buffer: np.ndarray | None = None  # (capacity, n) float32

    def rows(self, order: np.ndarray) -> np.ndarray | None:
        """Products of ``[1; x_order]`` -> (q(q+1)/2, n) view, q = len(order) + 1; None
        past the memory bound."""
        order_list = [int(dim) for dim in order]
        n_rows = self.x.shape[0]
        size = len(order_list) + 1
        needed = size * (size + 1) // 2
        if needed * n_rows > DESIGN_BUDGET:
            return None
        if order_list[: len(self.order)] != self.order:
            self.order, self.done = [], 0
        if self.buffer is None or self.buffer.shape[0] < needed:
            room = size + 8  # a greedy path grows one dim per step: room for 8 more
            while room > size and room * (room + 1) // 2 * n_rows > DESIGN_BUDGET:
                room -= 1
            buffer = np.empty((room * (room + 1) // 2, n_rows), dtype=np.float32)
            kept = self.done * (self.done + 1) // 2
            if kept:
                buffer[:kept] = self.buffer[:kept]
            self.buffer = buffer
        if self.done < size:
            columns = np.empty((size, n_rows), dtype=np.float32)
            columns[0] = 1.0
            columns[1:] = features_major(self.x, np.asarray(order_list, dtype=np.int64))
            pair_products(columns, self.buffer, self.done)
        self.order, self.done = order_list, size
        return self.buffer[:needed]
