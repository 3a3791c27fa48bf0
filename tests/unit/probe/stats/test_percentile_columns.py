"""Percentile intervals of many columns at once equal np.quantile column by column."""

import numpy as np
import pytest

from probe.stats.bootstrap import percentile_interval

pytestmark = pytest.mark.torch_free


def test_every_column_matches_its_own_quantiles_nan_rows_left_out():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(1000, 6))
    values[::9, 2] = np.nan  # 112 undefined resamples in column 2
    values[:, 4] = np.nan  # undefined everywhere
    intervals = percentile_interval(values, 0.95)
    for column, interval in enumerate(intervals):
        finite = values[np.isfinite(values[:, column]), column]
        assert interval.n_undefined == 1000 - finite.size
        if column == 4:
            assert not interval.defined
            assert "undefined on every resample" in interval.reason
            continue
        tail = (1.0 - 0.95) / 2.0  # as the library computes it (not exactly 0.025)
        low, high = np.quantile(finite, [tail, 1.0 - tail])
        assert (interval.low, interval.high) == (low, high)  # bit for bit
