"""group_by_length: every row once per epoch, far less padding, fixed by the seed."""

from __future__ import annotations

import numpy as np

from extract.finetune.batches import GROUP_BATCHES, training_order


def _padded_tokens(batches: list[np.ndarray], lengths: np.ndarray) -> int:
    return int(sum(len(batch) * lengths[batch].max() for batch in batches))


def test_grouped_batches_cover_every_row_once_with_less_padding():
    rng = np.random.default_rng(0)
    n_rows, batch_size = 3 * GROUP_BATCHES * 8 + 13, 8  # three full groups and a ragged tail
    lengths = rng.geometric(0.08, size=n_rows) + 2  # skewed like SST-2 phrase lengths
    shuffled = training_order(n_rows, batch_size, seed=1, stage=1, epoch=1)
    grouped = training_order(n_rows, batch_size, seed=1, stage=1, epoch=1, lengths=lengths)
    assert np.array_equal(np.sort(np.concatenate(grouped)), np.arange(n_rows))
    assert max(len(batch) for batch in grouped) == batch_size
    assert len(grouped) == len(shuffled)  # groups hold whole batches; only the last is short
    assert _padded_tokens(grouped, lengths) < 0.7 * _padded_tokens(shuffled, lengths)
    # Within a batch lengths are close: sorted inside a group of GROUP_BATCHES batches.
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in grouped])
    assert spread < 0.25 * np.mean([lengths[b].max() - lengths[b].min() for b in shuffled])


def test_grouped_order_is_fixed_by_seed_stage_and_epoch():
    lengths = np.arange(500) % 37 + 1
    first = training_order(500, 16, seed=3, stage=1, epoch=2, lengths=lengths)
    again = training_order(500, 16, seed=3, stage=1, epoch=2, lengths=lengths)
    other = training_order(500, 16, seed=3, stage=1, epoch=3, lengths=lengths)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=False))


def test_without_lengths_the_order_is_unchanged():
    rng = np.random.default_rng([5, 1, 1])
    order = rng.permutation(100)
    batches = training_order(100, 32, seed=5, stage=1, epoch=1)
    assert np.array_equal(np.concatenate(batches), order)
    assert [len(b) for b in batches] == [32, 32, 32, 4]
