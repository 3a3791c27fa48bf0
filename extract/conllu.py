"""A strict CoNLL-U reader: sentences, their words, labels and the text the model sees.

Why our own parser and not the ``conllu`` package: ``conllu`` reads leniently (a word
without UPOS becomes ``None``, a HEAD pointing past the sentence is kept) and does not say
on which line a problem is. Here every malformed line is a :class:`~probe.errors.DataError`
naming ``file:line``, raised before anything is written. A test checks that both readers
agree on UD English EWT.

What the format defines (https://universaldependencies.org/format.html) and how it is read:

* 10 tab-separated columns: ID, FORM, LEMMA, UPOS, XPOS, FEATS, HEAD, DEPREL, DEPS, MISC;
  ``#`` lines are comments; a blank line ends a sentence.
* A *word* has an integer ID; IDs run 1, 2, ... within a sentence. Its UPOS, HEAD (0 = root,
  else a word ID of the sentence) and DEPREL are required; XPOS may be ``_``.
* A *multiword token* (ID ``3-4``) is a surface token made of the words 3..4 that follow it:
  the text holds its FORM, not the words' forms. When the words' forms spell the token
  exactly (English ``did`` + ``n't`` = ``didn't``), each word gets its own characters of
  the text; otherwise every word of the token gets the whole token's characters.
* *Empty nodes* (ID ``8.1``) are not words of the text: checked and skipped.
* The text is the surface tokens joined by a space, except after a token whose MISC holds
  ``SpaceAfter=No``.

No torch here; :mod:`extract.word_alignment` maps each word's characters to subword tokens,
and :mod:`extract.treebank` makes a file a split with its word table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from probe.errors import DataError

N_COLUMNS = 10
WORD_LABELS: tuple[str, ...] = ("upos", "xpos", "deprel")
_RANGE_ID = re.compile(r"^([1-9][0-9]*)-([1-9][0-9]*)$")
_EMPTY_ID = re.compile(r"^(0|[1-9][0-9]*)\.([1-9][0-9]*)$")
_WORD_ID = re.compile(r"^[1-9][0-9]*$")


@dataclass(frozen=True)
class ConlluSentence:
    """One sentence: ``text`` as the model reads it and its words, in ID order.

    ``char_spans[j]`` = (start, stop) characters of word j in ``text``; ``head[j]`` is the
    CoNLL-U HEAD (0 = root, else a 1-based word ID); ``line`` the file line of its first word.
    """

    text: str
    forms: tuple[str, ...]
    upos: tuple[str, ...]
    xpos: tuple[str, ...]
    deprel: tuple[str, ...]
    head: tuple[int, ...]
    char_spans: tuple[tuple[int, int], ...]
    line: int
    sent_id: str = ""

    def __len__(self) -> int:
        return len(self.forms)

    def labels(self, name: str) -> tuple[str, ...]:
        """The per-word label column ``name`` (one of :data:`WORD_LABELS`)."""
        return {"upos": self.upos, "xpos": self.xpos, "deprel": self.deprel}[name]


class _SentenceBuilder:
    """Collects one sentence's lines; :meth:`finish` checks and assembles it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent_id = ""
        self.words: list[tuple[int, list[str]]] = []  # (line, columns)
        self.ranges: dict[
            int, tuple[int, int, str, bool]
        ] = {}  # first id -> (line, last, form, space)
        self.pending_range_until = 0
        self.empty_after: int = 0

    def fail(self, line: int, problem: str) -> DataError:
        return DataError(
            f"{self.path}:{line}: {problem}. Fix that line (CoNLL-U: 10 tab-separated columns "
            "ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC; "
            "https://universaldependencies.org/format.html)."
        )

    def add(self, line: int, text: str) -> None:
        columns = text.split("\t")
        if len(columns) != N_COLUMNS:
            raise self.fail(
                line, f"expected {N_COLUMNS} tab-separated columns, found {len(columns)}"
            )
        token_id = columns[0]
        expected = len(self.words) + 1
        if _WORD_ID.match(token_id):
            if int(token_id) != expected:
                raise self.fail(line, f"word ID {token_id} out of order (expected {expected})")
            if not columns[1]:
                raise self.fail(line, f"word {token_id} has an empty FORM")
            if columns[3] in ("", "_"):
                raise self.fail(line, f"word {token_id} ({columns[1]!r}) has no UPOS")
            if not _WORD_ID.match(columns[6]) and columns[6] != "0":
                raise self.fail(line, f"word {token_id} has a non-integer HEAD {columns[6]!r}")
            if columns[7] in ("", "_"):
                raise self.fail(line, f"word {token_id} ({columns[1]!r}) has no DEPREL")
            self.words.append((line, columns))
            return
        match = _RANGE_ID.match(token_id)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            if first != expected or last <= first:
                raise self.fail(
                    line,
                    f"multiword token range {token_id} must start at word {expected} and end after it",
                )
            if self.pending_range_until >= first:
                raise self.fail(line, f"multiword token range {token_id} overlaps the previous one")
            self.ranges[first] = (line, last, columns[1], _space_after(columns[9]))
            self.pending_range_until = last
            return
        match = _EMPTY_ID.match(token_id)
        if match:
            if int(match.group(1)) != expected - 1:
                raise self.fail(line, f"empty node {token_id} must follow word {expected - 1}")
            return
        raise self.fail(
            line, f"ID {token_id!r} is not an integer, a range like 3-4 or a decimal like 8.1"
        )

    def finish(self, end_line: int) -> ConlluSentence | None:
        if not self.words:
            return None
        n_words = len(self.words)
        for first, (line, last, _, _) in self.ranges.items():
            if last > n_words:
                raise self.fail(
                    line,
                    f"multiword token range {first}-{last} runs past the sentence's {n_words} words",
                )
        heads = []
        for line, columns in self.words:
            head = int(columns[6])
            if head > n_words:
                raise self.fail(
                    line,
                    f"word {columns[0]} has HEAD {head}, beyond the sentence's {n_words} words",
                )
            if head == int(columns[0]):
                raise self.fail(line, f"word {columns[0]} has itself as HEAD")
            heads.append(head)
        text_parts: list[str] = []
        spans: list[tuple[int, int]] = [(0, 0)] * n_words
        cursor = 0
        word = 0
        while word < n_words:
            word_id = word + 1
            if word_id in self.ranges:
                _, last, form, space = self.ranges[word_id]
                members = range(word, last)
                member_forms = [self.words[m][1][1] for m in members]
                if "".join(member_forms) == form:
                    offset = cursor
                    for member, member_form in zip(members, member_forms, strict=True):
                        spans[member] = (offset, offset + len(member_form))
                        offset += len(member_form)
                else:
                    for member in members:
                        spans[member] = (cursor, cursor + len(form))
                word = last
            else:
                columns = self.words[word][1]
                form, space = columns[1], _space_after(columns[9])
                spans[word] = (cursor, cursor + len(form))
                word += 1
            text_parts.append(form)
            cursor += len(form)
            if space and word < n_words:
                text_parts.append(" ")
                cursor += 1
        return ConlluSentence(
            text="".join(text_parts),
            forms=tuple(columns[1] for _, columns in self.words),
            upos=tuple(columns[3] for _, columns in self.words),
            xpos=tuple(columns[4] for _, columns in self.words),
            deprel=tuple(columns[7] for _, columns in self.words),
            head=tuple(heads),
            char_spans=tuple(spans),
            line=self.words[0][0],
            sent_id=self.sent_id,
        )


