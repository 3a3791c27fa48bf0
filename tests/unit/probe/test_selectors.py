"""The dimension selectors follow scikit-learn's selector contract and find planted dims."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from probe.errors import FewdimsError
from probe.selectors import ExhaustiveDimSelector, GreedyDimSelector

pytestmark = pytest.mark.torch_free


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((800, 16))
    labels = (features[:, 4] - features[:, 9] + 0.5 * rng.standard_normal(800) > 0).astype(int)
    return features, np.where(labels == 1, "yes", "no")  # string labels: any classes work


def test_greedy_selector_in_a_pipeline(planted):
    features, labels = planted
    selector = GreedyDimSelector(n_features_to_select=3, random_state=1)
    pipeline = Pipeline([("dims", selector), ("clf", LogisticRegression())]).fit(features, labels)
    assert set(selector.selected_dims_[:2]) == {4, 9}
    assert selector.scores_.shape == (3,)
    assert selector.scores_[1] > selector.scores_[0]
    assert selector.get_support().sum() == 3
    assert list(selector.get_support(indices=True)) == sorted(selector.selected_dims_)
    assert selector.transform(features).shape == (800, 3)
    assert selector.n_features_in_ == 16
    assert pipeline.score(features, labels) > 0.85
    assert list(selector.classes_) == ["no", "yes"]


def test_exhaustive_selector_and_regression(planted):
    features, _ = planted
    target = (
        features[:, 2] * 2 - features[:, 11] + 0.1 * np.random.default_rng(1).standard_normal(800)
    )
    selector = ExhaustiveDimSelector(n_features_to_select=2).fit(features, target)
    assert sorted(selector.selected_dims_) == [2, 11]
    assert selector.scores_[0] == selector.scores_.max()
    assert selector.candidate_dims_.shape[1] == 2
    pipeline = Pipeline([("dims", ExhaustiveDimSelector(1)), ("reg", Ridge())]).fit(
        features, target
    )
    assert pipeline.named_steps["dims"].selected_dims_.tolist() == [2]


def test_random_state_and_clone(planted):
    features, labels = planted
    first = GreedyDimSelector(4, random_state=3).fit(features, labels)
    second = clone(first).fit(features, labels)
    np.testing.assert_array_equal(first.selected_dims_, second.selected_dims_)
    np.testing.assert_array_equal(first.scores_, second.scores_)
    assert clone(first).get_params()["n_features_to_select"] == 4


def test_selector_errors_name_the_fix(planted):
    features, labels = planted
    with pytest.raises(FewdimsError, match=r"1\.\.16"):
        GreedyDimSelector(20).fit(features, labels)
    with pytest.raises(FewdimsError, match="GreedyDimSelector"):
        ExhaustiveDimSelector(4).fit(features, labels)
