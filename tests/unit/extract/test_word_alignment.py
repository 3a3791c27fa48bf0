"""Subword -> word alignment never misaligns: tricky words, shared tokens, truncation.

With the tiny WordPiece tokenizer of ``tests/conftest.py`` (letters as pieces, so unknown
words split into many subwords; lower-casing strips accents, so offsets must still point
into the original text).
"""

from __future__ import annotations

import numpy as np
import pytest

from extract.conllu import read_conllu
from extract.word_alignment import align_words, word_table
from tests.conllu_samples import TRICKY, write


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def check_alignment(tokenizer, sentences, table, max_length):
    """Every kept word's span holds exactly the tokens that overlap its characters."""
    for index, sentence in enumerate(sentences):
        encoded = tokenizer(
            sentence.text,
            truncation=True,
            max_length=max_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        offsets, special = encoded["offset_mapping"], encoded["special_tokens_mask"]
        words = range(table.offsets[index], table.offsets[index + 1])
        covered = np.zeros(len(offsets), dtype=bool)
        for word, (char_start, char_stop) in zip(words, sentence.char_spans, strict=True):
            start, stop = table.token_span[word]
            if start < 0:
                continue
            overlapping = [
                position
                for position, (a, b) in enumerate(offsets)
                if not special[position] and b > a and a < char_stop and b > char_start
            ]
            assert list(range(start, stop)) == overlapping, (sentence.text, word)
            covered[start:stop] = True
        real = np.asarray([not s and b > a for s, (a, b) in zip(special, offsets, strict=True)])
        uncovered = np.flatnonzero(real & ~covered)
        # only the tokens of a word cut by max_length (the tail) may belong to no kept word
        last_covered = np.flatnonzero(covered).max(initial=-1)
        assert (uncovered > last_covered).all(), "a token inside the text belongs to no word"


def test_tricky_sentence_aligns(tmp_path, tokenizer):
    sentences = read_conllu(write(tmp_path / "t.conllu", TRICKY))
    table = word_table(tokenizer, sentences, max_length=128)
    check_alignment(tokenizer, sentences, table, 128)
    assert table.kept.all()
    first = sentences[0]
    spans = table.token_span[: len(first)]
    # "naïve" is not in the vocabulary: many letter subwords, all of them its own
    naive = first.forms.index("naïve")
    assert spans[naive, 1] - spans[naive, 0] == len("naive")
    # "!!!" is a run of three punctuation tokens
    bang = first.forms.index("!!!")
    assert spans[bang, 1] - spans[bang, 0] == 3
    # "did" + "n't": the tokenizer's "didn"-like pieces may be shared, never shifted
    did, nt = first.forms.index("did"), first.forms.index("n't")
    assert spans[did, 0] < spans[nt, 1] and spans[did, 1] <= spans[nt, 1]
    # vámonos: both parts get the whole token's subwords
    second_spans = table.token_span[len(first) : len(first) + 2]
    assert (second_spans[0] == second_spans[1]).all()
    assert table.counts()["n_shared_tokens"] > 0


def test_truncation_drops_words_and_never_shifts(tmp_path, tokenizer):
    sentences = read_conllu(write(tmp_path / "t.conllu", TRICKY))
    full = word_table(tokenizer, sentences, max_length=128)
    cut = word_table(tokenizer, sentences, max_length=8)
    check_alignment(tokenizer, sentences, cut, 8)
    kept = cut.kept
    # kept words keep exactly their untruncated spans; the rest are dropped, and counted
    assert (cut.token_span[kept] == full.token_span[kept]).all()
    assert (cut.token_span[~kept] == -1).all()
    assert cut.counts()["n_truncated"] == int((~kept).sum()) > 0
    assert cut.token_span[kept].max() <= 7  # inside the 8 kept positions, [SEP] excluded


def test_align_words_by_character_overlap():
    # tokens: [CLS] "do" "n" "'" "t" [SEP] over the text "don't" with words "do" and "n't"
    offsets = np.array([[0, 0], [0, 2], [2, 3], [3, 4], [4, 5], [0, 0]])
    special = np.array([1, 0, 0, 0, 0, 1], dtype=bool)
    spans, shared = align_words(offsets, special, np.array([[0, 2], [2, 5]]))
    assert spans.tolist() == [[1, 2], [2, 5]] and shared == 0
    # one token "don" straddling both words belongs to both
    offsets = np.array([[0, 0], [0, 3], [3, 4], [4, 5], [0, 0]])
    special = np.array([1, 0, 0, 0, 1], dtype=bool)
    spans, shared = align_words(offsets, special, np.array([[0, 2], [2, 5]]))
    assert spans.tolist() == [[1, 2], [1, 4]] and shared == 1
    # a word with no token (characters the tokenizer dropped) gets no span
    spans, _ = align_words(offsets, special, np.array([[0, 3], [6, 7]]))
    assert spans[1].tolist() == [-1, -1]
