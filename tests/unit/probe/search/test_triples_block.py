"""The flat single-output triple screen equals GramScreen.extend with one fixed dim."""

from __future__ import annotations

import numpy as np
import pytest

from probe.search.gram import GramScreen
from probe.search.pairs import all_pairs
from probe.search.triples import _block_single_output
from tests.unit.probe.search.test_results_unchanged import golden_problem


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_block_screen_equals_the_general_extend(kind):
    screen = GramScreen.for_problem(golden_problem(kind))
    pairs = all_pairs(screen.n_dims)
    for fixed in (0, 7, 30):
        block = pairs[pairs[:, 0] > fixed]
        coef, criterion = screen.extend(np.array([fixed]), block)
        fast_coef, fast_criterion = _block_single_output(
            screen,
            fixed,
            block,
            screen.fit_gram[block[:, 0], block[:, 1]],
            screen.val_gram[block[:, 0], block[:, 1]],
        )
        np.testing.assert_allclose(fast_coef, coef, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(fast_criterion, criterion, rtol=1e-13)
