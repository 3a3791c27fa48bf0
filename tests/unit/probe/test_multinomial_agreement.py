"""Multi-class subset probes agree with scikit-learn's multinomial LogisticRegression.

17 classes (UPOS-sized) and subsets up to 9 dims: the Hessian is assembled from one GEMM
per candidate, whose off-diagonal class blocks have negative curvature weights (the old
per-block syrk took their square root and produced NaN Hessians from 7 dims on).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from probe.linear import balanced_sample_weight, fit_logistic_subsets
from probe.metrics import batch_metric


def softmax_data(n_rows=3000, n_dims=20, n_classes=17, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_rows, n_dims)).astype(np.float32)
    weights = rng.standard_normal((n_dims, n_classes))
    y = np.argmax(x @ weights + rng.gumbel(size=(n_rows, n_classes)), axis=1)
    return x, y


@pytest.mark.parametrize("size", [1, 3, 9])
@pytest.mark.parametrize("balanced", [False, True])
def test_subsets_match_sklearn_multinomial(size, balanced):
    x, y = softmax_data()
    rng = np.random.default_rng(size)
    dims = np.stack([np.sort(rng.choice(x.shape[1], size, replace=False)) for _ in range(3)])
    weight = balanced_sample_weight(y, 17) if balanced else None
    fit = fit_logistic_subsets(x, y, dims, C=0.5, sample_weight=weight, n_classes=17)
    for candidate, subset in enumerate(dims):
        model = LogisticRegression(C=0.5, tol=1e-10, max_iter=5000)
        model.fit(x[:, subset].astype(np.float64), y, sample_weight=weight)
        ours = fit.coef[candidate]  # (s, c); softmax weights are identified up to a shift
        theirs = model.coef_.T
        np.testing.assert_allclose(
            ours - ours.mean(axis=1, keepdims=True),
            theirs - theirs.mean(axis=1, keepdims=True),
            atol=2e-4,
        )
        probabilities = model.predict_proba(x[:, subset].astype(np.float64))
        scores = fit.take(np.array([candidate])).decision(x)[:, 0, :]
        ours_p = np.exp(scores - scores.max(axis=1, keepdims=True))
        ours_p /= ours_p.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(ours_p, probabilities, atol=1e-5)
        assert np.isfinite(fit.coef).all()


def test_macro_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 6, 500)
    y_pred = np.where(rng.random((500, 4)) < 0.6, y_true[:, None], rng.integers(0, 7, (500, 4)))
    y_pred[:, 3] = 0  # one candidate predicts a single class
    ours = batch_metric("f1_macro", y_true, y_pred, n_classes=7)
    for column in range(4):
        expected = f1_score(y_true, y_pred[:, column], average="macro")
        assert ours[column] == pytest.approx(expected, abs=1e-12)
