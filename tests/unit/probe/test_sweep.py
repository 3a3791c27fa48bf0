"""The layer x pooling x method sweep over real (tiny) caches, and the `fewdims probe` CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from probe.cache import CacheMeta, PartWriter, consolidate
from probe.cli import main
from probe.errors import CacheError, DataError, FewdimsError
from probe.results import ResultsFile
from probe.search import SearchConfig
from probe.sweep import SweepSpec, parse_layers, parse_names, run_sweep, task_facts
from probe.vocabulary import ENCODER_POOLINGS

pytestmark = pytest.mark.torch_free

N_LAYERS, HIDDEN = 3, 12
FAST = SearchConfig(k=3, top_k=10, pool_size=40, n_random_draws=20, random_ks=(1, 2))
METHODS = ("full", "rank", "pairs", "greedy", "backward", "random", "control")


def planted_slices(n_examples: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(L, N, H) pooled arrays; layer 2 'mean' carries the label in dims 3 and 8 (jointly)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_examples)
    pooled = {
        name: rng.standard_normal((N_LAYERS, n_examples, HIDDEN)).astype(np.float32)
        for name in ENCODER_POOLINGS
    }
    signal = (2 * labels - 1) * 1.2 + rng.standard_normal(n_examples)
    nuisance = 3 * rng.standard_normal(n_examples)
    pooled["mean"][2, :, 3] = nuisance + signal
    pooled["mean"][2, :, 8] = nuisance - signal
    return pooled, labels


def write_cache(
    path: Path,
    pooled: dict[str, np.ndarray],
    labels: np.ndarray,
    *,
    split: str = "train",
    task: str = "sst2",
    weights: str = "a" * 64,
    labeled: bool = True,
) -> Path:
    """A complete cache through probe.cache's own writer (one token per example)."""
    n_examples = labels.shape[0]
    part = path.with_name(path.name + ".part.h5")
    writer = PartWriter(
        part,
        n_layers=N_LAYERS,
        n_tokens=n_examples,
        n_examples=n_examples,
        hidden_size=HIDDEN,
        n_text_columns=1,
        dtype="float32",
        label_dtype=np.dtype(np.int64),
    )
    writer.write_batch(
        hidden=pooled["cls"],
        input_ids=np.zeros(n_examples, np.int32),
        token_type_ids=np.zeros(n_examples, np.int8),
        special=np.zeros(n_examples, bool),
        lengths=np.ones(n_examples, np.int64),
        row_index=np.arange(n_examples, dtype=np.int64),
        labels=labels if labeled else np.full(n_examples, -1),
        truncated=np.zeros(n_examples, bool),
        texts=[("text",)] * n_examples,
        pooled=pooled,
        maxnorm_position=np.zeros((N_LAYERS, n_examples), np.int32),
    )
    writer.finish()
    meta = CacheMeta(
        model="toy-encoder",
        weights_sha256=weights,
        tokenizer="toy",
        max_length=8,
        dtype="float32",
        compute_dtype="float32",
        n_model_layers=N_LAYERS - 1,
        layers=list(range(N_LAYERS)),
        hidden_size=HIDDEN,
        task=task,
        split=split,
        text_columns=["sentence"],
        label_column="label",
        label_names=["negative", "positive"],
        is_regression=False,
        labeled=labeled,
        source="synthetic",
        source_sha256=hashlib.sha256(str(path).encode()).hexdigest(),  # each file its own data
        n_examples=n_examples,
    )
    consolidate([part], path, meta)
    part.unlink()
    return path


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    folder = tmp_path_factory.mktemp("caches")
    train = write_cache(folder / "train.h5", *planted_slices(700, seed=0))
    dev = write_cache(folder / "dev.h5", *planted_slices(300, seed=1), split="dev")
    return train, dev


