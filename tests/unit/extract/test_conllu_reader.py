"""The strict CoNLL-U reader: text rebuilt from words, multiword tokens, empty nodes, and
malformed lines refused with file:line."""

from __future__ import annotations

import pytest

from extract.conllu import read_conllu
from probe.errors import DataError
from tests.conllu_samples import TRICKY, line, write


def test_text_words_and_spans_follow_the_format(tmp_path):
    first, second = read_conllu(write(tmp_path / "t.conllu", TRICKY))
    assert first.text == "They didn't go, gonna see café naïve!!!"
    assert first.forms == (
        "They",
        "did",
        "n't",
        "go",
        ",",
        "gon",
        "na",
        "see",
        "café",
        "naïve",
        "!!!",
    )
    assert first.sent_id == "s1"
    # parts that spell their multiword token get their own characters
    spelled = [first.text[start:stop] for start, stop in first.char_spans]
    assert spelled == list(first.forms)
    assert first.upos[:4] == ("PRON", "AUX", "PART", "VERB")
    assert first.head == (3, 4, 4, 0, 4, 4, 8, 6, 8, 9, 4)
    # the empty node 4.1 is not a word; the range line's MISC decides the space after it
    assert second.text == "vámonos ..."
    # parts that do not spell the token (vamos + nos != vámonos) share the whole token
    assert second.char_spans[:2] == ((0, 7), (0, 7))
    assert second.char_spans[2] == (8, 11)


BAD_LINES = [
    ("1\tdog\tdog\tNOUN\tNN\t_\t0\troot\t_", "expected 10 tab-separated columns, found 9"),
    (line("x", "dog"), "ID 'x' is not an integer"),
    (line("1", "dog", upos="_"), "has no UPOS"),
    (line("1", "dog", head="2"), "HEAD 2, beyond the sentence's 1 words"),
    (line("1", "dog", head="one"), "non-integer HEAD 'one'"),
    (line("2", "dog"), "word ID 2 out of order"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_LINES)
def test_malformed_line_names_file_and_line(tmp_path, bad, message):
    text = "# sent_id = a\n" + line("1", "cat") + "\n\n# sent_id = b\n" + bad + "\n\n"
    path = write(tmp_path / "bad.conllu", text)
    with pytest.raises(DataError) as raised:
        read_conllu(path)
    assert f"{path}:5:" in str(raised.value)
    assert message in str(raised.value)


def test_empty_file_is_a_clear_error(tmp_path):
    for content in ("", "# only a comment\n\n"):
        with pytest.raises(DataError, match="holds no sentence"):
            read_conllu(write(tmp_path / "empty.conllu", content))


def test_train_and_eval_files_of_one_treebank_share_a_task_name():
    from extract.conllu import default_task_name

    assert default_task_name("x/en_ewt-ud-dev.conllu") == "ud-en_ewt"
    assert default_task_name("en_ewt-ud-test.conllu") == "ud-en_ewt"
    assert default_task_name("my_tb-train.conllu") == default_task_name("my_tb.test.conllu")
    assert default_task_name("notes.conllu") == "ud-notes"
