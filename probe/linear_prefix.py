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
# share a dim, the per-candidate kernel's cache-blocked pass wins).
MIN_SIZE = 4


def extends_one_subset(dims: np.ndarray) -> bool:
    """Whether ``dims`` (m, s) are m > 1 candidates of s >= ``MIN_SIZE`` dims that share
    their first s-1 dims: the case this kernel is faster for."""
    return (
        dims.shape[0] > 1
        and dims.shape[1] >= MIN_SIZE
        and bool(np.all(dims[:, :-1] == dims[:1, :-1]))
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
) -> SubsetFit:
    """Binary L2 logistic regression (scikit-learn's objective) on subsets ``dims`` (m, s)
    that share their first s-1 dims; the same contract as
    :func:`probe.linear.fit_logistic_subsets` with ``n_classes=2``."""
    labels = _check_labels(y, 2)
    dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
    if dims.shape[1] < 2 or not np.all(dims[:, :-1] == dims[:1, :-1]):
        raise ValueError("fit_logistic_extensions needs candidates sharing all but their last dim")
    n_candidates, size = dims.shape
    weights = (
        np.ones(labels.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    )
    shared = np.empty((size, labels.size), dtype=np.float32)  # U: shared dims, then ones
    shared[: size - 1] = features_major(x, dims[0, :-1])
    shared[size - 1] = 1.0
    own = features_major(x, dims[:, -1])  # z (m, n)
    theta = np.zeros((n_candidates, size + 1))  # [shared dims, own dim, intercept]
    if init is not None:
        theta[:, :size] = init.coef[..., 0]
        theta[:, size] = init.intercept[:, 0]
    with _thread_controller().limit(limits=1, user_api="blas"):
        theta = _ExtensionNewton(shared, own, labels, C * weights).run(theta, max_iter, tol)
    return SubsetFit("binary", dims, theta[:, :size, None].copy(), theta[:, size:].copy())


class _ExtensionNewton:
    """Derivatives of the candidates ``[U; z_j]`` for :func:`probe.linear.binary_newton`.

    Parameter order (q = s + 1): the s - 1 shared dims, the own dim, the intercept;
    ``shared_params`` maps ``U``'s rows (shared dims, then ones) to it.
    """

    def __init__(
        self, shared: np.ndarray, own: np.ndarray, labels: np.ndarray, weight: np.ndarray
    ) -> None:
        n_shared, n_rows = shared.shape
        self.shared, self.own = shared, own  # (s, n), (m, n) float32
        self.shared64, self.own64 = shared.astype(np.float64), own.astype(np.float64)
        self.labels, self.weight = labels, weight
        self.labels32, self.weight32 = labels.astype(np.float32), weight.astype(np.float32)
        self.own_param = n_shared - 1
        self.shared_params = np.r_[np.arange(n_shared - 1), n_shared]
        self.first, self.second = np.triu_indices(n_shared)
        fits = self.first.size * n_rows <= DESIGN_BUDGET
        self.products = None  # P (s(s+1)/2, n) float32
        if own.shape[0] >= PRODUCTS_MIN_CANDIDATES and fits:
            self.products = np.empty((self.first.size, n_rows), dtype=np.float32)
            for row, (first, second) in enumerate(zip(self.first, self.second, strict=True)):
                np.multiply(shared[first], shared[second], out=self.products[row])

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
            max_iter,
            tol,
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
    the order of ``sizes``; ``init`` optionally one warm start per size.
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
    columns = np.empty((n_dims + 1, labels.size), dtype=np.float32)  # U: the dims, then ones
    columns[:n_dims] = features_major(x, order)
    columns[n_dims] = 1.0
    theta = np.zeros((sizes.size, n_dims + 1))  # [dims in order, intercept]
    if init is not None:
        for row, (size, start) in enumerate(zip(sizes, init, strict=True)):
            theta[row, :size] = start.coef[0, :, 0]
            theta[row, n_dims] = start.intercept[0, 0]
    with _thread_controller().limit(limits=1, user_api="blas"):
        theta = _PrefixNewton(columns, sizes, labels, C * weights).run(theta, max_iter, tol)
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
    """Derivatives of nested candidates ``[U[:size]; 1]`` for :func:`probe.linear.binary_newton`.

    Parameters (q = len(order) + 1): the ordered dims, then the intercept; ``active`` (m, q)
    marks each candidate's own prefix and the intercept.
    """

    def __init__(
        self, columns: np.ndarray, sizes: np.ndarray, labels: np.ndarray, weight: np.ndarray
    ) -> None:
        n_params, n_rows = columns.shape
        self.columns, self.columns64 = columns, columns.astype(np.float64)  # (q, n)
        self.labels, self.weight = labels, weight
        self.labels32, self.weight32 = labels.astype(np.float32), weight.astype(np.float32)
        self.active = np.arange(n_params)[None, :] < sizes[:, None]  # (m, q)
        self.active[:, -1] = True
        self.first, self.second = np.triu_indices(n_params)
        self.products = None  # P (q(q+1)/2, n) float32
        if self.first.size * n_rows <= DESIGN_BUDGET:
            self.products = np.empty((self.first.size, n_rows), dtype=np.float32)
            for row, (first, second) in enumerate(zip(self.first, self.second, strict=True)):
                np.multiply(columns[first], columns[second], out=self.products[row])

    def run(self, theta: np.ndarray, max_iter: int, tol: float) -> np.ndarray:
        reach = np.repeat(np.abs(self.columns).max(axis=1)[None], theta.shape[0], axis=0)
        return binary_newton(
            self.derivatives,
            self.designs,
            reach,
            self.labels,
            self.weight,
            np.where(self.active, theta, 0.0),
            max_iter,
            tol,
        )

    def designs(self, rows: np.ndarray) -> np.ndarray:
        """The (k, q, n) designs of candidates ``rows`` (for damping only): their pinned
        parameters are 0 and stay 0, so the full columns score the same."""
        return np.repeat(self.columns[None], rows.size, axis=0)

    def derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Loss gradient (m, q) float64 and Hessian (m, q, q) at ``theta`` (m, q), with the
        pinned parameters' rows and columns zero."""
        prob = _sigmoid_inplace(theta.astype(np.float32) @ self.columns)  # (m, n)
        residual = prob - self.labels32
        residual *= self.weight32
        curvature = np.subtract(1.0, prob)
        curvature *= prob
        curvature *= self.weight32
        gradient = residual.astype(np.float64) @ self.columns64.T  # float64 accumulation
        n_candidates, n_params = theta.shape
        hessian = np.empty((n_candidates, n_params, n_params))
        if self.products is not None:
            values = (self.products @ np.ascontiguousarray(curvature.T)).T.astype(np.float64)
            hessian[:, self.first, self.second] = values
            hessian[:, self.second, self.first] = values
        else:
            root = np.sqrt(curvature)
            for candidate in range(n_candidates):
                scaled = self.columns * root[candidate]
                hessian[candidate] = scaled @ scaled.T
        gradient *= self.active
        hessian *= self.active[:, :, None]
        hessian *= self.active[:, None, :]
        return gradient, hessian
