"""Exact linear probes with scikit-learn's objectives, fitted for many column subsets at once.

Why not call scikit-learn per subset: a search re-fits tens to thousands of 1–16-column
probes on the same rows, and one ``LogisticRegression`` per subset costs a Python round trip
plus a full data pass per L-BFGS iteration. Here every candidate's design ``[x_S, 1]`` is
gathered into one ``(m, n, |S|+1)`` float64 array and all candidates take damped Newton
steps together (einsum over the stacked designs, ``np.linalg.solve`` on stacked Hessians). Newton
converges in a few steps on these tiny, strictly convex problems, to the same optimum
scikit-learn's solvers approach.

Objectives (identical to scikit-learn, so results agree — tests check it):

* logistic, binary (``LogisticRegression``): ``C * sum_i s_i * logloss_i + 0.5 * ||w||^2``;
* logistic, multiclass: the multinomial (softmax) loss with one weight vector *per class*
  and the same penalty (scikit-learn's ``lbfgs`` default);
* ridge (``Ridge``): ``sum_i s_i (y_i - x_i w - b)^2 + alpha * ||w||^2``.

The intercept is never penalised. ``s_i`` are sample weights; ``balanced_sample_weight``
reproduces ``class_weight="balanced"``.

Parameter layout used throughout: ``coef`` (m, s, r) and ``intercept`` (m, r), where ``m``
counts candidate subsets, ``s`` their size and ``r`` is 1 for binary logistic and ridge, or
the number of classes for multinomial logistic.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from probe.columns import gather_features_major
from probe.errors import FewdimsError

if TYPE_CHECKING:
    from probe.columns import ColumnView

# Rows of a slice: the row-major (n, D) array itself, or a cached view of some of its rows.
Rows: TypeAlias = "np.ndarray | ColumnView"

# Bounds the float32 design gathered per chunk of candidates: 2**24 values = 64 MiB.
DESIGN_BUDGET = 1 << 24
# n * D^2 up to which the all-dims probe uses scikit-learn's Newton-Cholesky (one Hessian
# ~ a second on a laptop) instead of L-BFGS.
NEWTON_CHOLESKY_FLOPS = 1e10
# Parameters per candidate from which its Hessian is one BLAS syrk (see _weighted_gram).
SYRK_MIN_PARAMS = 8
# Largest per-example score change for which a full Newton step is provably downhill.
SAFE_ETA_STEP = 1.5
# Design values (candidates x parameters x rows) per block of the binary Newton pass:
# 2**18 float32 = 1 MiB, so a block's intermediates stay in cache (see _binary_derivatives);
# with rows per block at least 256 (numpy's per-call cost, many candidates) and at most
# 16,384 (the block's float32 Hessian sum; few candidates).
NEWTON_BLOCK = 1 << 18
NEWTON_BLOCK_ROWS = (256, 16384)
# Subset size from which a probe's scores are one GEMM per candidate (see SubsetFit.decision).
GEMM_DECISION_DIMS = 32
# Rows per block of the multinomial Hessian's GEMM operands (153 x 1024 float32: in L2 cache).
HESSIAN_ROWS = 1024
LINEAR_KINDS = ("binary", "multiclass", "regression")


class ProbeInputError(FewdimsError, ValueError):
    """Labels or features that no probe can be fitted to (say, one class only)."""


@dataclass
class SubsetFit:
    """Fitted parameters of ``m`` probes, one per candidate subset ``dims[j]``.

    ``dims`` (m, s) int64 columns of the feature matrix; ``coef`` (m, s, r) and
    ``intercept`` (m, r) float64; ``kind`` one of ``binary``, ``multiclass``, ``regression``.
    """

    kind: str
    dims: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    solver_warnings: list[str] = field(default_factory=list)

    def take(self, rows: np.ndarray) -> SubsetFit:
        """The probes of candidates ``rows`` (an index array or mask)."""
        return SubsetFit(
            self.kind,
            self.dims[rows],
            self.coef[rows],
            self.intercept[rows],
            self.solver_warnings,
        )

    def decision(self, x: Rows, dtype: type = np.float64) -> np.ndarray:
        """Linear scores of every candidate on rows ``x`` (n, D) -> (n, m, r).

        float64 by default (exact probes' reported scores); the screen passes float32, where
        a flipped example within 1e-6 of the boundary cannot matter and the pass is cheaper.
        ``x`` is the row-major slice or a :class:`probe.columns.ColumnView` of it.
        """
        n_candidates, size = self.dims.shape
        if size > 1 and n_candidates > 1 and np.all(self.dims[:, :-1] == self.dims[:1, :-1]):
            return self._decision_shared_prefix(x, dtype)
        if size >= GEMM_DECISION_DIMS:
            return self._decision_by_candidate(x, dtype)
        n_outputs = self.coef.shape[2]
        outputs = np.empty((x.shape[0], n_candidates, n_outputs), dtype=dtype)
        coef = self.coef.astype(dtype)
        intercept = self.intercept.astype(dtype)
        for start, stop in _chunks(n_candidates, x.shape[0] * max(1, size) * n_outputs):
            dims = self.dims[start:stop]
            if n_outputs > 1:  # classes: one column gather per position, shared by them all
                outputs[:, start:stop] = self._class_scores(
                    x, dims, coef[start:stop], intercept[start:stop]
                )
                continue
            # one (n, mc) column gather per position: s <= k passes
            scores = outputs[:, start:stop, 0]
            np.multiply(rows_major(x, dims[:, 0]), coef[start:stop, 0, 0], out=scores)
            for position in range(1, size):
                column = rows_major(x, dims[:, position])  # a fresh array, ours to scale
                if column.dtype == dtype:
                    column *= coef[start:stop, position, 0]
                    scores += column
                else:  # float64 scores: the product in float64, as the probes report
                    scores += column * coef[start:stop, position, 0]
            scores += intercept[start:stop, 0]
        return outputs

    @staticmethod
    def _class_scores(
        x: Rows, dims: np.ndarray, coef: np.ndarray, intercept: np.ndarray
    ) -> np.ndarray:
        """Multinomial scores (n, mc, r) of candidates ``dims`` (mc, s): each column gathered
        once for all r classes (per class, a 17-class probe gathered every column 17 times)."""
        scores = rows_major(x, dims[:, 0])[:, :, None] * coef[None, :, 0, :]
        for position in range(1, dims.shape[1]):
            scores += rows_major(x, dims[:, position])[:, :, None] * coef[None, :, position, :]
        scores += intercept
        return scores

    def _decision_by_candidate(self, x: Rows, dtype: type) -> np.ndarray:
        """Large subsets (the all-dims probe): one GEMM per candidate, ``x[:, S] @ coef``,
        instead of s column gathers (384 strided gathers of an (n, 1) column per class)."""
        outputs = np.empty((x.shape[0], *self.intercept.shape), dtype=dtype)
        for candidate, dims in enumerate(self.dims):
            whole = isinstance(x, np.ndarray) and np.array_equal(dims, np.arange(x.shape[1]))
            columns = (x if whole else rows_major(x, dims)).astype(dtype, copy=False)
            scores = columns @ self.coef[candidate].astype(dtype)  # (n, r)
            scores += self.intercept[candidate].astype(dtype)
            outputs[:, candidate] = scores
        return outputs

    def _decision_shared_prefix(self, x: Rows, dtype: type) -> np.ndarray:
        """Candidates that share all but their last dim (a greedy step): one GEMM for the
        shared columns plus one elementwise term, instead of gathering (n, m, s) columns.

        Computed features-major, (r, m, n), and returned as its (n, m, r) transpose: the
        column cache hands out (u, n) blocks (``rows_major`` returns their transposed
        views), which are read here as they lie instead of copied or strided over
        (measured on a greedy step's pool of 64 on 13,470 rows: 2x less CPU).
        """
        prefix = rows_major(x, self.dims[0, :-1]).T.astype(dtype, copy=False)  # (s-1, n)
        last = rows_major(x, self.dims[:, -1]).T.astype(dtype, copy=False)  # (m, n)
        coef = self.coef.astype(dtype, copy=False)
        intercept = self.intercept.astype(dtype, copy=False)
        n_outputs = coef.shape[2]
        outputs = np.empty((n_outputs, self.dims.shape[0], x.shape[0]), dtype=dtype)
        for output in range(n_outputs):  # r is 1, or the number of classes
            scores = outputs[output]  # (m, n)
            np.matmul(coef[:, :-1, output], prefix, out=scores)
            scores += last * coef[:, -1, output, None]
            scores += intercept[:, output, None]
        return outputs.transpose(2, 1, 0)

    def predict(self, x: Rows, dtype: type = np.float64, compact: bool = False) -> np.ndarray:
        """Predicted labels (int64) or values of every candidate -> (n, m); ``compact``:
        binary labels as bool (half a pass cheaper to score; the metrics accept them)."""
        return predict_from_decision(self.kind, self.decision(x, dtype), compact)


@contextmanager
def solver_warnings() -> Iterator[list[str]]:
    """Collect scikit-learn / SciPy solver warnings raised inside the block, one line each.

    Why: ``ConvergenceWarning`` (L-BFGS or Newton-Cholesky stopped at ``max_iter``, a LARS
    path stopped early) and ``LinAlgWarning`` (an ill-conditioned Hessian) printed as
    multi-line blocks in the middle of a sweep, with advice that names scikit-learn
    arguments a fewdims user cannot pass. The caller records the lines in the result cell's
    details instead; the command line shows one summary line. Other warnings pass through.
    """
    from scipy.linalg import LinAlgWarning
    from sklearn.exceptions import ConvergenceWarning

    collected: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", LinAlgWarning)
        yield collected
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning | LinAlgWarning):
            line = " ".join(str(warning.message).split())
            if line not in collected:
                collected.append(line)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def predict_from_decision(kind: str, decision: np.ndarray, compact: bool = False) -> np.ndarray:
    """(n, m, r) linear scores -> (n, m) labels (classification) or values (regression);
    ``compact`` keeps binary labels as bool instead of int64."""
    if kind == "binary":
        positive = decision[..., 0] > 0
        return positive if compact else positive.astype(np.int64)
    if kind == "multiclass":
        return np.argmax(decision, axis=2)
    return decision[..., 0]


def balanced_class_weight(counts: np.ndarray) -> np.ndarray:
    """scikit-learn's ``class_weight="balanced"`` per class, from class counts (K,) -> (K,).

    ``n / (n_present_classes * count[class])``; 0 for a class with no examples. The one
    definition of the rule: in-memory probes, out-of-core probes (counts of token rows) and
    the fine-tuning loss all use it.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_present = int(np.count_nonzero(counts))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, counts.sum() / (n_present * counts), 0.0)


def balanced_sample_weight(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-example weights equal to scikit-learn's ``class_weight="balanced"`` -> (n,) float64.

    Each class contributes the same total weight, which stops 1–3-dim probes on skewed tasks
    (CoLA) from collapsing to the majority class.
    """
    y = np.asarray(y, dtype=np.int64)
    return balanced_class_weight(np.bincount(y, minlength=n_classes))[y]


def rows_major(x: Rows, dims: np.ndarray) -> np.ndarray:
    """Columns ``dims`` (u,) of ``x`` as (n, u) rows: a new array (or a transposed view of
    one) in ``x``'s dtype, which the caller may overwrite."""
    if isinstance(x, np.ndarray):
        return np.take(x, dims, axis=1)
    return x.rows_major(dims)


def features_major(x: Rows, dims: np.ndarray) -> np.ndarray:
    """Columns ``dims`` (u,) of ``x`` as a contiguous (u, n) float32 array."""
    if isinstance(x, np.ndarray):
        return gather_features_major(x, dims)
    return x.features_major(dims)


def gather_columns(x: Rows, dims: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Columns ``dims`` (m, s) of ``x`` (n, D) as one ``dtype`` array (n, m, s)."""
    dims = np.asarray(dims, dtype=np.int64)
    gathered = rows_major(x, dims.ravel())  # (n, m*s), x's dtype
    return gathered.reshape(x.shape[0], dims.shape[0], dims.shape[1]).astype(dtype, copy=False)


def _design(x: Rows, dims: np.ndarray) -> np.ndarray:
    """Candidate designs ``[x_S; 1]`` -> (m, s+1, n) float32, bias row last.

    Features-major so every candidate's rows are contiguous along examples and the
    per-candidate reductions below stream contiguous rows. Kept in the slice's float32 (the
    values are exact); every reduction that decides the optimum (the gradient) accumulates
    in float64. Each *distinct* column is gathered from the row-major slice once and
    transposed once (or read from a :class:`probe.columns.ColumnView`'s cache); candidates
    then copy whole contiguous rows of that (u, n) block. Why: the strided column gather is
    the slow part, and candidates share most columns (a greedy step's 8 candidates share 15
    of 16 dims; 200 random 16-subsets of 384 dims repeat each dim ~8 times).
    """
    n_rows = x.shape[0]
    n_candidates, size = dims.shape
    design = np.empty((n_candidates, size + 1, n_rows), dtype=np.float32)
    distinct, position = np.unique(dims, return_inverse=True)
    columns = features_major(x, distinct)  # (u, n) float32
    position = position.reshape(n_candidates, size)
    for candidate in range(n_candidates):  # row copies: 1.7x faster than one fancy index
        for column in range(size):
            design[candidate, column] = columns[position[candidate, column]]
    design[:, size, :] = 1.0
    return design


def _chunks(n_candidates: int, per_candidate: int) -> list[tuple[int, int]]:
    step = max(1, DESIGN_BUDGET // max(1, per_candidate))
    return [(start, min(start + step, n_candidates)) for start in range(0, n_candidates, step)]


def _check_labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.size == 0:
        raise ProbeInputError("No training examples: the probe needs at least one row per class.")
    labels = y.astype(np.int64)
    lowest, highest = labels.min(), labels.max()
    if lowest < 0 or highest >= n_classes:
        raise ProbeInputError(
            f"Labels must lie in 0..{n_classes - 1}; got {lowest}..{highest}. "
            "Map labels to integers first (the cache does this for GLUE tasks)."
        )
    if lowest == highest:
        raise ProbeInputError(
            "All training labels are the same class; a probe needs at least two. "
            "Check the split (an unlabeled test split?) or the inner validation fraction."
        )
    return labels


def fit_logistic_subsets(
    x: Rows,
    y: np.ndarray,
    dims: np.ndarray,
    *,
    C: float = 1.0,
    sample_weight: np.ndarray | None = None,
    n_classes: int = 2,
    init: SubsetFit | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> SubsetFit:
    """L2 logistic regression (scikit-learn's objective) on every subset ``dims`` (m, s).

    ``x`` (n, D) float32/float64 rows (or a :class:`probe.columns.ColumnView` of them),
    ``y`` (n,) labels in ``0..n_classes-1``. Binary tasks
    fit one weight vector (like scikit-learn), more classes fit the multinomial model.
    ``init`` warm-starts from an earlier fit of the same subsets (e.g. on a subset of rows).
    """
    labels = _check_labels(y, n_classes)
    dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
    weights = (
        np.ones(labels.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    )
    scaled_weight = C * weights  # (n,)
    n_outputs = 1 if n_classes == 2 else n_classes
    size = dims.shape[1]
    theta = np.zeros((dims.shape[0], size + 1, n_outputs))  # (m, q, r)
    if init is not None:
        theta[:, :size] = init.coef
        theta[:, size] = init.intercept
    newton = _newton_binary if n_classes == 2 else _newton_multinomial
    # BLAS on one thread for the whole fit (set once: a threadpoolctl switch costs ~0.7 ms,
    # as much as a small fit's Hessian)
    with _thread_controller().limit(limits=1, user_api="blas"):
        for start, stop in _chunks(dims.shape[0], labels.size * (size + 1)):
            design = _design(x, dims[start:stop])
            theta[start:stop] = newton(
                design, labels, scaled_weight, theta[start:stop], max_iter, tol
            )
    kind = "binary" if n_classes == 2 else "multiclass"
    return SubsetFit(kind, dims, theta[:, :size].copy(), theta[:, size].copy())


def _penalty_mask(n_params: int) -> np.ndarray:
    mask = np.ones(n_params)
    mask[-1] = 0.0  # the intercept is not penalised
    return mask


def _converged(step: np.ndarray, theta: np.ndarray, tol: float) -> bool:
    return bool(np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(theta))))


def _converged_rows(step: np.ndarray, theta: np.ndarray, tol: float) -> np.ndarray:
    """Per candidate (rows of (m, p) arrays): has its Newton step fallen below ``tol``?"""
    return np.abs(step).max(axis=1) <= tol * (1.0 + np.abs(theta).max(axis=1))


@functools.cache
def _thread_controller() -> Any:
    """One threadpoolctl controller per process: building one scans the loaded libraries
    (~6 ms), too slow to repeat for every Newton iteration."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _weighted_gram(design32: np.ndarray, curvature32: np.ndarray) -> np.ndarray:
    """Per-candidate ``X diag(c) X'``: (m, q, n) float32 designs, (m, n) weights -> (m, q, q) float64.

    Not one batched matmul: OpenBLAS runs each thin (q x n)(n x q) product of a stack slowly
    (measured 10x slower than einsum at q = 17). For small q einsum's own loops win; from
    ``SYRK_MIN_PARAMS`` on, one single-threaded BLAS ``syrk`` per candidate (m is a re-fit
    shortlist, at most tens) is 2.6x faster than einsum. Single-threaded on purpose (the
    caller limits BLAS for the whole fit): on a busy machine two spinning BLAS threads made
    these small products 10x slower.
    """
    n_params = design32.shape[1]
    if n_params < SYRK_MIN_PARAMS:
        weighted = design32 * curvature32[:, None, :]
        return np.einsum("mqn,mpn->mqp", weighted, design32).astype(np.float64)
    scaled = design32 * np.sqrt(curvature32)[:, None, :]  # (m, q, n)
    gram = np.empty((design32.shape[0], n_params, n_params), dtype=np.float32)
    for candidate in range(design32.shape[0]):  # BLAS on one thread: see fit_logistic_subsets
        rows = scaled[candidate]
        np.matmul(rows, rows.T, out=gram[candidate])  # numpy calls syrk for a @ a.T
    return gram.astype(np.float64)


def _scores(design32: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Linear scores ``theta . design`` per candidate: (m, q, n), (m, q) -> (m, n) float64.

    One float32 einsum pass: a float64 einsum would first cast the whole design to float64
    (a copy as large as the design, per call), and a batched BLAS matmul of (1, q) rows
    spins a second BLAS thread that a busy laptop does not have (measured 10x slower in
    CPU time under load). Rounding ``theta`` to float32 perturbs each score by ~1e-7
    relative, at random per iteration; the optimum is fixed by the float64-accumulated
    gradient, so it does not move.
    """
    return np.einsum("mq,mqn->mn", theta.astype(np.float32), design32).astype(np.float64)


def _sigmoid_inplace(eta: np.ndarray) -> np.ndarray:
    """``expit(eta)`` as ``0.5 + 0.5 tanh(eta / 2)``, overwriting ``eta``: numpy's tanh is
    vectorised, scipy's expit loops per element (measured 2x slower); no overflow."""
    eta *= 0.5
    np.tanh(eta, out=eta)
    eta *= 0.5
    eta += 0.5
    return eta


def _binary_derivatives(
    design32: np.ndarray, labels32: np.ndarray, weight32: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (m, q) and Hessian (m, q, q) float64 of the weighted logistic loss at
    ``theta`` (m, q), penalty not included, in one pass over the (m, q, n) designs.

    Why one pass in row blocks: the scores, probabilities, residuals and curvatures of a
    block (about ``NEWTON_BLOCK`` values) stay in cache from the score product to the
    Hessian, instead of streaming five (m, n) float64 arrays through memory per Newton
    iteration (measured 2.8x faster at m = 50 pairs, n = 54,000). Scores, probabilities
    and curvatures are float32, as the design is (the residuals were rounded to float32 for
    the gradient product before too); the gradient is accumulated in float64 (its accuracy
    fixes the optimum: measured within 7e-8 of a float64 Newton's, 9e-8 before), the
    Hessian in float32 per block (it only steers the step).
    """
    n_candidates, n_params, n_rows = design32.shape
    theta32 = theta.astype(np.float32)
    gradient = np.zeros((n_candidates, n_params))
    hessian = np.zeros((n_candidates, n_params, n_params))
    fewest, most = NEWTON_BLOCK_ROWS
    block_rows = min(most, max(fewest, NEWTON_BLOCK // (n_candidates * n_params)))
    for start in range(0, n_rows, block_rows):
        rows = slice(start, start + block_rows)
        block = design32[:, :, rows]
        prob = _sigmoid_inplace(np.einsum("mq,mqn->mn", theta32, block))  # (m, b)
        residual = prob - labels32[rows]
        residual *= weight32[rows]
        gradient += np.einsum("mqn,mn->mq", block, residual, dtype=np.float64)
        curvature = np.subtract(1.0, prob, out=residual)  # reuse the buffer
        curvature *= prob
        curvature *= weight32[rows]
        hessian += _weighted_gram(block, curvature)
    return gradient, hessian


def _newton_binary(
    design: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray,
    theta: np.ndarray,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """Damped Newton on (m, q, n) float32 designs; ``theta`` (m, q, 1) -> converged (m, q, 1)."""
    batch = _DesignBatch(design, labels, weight)
    converged = binary_newton(
        batch.derivatives,
        batch.designs,
        np.abs(design).max(axis=2).astype(np.float64),
        labels,
        weight,
        theta[..., 0],
        max_iter=max_iter,
        tol=tol,
        narrow=batch.narrow,
    )
    return converged[..., None]


class _DesignBatch:
    """The designs of the candidates :func:`binary_newton` is still moving.

    Each leaves the batch once its own step has converged, so later passes read only the
    others' rows: the last pass of a batch typically moves a fraction of it (a quarter of
    the 200 random 16-dim draws of a MiniLM SST-2 slice).
    """

    def __init__(self, design: np.ndarray, labels: np.ndarray, weight: np.ndarray) -> None:
        self.design = design  # (m, q, n) float32
        self.labels32, self.weight32 = labels.astype(np.float32), weight.astype(np.float32)

    def derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _binary_derivatives(self.design, self.labels32, self.weight32, theta)

    def designs(self, rows: np.ndarray) -> np.ndarray:
        return self.design[rows]

    def narrow(self, keep: np.ndarray) -> None:
        self.design = self.design[keep]


def binary_newton(
    derivatives: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    design_of: Callable[[np.ndarray], np.ndarray],
    column_reach: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray,
    theta: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    narrow: Callable[[np.ndarray], None] | None = None,
) -> np.ndarray:
    """Damped Newton for the weighted binary logistic loss of ``m`` candidates, whatever
    layout their data has; ``theta`` (m, q), intercept last -> converged (m, q).

    ``derivatives(theta)`` returns the loss's gradient (m, q), accumulated in float64 (its
    accuracy fixes the optimum), and Hessian (m, q, q) (it only steers the step), penalty
    not included; ``design_of(rows)`` the (k, q, n) float32 designs of candidates ``rows``
    (only for damping, rare); ``column_reach`` (m, q) the largest |value| per design row.
    Once a step is below ``sqrt(tol)`` the next would be below ~``tol`` (quadratic
    convergence), so the loop stops without paying for that confirming iteration.

    ``narrow``: where the caller can drop candidates, each stops by its own step (relative
    to its own parameters) and ``narrow(keep)`` is told which of the current batch go on
    (a boolean mask), after which ``derivatives`` and ``design_of`` answer for those alone.
    Without it every candidate iterates until the last one has converged.
    """
    theta = theta.copy()
    n_params = theta.shape[1]
    mask = _penalty_mask(n_params)
    labels_f = labels.astype(np.float64)

    def objective_of(eta: np.ndarray, t: np.ndarray) -> np.ndarray:
        # log(1 + e^eta) as max(eta, 0) + log1p(e^-|eta|): numpy vectorises exp and log1p,
        # while its logaddexp loops per element (3x slower, equal to 1 ulp)
        loss = np.log1p(np.exp(-np.abs(eta)))
        loss += np.maximum(eta, 0.0)
        loss -= labels_f * eta  # (m, n)
        return loss @ weight + 0.5 * (t**2) @ mask

    moving = np.arange(theta.shape[0])  # the candidates still iterating
    current, reach = theta.copy(), column_reach  # their parameters and column reach
    objective = np.full(theta.shape[0], np.nan)  # their known objective values, for damping

    def converged(step: np.ndarray, params: np.ndarray, tolerance: float) -> np.ndarray:
        """Which candidates are done: each by its own step where the batch can narrow, else
        all or none (the batch's largest step decides)."""
        if narrow is not None:
            return _converged_rows(step, params, tolerance)
        return np.full(step.shape[0], _converged(step, params, tolerance))

    def keep_moving(done: np.ndarray) -> bool:
        """Drop the candidates ``done``; False when none is left."""
        nonlocal moving, current, reach, objective
        if done.any():
            keep = ~done
            moving, current, reach, objective = (
                moving[keep],
                current[keep],
                reach[keep],
                objective[keep],
            )
            if moving.size and narrow is not None:
                narrow(keep)
        return bool(moving.size)

    for _ in range(max_iter):
        gradient, hessian = derivatives(current)
        gradient += mask * current
        hessian[:, np.arange(n_params), np.arange(n_params)] += mask
        hessian[:, -1, -1] += 1e-12 * (1.0 + hessian[:, -1, -1])
        step = -np.linalg.solve(hessian, gradient[..., None])[..., 0]
        done = converged(step, current, tol)
        step = step[~done]
        if not keep_moving(done):
            break
        current = _damped_binary_step(design_of, current, step, objective_of, reach, objective)
        theta[moving] = current
        if not keep_moving(converged(step, current, np.sqrt(tol))):
            break
    return theta


def _damped_binary_step(
    design_of: Callable[[np.ndarray], np.ndarray],
    theta: np.ndarray,
    step: np.ndarray,
    objective_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    column_reach: np.ndarray,
    objective: np.ndarray,
) -> np.ndarray:
    """``theta + step``, damped by :func:`_damped_update` only for the candidates whose
    scores could move more than ``SAFE_ETA_STEP`` (bounded without a data pass); their
    designs and scores are built for that alone, since the Newton loop keeps none between
    passes. ``objective`` (m,) is updated in place as :func:`_damped_update` describes."""
    bound = np.einsum("mq,mq->m", np.abs(step), column_reach)
    new_theta = theta + step
    risky = np.flatnonzero(bound > SAFE_ETA_STEP)
    known = np.full(objective.shape, np.nan)
    if risky.size:
        rows = design_of(risky)  # (k, q, n): the few candidates far from their optimum
        risky_objective = objective[risky]
        new_theta[risky], _ = _damped_update(
            rows,
            theta[risky],
            _scores(rows, theta[risky]),
            step[risky],
            objective_of,
            _scores,
            SAFE_ETA_STEP,
            column_reach[risky],
            risky_objective,
        )
        known[risky] = risky_objective
    objective[:] = known
    return new_theta


def _newton_multinomial(
    design: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray,
    theta: np.ndarray,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """Damped Newton for the softmax model; ``theta`` (m, q, c) -> converged (m, q, c).

    With unpenalised intercepts the objective is flat along "add a constant to every
    class's intercept", so the Hessian is singular there; a 1e-10-relative ridge on the
    intercept block picks a direction without moving the optimum (predictions and the
    objective do not depend on that constant).
    """
    n_candidates, n_features, n_classes = theta.shape
    n_params = n_features * n_classes
    onehot_t = np.eye(n_classes)[labels].T  # (c, n)
    flat = theta.transpose(0, 2, 1).reshape(n_candidates, n_params).copy()  # class-major
    mask = np.tile(_penalty_mask(n_features), n_classes)
    column_reach = np.abs(design).max(axis=2).astype(np.float64)  # (m, q)

    def eta_of(design_rows: np.ndarray, flat_theta: np.ndarray) -> np.ndarray:
        per_class = flat_theta.reshape(flat_theta.shape[0], n_classes, n_features)
        # a batched BLAS matmul (the fit runs BLAS on one thread): 3x faster than einsum's
        # loops on the mixed float64 x float32 operands
        return np.matmul(per_class, design_rows)  # (m, c, n)

    label_rows = labels[None, None, :]  # (1, 1, n): each row's class, for take_along_axis

    def objective_of(eta: np.ndarray, flat_theta: np.ndarray) -> np.ndarray:
        picked = np.take_along_axis(eta, label_rows, axis=1)[:, 0]  # (m, n) true-class scores
        loss = _logsumexp_classes(eta)[:, 0] - picked
        return loss @ weight + 0.5 * (flat_theta**2) @ mask

    # Candidates leave the batch as they converge (the arrays below hold the moving ones):
    # a converged candidate's further steps would change nothing, and a quarter of the
    # candidate-iterations of a UPOS sweep were such steps.
    moving = np.arange(n_candidates)
    theta_moving = flat.copy()
    eta = eta_of(design, theta_moving)
    objective = np.full(n_candidates, np.nan)  # known objective values, for damping
    intercepts = np.arange(n_features - 1, n_params, n_features)
    for _ in range(max_iter):
        prob = np.exp(eta - _logsumexp_classes(eta))  # (m, c, n)
        residual = (prob - onehot_t) * weight  # (m, c, n)
        gradient = np.matmul(residual, design.transpose(0, 2, 1))  # (m, c, q), BLAS as above
        gradient = gradient.reshape(moving.size, n_params)
        gradient += mask * theta_moving
        hessian = _multinomial_hessian(design, prob, weight)
        hessian[:, np.arange(n_params), np.arange(n_params)] += mask
        scale = np.abs(hessian[:, intercepts, intercepts]).max(axis=1, keepdims=True)
        hessian[:, intercepts, intercepts] += 1e-10 * (1.0 + scale)
        step = -np.linalg.solve(hessian, gradient[..., None])[..., 0]
        stepping = ~_converged_rows(step, theta_moving, tol)  # the others are done as they are
        if not stepping.all():
            flat[moving[~stepping]] = theta_moving[~stepping]
            moving, theta_moving, eta, step = (
                moving[stepping],
                theta_moving[stepping],
                eta[stepping],
                step[stepping],
            )
            design, column_reach, objective = (
                design[stepping],
                column_reach[stepping],
                objective[stepping],
            )
            if not moving.size:
                break
        theta_moving, eta = _damped_update(
            design,
            theta_moving,
            eta,
            step,
            objective_of,
            eta_of,
            SAFE_ETA_STEP / 2,
            column_reach,
            objective,
        )
        flat[moving] = theta_moving
        # below sqrt(tol), the next step would be below ~tol (quadratic convergence): done
        still = ~_converged_rows(step, theta_moving, np.sqrt(tol))
        if not still.all():
            moving, theta_moving, eta = moving[still], theta_moving[still], eta[still]
            design, column_reach, objective = design[still], column_reach[still], objective[still]
            if not moving.size:
                break
    return flat.reshape(n_candidates, n_classes, n_features).transpose(0, 2, 1)


def _logsumexp_classes(eta: np.ndarray) -> np.ndarray:
    """log sum_c exp(eta) over axis 1 of (m, c, n) -> (m, 1, n), shifted by the max.

    scipy's ``logsumexp`` does the same with array-API checks that cost 5-10x more on these
    (m, c, n) blocks (measured: 2 s vs 0.2 s at m=50, c=17, n=20,000).
    """
    peak = eta.max(axis=1, keepdims=True)
    total = np.exp(eta - peak).sum(axis=1, keepdims=True)
    return peak + np.log(total)


@functools.cache
def _hessian_layout(n_features: int, n_classes: int) -> tuple[np.ndarray, ...]:
    """Index arrays that scatter (class pair, feature pair) products into the Hessian.

    Class-major parameters: ``k * q + a`` is class k's weight on design row a. Returns
    (feature pairs a, b), (class pairs k, j) and, for every (class pair, feature pair)
    value, the four Hessian cells it fills (the blocks are symmetric and H is symmetric).
    """
    first, second = np.triu_indices(n_features)
    class_k, class_j = np.triu_indices(n_classes)
    rows_kj = (class_k[:, None] * n_features + first[None, :]).ravel()
    cols_kj = (class_j[:, None] * n_features + second[None, :]).ravel()
    rows_kj_swap = (class_k[:, None] * n_features + second[None, :]).ravel()
    cols_kj_swap = (class_j[:, None] * n_features + first[None, :]).ravel()
    return first, second, class_k, class_j, rows_kj, cols_kj, rows_kj_swap, cols_kj_swap


def _multinomial_hessian(design32: np.ndarray, prob: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Softmax-loss Hessians of every candidate: (m, q, n) designs, (m, c, n) probabilities.

    ``H[(k,a),(j,b)] = sum_i w_i p_ik (delta_kj - p_ij) x_ia x_ib``. Computed as one float32
    GEMM per candidate, (class pairs x rows) @ (rows x feature pairs): c(c+1)/2 x n times
    n x q(q+1)/2, instead of c(c+1)/2 separate weighted Grams (the curvature weights of the
    off-diagonal blocks are negative, so they cannot be square-rooted into one syrk each;
    and 153 small products for c = 17 cost more in overhead than in arithmetic). The GEMM's
    operands are built and multiplied ``HESSIAN_ROWS`` rows at a time: whole-row (153, n)
    temporaries do not fit in cache, and building them cost twice the GEMM (blocked: 2.8x
    faster per candidate at c = 17, q = 9, n = 20,000; the block sums add in float64).
    Returns (m, c*q, c*q) float64.
    """
    n_candidates, n_features, n_rows = design32.shape
    n_classes = prob.shape[1]
    first, second, class_k, class_j, rows, cols, rows_swap, cols_swap = _hessian_layout(
        n_features, n_classes
    )
    n_params = n_features * n_classes
    hessian = np.empty((n_candidates, n_params, n_params))
    weight32 = weight.astype(np.float32)
    same_class = (class_k == class_j).astype(np.float32)[:, None]  # (c(c+1)/2, 1)
    # BLAS is already limited to one thread for the whole fit (fit_logistic_subsets)
    for candidate in range(n_candidates):
        design = design32[candidate].astype(np.float32, copy=False)
        p = prob[candidate].astype(np.float32)
        values = np.zeros((class_k.size, first.size))  # float64 sum of the row blocks
        for start in range(0, n_rows, HESSIAN_ROWS):
            block_rows = slice(start, start + HESSIAN_ROWS)
            products = design[first, block_rows] * design[second, block_rows]  # (q(q+1)/2, b)
            weighted = np.take(p[:, block_rows], class_k, axis=0)  # (c(c+1)/2, b)
            weighted *= weight32[block_rows]
            share = np.take(p[:, block_rows], class_j, axis=0)
            np.subtract(same_class, share, out=share)
            weighted *= share
            values += weighted @ products.T
        values = values.ravel()  # (c(c+1)/2 * q(q+1)/2,)
        block = hessian[candidate]
        block[rows, cols] = values
        block[cols, rows] = values
        block[rows_swap, cols_swap] = values
        block[cols_swap, rows_swap] = values
    return hessian


def _damped_update(
    design: np.ndarray,
    theta: np.ndarray,
    eta: np.ndarray,
    step: np.ndarray,
    objective_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    eta_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    safe_eta_step: float,
    column_reach: np.ndarray,
    objective: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Take the Newton ``step``; damp (halve) it only where a full step could go uphill.

    Why no line search in general: the logistic loss is generalised self-concordant (its
    third derivative is bounded by its second), so if no example's score moves by more than
    about 1.59 the full Newton step provably lowers the objective. Only candidates whose
    scores move further than ``safe_eta_step`` (halved for softmax, whose bound is twice as
    loose) pay for objective evaluations and step halving. Scores are linear in ``theta``,
    so trial points cost no matmul. ``column_reach`` (m, q) = max |x| per design row bounds
    the score change of a step without touching the data. ``objective`` (m,) holds the
    objective at ``theta`` where a previous call computed it (NaN elsewhere) and is updated
    in place for the new ``theta``: a candidate damped twice in a row then pays for one
    objective pass per iteration, not two. Returns the new ``theta`` and scores ``eta``.

    Shapes (m candidates, q design columns, r = classes or 1): ``theta`` and ``step``
    (m, r * q); ``eta`` (m, n) or (m, c, n) scores = ``eta_of(design, theta)``;
    ``objective_of(eta, theta)`` → (m,) objective values; ``objective`` (m,). A numeric
    kernel: its nine positional arrays are one batched solve (allowed in the
    positional-parameter scan).
    """
    new_theta = theta + step
    # |change of any score| <= sum_j |step_kj| * max_i |x_ij|: checked without a data pass
    per_class_step = np.abs(step.reshape(step.shape[0], -1, column_reach.shape[1]))  # (m, r, q)
    bound = np.einsum("mkq,mq->mk", per_class_step, column_reach).max(axis=1)
    if np.all(bound <= safe_eta_step):
        objective[:] = np.nan
        return new_theta, eta_of(design, new_theta)
    delta = eta_of(design, step)  # (m, n) or (m, c, n)
    new_eta = eta + delta
    reach = np.abs(delta.reshape(delta.shape[0], -1)).max(axis=1)
    risky = np.flatnonzero(reach > safe_eta_step)
    if risky.size == 0:
        objective[:] = np.nan
        return new_theta, new_eta
    old_objective = objective[risky]
    unknown = np.isnan(old_objective)
    if unknown.any():
        old_objective[unknown] = objective_of(eta[risky[unknown]], theta[risky[unknown]])
    trial_objective = old_objective.copy()
    scale = np.ones(risky.size)
    accepted = np.zeros(risky.size, dtype=bool)
    for _ in range(40):
        pending = np.flatnonzero(~accepted)
        rows = risky[pending]
        trial_eta = eta[rows] + _expand(scale[pending], delta.ndim) * delta[rows]
        trial_theta = theta[rows] + scale[pending, None] * step[rows]
        values = objective_of(trial_eta, trial_theta)
        better = values <= old_objective[pending]
        accepted[pending[better]] = True
        trial_objective[pending[better]] = values[better]
        if accepted.all():
            break
        scale[pending[~better]] *= 0.5
    scale[~accepted] = 0.0  # no decrease even for tiny steps: already optimal to rounding
    new_theta[risky] = theta[risky] + scale[:, None] * step[risky]
    new_eta[risky] = eta[risky] + _expand(scale, delta.ndim) * delta[risky]
    objective[:] = np.nan
    objective[risky] = trial_objective  # the same expressions as new_theta / new_eta above
    return new_theta, new_eta


def _expand(scale: np.ndarray, ndim: int) -> np.ndarray:
    return scale.reshape((-1,) + (1,) * (ndim - 1))


def fit_ridge_subsets(
    x: Rows,
    y: np.ndarray,
    dims: np.ndarray,
    *,
    alpha: float = 1.0,
    sample_weight: np.ndarray | None = None,
) -> SubsetFit:
    """Ridge regression (scikit-learn's ``Ridge`` objective) on every subset ``dims`` (m, s).

    Closed form: centre with the (weighted) means, solve ``(Xc' S Xc + alpha I) w = Xc' S yc``
    for all candidates as one stacked solve.
    """
    dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
    target = np.asarray(y, dtype=np.float64)
    weights = (
        np.ones(target.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    )
    total = weights.sum()
    target_mean = weights @ target / total
    size = dims.shape[1]
    coef = np.empty((dims.shape[0], size, 1))
    intercept = np.empty((dims.shape[0], 1))
    for start, stop in _chunks(dims.shape[0], target.size * max(1, size)):
        columns = gather_columns(x, dims[start:stop])  # (n, mc, s)
        means = np.einsum("n,nms->ms", weights, columns) / total
        columns -= means[None]
        weighted = columns * weights[:, None, None]
        gram = np.einsum("nms,nmt->mst", weighted, columns)
        gram[:, np.arange(size), np.arange(size)] += alpha
        cross = np.einsum("nms,n->ms", weighted, target - target_mean)
        solution = np.linalg.solve(gram, cross[..., None])  # (mc, s, 1)
        coef[start:stop] = solution
        intercept[start:stop, 0] = target_mean - np.einsum("ms,ms->m", means, solution[..., 0])
    return SubsetFit("regression", dims, coef, intercept)


def fit_full(
    x: np.ndarray,
    y: np.ndarray,
    *,
    kind: str,
    C: float = 1.0,
    alpha: float = 1.0,
    sample_weight: np.ndarray | None = None,
    n_classes: int = 2,
    init: SubsetFit | None = None,
    max_iter: int = 1000,
) -> SubsetFit:
    """The all-dimensions probe, fitted by scikit-learn itself (same objective as above).

    Solver by cost: ``newton-cholesky`` when one (D x D) Hessian is cheap (n * D^2 <=
    ``NEWTON_CHOLESKY_FLOPS``: small training sets, where high-C fits of nearly separable
    data take L-BFGS hundreds of iterations), else ``lbfgs`` (which keeps float32 input in
    float32, so the slice is not copied). ``init`` warm-starts from an earlier fit (the next
    C of a grid, or the refit on all rows). scikit-learn's OpenMP loss loops and BLAS run on
    one thread: their threads spin-wait, and on a busy laptop that made a 1,600 x 384 L-BFGS
    fit 25x slower (0.6 s vs 0.023 s measured), and the (17, n) x (n, 384) gradient GEMM of a
    UPOS probe 80x slower (0.64 s vs 0.0076 s, load ~5), while one thread loses at most 2x
    when idle (and a sweep runs its groups in parallel anyway).
    Returned as a one-candidate :class:`SubsetFit` over ``dims = arange(D)``; a solver that
    stopped before converging (or met an ill-conditioned Hessian) is recorded, one line per
    warning, in its ``solver_warnings`` instead of printed.
    """
    from sklearn.linear_model import LogisticRegression, Ridge

    n_rows, n_dims = x.shape
    dims = np.arange(n_dims, dtype=np.int64)[None, :]
    if kind == "regression":
        with solver_warnings() as caught:
            model = Ridge(alpha=alpha).fit(
                x, np.asarray(y, np.float64), sample_weight=sample_weight
            )
        coef = np.asarray(model.coef_, np.float64).reshape(1, n_dims, 1)
        return SubsetFit(kind, dims, coef, np.array([[float(model.intercept_)]]), caught)
    labels = _check_labels(y, n_classes)
    cheap_hessian = (
        n_rows * (n_dims * (1 if n_classes == 2 else n_classes)) ** 2 <= NEWTON_CHOLESKY_FLOPS
    )
    model = LogisticRegression(
        C=C,
        solver="newton-cholesky" if cheap_hessian else "lbfgs",
        max_iter=max_iter,
        warm_start=init is not None,
    )
    if init is not None:  # scikit-learn's warm start reads these attributes
        model.coef_ = init.coef[0].T.copy()
        model.intercept_ = init.intercept[0].copy()
    with _thread_controller().limit(limits=1), solver_warnings() as caught:
        model.fit(x, labels, sample_weight=sample_weight)
    if list(model.classes_) != list(range(n_classes)):
        raise ProbeInputError(
            f"The training rows hold classes {list(model.classes_)}, expected 0..{n_classes - 1}; "
            "every class needs training examples."
        )
    coef = np.asarray(model.coef_, np.float64).T[None]  # (1, D, r)
    return SubsetFit(kind, dims, coef, np.asarray(model.intercept_, np.float64)[None], caught)
