"""The word sweep end to end: every method on multi-class word rows, CLI paths, report."""

from __future__ import annotations

import json

import numpy as np

from probe.cli import main
from probe.results import ResultsFile

ALL_METHODS = "full,rank,pairs,triples,greedy,backward,random,control"


def probe_argv(word_caches, out, *extra):
    return [
        "probe",
        "--train",
        str(word_caches[0]),
        "--eval",
        str(word_caches[1]),
        "--label",
        "upos",
        "--out",
        str(out),
        "--layers",
        "1,2",
        "--k",
        "3",
        "--random-draws",
        "5",
        *extra,
    ]


def test_every_method_runs_on_word_rows(word_caches, tmp_path, capsys):
    out = tmp_path / "upos.json"
    assert main(probe_argv(word_caches, out, "--methods", ALL_METHODS)) == 0
    printed = capsys.readouterr().out
    assert "1 eval word(s) have a upos label unseen in train" in printed
    results = ResultsFile.load(out)
    assert results.provenance["rows"] == "words"
    assert results.provenance["labels"]["unseen_eval_labels"] == {"INTJ": 1}
    methods = {cell.method for cell in results.cells}
    assert methods == set(ALL_METHODS.split(","))
    assert {cell.pooling for cell in results.cells} == {"first", "mean"}
    n_classes = len(results.provenance["labels"]["classes"])
    for cell in results.cells:
        if cell.method in ("full", "pairs", "triples", "greedy", "backward", "rank"):
            assert set(cell.scores["eval"]) == {"accuracy", "f1_macro"}
        if cell.method == "full":
            confusion = np.asarray(cell.details["confusion"])
            assert confusion.shape == (n_classes, n_classes)
            assert confusion.sum() == results.provenance["labels"]["n_eval_words"]
            accuracy = np.trace(confusion) / confusion.sum()
            assert accuracy == cell.scores["eval"]["accuracy"]
            assert accuracy > 0.9  # each toy word has one tag: the probe must find it
        if cell.method == "control":
            kinds = [(step["method"], step["k"]) for step in cell.steps]
            assert ("full", 32) in kinds and ("pairs", 2) in kinds and ("greedy", 3) in kinds
            for step in cell.steps:
                assert step["selectivity"] == step["real"] - step["control"]


def test_report_has_word_sections(word_caches, tmp_path):
    files = []
    for layer in ("1", "2"):  # one results file per layer, merged by the report
        out = tmp_path / f"upos-{layer}.json"
        argv = probe_argv(word_caches, out, "--methods", "full,greedy,random,control")
        argv[argv.index("--layers") + 1] = layer
        assert main(argv) == 0
        files.append(str(out))
    assert main(["report", *files, "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| 1 | first |" in text and "| 2 | mean |" in text
    for needle in (
        "word-level, upos",
        "Eval accuracy per layer and subword pooling",
        "Per-tag eval F1",
        "Top confusions of the all dims probe",
        "Selectivity (per-word-type control task)",
        "unseen in train and are not scored: INTJ (1)",
        "Train labels with words in fewer than 2 sentences, left out: AUX (1), PART (2)",
        "whole sentences: no sentence has words in both the fitted and the validation part",
        "score_vs_k.png",
    ):
        assert needle in text, needle
    merged = json.loads((tmp_path / "report" / "results.json").read_text())
    assert merged


def test_run_one_command_from_two_conllu_files(tiny_model_dir, conllu_files, tmp_path):
    argv = [
        "run",
        "--model",
        str(tiny_model_dir),
        "--train-file",
        str(conllu_files[0]),
        "--eval-file",
        str(conllu_files[1]),
        "--label",
        "upos,deprel",
        "--methods",
        "full,greedy",
        "--k",
        "2",
        "--layers",
        "2",
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "caches"),
        "--out",
        str(tmp_path / "report"),
    ]
    assert main(argv) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "word-level, upos" in text and "word-level, deprel" in text
    assert "probe trained on the train file" in text
    assert len(list((tmp_path / "caches").rglob("*.h5"))) == 2
