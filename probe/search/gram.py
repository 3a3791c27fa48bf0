"""The closed-form screen: every candidate subset scored from two Gram matrices.

Why it works: for logistic regression, the first Newton step from ``w = 0`` is a weighted
ridge regression on the working response ``4 (y - 1/2) = ±2`` with penalty ``4 / C`` (the
IRLS weights are all 1/4 there); for multiclass tasks we take that step one-vs-rest (one
target column per class); for ridge regression the "screen" *is* the exact probe. A ridge
fit on a column subset ``S`` needs only ``A[S, S]`` and ``b[S]``, where::

    A = sum_i s_i (x_i - mu)(x_i - mu)' + lambda I      (D, D), fit rows, weighted centring
    b = sum_i s_i (x_i - mu)(t_i - t_mean)'             (D, r)

so one GEMM over the fit rows prices every subset. Its out-of-sample quality, the weighted
squared error on the validation rows, is a quadratic form in the same way, from the
validation Gram ``Gv`` and cross-moments ``Bv`` — again one GEMM, and no pass over the data
per candidate.

Candidates are scored as *extensions* of a fixed set ``F`` (empty for singles and pairs, one
dim per block of triples, the current set for a greedy step) by ``p`` in {1, 2} new dims:
the fixed dims are eliminated once (a Schur complement, ``t * D^2``), after which every
candidate is an explicit 1x1 or 2x2 solve — elementwise numpy over all candidates. The
weighted intercept decouples because it is unpenalised.

Criterion: validation weighted squared error of the screen model, lower is better. The
search methods keep a pool of the best by this criterion, score the pool by the task's
metric, and re-fit the best exactly (``probe.search.select``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probe.linear import SubsetFit
from probe.search.problem import ROW_BLOCK, Problem


@dataclass
class GramScreen:
    """Moments of the screen model; shapes below, float64 throughout.

    ``fit_gram`` (D, D) = A (ridge already on the diagonal); ``fit_cross`` (D, r) = b;
    ``center`` (D,) weighted fit mean mu; ``target_mean`` (r,); ``val_gram`` (D, D) and
    ``val_cross`` (D, r) centred on mu / t_mean; ``val_total`` = sum s_v |t_v - t_mean|^2;
    ``ridge`` the penalty already added to ``fit_gram``'s diagonal.
    """

    kind: str
    fit_gram: np.ndarray
    fit_cross: np.ndarray
    center: np.ndarray
    target_mean: np.ndarray
    val_gram: np.ndarray
    val_cross: np.ndarray
    val_total: float
    ridge: float

    @classmethod
    def for_problem(cls, problem: Problem) -> GramScreen:
        """Build (or fetch from ``problem.memo``) the screen of this problem."""
        if "gram_screen" not in problem.memo:
            problem.memo["gram_screen"] = cls.build(problem)
        return problem.memo["gram_screen"]

    @classmethod
    def build(cls, problem: Problem) -> GramScreen:
        weight_fit = _weights(problem, problem.y_fit)
        weight_val = _weights(problem, problem.y_val)
        targets_fit = screen_targets(problem.kind, problem.n_classes, problem.y_fit)
        targets_val = screen_targets(problem.kind, problem.n_classes, problem.y_val)
        return cls.from_moments(
            problem.kind,
            weighted_moments(problem.x_fit, weight_fit, targets_fit),
            weighted_moments(problem.x_val, weight_val, targets_val),
            screen_ridge(problem.kind, problem.C, problem.alpha),
        )

    @classmethod
    def for_rows(
        cls, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, C: float
    ) -> GramScreen:
        """The binary screen of rows ``x`` (n, D) / labels ``y`` (n,) alone, for warm starts.

        Its models are the first Newton step from zero of each subset's logistic probe on
        these rows, so exact fits that start there skip the pass computing that step. There
        are no validation rows: the criterion is not used, the fit moments stand in for them.
        """
        weight = np.ones(len(y)) if sample_weight is None else sample_weight
        raw = weighted_moments(x, weight, screen_targets("binary", 2, y))
        return cls.from_moments("binary", raw, raw, screen_ridge("binary", C, 0.0))

    @classmethod
    def from_moments(
        cls, kind: str, raw_fit: RawMoments, raw_val: RawMoments, ridge: float
    ) -> GramScreen:
        """The screen from summed moments: rows may have been read in any number of chunks.

        This is what lets ``probe.outofcore`` screen a slice larger than memory: moments of
        row chunks add up, and nothing below needs a row.
        """
        total_fit = raw_fit.total
        center = raw_fit.first / total_fit  # (D,)
        target_mean = raw_fit.target_sum / total_fit  # (r,)
        fit_gram = raw_fit.gram - total_fit * np.outer(center, center)
        fit_gram[np.diag_indices_from(fit_gram)] += ridge
        fit_cross = raw_fit.cross - total_fit * np.outer(center, target_mean)
        total_val = raw_val.total
        val_gram = (
            raw_val.gram
            - np.outer(raw_val.first, center)
            - np.outer(center, raw_val.first)
            + total_val * np.outer(center, center)
        )
        val_cross = (
            raw_val.cross
            - np.outer(raw_val.first, target_mean)
            - np.outer(center, raw_val.target_sum)
            + total_val * np.outer(center, target_mean)
        )
        # sum_v s_v |t_v - t_mean|^2, expanded so it needs only sums over the rows
        val_total = float(
            raw_val.target_square
            - 2.0 * target_mean @ raw_val.target_sum
            + total_val * target_mean @ target_mean
        )
        return cls(
            kind, fit_gram, fit_cross, center, target_mean, val_gram, val_cross, val_total, ridge
        )

    @property
    def n_dims(self) -> int:
        return int(self.fit_gram.shape[0])

    def extend(self, fixed: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Screen-fit ``fixed`` (t,) + each row of ``candidates`` (m, p), p in {1, 2}.

        Returns ``coef`` (m, t+p, r) in the order fixed dims then candidate dims, and the
        validation criterion (m,) (weighted squared error; lower is better).
        """
        fixed = np.asarray(fixed, dtype=np.int64).reshape(-1)
        candidates = np.asarray(candidates, dtype=np.int64)
        gram, cross = self.fit_gram, self.fit_cross
        n_fixed = fixed.size
        if n_fixed:
            gram_fixed = gram[fixed]  # (t, D)
            fixed_block = gram_fixed[:, fixed]  # (t, t)
            eliminator = np.linalg.solve(fixed_block, gram_fixed)  # Z (t, D)
            fixed_solution = np.linalg.solve(fixed_block, cross[fixed])  # u (t, r)
            reduced_diag = np.diag(gram) - np.einsum("td,td->d", gram_fixed, eliminator)
            reduced_cross = cross - gram_fixed.T @ fixed_solution  # (D, r)
        else:
            reduced_diag = np.diag(gram).copy()
            reduced_cross = cross
        first = candidates[:, 0]
        if candidates.shape[1] == 1:
            new_coef = (reduced_cross[first] / reduced_diag[first][:, None])[
                :, None, :
            ]  # (m, 1, r)
        elif candidates.shape[1] == 2:
            second = candidates[:, 1]
            off = gram[first, second]
            if n_fixed:
                off = off - np.einsum("tm,tm->m", gram_fixed[:, first], eliminator[:, second])
            diag_first = reduced_diag[first]
            diag_second = reduced_diag[second]
            inverse_det = 1.0 / (diag_first * diag_second - off * off)
            cross_first = reduced_cross[first]
            cross_second = reduced_cross[second]
            coef_first = (
                diag_second[:, None] * cross_first - off[:, None] * cross_second
            ) * inverse_det[:, None]
            coef_second = (
                diag_first[:, None] * cross_second - off[:, None] * cross_first
            ) * inverse_det[:, None]
            new_coef = np.stack([coef_first, coef_second], axis=1)  # (m, 2, r)
        else:
            raise ValueError("extend() adds one or two dims per candidate")
        if n_fixed:
            # w_F = u - Z[:, P] w_P for every candidate
            fixed_coef = fixed_solution[None] - np.einsum(
                "tmp,mpr->mtr", eliminator[:, candidates], new_coef
            )
            coef = np.concatenate([fixed_coef, new_coef], axis=1)
        else:
            coef = new_coef
        return coef, self._criterion(fixed, candidates, coef)

    def _criterion(self, fixed: np.ndarray, candidates: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """Validation weighted squared error of each candidate's screen model -> (m,)."""
        n_fixed = fixed.size
        fixed_coef, new_coef = coef[:, :n_fixed], coef[:, n_fixed:]
        val_gram, val_cross = self.val_gram, self.val_cross
        linear = np.einsum("mpr,mpr->m", new_coef, val_cross[candidates])
        first = candidates[:, 0]
        quad = val_gram[first, first] * np.einsum("mr,mr->m", new_coef[:, 0], new_coef[:, 0])
        if candidates.shape[1] == 2:
            second = candidates[:, 1]
            quad += val_gram[second, second] * np.einsum("mr,mr->m", new_coef[:, 1], new_coef[:, 1])
            quad += (
                2 * val_gram[first, second] * np.einsum("mr,mr->m", new_coef[:, 0], new_coef[:, 1])
            )
        if n_fixed:
            linear += np.einsum("mtr,tr->m", fixed_coef, val_cross[fixed])
            quad += np.einsum(
                "mtr,ts,msr->m", fixed_coef, val_gram[np.ix_(fixed, fixed)], fixed_coef
            )
            cross_term = np.einsum("tmp,mpr->mtr", val_gram[fixed][:, candidates], new_coef)
            quad += 2 * np.einsum("mtr,mtr->m", fixed_coef, cross_term)
        return self.val_total - 2 * linear + quad

    def solve(self, dims: np.ndarray) -> np.ndarray:
        """Screen coefficients (m, s, r) for arbitrary subsets ``dims`` (m, s) (stacked solve)."""
        dims = np.asarray(dims, dtype=np.int64)
        gram = self.fit_gram[dims[:, :, None], dims[:, None, :]]  # (m, s, s)
        return np.linalg.solve(gram, self.fit_cross[dims])

    def subset_fit(self, dims: np.ndarray, coef: np.ndarray) -> SubsetFit:
        """Screen models as a :class:`SubsetFit` (predictable, and a warm start for Newton)."""
        dims = np.asarray(dims, dtype=np.int64)
        intercept = self.target_mean[None, :] - np.einsum("ms,msr->mr", self.center[dims], coef)
        return SubsetFit(self.kind, dims, coef, intercept)


def screen_targets(kind: str, n_classes: int, labels: np.ndarray) -> np.ndarray:
    """Working responses (n, r) of the screen (see the module docstring)."""
    if kind == "regression":
        return np.asarray(labels, dtype=np.float64)[:, None]
    if kind == "binary":
        return 4.0 * (np.asarray(labels, dtype=np.float64)[:, None] - 0.5)
    return 4.0 * (np.eye(n_classes)[labels] - 0.5)


def screen_ridge(kind: str, C: float, alpha: float) -> float:
    """Penalty of the screen: ridge's own alpha, or 4 / C (the logistic Newton step's)."""
    return alpha if kind == "regression" else 4.0 / C


def _weights(problem: Problem, labels: np.ndarray) -> np.ndarray:
    weight = problem.sample_weight(labels)
    return np.ones(len(labels)) if weight is None else weight


@dataclass
class RawMoments:
    """Uncentred weighted sums over rows, which add up across row chunks.

    gram (D, D) = sum s x x', first (D,) = sum s x, cross (D, r) = sum s x t',
    target_sum (r,) = sum s t, target_square = sum s |t|^2, total = sum s.
    """

    gram: np.ndarray
    first: np.ndarray
    cross: np.ndarray
    target_sum: np.ndarray
    target_square: float
    total: float

    def __add__(self, other: RawMoments) -> RawMoments:
        return RawMoments(
            self.gram + other.gram,
            self.first + other.first,
            self.cross + other.cross,
            self.target_sum + other.target_sum,
            self.target_square + other.target_square,
            self.total + other.total,
        )


def weighted_moments(features: np.ndarray, weight: np.ndarray, targets: np.ndarray) -> RawMoments:
    """One float32 SYRK per row block, accumulated in float64.

    Each block is copied once into ``[sqrt(s) x, sqrt(s), sqrt(s) t]`` (b, D+1+r), so one
    symmetric product yields the Gram, the first moments and the target cross-moments
    together: a single pass over the rows at the cost of the bare ``X'X`` (the "GEMM floor"
    the benchmarks compare with), instead of a Gram pass plus two matrix-vector passes.
    Blocks keep that copy small (2 x ROW_BLOCK rows) instead of a second full slice.
    """
    n_rows, n_dims = features.shape
    n_targets = targets.shape[1]
    width = n_dims + 1 + n_targets
    total = np.zeros((width, width))
    root_weight = np.sqrt(weight).astype(np.float32)
    block_rows = ROW_BLOCK * 2
    buffer = np.empty((min(block_rows, n_rows), width), dtype=np.float32)
    for start in range(0, n_rows, block_rows):
        stop = min(start + block_rows, n_rows)
        block = buffer[: stop - start]
        block_root = root_weight[start:stop, None]
        np.multiply(features[start:stop], block_root, out=block[:, :n_dims])
        block[:, n_dims : n_dims + 1] = block_root
        block[:, n_dims + 1 :] = targets[start:stop] * block_root
        total += (block.T @ block).astype(np.float64)  # numpy calls syrk for a.T @ a
    return RawMoments(
        total[:n_dims, :n_dims].copy(),
        total[:n_dims, n_dims].copy(),
        total[:n_dims, n_dims + 1 :].copy(),
        weight @ targets,
        float(weight @ np.einsum("nr,nr->n", targets, targets)),
        float(weight.sum()),
    )
