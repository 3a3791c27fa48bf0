"""The search methods that run out of core, by name: exactly ``SUPPORTED_METHODS``."""

from __future__ import annotations

from collections.abc import Callable

from probe.outofcore.backward import run_backward
from probe.outofcore.methods import run_full, run_greedy, run_pairs, run_rank
from probe.outofcore.problem import StreamProblem
from probe.outofcore.random_baseline import run_random
from probe.search.base import MethodOutcome, SearchConfig

RUNNERS: dict[str, Callable[[StreamProblem, SearchConfig], MethodOutcome]] = {
    "full": run_full,
    "rank": run_rank,
    "pairs": run_pairs,
    "greedy": run_greedy,
    "backward": run_backward,
    "random": run_random,
}