def spec_for(caches, **changes) -> SweepSpec:
    train, dev = caches
    base = SweepSpec(
        train_path=str(train),
        eval_path=str(dev),
        layers=(1, 2),
        poolings=("cls", "mean"),
        methods=METHODS,
        config=FAST,
    )
    return replace(base, **changes)


@pytest.fixture(scope="module")
def serial_results(caches):
    return run_sweep(spec_for(caches))


def comparable(results: ResultsFile) -> list[dict]:
    """Cells without timings (the only thing allowed to differ between runs)."""
    cells = results.to_dict()["cells"]
    for cell in cells:
        cell.pop("seconds")
        cell["details"].pop("prepare_seconds")
        cell["details"].pop("ci_seconds", None)
    return cells


def test_sweep_covers_the_grid_and_follows_the_schema(serial_results, tmp_path):
    results = serial_results
    assert (
        results.kind == "probe" and results.task == "sst2" and results.primary_metric == "accuracy"
    )
    assert len(results.cells) == 2 * 2 * len(METHODS)
    assert [(c.layer, c.pooling, c.method) for c in results.cells[: len(METHODS)]] == [
        (1, "cls", method) for method in METHODS
    ]
    provenance = results.provenance
    assert (
        provenance["train_cache"]["split"] == "train" and provenance["eval_cache"]["split"] == "dev"
    )
    assert provenance["weights_sha256"] == "a" * 64 and "protocol" in provenance
    assert (
        provenance["spec"]["layers"] == [1, 2] and provenance["spec"]["class_weight"] == "balanced"
    )
    pairs = results.find(layer=2, pooling="mean", method="pairs")[0]
    assert pairs.dims == [3, 8]  # the planted pair, found in its slice
    assert set(pairs.scores) == {"train", "validation", "eval"}
    assert pairs.scores["eval"]["accuracy"] > 0.75
    rank = results.find(layer=2, pooling="mean", method="rank")[0]
    assert set(rank.details["orderings"]) == {"univariate", "l1", "weight"}
    random_cell = results.find(layer=1, pooling="cls", method="random")[0]
    assert random_cell.dims == [] and {"k", "n_draws", "mean", "sd", "median"} <= set(
        random_cell.steps[0]
    )
    assert "C" in results.find(method="full")[0].details
    saved = results.save(tmp_path / "results.json")
    assert comparable(ResultsFile.load(saved)) == comparable(results)


def test_process_backend_gives_identical_results(caches, serial_results):
    parallel = run_sweep(spec_for(caches, jobs=2))
    assert comparable(parallel) == comparable(serial_results)


def test_relative_cache_paths_survive_reused_workers(caches, serial_results, monkeypatch):
    """Worker processes outlive a sweep (loky reuses its pool) and keep the directory they
    started in; relative cache paths must still name the caller's files in a later sweep."""
    train, dev = caches
    run_sweep(spec_for(caches, jobs=2, layers=(1,), poolings=("cls",), methods=("full",)))
    monkeypatch.chdir(train.parent)
    relative = run_sweep(spec_for((Path(train.name), Path(dev.name)), jobs=2))
    assert comparable(relative) == comparable(serial_results)


def test_progress_callback_reports_each_slice(caches):
    seen = []
    run_sweep(spec_for(caches, methods=("pairs",), layers=(2,)), progress=seen.append)
    assert [(done.layer, done.pooling, done.index, done.total) for done in seen] == [
        (2, "cls", 1, 2),
        (2, "mean", 2, 2),
    ]


def test_refuses_caches_from_other_weights_or_tasks(caches, tmp_path):
    other_model = write_cache(
        tmp_path / "other.h5", *planted_slices(100, seed=2), split="dev", weights="b" * 64
    )
    with pytest.raises(CacheError, match="different model weights"):
        run_sweep(spec_for(caches, eval_path=str(other_model)))
    other_task = write_cache(
        tmp_path / "cola.h5", *planted_slices(100, seed=3), split="dev", task="cola"
    )
    with pytest.raises(CacheError, match="different tasks"):
        run_sweep(spec_for(caches, eval_path=str(other_task)))


