"""Batched exact probes reproduce scikit-learn's LogisticRegression and Ridge."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from probe.linear import (
    ProbeInputError,
    balanced_sample_weight,
    fit_full,
    fit_logistic_subsets,
    fit_ridge_subsets,
)

pytestmark = pytest.mark.torch_free


def hidden_like(n: int, n_dims: int, seed: int) -> np.ndarray:
    """Hidden-state-shaped features: correlated, heavy-ish tails, a few outlier dims."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_dims, n_dims)) / np.sqrt(n_dims) + np.eye(n_dims)
    features = rng.standard_t(df=6, size=(n, n_dims)) @ mixing
    features[:, :2] *= 8.0  # BERT-style outlier dimensions
    return features.astype(np.float32)


@pytest.fixture(scope="module")
def binary_data():
    features = hidden_like(3000, 32, seed=0)
    rng = np.random.default_rng(1)
    logits = features[:, 3] - 0.7 * features[:, 5] + 0.4 * features[:, 11] + rng.logistic(size=3000)
    labels = (logits > 1.0).astype(np.int64)  # skewed classes, like CoLA
    standardised = (features - features.mean(0)) / features.std(0)
    return standardised[:2400], labels[:2400], standardised[2400:], labels[2400:]


def test_balanced_weights_equal_sklearn_class_weight():
    from sklearn.utils.class_weight import compute_sample_weight

    labels = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(
        balanced_sample_weight(labels, 3), compute_sample_weight("balanced", labels)
    )


