"""One draw per eval set and settings: a repeated draw is the same read-only matrix."""

import numpy as np
import pytest

from probe.stats.bootstrap import BootstrapSpec, draw_resamples

pytestmark = pytest.mark.torch_free


def test_the_same_arguments_return_the_same_read_only_draw():
    spec = BootstrapSpec(n_resamples=1000, seed=9)
    first = draw_resamples(120, spec)
    assert draw_resamples(120, spec) is first
    assert not first.counts.flags.writeable
    with pytest.raises(ValueError):
        first.counts[0, 0] = 5.0


def test_a_repeated_draw_equals_a_fresh_one():
    spec = BootstrapSpec(n_resamples=1000, seed=9)
    first = draw_resamples(120, spec).counts.copy()
    draw_resamples(121, spec)  # another eval set in between replaces the kept draw
    again = draw_resamples(120, spec)
    np.testing.assert_array_equal(again.counts, first)


def test_other_seeds_sizes_and_groups_are_other_draws():
    spec = BootstrapSpec(n_resamples=1000, seed=9)
    base = draw_resamples(120, spec)
    assert draw_resamples(120, BootstrapSpec(n_resamples=1000, seed=10)) is not base
    assert draw_resamples(120, BootstrapSpec(n_resamples=2000, seed=9)).n_resamples == 2000
    by_pairs = draw_resamples(120, spec, np.repeat(np.arange(60), 2))
    by_triples = draw_resamples(120, spec, np.repeat(np.arange(40), 3))
    assert by_pairs.counts.shape == (1000, 60)
    assert by_triples.counts.shape == (1000, 40)
