"""Token rows out of core: CIs resample whole sentences, predictions and sentence ids kept."""

import numpy as np
import pytest

from probe.cache import Cache
from probe.metrics import metric
from probe.search import SearchConfig
from probe.stats.bootstrap import BootstrapSpec, Interval, metric_intervals
from probe.sweep import SweepSpec, run_sweep
from tests.synthetic_cache import write_synthetic_cache


@pytest.fixture(scope="module")
def token_cell(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokens")
    train = write_synthetic_cache(folder / "train.h5", n_examples=600, seed=1, split="train")
    dev = write_synthetic_cache(folder / "dev.h5", n_examples=120, seed=2, split="dev")
    spec = SweepSpec(
        str(train), str(dev), layers=(1,), poolings=("tokens",), methods=("full",),
        config=SearchConfig(k=3, top_k=10, pool_size=40), chunk_rows=500,
    )  # fmt: skip
    return run_sweep(spec).cells[0], dev


def test_token_rows_keep_predictions_with_the_sentence_of_each_row(token_cell):
    cell, dev = token_cell
    with Cache.open(dev) as cache:
        words = ~cache.special_tokens()
        owner = np.repeat(np.arange(cache.n_examples), cache.lengths)[words]
        row_labels = cache.labels[owner]
    np.testing.assert_array_equal(cell.predictions["groups"], owner)
    np.testing.assert_array_equal(cell.predictions["labels"], row_labels)
    accuracy = metric("accuracy", row_labels, cell.predictions["eval"])
    assert accuracy == pytest.approx(cell.scores["eval"]["accuracy"])


def test_token_row_interval_resamples_sentences(token_cell):
    cell, _ = token_cell
    labels, predicted = cell.predictions["labels"], cell.predictions["eval"]
    groups = cell.predictions["groups"]
    stored = Interval.from_record(cell.intervals["eval"]["accuracy"])
    by_sentence = metric_intervals(["accuracy"], labels, predicted, BootstrapSpec(), groups=groups)
    assert stored.low == pytest.approx(by_sentence[0]["accuracy"].low, abs=1e-6)
    assert stored.high == pytest.approx(by_sentence[0]["accuracy"].high, abs=1e-6)
    assert np.unique(groups).size == 120 < groups.size  # 120 sentences, many more token rows