def test_binary_coefficients_match_sklearn(binary_data):
    x_train, y_train, _, _ = binary_data
    dims = np.array([[3, 5], [0, 7], [11, 3]])
    fit = fit_logistic_subsets(
        x_train, y_train, dims, C=0.3, sample_weight=balanced_sample_weight(y_train, 2)
    )
    for row, subset in enumerate(dims):
        reference = LogisticRegression(C=0.3, class_weight="balanced", tol=1e-10, max_iter=10_000)
        reference.fit(x_train[:, subset].astype(np.float64), y_train)
        np.testing.assert_allclose(fit.coef[row, :, 0], reference.coef_[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(fit.intercept[row], reference.intercept_, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_random_subsets_eval_accuracy_within_one_example(binary_data, size):
    """The issue's agreement bar: eval accuracy equal to sklearn's within one example.

    scikit-learn is run to convergence (tol 1e-8): at its default tol=1e-4 on float32 input
    lbfgs stops up to ~5e-4 from the optimum, which on uninformative dims (many examples at
    the boundary) moves 2 of 600 predictions. Ours is converged to 1e-9.
    """
    x_train, y_train, x_eval, y_eval = binary_data
    rng = np.random.default_rng(size)
    dims = np.sort(np.argsort(rng.random((12, x_train.shape[1])), axis=1)[:, :size], axis=1)
    fit = fit_logistic_subsets(
        x_train, y_train, dims, sample_weight=balanced_sample_weight(y_train, 2)
    )
    predictions = fit.predict(x_eval)  # (n_eval, 12)
    for row, subset in enumerate(dims):
        reference = LogisticRegression(class_weight="balanced", tol=1e-8, max_iter=10_000)
        reference.fit(x_train[:, subset].astype(np.float64), y_train)
        ours = np.sum(predictions[:, row] == y_eval)
        theirs = np.sum(reference.predict(x_eval[:, subset]) == y_eval)
        assert abs(int(ours) - int(theirs)) <= 1


def test_multinomial_matches_sklearn():
    features = hidden_like(1500, 10, seed=3)
    rng = np.random.default_rng(4)
    labels = np.digitize(features[:, 2] + features[:, 6] + rng.normal(size=1500), [-2.0, 2.0])
    dims = np.array([[2, 6], [1, 4], [2, 6]])
    weights = balanced_sample_weight(labels, 3)
    fit = fit_logistic_subsets(features, labels, dims, C=0.5, sample_weight=weights, n_classes=3)
    for row, subset in enumerate(dims):
        reference = LogisticRegression(C=0.5, class_weight="balanced", tol=1e-10, max_iter=10_000)
        reference.fit(features[:, subset].astype(np.float64), labels)
        np.testing.assert_allclose(fit.coef[row], reference.coef_.T, rtol=1e-4, atol=1e-6)
        # intercepts are defined up to a shared constant (unpenalised softmax)
        shift = fit.intercept[row] - reference.intercept_
        np.testing.assert_allclose(shift, shift.mean(), atol=1e-5)
        np.testing.assert_array_equal(
            fit.predict(features)[:, row], reference.predict(features[:, subset])
        )


def test_ridge_matches_sklearn():
    features = hidden_like(800, 12, seed=5)
    target = features[:, 0] * 0.5 - features[:, 9] + np.random.default_rng(6).normal(size=800)
    dims = np.array([[0, 9, 3], [1, 2, 4]])
    fit = fit_ridge_subsets(features, target, dims, alpha=7.0)
    for row, subset in enumerate(dims):
        reference = Ridge(alpha=7.0).fit(features[:, subset].astype(np.float64), target)
        np.testing.assert_allclose(fit.coef[row, :, 0], reference.coef_, rtol=1e-6)
        np.testing.assert_allclose(
            fit.intercept[row, 0], reference.intercept_, rtol=1e-6, atol=1e-9
        )


def test_warm_start_reaches_the_same_optimum(binary_data):
    x_train, y_train, _, _ = binary_data
    dims = np.array([[3, 5, 11], [0, 1, 2]])
    cold = fit_logistic_subsets(x_train, y_train, dims)
    warm = fit_logistic_subsets(x_train[:1000], y_train[:1000], dims)
    rewarmed = fit_logistic_subsets(x_train, y_train, dims, init=warm)
    np.testing.assert_allclose(rewarmed.coef, cold.coef, rtol=1e-6, atol=1e-8)


def test_fit_full_is_sklearn(binary_data):
    x_train, y_train, x_eval, _ = binary_data
    fit = fit_full(x_train, y_train, kind="binary", C=0.1)
    reference = LogisticRegression(C=0.1, max_iter=1000).fit(x_train, y_train)
    np.testing.assert_array_equal(fit.predict(x_eval)[:, 0], reference.predict(x_eval))


def test_one_class_is_refused_with_a_fix():
    with pytest.raises(ProbeInputError, match="at least two"):
        fit_logistic_subsets(np.zeros((5, 2), np.float32), np.zeros(5), np.array([[0]]))


def test_wide_subsets_use_the_blas_hessian_and_still_match_sklearn(binary_data):
    x_train, y_train, _, _ = binary_data
    dims = np.array([list(range(12)), list(range(10, 22))])  # 13 parameters: syrk Hessians
    fit = fit_logistic_subsets(
        x_train, y_train, dims, sample_weight=balanced_sample_weight(y_train, 2)
    )
    for row, subset in enumerate(dims):
        reference = LogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10_000)
        reference.fit(x_train[:, subset].astype(np.float64), y_train)
        np.testing.assert_allclose(fit.coef[row, :, 0], reference.coef_[0], rtol=1e-5, atol=1e-7)


def test_converged_candidates_leave_the_batch_and_each_keeps_its_own_optimum(
    binary_data, monkeypatch
):
    """A batch of easy and hard candidates: later Newton passes read only the candidates
    still moving, and every candidate ends where it ends when fitted alone."""
    import probe.linear as linear

    x, y, _, _ = binary_data
    weight = balanced_sample_weight(y, 2)
    # dims 3, 5, 11 carry the signal (far optimum, more steps); 20-31 are noise (near 0)
    dims = np.array([[3, 5, 11], [20, 21, 22], [23, 24, 25], [3, 26, 27], [28, 29, 30]])
    passes = []
    original = linear._binary_derivatives

    def counted(design32, *args):
        passes.append(design32.shape[0])
        return original(design32, *args)

    monkeypatch.setattr(linear, "_binary_derivatives", counted)
    batch = fit_logistic_subsets(x, y, dims, sample_weight=weight)
    batch_passes = list(passes)
    assert batch_passes[0] == len(dims) and min(batch_passes) < len(dims)
    for row, subset in enumerate(dims):
        alone = fit_logistic_subsets(x, y, subset[None], sample_weight=weight)
        np.testing.assert_allclose(batch.coef[row], alone.coef[0], rtol=0, atol=1e-8)
        np.testing.assert_allclose(batch.intercept[row], alone.intercept[0], rtol=0, atol=1e-8)
