"""Subword -> word alignment by character offsets, and the word table of a CoNLL-U split.

Why offsets and not ``is_split_into_words``: pre-split input changes what the model reads
(BERT would see ``do n ' t`` for EWT's words ``do`` + ``n't`` instead of ``don ' t``), so
the cached vectors would not be the model's vectors for the sentence. Here the sentence
text is tokenized as-is, with the tokenizer's offset mapping, and a word's *subword span*
is every token whose characters overlap the word's characters. Consequences, all checked
by tests:

* a word never receives a token that holds none of its characters (no shifting);
* a token that straddles two words (``didn`` in ``didn't`` = ``did`` + ``n't``) belongs to
  both spans; such tokens are counted (``n_shared_tokens``);
* words whose tokens were cut by ``max_length`` (even partly) are *dropped*: span
  (-1, -1), counted in ``n_truncated``; a word none of whose characters the tokenizer keeps
  (a lone control character) is dropped and counted in ``n_without_subwords``.

Spans are positions within the example's token sequence, specials included (position 0 is
[CLS]); the cache adds the example's token offset. Needs a *fast* tokenizer (offsets).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from extract.conllu import WORD_LABELS, ConlluSentence
from probe.errors import DataError
from probe.words.table import WordTable

TOKENIZE_CHUNK = 4096


def align_words(
    offsets: np.ndarray, special: np.ndarray, char_spans: np.ndarray
) -> tuple[np.ndarray, int]:
    """Token span of every word: (w, 2) int64 [start, stop) positions, (-1, -1) if none.

    ``offsets`` (t, 2) character offsets of the example's tokens, ``special`` (t,) marks
    [CLS]/[SEP]/padding (never part of a word), ``char_spans`` (w, 2) the words' characters.
    A token belongs to a word when their character ranges overlap. Returns the spans and the
    number of tokens that belong to more than one word.
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    char_spans = np.asarray(char_spans, dtype=np.int64).reshape(-1, 2)
    real = ~np.asarray(special, dtype=bool) & (offsets[:, 1] > offsets[:, 0])
    positions = np.flatnonzero(real)
    starts, stops = offsets[positions, 0], offsets[positions, 1]
    if np.any(np.diff(starts) < 0) or np.any(np.diff(stops) < 0):
        raise DataError(
            "The tokenizer's character offsets are not in text order; word alignment needs a "
            "left-to-right tokenizer (a fast Hugging Face tokenizer)."
        )
    # first token ending after the word starts, last token starting before the word ends
    first = np.searchsorted(stops, char_spans[:, 0], side="right")
    last = np.searchsorted(starts, char_spans[:, 1], side="left") - 1
    has_tokens = (first <= last) & (char_spans[:, 1] > char_spans[:, 0])
    spans = np.full((len(char_spans), 2), -1, dtype=np.int64)
    spans[has_tokens, 0] = positions[first[has_tokens]]
    spans[has_tokens, 1] = positions[last[has_tokens]] + 1
    owners = np.zeros(len(offsets), dtype=np.int64)
    for start, stop in spans[has_tokens]:
        owners[start:stop] += 1
    return spans, int(np.count_nonzero(owners > 1))


def word_table(tokenizer: Any, sentences: Sequence[ConlluSentence], max_length: int) -> WordTable:
    """Tokenize every sentence (as the extractor will) and align its words to tokens.

    The spans index the *truncated* encoding the extractor caches; a word is kept only if
    all of its tokens in the untruncated encoding survive the cut.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(
            f"Word alignment needs a fast tokenizer with character offsets; "
            f"{type(tokenizer).__name__} is a slow one. Use a model that ships tokenizer.json."
        )
    vocabularies = {
        name: sorted({tag for s in sentences for tag in s.labels(name)}) for name in WORD_LABELS
    }
    codes = {
        name: {tag: code for code, tag in enumerate(tags)} for name, tags in vocabularies.items()
    }
    span_rows: list[np.ndarray] = []
    reason_rows: list[np.ndarray] = []
    n_tokens: list[int] = []
    shared: list[int] = []
    common = {"return_offsets_mapping": True, "return_special_tokens_mask": True, "verbose": False}
    for start in range(0, len(sentences), TOKENIZE_CHUNK):
        chunk = sentences[start : start + TOKENIZE_CHUNK]
        texts = [sentence.text for sentence in chunk]
        kept = tokenizer(texts, truncation=True, max_length=max_length, **common)
        full = tokenizer(texts, truncation=False, **common)
        for index, sentence in enumerate(chunk):
            char_spans = np.asarray(sentence.char_spans, dtype=np.int64)
            spans, n_shared = align_words(
                kept["offset_mapping"][index], kept["special_tokens_mask"][index], char_spans
            )
            full_spans, _ = align_words(
                full["offset_mapping"][index], full["special_tokens_mask"][index], char_spans
            )
            full_width = full_spans[:, 1] - full_spans[:, 0]
            cut = (spans[:, 0] < 0) | (spans[:, 1] - spans[:, 0] != full_width)
            no_tokens = full_spans[:, 0] < 0
            spans[cut | no_tokens] = -1
            reason_rows.append(np.where(no_tokens, 2, np.where(cut, 1, 0)).astype(np.int8))
            shared.append(n_shared)
            span_rows.append(spans)
            n_tokens.append(len(kept["input_ids"][index]))
    lengths = np.array([len(sentence) for sentence in sentences], dtype=np.int64)
    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    table = WordTable(
        offsets=offsets,
        token_span=np.concatenate(span_rows).astype(np.int32),
        labels={
            name: np.fromiter(
                (codes[name][tag] for s in sentences for tag in s.labels(name)),
                dtype=np.int16,
                count=int(offsets[-1]),
            )
            for name in WORD_LABELS
        },
        label_names=vocabularies,
        head=np.fromiter(
            (h for s in sentences for h in s.head), dtype=np.int32, count=int(offsets[-1])
        ),
        forms=[form for sentence in sentences for form in sentence.forms],
        n_tokens=np.asarray(n_tokens, dtype=np.int64),
        drop_reason=np.concatenate(reason_rows) if reason_rows else np.zeros(0, np.int8),
        shared_tokens=np.asarray(shared, dtype=np.int32),
    )
    return table


def check_word_spans(words: WordTable, lengths: np.ndarray, source: str) -> None:
    """Refuse to cache word spans that do not fit the extractor's own tokenization.

    ``lengths`` (N,) token counts the extractor got; the word table was tokenized with the
    same call and truncation, so they must agree token for token in number.
    """
    if words.n_tokens is None:
        return
    mismatched = np.flatnonzero(np.asarray(words.n_tokens) != np.asarray(lengths))
    if mismatched.size:
        raise DataError(
            f"Word alignment of {source} tokenized {mismatched.size} example(s) differently "
            f"from the extractor (first: example {int(mismatched[0])}); the word spans would "
            "misalign. Report this with the model name."
        )
