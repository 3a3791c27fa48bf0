"""The settings of a word sweep (``probe.words.sweep``), as one frozen dataclass.

Kept apart from the sweep so that the modules that run its groups (``probe.words.streamed``)
can take a spec without importing the sweep that calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probe.search import DEFAULT_METHODS
from probe.search.base import SearchConfig

WORD_SEARCH_CONFIG = SearchConfig(
    k=8,
    top_k=10,
    pool_size=200,
    greedy_top_k=4,
    c_grid=(0.1, 1.0),
    n_random_draws=20,
    random_ks=(1, 2, 4, 8),
)
WORD_PROTOCOL = (
    "word rows (one per word, its subwords pooled first/last/mean); dims / C selected on a "
    "seeded, label-stratified inner validation split of the train cache's words that keeps "
    "each sentence's words on one side (no sentence is both fitted and validated on); the selected "
    "probe refit on all train words and scored on the eval cache's words (labels matched by "
    "name; eval labels unseen in train left out and counted); features standardised with "
    "train statistics."
)


@dataclass(frozen=True)
class WordSweepSpec:
    """Everything that determines a word sweep's numbers; saved in the results' provenance."""

    train_path: str
    eval_path: str
    label: str = "upos"
    layers: tuple[int, ...] = ()
    poolings: tuple[str, ...] = ("first", "mean")
    methods: tuple[str, ...] = DEFAULT_METHODS
    config: SearchConfig = field(default_factory=lambda: WORD_SEARCH_CONFIG)
    validation_fraction: float = 0.2
    C: float = 1.0
    balanced: bool = False
    jobs: int = 1
    out_of_core: str = "auto"
    chunk_tokens: int | None = None
