"""Exact subset probes over chunked rows: Newton steps whose sums run over chunks.

The objectives are those of :mod:`probe.linear` (scikit-learn's): L2-penalised logistic
regression (binary, or multinomial with one weight vector per class), and ridge, with the
intercept unpenalised and per-row sample weights. What changes is where the rows are: here
they arrive as chunks from a :data:`~probe.outofcore.problem.BatchPass`, and every sum
(objective, gradient, Hessian, normal equations) is accumulated chunk by chunk, so memory
is O(candidates * params^2) plus one chunk, whatever the number of rows.

* Ridge is one pass: the weighted normal equations of ``[x_S, 1]``, then a solve.
* Logistic regression takes one pass per Newton iteration. All candidates share a pass
  (reading and standardising a chunk is the cost they share). A step is kept only if the
  next pass shows the objective went down; otherwise it is halved, so every candidate
  decreases monotonically to the unique optimum of its strictly convex objective. About
  5-10 passes from zero on real slices.

Candidates of different sizes share one batch by padding ``dims`` with ``-1``: a padded
column reads as zeros, and the L2 penalty then keeps its weight at exactly 0 (its gradient
and every Hessian entry but the penalty's diagonal 1 are 0), so the padded fit *is* the
smaller probe.

Hessians of probes with many parameters (the all-dims probe) are summed in float32 BLAS and
accumulated in float64; gradients and objectives are always float64, so the optimum reached
is the exact one (an inexact Hessian changes the path, not the fixed point).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logsumexp

from probe.linear import SubsetFit
from probe.outofcore.problem import BatchPass

# float64 values in one gathered design sub-block: 2**20 = 8 MiB.
DESIGN_BLOCK = 1 << 20
# Parameters per candidate from which Hessians are summed in float32 BLAS.
FLOAT32_HESSIAN_PARAMS = 64
MAX_PASSES = 60
STEP_TOL = 1e-7


def _design(x: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """(b, m, s+1) float64 designs ``[x_S, 1]``; dims of -1 read as zero columns."""
    rows = x.shape[0]
    n_candidates, size = dims.shape
    design = np.empty((rows, n_candidates, size + 1))
    padded = dims < 0
    columns = design[:, :, :size]  # a view
    columns[...] = x[:, np.where(padded, 0, dims)]
    if padded.any():
        columns[:, padded] = 0.0
    design[:, :, size] = 1.0
    return design


def _sub_blocks(batch_rows: int, n_candidates: int, n_params: int) -> list[slice]:
    step = max(1, DESIGN_BLOCK // max(1, n_candidates * n_params))
    return [slice(start, start + step) for start in range(0, batch_rows, step)]


def _weighted_gram(design: np.ndarray, curvature: np.ndarray) -> np.ndarray:
    """sum_n curvature[n, m] design[n, m] design[n, m]' -> (m, p, p), float64."""
    n_params = design.shape[2]
    if n_params < 8:
        return np.einsum("nmp,nmq->mpq", design * curvature[:, :, None], design)
    low = n_params >= FLOAT32_HESSIAN_PARAMS
    out = np.empty((design.shape[1], n_params, n_params))
    for column in range(design.shape[1]):
        block = design[:, column]
        if low:
            block = block.astype(np.float32)
        scaled = block * curvature[:, column, None].astype(block.dtype)
        out[column] = (scaled.T @ block).astype(np.float64)
    return out


def fit_ridge_stream(rows: BatchPass, dims: np.ndarray, *, alpha: float) -> SubsetFit:
    """Ridge probes (scikit-learn ``Ridge`` objective) of ``dims`` (m, s) in one pass."""
    dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
    n_candidates, size = dims.shape
    gram = np.zeros((n_candidates, size + 1, size + 1))
    cross = np.zeros((n_candidates, size + 1))
    for batch in rows():
        for block in _sub_blocks(batch.x.shape[0], n_candidates, size + 1):
            design = _design(batch.x[block], dims)
            weight = batch.weight[block]
            gram += np.einsum("nmp,nmq->mpq", design * weight[:, None, None], design)
            cross += np.einsum("nmp,n->mp", design, weight * batch.y[block])
    penalty = np.arange(size + 1) < size
    gram[:, penalty, penalty] += alpha
    solution = np.linalg.solve(gram, cross[..., None])[..., 0]  # (m, s+1)
    return SubsetFit("regression", dims, solution[:, :size, None], solution[:, size:])


