"""Token rows resample by sentence: a drawn sentence brings all of its rows."""

import numpy as np

from probe.stats.bootstrap import BootstrapSpec, metric_intervals, resample_weights


def test_rows_of_one_group_share_their_count():
    groups = np.repeat(np.arange(30), 4)  # 30 sentences of 4 tokens
    weights = resample_weights(groups.size, BootstrapSpec(n_resamples=1000), groups)
    per_group = weights.reshape(1000, 30, 4)
    assert np.all(per_group == per_group[:, :, :1])
    assert np.all(weights.sum(axis=1) == 120)  # 30 sentences drawn, 4 rows each


def test_sentence_resampling_widens_the_interval_of_correlated_rows():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 10)
    # every token of a sentence is right or wrong together: 40 independent units, not 400
    sentence_right = rng.random(40) < 0.7
    labels = rng.integers(0, 2, 400)
    predictions = np.where(sentence_right[groups], labels, 1 - labels)
    spec = BootstrapSpec(n_resamples=2000)
    by_token = metric_intervals(["accuracy"], labels, predictions, spec)[0]["accuracy"]
    by_sentence = metric_intervals(["accuracy"], labels, predictions, spec, groups=groups)[0][
        "accuracy"
    ]
    token_width = by_token.high - by_token.low
    sentence_width = by_sentence.high - by_sentence.low
    # sd of a mean of 40 vs 400 Bernoulli(0.7) units: about sqrt(10) ~ 3.2x wider
    assert 2.5 < sentence_width / token_width < 4.0


def test_too_few_sentences_is_undefined_with_the_reason():
    groups = np.repeat(np.arange(10), 5)
    labels = np.tile([0, 1], 25)
    interval = metric_intervals(["accuracy"], labels, labels, BootstrapSpec(), groups=groups)[0][
        "accuracy"
    ]
    assert not interval.defined
    assert "only 10 sentences" in interval.reason
