"""The per-problem column cache returns exactly the columns a direct gather would."""

from __future__ import annotations

import numpy as np
import pytest

from probe.columns import ColumnCache, gather_features_major
from probe.linear import SubsetFit

pytestmark = pytest.mark.torch_free


@pytest.fixture(scope="module")
def features():
    return np.random.default_rng(0).standard_normal((9000, 40)).astype(np.float32)


def test_features_major_gather_is_the_transposed_take(features):
    dims = np.array([39, 2, 2, 17])
    np.testing.assert_array_equal(gather_features_major(features, dims), features[:, dims].T)


def kept(cache: ColumnCache, span: tuple[int, int]) -> list[int]:
    return sorted(cache.columns.get(span, {}))


@pytest.mark.parametrize("rows", [slice(0, 7000), slice(7000, None), slice(None)])
def test_cached_rows_equal_the_slice_rows(features, rows):
    cache = ColumnCache(features)
    everything = (0, features.shape[0])
    cache.features_major(np.array([5, 1]), slice(0, 7000))  # fills the cache, all rows
    assert kept(cache, everything) == [1, 5]
    view = cache.view(rows)
    dims = np.array([1, 5, 1])
    np.testing.assert_array_equal(view.features_major(dims), features[rows][:, dims].T)
    np.testing.assert_array_equal(view.rows_major(dims), features[rows][:, dims])
    assert view.shape == features[rows].shape


def test_row_major_requests_keep_a_few_new_columns_over_their_rows_only(features):
    cache = ColumnCache(features)
    everything, validation = (0, features.shape[0]), (7000, features.shape[0])
    cache.features_major(np.array([1]), slice(None))
    view = cache.view(slice(7000, None))
    np.testing.assert_array_equal(view.rows_major(np.array([1, 8, 3])), features[7000:, [1, 8, 3]])
    assert kept(cache, everything) == [1] and kept(cache, validation) == [3, 8]
    many = np.arange(40)[::-1]  # more than ROWS_MAJOR_GATHER new columns: taken, not kept
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("probe.columns.ROWS_MAJOR_GATHER", 10)
        np.testing.assert_array_equal(view.rows_major(many), features[7000:, many])
    assert kept(cache, validation) == [3, 8]
    # the fit rows cannot use the validation rows' copies
    np.testing.assert_array_equal(
        cache.view(slice(0, 7000)).rows_major(np.array([8])), features[:7000, [8]]
    )


def test_past_the_bound_columns_are_gathered_per_request(features):
    cache = ColumnCache(features, max_bytes=3 * 4 * features.shape[0])  # room for 3 columns
    cache.features_major(np.array([0, 1]), slice(None))
    block = cache.features_major(np.array([2, 3, 4]), slice(100, 200))
    np.testing.assert_array_equal(block, features[100:200, 2:5].T)
    assert kept(cache, (0, features.shape[0])) == [0, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predictions_from_a_view_equal_those_from_the_array(features, dtype):
    rng = np.random.default_rng(1)
    cache = ColumnCache(features)
    rows = slice(7000, None)
    shared = np.array([[3, 9, 4], [3, 9, 30], [3, 9, 12]])  # one GEMM path
    pairs = np.array([[0, 4], [7, 30], [4, 39]])  # per-position path
    for dims in (shared, pairs):
        fit = SubsetFit(
            "binary", dims, rng.normal(size=(3, dims.shape[1], 1)), rng.normal(size=(3, 1))
        )
        cache.features_major(np.unique(dims[:2]), slice(None))  # some cached, some not
        np.testing.assert_array_equal(
            fit.decision(cache.view(rows), dtype), fit.decision(features[rows], dtype)
        )
        np.testing.assert_array_equal(
            fit.predict(cache.view(rows), dtype, compact=True),
            fit.predict(features[rows], dtype).astype(bool),
        )


def test_all_rows_copies_reuse_kept_validation_rows(features, monkeypatch):
    """Columns kept over the validation rows (a screen pool) are gathered over the other
    rows only when all rows are asked for (a fit), and come out the same."""
    cache = ColumnCache(features)
    cache.rows_major(np.array([3, 8]), slice(7000, None))  # the pool: validation rows kept
    gathered_rows: list[int] = []
    gather = gather_features_major
    monkeypatch.setattr(
        "probe.columns.gather_features_major",
        lambda x, dims: gathered_rows.append(x.shape[0]) or gather(x, dims),
    )
    dims = np.array([8, 3, 11])
    np.testing.assert_array_equal(cache.features_major(dims, slice(None)), features[:, dims].T)
    assert sorted(gathered_rows) == [7000, 9000]  # 3 and 8 on the fit rows; 11 everywhere
