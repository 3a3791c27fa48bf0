"""The shared-prefix Newton kernel (greedy steps) reaches the per-candidate kernel's optimum,
which is scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from probe.linear import SubsetFit, balanced_sample_weight, fit_logistic_subsets
from probe.linear_prefix import (
    MIN_SIZE,
    MIN_SIZE_SHARED_START,
    PRODUCTS_MIN_CANDIDATES,
    PairProducts,
    _ExtensionNewton,
    extends_one_subset,
    fit_logistic_extensions,
    fit_logistic_prefixes,
    pair_products,
)

pytestmark = pytest.mark.torch_free


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(30, 30)) / np.sqrt(30) + np.eye(30)
    features = (rng.standard_t(df=6, size=(2500, 30)) @ mixing).astype(np.float32)
    features[:, 0] *= 8.0  # an outlier dim, as in BERT-style hidden states
    logits = features[:, 3] - 0.7 * features[:, 5] + 0.2 * features[:, 0] + rng.logistic(size=2500)
    labels = (logits > 1.0).astype(np.int64)  # skewed classes
    standardised = (features - features.mean(0)) / features.std(0)
    return standardised, labels


def extensions(prefix: list[int], own: list[int]) -> np.ndarray:
    return np.array([[*prefix, dim] for dim in own])


@pytest.mark.parametrize(
    "own",
    [[7, 9], [7, 9, 12, 20, 29]],  # one syrk per candidate; one GEMM with the products
    ids=["syrk", "products"],
)
def test_same_optimum_as_the_per_candidate_kernel_and_sklearn(data, own):
    features, labels = data
    assert (len(own) >= PRODUCTS_MIN_CANDIDATES) == (len(own) == 5)
    dims = extensions([3, 5, 0, 11], own)
    weights = balanced_sample_weight(labels, 2)
    ours = fit_logistic_extensions(features, labels, dims, C=0.3, sample_weight=weights)
    per_candidate = fit_logistic_subsets(features, labels, dims, C=0.3, sample_weight=weights)
    np.testing.assert_allclose(ours.coef, per_candidate.coef, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.intercept, per_candidate.intercept, rtol=1e-6, atol=1e-7)
    for row, subset in enumerate(dims):
        reference = LogisticRegression(C=0.3, class_weight="balanced", tol=1e-10, max_iter=10_000)
        reference.fit(features[:, subset].astype(np.float64), labels)
        np.testing.assert_allclose(ours.coef[row, :, 0], reference.coef_[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ours.intercept[row], reference.intercept_, rtol=1e-5, atol=1e-7)


def test_warm_start_from_the_previous_step_reaches_the_same_optimum(data):
    features, labels = data
    previous = fit_logistic_subsets(features, labels, np.array([[3, 5, 0]]))
    dims = extensions([3, 5, 0], [1, 2, 8, 13])
    init_coef = np.zeros((4, 4, 1))
    init_coef[:, :3] = previous.coef[0]
    init = type(previous)("binary", dims, init_coef, np.repeat(previous.intercept, 4, axis=0))
    warm = fit_logistic_extensions(features, labels, dims, init=init)
    cold = fit_logistic_extensions(features, labels, dims)
    np.testing.assert_allclose(warm.coef, cold.coef, rtol=1e-6, atol=1e-8)


def test_far_starts_are_damped_to_the_optimum(data, monkeypatch):
    """A start far from the optimum takes the damped (objective-checked) step path."""
    features, labels = data
    damped: list[int] = []
    designs = _ExtensionNewton.designs
    monkeypatch.setattr(
        _ExtensionNewton,
        "designs",
        lambda self, rows: damped.append(rows.size) or designs(self, rows),
    )
    dims = extensions([3, 5, 0, 11], [7, 9, 12])
    start = fit_logistic_subsets(features, labels, dims)
    start.coef[:] = 25.0  # scores move by hundreds: full Newton steps could go uphill
    ours = fit_logistic_extensions(features, labels, dims, init=start)
    per_candidate = fit_logistic_subsets(features, labels, dims)
    assert damped and max(damped) == 3
    np.testing.assert_allclose(ours.coef, per_candidate.coef, rtol=1e-6, atol=1e-7)


def test_which_candidates_take_this_kernel():
    assert extends_one_subset(extensions(list(range(MIN_SIZE - 1)), [20, 21]))
    assert not extends_one_subset(extensions(list(range(MIN_SIZE - 2)), [20, 21]))  # too small
    assert not extends_one_subset(extensions(list(range(MIN_SIZE - 1)), [20]))  # one candidate
    different = extensions(list(range(MIN_SIZE - 1)), [20, 21])
    different[1, 0] = 29
    assert not extends_one_subset(different)
    small = extensions([3], [20, 21])  # 2 dims: only from one shared start (a greedy step)
    assert MIN_SIZE_SHARED_START <= 2 < MIN_SIZE
    start = SubsetFit("binary", small, np.array([[[0.4], [0.0]]] * 2), np.array([[0.1]] * 2))
    assert not extends_one_subset(small)
    assert extends_one_subset(small, start)
    start.coef[1, 1] = 0.2  # a screen start: own weights set
    assert not extends_one_subset(small, start)
    with pytest.raises(ValueError, match="sharing all but their last"):
        fit_logistic_extensions(np.zeros((4, 30), np.float32), np.array([0, 1, 0, 1]), different)


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_nested_prefixes_reach_each_subsets_own_optimum(data, warm):
    """A greedy path's refits in one loop: every prefix gets its own probe, pinned dims 0."""
    features, labels = data
    order = np.array([3, 5, 0, 11, 7, 9])
    sizes = np.array([1, 2, 3, 4, 5, 6])
    weights = balanced_sample_weight(labels, 2)
    separate = [
        fit_logistic_subsets(features, labels, order[None, :size], C=0.3, sample_weight=weights)
        for size in sizes
    ]
    init = None
    if warm:  # warm starts from probes of other rows, as greedy passes its fit-row probes
        init = [
            fit_logistic_subsets(features[:1500], labels[:1500], order[None, :size], C=0.3)
            for size in sizes
        ]
    ours = fit_logistic_prefixes(
        features, labels, order, sizes, C=0.3, sample_weight=weights, init=init
    )
    for fit, reference, size in zip(ours, separate, sizes, strict=True):
        np.testing.assert_array_equal(fit.dims, order[None, :size])
        assert fit.coef.shape == (1, size, 1)
        np.testing.assert_allclose(fit.coef, reference.coef, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fit.intercept, reference.intercept, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="prefix sizes"):
        fit_logistic_prefixes(features, labels, order, np.array([0, 2]))


def test_pair_products_grow_with_the_path_and_match_a_fresh_build(data):
    features, _ = data
    kept = PairProducts(features)

    def fresh(order: list[int]) -> np.ndarray:
        columns = np.vstack([np.ones((1, features.shape[0]), np.float32), features[:, order].T])
        first, second = np.tril_indices(len(order) + 1)
        return columns[first] * columns[second]

    for order in ([3], [3, 5], [3, 5, 0, 11], [3, 5, 0, 11, 7, 9, 12, 20, 29, 1, 2, 4, 6]):
        np.testing.assert_array_equal(kept.rows(np.array(order)), fresh(order))
    np.testing.assert_array_equal(kept.rows(np.array([8, 3])), fresh([8, 3]))  # a new path
    columns = np.ascontiguousarray(features[:, :4].T)
    np.testing.assert_array_equal(pair_products(columns)[:3], pair_products(columns[:2]))
