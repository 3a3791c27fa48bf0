"""The word table: every word of every example, its subword span and its labels.

Plain numpy, in example order; ``probe.cache`` writes it (reordered to the cache's
extraction order) and reads it back. Shapes: ``N`` examples, ``W`` words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class WordTable:
    """Words of ``N`` examples, concatenated.

    ``offsets`` (N+1,) int64: example i owns words offsets[i]:offsets[i+1].
    ``token_span`` (W, 2) int32: [start, stop) token positions within the example (0 is
    the first token, [CLS] for BERT); (-1, -1) for a dropped word (cut by ``max_length``, or
    no subword at all). ``labels[name]`` (W,) int16 codes into ``label_names[name]``.
    ``head`` (W,) int32 CoNLL-U HEAD (0 = root, else the 1-based word index in the example).
    ``forms`` (W,) the words' forms. ``n_tokens`` (N,) tokens of each example (the
    extractor checks its own tokenization against it; not stored). ``drop_reason`` (W,)
    int8: 0 kept, 1 cut by ``max_length``, 2 no subword; ``shared_tokens`` (N,) tokens
    of each example that belong to two words (both only feed the counts in the cache meta).
    """

    offsets: np.ndarray
    token_span: np.ndarray
    labels: dict[str, np.ndarray]
    label_names: dict[str, list[str]]
    head: np.ndarray
    forms: list[str]
    n_tokens: np.ndarray | None = None
    drop_reason: np.ndarray | None = None
    shared_tokens: np.ndarray | None = None

    @property
    def n_examples(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_words(self) -> int:
        return int(self.offsets[-1])

    @property
    def kept(self) -> np.ndarray:
        """(W,) bool: words that have a subword span (not dropped)."""
        return self.token_span[:, 0] >= 0

    def take(self, examples: np.ndarray) -> WordTable:
        """The table of ``examples`` (positions into this table), in that order."""
        examples = np.asarray(examples, dtype=np.int64)
        lengths = np.diff(self.offsets)[examples]
        offsets = np.zeros(len(examples) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = self.offsets[examples]
        # word positions of the chosen examples, example after example: (W',)
        words = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return WordTable(
            offsets=offsets,
            token_span=self.token_span[words],
            labels={name: codes[words] for name, codes in self.labels.items()},
            label_names=self.label_names,
            head=self.head[words],
            forms=[self.forms[w] for w in words],
            n_tokens=None if self.n_tokens is None else self.n_tokens[examples],
            drop_reason=None if self.drop_reason is None else self.drop_reason[words],
            shared_tokens=None if self.shared_tokens is None else self.shared_tokens[examples],
        )

    def counts(self) -> dict[str, int]:
        """Words, and how many alignment dropped or shared (what ``fewdims info`` reports)."""
        reason = np.zeros(self.n_words, np.int8) if self.drop_reason is None else self.drop_reason
        return {
            "n_words": self.n_words,
            "n_truncated": int(np.count_nonzero(reason == 1)),
            "n_without_subwords": int(np.count_nonzero(reason == 2)),
            "n_shared_tokens": 0 if self.shared_tokens is None else int(self.shared_tokens.sum()),
        }

    def digest(self) -> str:
        """sha256 of everything stored (spans, labels, vocabularies, heads, forms)."""
        import hashlib
        import json

        hasher = hashlib.sha256()
        for array in (self.offsets, self.token_span, self.head, *self.labels.values()):
            hasher.update(np.ascontiguousarray(array).tobytes())
        hasher.update(json.dumps([self.label_names, self.forms]).encode("utf-8", "surrogatepass"))
        return hasher.hexdigest()
