"""Tests that compare two scores measured on the same eval examples, and Holm's correction.

Two probes scored on one dev set are not independent samples: both see the same hard and
easy examples, so the difference of their scores varies far less than either score. Every
comparison here is therefore *paired*:

* :func:`paired_bootstrap` — the difference ``metric(a) - metric(b)`` on each of the same
  multinomial resamples of the eval examples; the CI is its percentile interval and the
  two-sided p-value is the share of null-centred resampled differences at least as far from
  zero as the observed one (works for every metric);
* :func:`mcnemar` — the exact McNemar test for accuracy (a binomial test on the examples
  exactly one of the two gets right);
* :func:`random_subset_rank` — a selected k-dim subset against the eval scores of random
  k-dim subsets: the Monte-Carlo p-value ``(1 + #draws >= best) / (1 + n_draws)``;
* :func:`holm` — Holm's step-down adjustment of a family of p-values (the comparisons one
  report makes), controlling the family-wise error rate without assuming independence.

A Monte-Carlo p-value cannot go below ``1 / (1 + draws)``: with 1,000 resamples that floor is
0.001, and Holm over 50 tests multiplies it to 0.05, so a difference far outside every
resample would read "not significant" merely because the report holds many tests. When no
resample (or random draw) reaches the observed value, the p-value is therefore the normal
tail of the observed value in units of the resamples' (draws') standard deviation, capped at
the floor; the method text then says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from probe.metrics import metric as point_metric
from probe.stats.bootstrap import (
    BootstrapSpec,
    Interval,
    draw_resamples,
    n_units,
    percentile_interval,
    weighted_metric,
)

PAIRED_BOOTSTRAP = "paired bootstrap"
BEYOND_DRAWS = "p beyond every draw: normal tail"
MCNEMAR = "exact McNemar"
RANDOM_RANK = "rank among random subsets"


@dataclass(frozen=True)
class Comparison:
    """The outcome of one paired comparison: effect ``a - b`` with its CI and a p-value.

    ``method`` names the test as it should be printed; ``p_value`` is NaN when the test
    could not be run (``note`` says why).
    """

    effect: float
    interval: Interval
    p_value: float
    method: str
    note: str = ""


def paired_bootstrap(
    name: str,
    y_true: np.ndarray,
    predictions_a: np.ndarray,
    predictions_b: np.ndarray,
    spec: BootstrapSpec,
    *,
    n_classes: int = 2,
    groups: np.ndarray | None = None,
) -> Comparison:
    """``metric(a) - metric(b)`` on the same resamples: CI and two-sided p-value (see module).

    A side may hold several runs of one recipe (seeds) as columns, ``(n, seeds)``: its score is
    then the mean of the seeds' scores, on the original examples and on every resample, so
    a 3-seed run is compared as the 3-seed mean it is reported as, not by one of its seeds.
    """
    columns_a, columns_b = _seed_columns(predictions_a), _seed_columns(predictions_b)
    seeds_a, seeds_b = columns_a.shape[1], columns_b.shape[1]

    def mean_score(columns: np.ndarray) -> float:
        return float(
            np.mean([point_metric(name, y_true, column, n_classes) for column in columns.T])
        )

    effect = mean_score(columns_a) - mean_score(columns_b)
    seeds = f"; mean over {seeds_a} vs {seeds_b} seeds" if max(seeds_a, seeds_b) > 1 else ""
    method = f"{PAIRED_BOOTSTRAP} ({spec.n_resamples} resamples, seed {spec.seed}{seeds})"
    units = n_units(len(y_true), groups)
    if units < spec.min_examples:
        reason = f"only {units} eval examples (< {spec.min_examples})"
        return Comparison(effect, Interval.undefined(reason), math.nan, method, reason)
    weights = draw_resamples(len(y_true), spec, groups)
    both = np.concatenate([columns_a, columns_b], axis=1)
    resampled = weighted_metric(name, y_true, both, weights, n_classes)  # (B, seeds_a + seeds_b)
    differences = resampled[:, :seeds_a].mean(axis=1) - resampled[:, seeds_a:].mean(axis=1)
    interval = percentile_interval(differences[:, None], spec.level)[0]
    finite = differences[np.isfinite(differences)]
    if finite.size == 0 or not math.isfinite(effect):
        return Comparison(effect, interval, math.nan, method, "metric undefined")
    extreme = np.count_nonzero(np.abs(finite - effect) >= abs(effect) - 1e-12)
    p_value = (1 + extreme) / (1 + finite.size)
    if extreme == 0:
        p_value = min(p_value, _normal_tail(abs(effect), finite, two_sided=True))
        method = f"{method[:-1]}; {BEYOND_DRAWS})"
    return Comparison(effect, interval, float(min(1.0, p_value)), method)


def _seed_columns(predictions: np.ndarray) -> np.ndarray:
    """(n,) -> (n, 1); (n, seeds) stays."""
    predictions = np.asarray(predictions)
    return predictions[:, None] if predictions.ndim == 1 else predictions


def _normal_tail(distance: float, draws: np.ndarray, *, two_sided: bool) -> float:
    """P(|Z| >= distance / sd(draws)) (or the one-sided tail): the p-value for an observed
    value beyond every draw, where the Monte-Carlo count can only say "below the floor"."""
    spread = float(np.std(draws, ddof=1)) if draws.size > 1 else 0.0
    if not spread > 0:
        return 1.0  # no spread to measure against: keep the Monte-Carlo floor
    tail = math.erfc(distance / spread / math.sqrt(2.0))
    return tail if two_sided else tail / 2.0


def mcnemar(y_true: np.ndarray, predictions_a: np.ndarray, predictions_b: np.ndarray) -> Comparison:
    """Exact two-sided McNemar test of equal accuracy; effect = accuracy(a) - accuracy(b).

    Only the discordant examples carry information: ``only_a`` right by a alone, ``only_b``
    by b alone; under equal accuracy each discordant example is a fair coin. The interval is
    left undefined (use :func:`paired_bootstrap` for it).
    """
    from scipy.stats import binomtest

    y_true = np.asarray(y_true)
    right_a = np.asarray(predictions_a) == y_true
    right_b = np.asarray(predictions_b) == y_true
    only_a = int(np.count_nonzero(right_a & ~right_b))
    only_b = int(np.count_nonzero(right_b & ~right_a))
    effect = (only_a - only_b) / max(len(y_true), 1)
    note = f"{only_a} examples right only by the first, {only_b} only by the second"
    if only_a + only_b == 0:
        return Comparison(effect, Interval.undefined("no discordant examples"), 1.0, MCNEMAR, note)
    p_value = binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
    return Comparison(
        effect, Interval.undefined("see the paired bootstrap"), float(p_value), MCNEMAR, note
    )


def random_subset_rank(best_score: float, random_scores: np.ndarray) -> Comparison:
    """A selected subset's eval score against random subsets of its size (one-sided).

    Effect: best minus the median random score; interval: the 2.5-97.5% range of the
    random scores minus their median (how far chance alone spreads).
    """
    scores = np.asarray(random_scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    method = f"{RANDOM_RANK} ({scores.size} draws, one-sided)"
    if scores.size == 0 or not math.isfinite(best_score):
        return Comparison(math.nan, Interval.undefined("no random scores"), math.nan, method)
    median = float(np.median(scores))
    low, high = np.quantile(scores, [0.025, 0.975])
    beating = np.count_nonzero(scores >= best_score)
    p_value = (1 + beating) / (1 + scores.size)
    if beating == 0:
        p_value = min(p_value, _normal_tail(best_score - float(scores.mean()), scores,
                                            two_sided=False))  # fmt: skip
        method = f"{method[:-1]}; {BEYOND_DRAWS})"
    return Comparison(
        best_score - median, Interval(low - median, high - median), float(p_value), method
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values in input order; NaN stays NaN and is not counted in the family.

    Sorted ascending, the i-th smallest of m gets ``max_{j<=i} min(1, (m - j + 1) p_(j))``.
    """
    values = np.asarray(p_values, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(values))
    adjusted = np.full(values.shape, np.nan)
    if finite.size == 0:
        return adjusted.tolist()
    order = finite[np.argsort(values[finite], kind="stable")]
    family = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (family - rank) * values[index]))
        adjusted[index] = running
    return adjusted.tolist()


__all__ = [
    "MCNEMAR",
    "PAIRED_BOOTSTRAP",
    "RANDOM_RANK",
    "Comparison",
    "holm",
    "mcnemar",
    "paired_bootstrap",
    "random_subset_rank",
]