def test_refuses_an_unlabeled_train_cache(caches, tmp_path):
    unlabeled = write_cache(
        tmp_path / "test.h5", *planted_slices(100, seed=4), split="test", labeled=False
    )
    with pytest.raises(DataError, match="--train"):
        run_sweep(spec_for(caches, train_path=str(unlabeled)))


def test_layer_and_name_parsing():
    assert parse_layers("all") == ()
    assert parse_layers("0,6,-1") == (0, 6, -1)
    with pytest.raises(FewdimsError, match="comma-separated"):
        parse_layers("top")
    assert parse_names("cls,mean", ENCODER_POOLINGS, "--pooling") == ("cls", "mean")
    with pytest.raises(FewdimsError, match="choose from"):
        parse_names("cls,first", ENCODER_POOLINGS, "--pooling")


def test_task_facts_follow_the_glue_table():
    meta = CacheMeta.from_dict(
        {
            "model": "m",
            "weights_sha256": "",
            "tokenizer": "",
            "max_length": 8,
            "dtype": "float32",
            "compute_dtype": "float32",
            "n_model_layers": 1,
            "layers": [0],
            "hidden_size": 4,
            "task": "cola",
            "split": "train",
            "text_columns": ["sentence"],
            "label_column": "label",
            "label_names": ["unacceptable", "acceptable"],
            "is_regression": False,
            "labeled": True,
            "source": "",
            "source_sha256": "",
            "n_examples": 1,
        }
    )
    facts = task_facts(meta)
    assert facts.primary_metric == "mcc" and facts.kind == "binary"


def test_cli_writes_results_and_reports_user_errors(caches, tmp_path, capsys):
    train, dev = caches
    out = tmp_path / "cli.json"
    argv = [
        "probe",
        "--train",
        str(train),
        "--eval",
        str(dev),
        "--layers",
        "2",
        "--pooling",
        "mean",
        "--methods",
        "pairs,greedy",
        "--k",
        "2",
        "--top-k",
        "5",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    loaded = ResultsFile.load(out)
    assert [cell.method for cell in loaded.cells] == ["pairs", "greedy"]
    assert "wrote" in capsys.readouterr().out
    bad = [
        "probe",
        "--train",
        str(dev),
        "--eval",
        str(train),
        "--layers",
        "9",
        "--k",
        "2",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(bad) == 2
    assert "Layer 9" in capsys.readouterr().err


def test_probe_never_imports_torch():
    code = (
        "import sys\n"
        "import probe, probe.sweep, probe.search, probe.selectors, probe.metrics, probe.linear\n"
        "import probe.commands.probe\n"
        "from probe.search import METHOD_MODULES, get_method\n"
        "[get_method(name) for name in METHOD_MODULES]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'transformers' not in sys.modules\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[3]
    )
    assert completed.returncode == 0, completed.stderr


def test_jobs_honour_a_callers_joblib_backend(caches, serial_results, monkeypatch):
    """`--jobs` names no backend, so `joblib.parallel_config` (Dask, Ray, threads) applies."""
    import os

    from joblib import parallel_config

    import probe.sweep as sweep

    pids = []
    original = sweep.run_group

    def recording_run_group(*args, **kwargs):
        pids.append(os.getpid())
        return original(*args, **kwargs)

    monkeypatch.setattr(sweep, "run_group", recording_run_group)
    with parallel_config(backend="threading"):
        threaded = run_sweep(spec_for(caches, jobs=2))
    assert pids and set(pids) == {os.getpid()}, "the threading backend ran the groups in-process"
    assert [cell.dims for cell in threaded.cells] == [cell.dims for cell in serial_results.cells]


def test_refuses_the_same_split_as_train_and_eval(caches):
    train_path = spec_for(caches).train_path
    with pytest.raises(DataError, match="hold the same examples"):
        run_sweep(SweepSpec(train_path=train_path, eval_path=train_path))
