"""Small CoNLL-U texts for the word-level tests (tricky cases of the format and alignment)."""

from __future__ import annotations

from pathlib import Path

HEADER = "# sent_id = {sid}\n# text = {text}\n"


def line(
    word_id: str,
    form: str,
    upos: str = "NOUN",
    head: str = "0",
    deprel: str = "root",
    misc: str = "_",
    xpos: str = "NN",
) -> str:
    return "\t".join([word_id, form, form.lower(), upos, xpos, "_", head, deprel, "_", misc])


# A sentence with a multiword token whose parts spell it (didn't = did + n't), a
# multiword token that does not (gonna = gon + na spells it too; vámonos = vamos + nos does
# not), an empty node, a punctuation run, non-ASCII words and SpaceAfter=No.
TRICKY = "\n".join(
    [
        "# sent_id = s1",
        "# text = They didn't go, gonna see café naïve!!!",
        line("1", "They", "PRON", "3", "nsubj", xpos="PRP"),
        "\t".join(["2-3", "didn't", "_", "_", "_", "_", "_", "_", "_", "_"]),
        line("2", "did", "AUX", "4", "aux", xpos="VBD"),
        line("3", "n't", "PART", "4", "advmod", misc="_", xpos="RB"),
        line("4", "go", "VERB", "0", "root", misc="SpaceAfter=No", xpos="VB"),
        "\t".join(["4.1", "went", "go", "VERB", "VBD", "_", "_", "_", "4:conj", "_"]),
        line("5", ",", "PUNCT", "4", "punct", xpos=","),
        "\t".join(["6-7", "gonna", "_", "_", "_", "_", "_", "_", "_", "_"]),
        line("6", "gon", "VERB", "4", "conj", xpos="VBG"),
        line("7", "na", "PART", "8", "mark", xpos="TO"),
        line("8", "see", "VERB", "6", "xcomp", xpos="VB"),
        line("9", "café", "NOUN", "8", "obj", xpos="NN"),
        line("10", "naïve", "ADJ", "9", "amod", misc="SpaceAfter=No", xpos="JJ"),
        line("11", "!!!", "PUNCT", "4", "punct", xpos="."),
        "",
        "# sent_id = s2",
        "\t".join(["1-2", "vámonos", "_", "_", "_", "_", "_", "_", "_", "_"]),
        line("1", "vamos", "VERB", "0", "root", xpos="VB"),
        line("2", "nos", "PRON", "1", "obj", misc="SpaceAfter=No", xpos="PRP"),
        line("3", "...", "PUNCT", "1", "punct", xpos=":"),
        "",
        "",
    ]
)

WORDS = ["the", "dog", "cat", "sat", "ran", "on", "mat", "fast", "slow", "happy", "sad"]
TAGS = {
    "the": ("DET", "det"),
    "dog": ("NOUN", "nsubj"),
    "cat": ("NOUN", "obj"),
    "sat": ("VERB", "root"),
    "ran": ("VERB", "root"),
    "on": ("ADP", "case"),
    "mat": ("NOUN", "obl"),
    "fast": ("ADV", "advmod"),
    "slow": ("ADJ", "amod"),
    "happy": ("ADJ", "amod"),
    "sad": ("ADJ", "amod"),
}


def random_treebank(n_sentences: int, seed: int, extra: str = "") -> str:
    """Sentences of known words with a fixed tag per word (a learnable toy treebank)."""
    import random

    rng = random.Random(seed)
    blocks = []
    for index in range(n_sentences):
        forms = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
        rows = [f"# sent_id = r{index}"]
        for position, form in enumerate(forms, start=1):
            upos, deprel = TAGS[form]
            head = "0" if position == 1 else "1"
            rows.append(line(str(position), form, upos, head, "root" if head == "0" else deprel))
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks) + "\n\n" + extra


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
