"""The one small interface every search method implements.

A method is a module exposing ``run(problem, config) -> MethodOutcome``. ``MethodOutcome``
holds exactly the fields of a :class:`probe.results.ResultCell` that depend on the method
(``dims``, ``scores``, ``steps``, ``details``), following the per-method conventions written
in ``probe.results``; the sweep adds layer, pooling, method name and timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from probe.errors import FewdimsError
from probe.results import ResultCell


class SearchConfigError(FewdimsError, ValueError):
    """A search setting out of range (e.g. k larger than the hidden size)."""


@dataclass(frozen=True)
class SearchConfig:
    """Settings shared by all methods; every field is saved with the results.

    ``k``: largest subset for greedy / backward / random / control / rank steps.
    ``top_k``: candidates re-fitted exactly after each screen (``greedy_top_k`` per greedy
    step, where the candidates are bigger and there are k steps). ``pool_size``: candidates
    kept by the Gram criterion and scored by the task metric before the exact re-fit.
    ``c_grid`` / ``alpha_grid``: regularisation tried by ``full`` (picked on validation).
    ``n_random_draws``: subsets per k for the random baseline, at sizes ``random_ks`` (empty =
    every k in 1..k; the default is log-spaced because 3,200 exact probes of up to 17
    parameters per cell are minutes on a laptop, and the curve is smooth). ``backward_start``: where
    backward elimination starts (``greedy`` = greedy's k-set, or ``triples`` / ``pairs``).
    """

    k: int = 16
    top_k: int = 50
    pool_size: int = 500
    greedy_top_k: int = 8
    c_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    alpha_grid: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
    n_random_draws: int = 200
    random_ks: tuple[int, ...] = (1, 2, 3, 4, 8, 16)
    backward_start: str = "greedy"
    seed: int = 0

    def check(self, n_dims: int) -> None:
        if not 1 <= self.k <= n_dims:
            raise SearchConfigError(
                f"k={self.k} must lie in 1..{n_dims} (the hidden size); pass a smaller --k."
            )
        if (
            self.top_k < 1
            or self.greedy_top_k < 1
            or self.pool_size < max(self.top_k, self.greedy_top_k)
        ):
            raise SearchConfigError(
                f"Need 1 <= top_k ({self.top_k}), greedy_top_k ({self.greedy_top_k}) <= pool_size "
                f"({self.pool_size}); raise the pool size."
            )
        if self.n_random_draws < 1:
            raise SearchConfigError(
                "n_random_draws must be at least 1 (the issue asks for >= 200)."
            )
        if self.backward_start not in ("greedy", "pairs", "triples"):
            raise SearchConfigError(
                f"backward_start={self.backward_start!r}; choose greedy, pairs or triples."
            )

    @property
    def ks_for_random(self) -> tuple[int, ...]:
        """Subset sizes of the random baseline, capped at ``k``; empty means every 1..k."""
        ks = self.random_ks or tuple(range(1, self.k + 1))
        return tuple(size for size in ks if size <= self.k)


@dataclass
class MethodOutcome:
    """The method-specific part of a result cell (see ``probe.results`` for conventions)."""

    dims: list[int] = field(default_factory=list)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # Filled by the sweep from the eval scores' predictions (probe.stats.attach), not by methods.
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictions: dict[str, Any] = field(default_factory=dict)

    def cell(
        self, layer: int, pooling: str, method: str, seconds: float, prepare_seconds: float
    ) -> ResultCell:
        """The result cell of this outcome; ``prepare_seconds`` (reading the slice) goes to
        ``details``."""
        return ResultCell(
            layer=layer,
            pooling=pooling,
            method=method,
            dims=self.dims,
            scores=self.scores,
            steps=self.steps,
            details={**self.details, "prepare_seconds": prepare_seconds},
            seconds=seconds,
            intervals=self.intervals,
            predictions=self.predictions,
        )