def _space_after(misc: str) -> bool:
    return "SpaceAfter=No" not in misc.split("|")


def read_conllu(path: str | Path) -> list[ConlluSentence]:
    """Every sentence of a CoNLL-U file, in file order.

    Raises :class:`DataError` naming ``file:line`` for a malformed line (wrong column count,
    an ID that is no integer / range / decimal, a word without UPOS or DEPREL, a HEAD that is
    not an integer or points outside the sentence), and for a file without any word.
    """
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"CoNLL-U file {path} does not exist; check the path.") from None
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path} is not UTF-8 ({error.reason} at byte {error.start}); CoNLL-U files are UTF-8."
        ) from None
    sentences: list[ConlluSentence] = []
    builder = _SentenceBuilder(path)
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r")
        if not text.strip():
            sentence = builder.finish(number)
            if sentence is not None:
                sentences.append(sentence)
            builder = _SentenceBuilder(path)
        elif text.startswith("#"):
            if builder.words:
                raise builder.fail(
                    number, "a comment line inside a sentence (comments go before its first word)"
                )
            key, _, value = text[1:].partition("=")
            if key.strip() == "sent_id":
                builder.sent_id = value.strip()
        else:
            builder.add(number, text)
    sentence = builder.finish(len(lines) + 1)
    if sentence is not None:
        sentences.append(sentence)
    if not sentences:
        raise DataError(
            f"CoNLL-U file {path} holds no sentence (no word lines); pass a non-empty treebank file."
        )
    return sentences


def default_task_name(path: str | Path) -> str:
    """``en_ewt-ud-dev.conllu`` -> ``ud-en_ewt``; ``my_tb-train.conllu`` -> ``ud-my_tb``.

    The treebank's name, so a train file and an eval file of one treebank share it (caches
    of two tasks cannot be paired): UD's ``-ud-<split>`` suffix, or a trailing split word
    after ``-``, ``_`` or ``.``, is dropped.
    """
    stem = Path(path).stem
    if "-ud-" in stem:
        return f"ud-{stem.split('-ud-')[0]}"
    treebank = re.sub(r"[-_.](train|dev|devel|validation|test)$", "", stem, flags=re.IGNORECASE)
    return f"ud-{treebank or stem}"
