"""Too few examples and metrics undefined on a resample: reported, counted, never a crash."""

import math

import numpy as np
import pytest

from probe.stats.bootstrap import BootstrapSettingsError, BootstrapSpec, Interval, metric_intervals


def test_fewer_than_twenty_examples_give_an_undefined_interval_with_the_reason():
    labels = np.array([0, 1] * 9 + [0])  # 19 examples
    intervals = metric_intervals(["accuracy", "mcc"], labels, labels, BootstrapSpec())[0]
    for interval in intervals.values():
        assert not interval.defined
        assert math.isnan(interval.low)
        assert "only 19 eval examples (< 20)" in interval.reason
        assert interval.to_record()["reason"] == interval.reason


def test_mcc_on_single_class_resamples_is_left_out_and_counted():
    # 20 examples, one positive: about (19/20)^20 = 36% of resamples hold no positive label.
    labels = np.array([1] + [0] * 19)
    predictions = np.array([1] + [0] * 18 + [1])
    interval = metric_intervals(["mcc"], labels, predictions, BootstrapSpec(n_resamples=2000))[0][
        "mcc"
    ]
    assert interval.defined
    assert 0.30 * 2000 < interval.n_undefined < 0.42 * 2000
    record = interval.to_record()
    assert record["n_undefined"] == interval.n_undefined
    assert Interval.from_record(record) == Interval(
        record["low"], record["high"], interval.n_undefined
    )


def test_a_metric_undefined_on_every_resample_says_so():
    targets = np.linspace(0, 1, 30)
    constant = np.zeros(30)
    interval = metric_intervals(["pearson"], targets, constant, BootstrapSpec())[0]["pearson"]
    assert not interval.defined
    assert interval.n_undefined == 1000
    assert "undefined on every resample" in interval.reason


def test_settings_below_the_floor_are_refused_with_the_fix():
    with pytest.raises(BootstrapSettingsError, match="at least 1,000"):
        BootstrapSpec(n_resamples=200).check()
