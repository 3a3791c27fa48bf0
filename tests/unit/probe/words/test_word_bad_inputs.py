"""Bad word-level input: exit 2 with a message naming the problem, and nothing written."""

from __future__ import annotations

from probe.cli import main
from tests.conllu_samples import line, random_treebank, write


def run(argv):
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def extract(model_dir, data_file, out, *extra):
    argv = ["extract", "--model", str(model_dir), "--data-file", str(data_file)]
    return run([*argv, "--device", "cpu", "--out", str(out), *extra])


def test_malformed_line_exits_2_naming_file_line(tiny_model_dir, tmp_path, capsys):
    bad = random_treebank(3, seed=0) + "# sent_id = x\n" + line("1", "dog", upos="_") + "\n\n"
    path = write(tmp_path / "bad.conllu", bad)
    bad_line = bad.splitlines().index(line("1", "dog", upos="_")) + 1
    assert extract(tiny_model_dir, path, tmp_path / "out" / "c.h5") == 2
    err = capsys.readouterr().err
    assert f"bad.conllu:{bad_line}: word 1 ('dog') has no UPOS" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_empty_file_exits_2(tiny_model_dir, tmp_path, capsys):
    path = write(tmp_path / "empty.conllu", "")
    assert extract(tiny_model_dir, path, tmp_path / "c.h5") == 2
    assert "holds no sentence" in capsys.readouterr().err
    assert not (tmp_path / "c.h5").exists()


def test_over_long_sentences_drop_and_count_words(tiny_model_dir, tmp_path, capsys):
    path = write(tmp_path / "long.conllu", random_treebank(20, seed=3))
    assert extract(tiny_model_dir, path, tmp_path / "c.h5", "--max-length", "6") == 0
    printed = capsys.readouterr().out
    from probe.cache import Cache

    with Cache.open(tmp_path / "c.h5") as cache:
        spans = cache.word_token_spans()
        dropped = int((spans[:, 0] < 0).sum())
        assert dropped == cache.meta.words["n_truncated"] > 0
        assert spans[spans[:, 0] >= 0].max() <= 5  # inside the 6 kept positions, [SEP] excluded
    assert f"{dropped} dropped by --max-length 6" in printed


def test_word_label_on_a_sentence_cache_exits_2(word_caches, tiny_model_dir, tmp_path, capsys):
    csv = write(tmp_path / "s.csv", "text,label\nthe dog,0\nthe cat,1\nthe mat,0\nsat on,1\n")
    cache = tmp_path / "s.h5"
    argv = ["extract", "--model", str(tiny_model_dir), "--data-file", str(csv), "--device", "cpu"]
    assert (
        run([*argv, "--text-columns", "text", "--label-column", "label", "--out", str(cache)]) == 0
    )
    out = tmp_path / "r.json"
    code = run(
        [
            "probe",
            "--train",
            str(cache),
            "--eval",
            str(word_caches[1]),
            "--label",
            "upos",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert "has no word tables" in capsys.readouterr().err
    assert not out.exists()
