"""What a sweep is asked to do and what it knows of the task, beneath every sweep runner.

:class:`SweepSpec` (the settings, saved in the results' provenance), :class:`TaskFacts` (the
task's kind, classes and metrics) and :func:`problem_settings` (the protocol every slice's
problem is built with) are shared by the in-memory sweep (``probe.sweep``) and the
out-of-core group runner (``probe.outofcore.group``). They live here, below both, so neither
runner imports the other's module from inside a function to dodge an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from probe.search import DEFAULT_METHODS, SearchConfig
from probe.stats.bootstrap import BootstrapSpec


@dataclass(frozen=True)
class SweepSpec:
    """Everything that determines a sweep's numbers; saved in the results' provenance.

    ``layers`` empty = every stored layer (negative values count from the last); ``poolings``
    empty = every pooling the train cache stores (``cls``/``mean``/``maxnorm`` for an encoder,
    ``last``/``mean``/``maxnorm`` for a decoder).
    ``balanced``: ``class_weight="balanced"`` for classification probes (default: without it
    1-3-dim probes on skewed tasks such as CoLA predict the majority class, MCC 0).
    ``jobs`` / ``scheduler``: where the groups run (see :mod:`probe.cluster`); they never
    change a number, and the scheduler address is not saved.
    ``bootstrap``: how eval-score CIs are computed (None = no CIs and no kept predictions).
    ``seeds``: repeat the sweep once per seed (``--seeds``), each seed taking the place of
    ``config.seed`` (the inner fit/validation split, the random draws, the control labels);
    the eval split stays fixed, so the spread across seeds is that of selection. Empty = one
    run with ``config.seed``. See :meth:`per_seed`.
    """

    train_path: str
    eval_path: str
    layers: tuple[int, ...] = ()
    poolings: tuple[str, ...] = ()
    methods: tuple[str, ...] = DEFAULT_METHODS
    config: SearchConfig = field(default_factory=SearchConfig)
    validation_fraction: float = 0.2
    C: float = 1.0
    alpha: float = 1.0
    balanced: bool = True
    jobs: int = 1
    out_of_core: str = "auto"
    chunk_rows: int | None = None
    scheduler: str | None = None
    bootstrap: BootstrapSpec | None = field(default_factory=BootstrapSpec)
    seeds: tuple[int, ...] = ()

    def per_seed(self) -> list[tuple[int | None, SweepSpec]]:
        """``(seed, single-seed spec)`` per run: ``[(None, self)]`` without ``seeds``.

        Each single-seed spec is exactly what a sweep with ``config.seed = seed`` would be
        given, so a seed's cells equal those of that separate sweep.
        """
        if not self.seeds:
            return [(None, self)]
        return [
            (seed, replace(self, seeds=(), config=replace(self.config, seed=seed)))
            for seed in self.seeds
        ]


OUT_OF_CORE_MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class TaskFacts:
    """How to probe a cache's task: problem kind, classes and metrics.

    ``out_of_core``: the row kinds (poolings or ``tokens``) this sweep reads in chunks.
    """

    name: str
    kind: str
    n_classes: int
    metrics: tuple[str, ...]
    primary_metric: str
    out_of_core: tuple[str, ...] = ()


def problem_settings(spec: SweepSpec, facts: TaskFacts) -> dict[str, Any]:
    """The protocol settings every problem of this sweep is built with (in memory or not)."""
    return {
        "kind": facts.kind,
        "metrics": facts.metrics,
        "primary_metric": facts.primary_metric,
        "n_classes": facts.n_classes,
        "seed": spec.config.seed,
        "validation_fraction": spec.validation_fraction,
        "C": spec.C,
        "alpha": spec.alpha,
        "balanced": spec.balanced,
    }
