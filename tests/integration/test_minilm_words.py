"""Word alignment with the real MiniLM tokenizer on tricky sentences and on all of UD EWT dev,
and our strict reader against the ``conllu`` package. Skips without the model or the data."""

from __future__ import annotations

import numpy as np
import pytest

from extract.conllu import read_conllu
from extract.word_alignment import word_table
from tests.conllu_samples import TRICKY, write
from tests.unit.extract.test_word_alignment import check_alignment

pytestmark = pytest.mark.integration


def test_tricky_sentence_aligns_with_minilm(minilm, tmp_path):
    sentences = read_conllu(write(tmp_path / "t.conllu", TRICKY))
    table = word_table(minilm.tokenizer, sentences, max_length=128)
    check_alignment(minilm.tokenizer, sentences, table, 128)
    assert table.kept.all()
    cut = word_table(minilm.tokenizer, sentences, max_length=7)
    check_alignment(minilm.tokenizer, sentences, cut, 7)
    assert (cut.token_span[cut.kept] == table.token_span[cut.kept]).all()
    assert cut.counts()["n_truncated"] == int((~cut.kept).sum()) > 0


def test_every_ewt_dev_word_aligns(minilm, ud_dir):
    sentences = read_conllu(ud_dir / "en_ewt" / "en_ewt-ud-dev.conllu")
    table = word_table(minilm.tokenizer, sentences, max_length=128)
    assert table.n_words == 25_147
    assert table.kept.all()  # no EWT dev sentence is longer than 128 MiniLM tokens
    check_alignment(minilm.tokenizer, sentences[:400], table.take(np.arange(400)), 128)
    counts = table.counts()
    # contractions (did|n't -> "didn", "'", "t") are the only shared tokens
    assert 0 < counts["n_shared_tokens"] < 600


def test_reader_agrees_with_the_conllu_package(ud_dir):
    conllu = pytest.importorskip(
        "conllu", reason="reference parser not installed: pip install conllu"
    )
    for name in ("dev", "test"):
        path = ud_dir / "en_ewt" / f"en_ewt-ud-{name}.conllu"
        ours = read_conllu(path)
        theirs = conllu.parse(path.read_text(encoding="utf-8"))
        assert len(ours) == len(theirs)
        for sentence, reference in zip(ours, theirs, strict=True):
            words = [token for token in reference if isinstance(token["id"], int)]
            assert list(sentence.forms) == [w["form"] for w in words]
            assert list(sentence.upos) == [w["upos"] for w in words]
            assert list(sentence.xpos) == [w["xpos"] or "_" for w in words]
            assert list(sentence.deprel) == [w["deprel"] for w in words]
            assert list(sentence.head) == [w["head"] for w in words]
