"""``fewdims verify`` checks of a cache's word tables (see ``probe.cache`` for the layout).

Each check is a cross-check between arrays: word offsets against the word count, every
kept word's subword span inside its example's tokens and never on a special token,
label codes inside their vocabularies, and HEADs inside their sentence.
"""

from __future__ import annotations

import numpy as np

from probe.cache import WORD_LABEL_NAMES, Cache
from probe.errors import CacheError


def word_table_problems(cache: Cache) -> list[tuple[str, str]]:
    """(dataset, problem) pairs; empty when the word tables are consistent (or absent)."""
    if not cache.has_words:
        return []
    try:
        offsets = cache.word_offsets
        spans = cache.word_token_spans()
        heads = cache.word_heads()
        codes = {name: cache.word_labels(name) for name in WORD_LABEL_NAMES}
        special = cache.special_tokens()
    except CacheError as error:
        return [("words", str(error))]
    problems = []
    n_words = int(cache.meta.words["n_words"])
    if offsets[0] != 0 or offsets[-1] != n_words or np.any(np.diff(offsets) < 0):
        problems.append(("words/offsets", f"not 0..{n_words} non-decreasing"))
        return problems
    example_of_word = np.repeat(np.arange(cache.n_examples), np.diff(offsets))
    lengths = cache.lengths[example_of_word]
    kept = spans[:, 0] >= 0
    bad_span = kept & ((spans[:, 1] <= spans[:, 0]) | (spans[:, 1] > lengths))
    dropped_wrong = ~kept & (spans[:, 1] != -1)
    if np.any(bad_span | dropped_wrong):
        count = int(np.count_nonzero(bad_span | dropped_wrong))
        problems.append(("words/token_span", f"{count} span(s) outside their example's tokens"))
    else:
        starts = cache.offsets[example_of_word[kept]] + spans[kept, 0]
        stops = cache.offsets[example_of_word[kept]] + spans[kept, 1]
        marks = np.zeros(cache.n_tokens + 1, dtype=np.int64)
        np.add.at(marks, starts, 1)
        np.add.at(marks, stops, -1)
        on_special = (np.cumsum(marks)[:-1] > 0) & special
        if on_special.any():
            problems.append(
                ("words/token_span", f"{int(on_special.sum())} special token(s) inside word spans")
            )
    for name, values in codes.items():
        size = len(cache.word_label_names(name))
        if values.size and (values.min() < 0 or values.max() >= size):
            problems.append((f"words/{name}", f"codes outside the {size}-label vocabulary"))
    words_in_sentence = np.diff(offsets)[example_of_word]
    if np.any((heads < 0) | (heads > words_in_sentence)):
        problems.append(("words/head", "HEAD outside its sentence"))
    return problems