def fit_logistic_stream(
    rows: BatchPass,
    dims: np.ndarray,
    *,
    C: float,
    n_classes: int = 2,
    init: SubsetFit | None = None,
) -> tuple[SubsetFit, int]:
    """Logistic probes of ``dims`` (m, s) by chunked Newton; returns the fit and passes used.

    Binary (``n_classes == 2``): scikit-learn's binary objective; otherwise multinomial.
    ``init`` warm-starts (e.g. the fit-row probe when refitting on all training rows).
    """
    dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
    n_candidates, size = dims.shape
    n_params = size + 1
    outputs = 1 if n_classes == 2 else n_classes
    theta = np.zeros((n_candidates, outputs, n_params))
    if init is not None:
        theta[:, :, :size] = np.transpose(init.coef, (0, 2, 1))
        theta[:, :, size] = init.intercept
    accepted = theta.copy()
    accepted_objective = np.full(n_candidates, np.inf)
    moving = np.ones(n_candidates, dtype=bool)
    passes = 0
    while moving.any() and passes < MAX_PASSES:
        passes += 1
        active = np.flatnonzero(moving)
        objective, gradient, hessian = _logistic_sums(
            rows, dims[active], theta[active], C, n_classes
        )
        for position, candidate in enumerate(active):
            if objective[position] > accepted_objective[candidate] * (1 + 1e-12) + 1e-12:
                # the last step went uphill: halve it and re-evaluate on the next pass
                theta[candidate] = 0.5 * (accepted[candidate] + theta[candidate])
                if np.max(np.abs(theta[candidate] - accepted[candidate])) < STEP_TOL:
                    theta[candidate] = accepted[candidate]
                    moving[candidate] = False
                continue
            accepted[candidate] = theta[candidate]
            accepted_objective[candidate] = objective[position]
            flat = outputs * n_params
            step = np.linalg.solve(
                hessian[position].reshape(flat, flat), gradient[position].reshape(flat)
            ).reshape(outputs, n_params)
            theta[candidate] = accepted[candidate] - step
            if np.max(np.abs(step)) <= STEP_TOL * (1.0 + np.max(np.abs(accepted[candidate]))):
                moving[candidate] = False
    coef = np.transpose(theta[:, :, :size], (0, 2, 1)).copy()  # (m, s, r)
    kind = "binary" if n_classes == 2 else "multiclass"
    return SubsetFit(kind, dims, coef, theta[:, :, size].copy()), passes


def _logistic_sums(
    rows: BatchPass, dims: np.ndarray, theta: np.ndarray, C: float, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Penalised objective (m,), gradient (m, r, p) and Hessian (m, r, p, r, p) at ``theta``."""
    n_candidates, outputs, n_params = theta.shape
    objective = np.zeros(n_candidates)
    gradient = np.zeros_like(theta)
    hessian = np.zeros((n_candidates, outputs, n_params, outputs, n_params))
    for batch in rows():
        for block in _sub_blocks(batch.x.shape[0], n_candidates, n_params):
            design = _design(batch.x[block], dims)  # (b, m, p)
            weight = C * batch.weight[block]  # (b,)
            labels = batch.y[block].astype(np.int64)
            eta = np.einsum("nmp,mrp->nmr", design, theta)  # (b, m, r)
            if n_classes == 2:
                score = eta[:, :, 0]
                target = labels[:, None].astype(np.float64)
                objective += weight @ (np.logaddexp(0.0, score) - target * score)
                prob = expit(score)
                gradient[:, 0] += np.einsum("nm,nmp->mp", weight[:, None] * (prob - target), design)
                curvature = weight[:, None] * prob * (1.0 - prob)
                hessian[:, 0, :, 0, :] += _weighted_gram(design, curvature)
                continue
            log_norm = logsumexp(eta, axis=2)  # (b, m)
            picked = np.take_along_axis(eta, labels[:, None, None].repeat(n_candidates, 1), 2)
            objective += weight @ (log_norm - picked[:, :, 0])
            prob = np.exp(eta - log_norm[:, :, None])  # (b, m, K)
            residual = prob.copy()
            residual[np.arange(labels.size), :, labels] -= 1.0
            gradient += np.einsum("nmk,nmp->mkp", weight[:, None, None] * residual, design)
            for first in range(outputs):
                for second in range(first, outputs):
                    share = (first == second) - prob[:, :, second]
                    curvature = weight[:, None] * prob[:, :, first] * share
                    block_hessian = _weighted_gram(design, curvature)
                    hessian[:, first, :, second, :] += block_hessian
                    if second != first:
                        hessian[:, second, :, first, :] += block_hessian
    coef = theta[:, :, : n_params - 1]
    objective += 0.5 * np.einsum("mrp,mrp->m", coef, coef)
    gradient[:, :, : n_params - 1] += coef
    diagonal = np.arange(n_params - 1)
    last = n_params - 1
    for output in range(outputs):
        hessian[:, output, diagonal, output, diagonal] += 1.0
        if outputs > 1:
            # softmax intercepts are unpenalised and only defined up to a shared constant: a
            # 1e-10-relative ridge picks one without moving the optimum (as probe.linear does)
            scale = np.abs(hessian[:, output, last, output, last])
            hessian[:, output, last, output, last] += 1e-10 * (1.0 + scale)
    return objective, gradient, hessian
