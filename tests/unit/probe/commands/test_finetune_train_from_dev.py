"""`fewdims finetune --train-from-dev`: QNLI-style tasks without a train split are fine-tuned
on exactly the dev half that `fewdims run --train-from-dev` probed (so dims selected there
are trained on the rows they were selected on) and scored on the other half."""

from __future__ import annotations

import pytest

from extract.pipeline import RunConfig, task_splits
from probe.cli import build_parser
from probe.commands.finetune import _load_tasks
from probe.errors import DataError
from tests.unit.probe.commands.test_run import write_sst2


def parse(*argv: str):
    return build_parser().parse_args(["finetune", "--model", "m", "--out", "o.json", *argv])


def test_same_halves_as_fewdims_run(tmp_path):
    glue = write_sst2(tmp_path / "glue", n_dev=61)
    (task,) = _load_tasks(
        parse("--task", "sst2", "--data-dir", str(glue), "--train-from-dev", "0.5")
    )
    train, evaluation = task.train_split, task.eval_split
    run_train, run_eval, _ = task_splits("sst2", RunConfig(tasks=["sst2"], data_dir=str(glue),
                                                           train_from_dev=0.5))  # fmt: skip
    assert train.row_index.tolist() == run_train.row_index.tolist()
    assert evaluation.row_index.tolist() == run_eval.row_index.tolist()
    assert (train.split, evaluation.split) == ("dev-part1", "dev-part2")
    assert sorted(train.row_index.tolist() + evaluation.row_index.tolist()) == list(range(61))


def test_refuses_with_a_data_file(tmp_path):
    glue = write_sst2(tmp_path / "glue")
    args = parse("--data-file", str(glue / "SST-2" / "dev.tsv"), "--text-columns", "sentence",
                 "--eval-file", str(glue / "SST-2" / "dev.tsv"), "--train-from-dev", "0.5")  # fmt: skip
    with pytest.raises(DataError, match="does not combine with --data-file"):
        _load_tasks(args)


def test_missing_train_split_suggests_train_from_dev(tmp_path):
    glue = write_sst2(tmp_path / "glue")
    (glue / "SST-2" / "train.tsv").unlink()
    with pytest.raises(DataError, match="--train-from-dev"):
        _load_tasks(parse("--task", "sst2", "--data-dir", str(glue)))


def test_needs_a_task():
    with pytest.raises(DataError, match=r"--train-from-dev needs --task"):
        _load_tasks(parse("--train-from-dev", "0.5"))
