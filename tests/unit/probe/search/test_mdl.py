"""Online codelength against a plain scikit-learn loop over the block schedule."""

import itertools
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from probe.search import SearchConfig, get_method
from probe.search.mdl import BLOCK_PERCENTS, block_ends, online_codelength
from probe.search.problem import Problem


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6)).astype(np.float32)
    y = (x[:, 1] - 0.8 * x[:, 4] + rng.normal(0, 0.7, 2000) > 0).astype(int)
    x_eval = rng.normal(size=(100, 6)).astype(np.float32)
    return Problem.from_arrays(
        x, y, x_eval, (x_eval[:, 1] > 0).astype(int), kind="binary",
        metrics=("accuracy",), primary_metric="accuracy",
    )  # fmt: skip


def reference_codelength(x, y, columns):
    """Voita & Titov's online code, written out plainly with scikit-learn."""
    ends = [max(1, round(p / 100 * len(y))) for p in BLOCK_PERCENTS]
    bits = ends[0] * math.log2(2)
    for start, stop in itertools.pairwise(ends):
        if len(set(y[:start])) < 2:  # no probe fits one class: add-one class frequencies
            counts = np.bincount(y[:start], minlength=2) + 1.0
            bits -= np.log2(counts / counts.sum())[y[start:stop]].sum()
            continue
        model = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000)
        model.fit(x[:start][:, columns], y[:start])
        probabilities = model.predict_proba(x[start:stop][:, columns])
        bits -= np.log2(probabilities[np.arange(stop - start), y[start:stop]]).sum()
    return bits


def test_block_schedule_is_the_standard_one():
    assert block_ends(2000) == [2, 4, 8, 16, 32, 64, 125, 250, 500, 1000, 2000]
    assert block_ends(50)[0] == 1 and block_ends(50)[-1] == 50


@pytest.mark.parametrize("dims", [None, np.array([1, 4])])
def test_codelength_matches_the_plain_reference(problem, dims):
    x, y = problem.x_train, problem.y_train
    code = online_codelength(x, y, dims, problem)
    columns = list(range(x.shape[1])) if dims is None else list(dims)
    # first block 2 labels * 1 bit; probes of 2 rows onward predicted on the next block
    assert code["block_bits"][0] == 2.0
    assert code["online_bits"] == pytest.approx(reference_codelength(x, y, columns), rel=1e-3)
    assert code["uniform_bits"] == 2000.0
    assert code["compression"] == pytest.approx(2000.0 / code["online_bits"])


def test_method_codes_all_dims_and_the_selected_subsets(problem):
    outcome = get_method("mdl")(problem, SearchConfig(k=3, top_k=5, pool_size=10))
    codes = {code["subset"]: code for code in outcome.details["codes"]}
    assert set(codes) == {"all dims", "best pair", "greedy 3"}
    assert sorted(codes["best pair"]["dims"]) == [1, 4]
    # the labels depend on dims 1 and 4 only: the pair compresses about as well as all dims
    assert codes["best pair"]["compression"] > 1.5
    assert codes["best pair"]["compression"] == pytest.approx(
        codes["all dims"]["compression"], rel=0.05
    )


def test_regression_is_skipped_with_the_reason():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    regression = Problem.from_arrays(
        x, x[:, 0], x[:20], x[:20, 0], kind="regression",
        metrics=("pearson",), primary_metric="pearson",
    )  # fmt: skip
    outcome = get_method("mdl")(regression, SearchConfig(k=2))
    assert "classification tasks only" in outcome.details["skipped"]


def test_report_shows_the_codelength_table(problem, tmp_path):
    from probe.report import render_report
    from probe.results import ResultsFile

    outcome = get_method("mdl")(problem, SearchConfig(k=3, top_k=5, pool_size=10))
    cell = outcome.cell(2, "mean", "mdl", 1.0, 0.0)
    path = ResultsFile("probe", "sst2", "accuracy", {"model": "m"}, [cell]).save(
        tmp_path / "r.json"
    )
    markdown = render_report([path], tmp_path / "out").markdown.read_text(encoding="utf-8")
    assert "Description length (MDL, online code)" in markdown
    best_pair = outcome.details["codes"][1]
    assert f"| 2 | mean | best pair [{', '.join(map(str, best_pair['dims']))}] | 2 |" in markdown
    assert f"{best_pair['compression']:.2f} |" in markdown
