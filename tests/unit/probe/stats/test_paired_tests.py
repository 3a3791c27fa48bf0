"""Paired tests: McNemar against a hand computation, Holm against hand numbers, the paired
bootstrap's effect, interval and p-value behaviour, and the random-subset rank test."""

import numpy as np
import pytest
from scipy.stats import binom, norm

from probe.stats.bootstrap import BootstrapSpec, draw_resamples
from probe.stats.paired import holm, mcnemar, paired_bootstrap, random_subset_rank


def test_mcnemar_is_the_exact_binomial_on_discordant_pairs():
    labels = np.zeros(100, dtype=int)
    a = np.zeros(100, dtype=int)
    b = np.zeros(100, dtype=int)
    a[:12] = 1  # a wrong on 12 examples where b is right
    b[12:15] = 1  # b wrong on 3 examples where a is right
    result = mcnemar(labels, a, b)
    # discordant: only_a = 3, only_b = 12; p = 2 * P(X <= 3), X ~ Bin(15, 1/2)
    hand = 2 * sum(binom.pmf(i, 15, 0.5) for i in range(4))
    assert result.p_value == pytest.approx(hand, rel=1e-12)
    assert result.p_value == pytest.approx(0.03515625)
    assert result.effect == pytest.approx((3 - 12) / 100)
    assert result.note == "3 examples right only by the first, 12 only by the second"


def test_mcnemar_without_discordant_examples_has_p_one():
    labels = np.array([0, 1, 1, 0])
    assert mcnemar(labels, labels, labels).p_value == 1.0


def test_holm_matches_hand_computed_adjustments():
    # sorted: 0.01*4=0.04, 0.02*3=0.06, 0.03*2=0.06, 0.5*1=0.5 (monotone: max with previous)
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])
    adjusted = holm([0.01, float("nan"), 0.04])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)
    assert np.isnan(adjusted[1])


def test_paired_bootstrap_of_a_clear_difference_and_of_no_difference():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    better = np.where(rng.random(400) < 0.85, labels, 1 - labels)
    worse = np.where(rng.random(400) < 0.60, labels, 1 - labels)
    spec = BootstrapSpec(n_resamples=2000)
    clear = paired_bootstrap("accuracy", labels, better, worse, spec)
    assert clear.effect == pytest.approx(np.mean(better == labels) - np.mean(worse == labels))
    assert clear.interval.low > 0
    # No resample comes near zero, so the count only says p < 1/2001; the p-value is then the
    # normal tail of the effect over the resampled differences' SD, which for an accuracy
    # difference is the SD of the per-example differences over sqrt(n).
    assert 0 < clear.p_value < 1 / 2001
    per_example = (better == labels).astype(float) - (worse == labels)
    z_expected = abs(clear.effect) / (per_example.std() / np.sqrt(400))
    assert norm.isf(clear.p_value / 2) == pytest.approx(z_expected, rel=0.05)
    assert (
        clear.method
        == "paired bootstrap (2000 resamples, seed 0; p beyond every draw: normal tail)"
    )
    close = paired_bootstrap(
        "accuracy", labels, better, np.where(np.arange(400) < 5, 1 - better, better), spec
    )
    assert close.p_value >= 1 / 2001 and close.method == "paired bootstrap (2000 resamples, seed 0)"
    same = paired_bootstrap("mcc", labels, better, better, spec)
    assert same.effect == 0 and same.p_value == 1.0


def test_paired_bootstrap_interval_is_narrower_than_the_unpaired_one():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    a = np.where(rng.random(300) < 0.8, labels, 1 - labels)
    b = a.copy()
    b[:6] = 1 - b[:6]  # the two probes disagree on 6 examples only
    result = paired_bootstrap("accuracy", labels, a, b, BootstrapSpec())
    # an unpaired difference of two accuracies near 0.8 on 300 examples spans about +-0.065
    assert result.interval.high - result.interval.low < 0.04


def test_paired_bootstrap_with_too_few_examples_is_undefined():
    labels = np.array([0, 1] * 5)
    result = paired_bootstrap("accuracy", labels, labels, 1 - labels, BootstrapSpec())
    assert np.isnan(result.p_value)
    assert "only 10 eval examples" in result.interval.reason


def test_random_subset_rank_is_the_monte_carlo_p_value():
    draws = np.arange(100) / 100.0  # 0.00 .. 0.99
    result = random_subset_rank(0.955, draws)
    assert result.p_value == pytest.approx((1 + 4) / 101)  # 0.96..0.99 beat it
    assert result.effect == pytest.approx(0.955 - 0.495)
    assert "100 draws" in result.method and "normal tail" not in result.method


def test_random_subset_rank_beyond_every_draw_uses_the_normal_tail():
    """200 draws cannot give p below 1/201; Holm over a report's ~50 tests would then call a
    subset far above every draw "not significant". Beyond all draws, p is the normal tail."""
    draws = np.random.default_rng(3).normal(0.5, 0.01, 200)
    result = random_subset_rank(0.56, draws)
    z = (0.56 - draws.mean()) / draws.std(ddof=1)
    assert result.p_value == pytest.approx(norm.sf(z), rel=1e-9)
    assert result.p_value < 1e-6 and "normal tail" in result.method


def test_paired_bootstrap_compares_seed_means():
    """A 3-seed run against a 2-seed run: the effect is the difference of seed means, and on
    every resample too (for accuracy that is the resampled mean of per-example differences
    of the seeds' mean correctness, computed here by hand from the same draw counts)."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 300)
    a = np.stack([np.where(rng.random(300) < p, labels, 1 - labels) for p in (0.8, 0.82, 0.78)], 1)
    b = np.stack([np.where(rng.random(300) < p, labels, 1 - labels) for p in (0.75, 0.77)], 1)
    spec = BootstrapSpec(n_resamples=500)
    result = paired_bootstrap("accuracy", labels, a, b, spec)
    right_a = (a == labels[:, None]).mean(axis=1)
    right_b = (b == labels[:, None]).mean(axis=1)
    assert result.effect == pytest.approx(right_a.mean() - right_b.mean())
    counts = draw_resamples(300, spec).counts
    by_hand = counts @ (right_a - right_b) / counts.sum(axis=1)
    low, high = np.quantile(by_hand, [0.025, 0.975])
    assert result.interval.low == pytest.approx(low, abs=2e-3)
    assert result.interval.high == pytest.approx(high, abs=2e-3)
    assert "mean over 3 vs 2 seeds" in result.method
    one = paired_bootstrap("accuracy", labels, a[:, 0], b[:, 0], spec)
    assert one.effect == pytest.approx(np.mean(a[:, 0] == labels) - np.mean(b[:, 0] == labels))
    assert "seeds" not in one.method
