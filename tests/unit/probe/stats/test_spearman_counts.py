"""Spearman's rho from draw counts equals ranking every resample (scipy) to 1e-10, whatever
the ties, the blocking of resamples or the sharing of the true-value ranks between calls."""

import numpy as np
import pytest
from scipy import stats

import probe.stats.bootstrap as bootstrap
from probe.stats.bootstrap import BootstrapSpec, Resamples, draw_resamples, weighted_metric

pytestmark = pytest.mark.torch_free

N_ROWS = 90


def duplicated_spearman(truth, predictions, counts):
    """scipy.stats.spearmanr of the rows each resample drew, duplicated -> (B, m)."""
    rho = np.empty((counts.shape[0], predictions.shape[1]))
    for resample, row_counts in enumerate(counts):
        rows = np.repeat(np.arange(truth.size), row_counts.astype(int))
        for column in range(predictions.shape[1]):
            rho[resample, column] = stats.spearmanr(truth[rows], predictions[rows, column])[0]
    return rho


def value_sets():
    rng = np.random.default_rng(7)
    truth = rng.normal(size=N_ROWS)
    return {
        "untied labels": truth,
        "sts-like labels": np.round(truth * 1.3 + 2.5, 0) / 5,  # a handful of values
    }, np.column_stack(
        [
            truth + rng.normal(size=N_ROWS),  # no ties
            np.round(truth + rng.normal(size=N_ROWS), 1),  # some ties
            np.round(truth + rng.normal(size=N_ROWS)),  # runs of many ties
            np.r_[np.full(3, 0.25), rng.normal(size=N_ROWS - 3)],  # one run of three
            (truth > 0).astype(float),  # two values
        ]
    )


@pytest.mark.parametrize("labels", ["untied labels", "sts-like labels"])
def test_rho_equals_scipy_on_the_duplicated_rows(labels):
    truths, predictions = value_sets()
    counts = draw_resamples(N_ROWS, BootstrapSpec(n_resamples=1000, seed=11)).counts[:40]
    ours = weighted_metric("spearman", truths[labels], predictions, counts)
    reference = duplicated_spearman(truths[labels], predictions, counts)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-10)


def test_a_constant_resample_is_undefined_like_scipy():
    truth = np.arange(30.0)
    predictions = np.r_[np.zeros(29), 1.0][:, None]  # constant unless row 29 is drawn
    counts = np.zeros((2, 30))
    counts[0, :3] = 10.0  # rows 0-2 only: predictions constant
    counts[1, [0, 29]] = 15.0
    ours = weighted_metric("spearman", truth, predictions, counts)
    assert np.isnan(ours[0, 0])
    assert ours[1, 0] == pytest.approx(1.0, abs=1e-12)


def test_blocks_of_resamples_give_the_same_numbers(monkeypatch):
    truths, predictions = value_sets()
    resamples = draw_resamples(N_ROWS, BootstrapSpec(n_resamples=1000, seed=3))
    whole = weighted_metric("spearman", truths["sts-like labels"], predictions, resamples)
    monkeypatch.setattr(bootstrap, "SPEARMAN_BLOCK_VALUES", N_ROWS * 64)  # 16 blocks
    blocked = weighted_metric(
        "spearman", truths["sts-like labels"], predictions, Resamples(resamples.counts)
    )
    np.testing.assert_array_equal(blocked, whole)


def test_sentence_groups_rank_rows_by_their_sentences_counts():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(30), 3)  # 30 sentences of 3 rows
    truth = np.round(rng.normal(size=90), 1)
    predictions = (truth + rng.normal(size=90))[:, None]
    resamples = draw_resamples(90, BootstrapSpec(n_resamples=1000, seed=2), groups)
    ours = weighted_metric("spearman", truth, predictions, resamples)
    reference = duplicated_spearman(truth, predictions, resamples.row_weights()[:25])
    np.testing.assert_allclose(ours[:25], reference, rtol=0, atol=1e-10)


def test_true_ranks_are_kept_for_the_next_call_on_the_same_labels():
    truths, predictions = value_sets()
    resamples = Resamples(draw_resamples(N_ROWS, BootstrapSpec(n_resamples=1000)).counts)
    first = weighted_metric("spearman", truths["untied labels"], predictions, resamples)
    kept = dict(resamples.derived)
    assert len(kept) == 1
    again = weighted_metric("spearman", truths["untied labels"], predictions[:, ::-1], resamples)
    assert resamples.derived == kept  # reused, not recomputed
    np.testing.assert_array_equal(again, first[:, ::-1])
    other = weighted_metric("spearman", truths["sts-like labels"], predictions, resamples)
    assert len(resamples.derived) == 1 and resamples.derived != kept  # replaced
    fresh = weighted_metric(
        "spearman", truths["sts-like labels"], predictions, Resamples(resamples.counts)
    )
    np.testing.assert_array_equal(other, fresh)


def test_float64_running_sums_give_the_same_numbers(monkeypatch):
    import probe.stats.spearman as spearman

    truths, predictions = value_sets()
    counts = draw_resamples(N_ROWS, BootstrapSpec(n_resamples=1000, seed=8)).counts
    in_float32 = weighted_metric("spearman", truths["sts-like labels"], predictions, counts)
    monkeypatch.setattr(spearman, "FLOAT32_EXACT", 0)  # as if a resample held 2^24 rows
    in_float64 = weighted_metric("spearman", truths["sts-like labels"], predictions, counts)
    np.testing.assert_array_equal(in_float64, in_float32)
