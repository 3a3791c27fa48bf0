"""Out-of-core probing: chunked passes give the in-memory answers, in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from probe.cache import Cache
from probe.cli import main
from probe.errors import FewdimsError
from probe.linear import balanced_sample_weight
from probe.metrics import batch_metrics
from probe.outofcore import SUPPORTED_METHODS
from probe.outofcore.newton import fit_logistic_stream, fit_ridge_stream
from probe.outofcore.problem import ChunkBatch
from probe.outofcore.rows import RowSource
from probe.outofcore.runners import RUNNERS
from probe.outofcore.scoring import MetricSums
from probe.search import SearchConfig
from probe.sweep import SweepSpec, run_sweep
from tests.synthetic_cache import SIGNAL_DIMS, write_synthetic_cache

pytestmark = pytest.mark.torch_free

REPO = Path(__file__).resolve().parents[4]
FAST = SearchConfig(k=3, top_k=10, pool_size=40)


def chunked(x: np.ndarray, y: np.ndarray, weight: np.ndarray, size: int):
    """A re-startable pass over (x, y, weight) in chunks of ``size`` rows."""
    return lambda: (
        ChunkBatch(x[start : start + size], y[start : start + size], weight[start : start + size])
        for start in range(0, len(y), size)
    )


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 6)).astype(np.float32)
    score = x[:, 0] - 0.7 * x[:, 2] + 0.5 * rng.standard_normal(3000)
    return x, score


@pytest.mark.parametrize("n_classes", [2, 3])
def test_chunked_newton_equals_sklearn_logistic(rows, n_classes):
    x, score = rows
    y = np.digitize(score, [0.8] if n_classes == 2 else [-0.5, 0.5]).astype(np.int64)
    weight = balanced_sample_weight(y, n_classes)
    dims = np.array([[0, 2, 4], [1, 3, 5]])
    fit, passes = fit_logistic_stream(chunked(x, y, weight, 701), dims, C=0.3, n_classes=n_classes)
    assert passes < 30
    for row, subset in enumerate(dims):
        reference = LogisticRegression(C=0.3, tol=1e-10, max_iter=10_000).fit(
            x[:, subset].astype(np.float64), y, sample_weight=weight
        )
        np.testing.assert_allclose(fit.coef[row].T, reference.coef_, atol=2e-6)
        # softmax intercepts are defined up to a shared constant (unpenalised)
        shift = fit.intercept[row] - reference.intercept_
        np.testing.assert_allclose(shift, shift.mean(), atol=2e-6)
        if n_classes == 2:
            assert abs(shift[0]) < 2e-6


def test_chunked_ridge_equals_sklearn(rows):
    x, score = rows
    dims = np.array([[0, 1], [2, 5]])
    fit = fit_ridge_stream(chunked(x, score, np.ones(score.size), 500), dims, alpha=3.0)
    for row, subset in enumerate(dims):
        reference = Ridge(alpha=3.0).fit(x[:, subset].astype(np.float64), score)
        np.testing.assert_allclose(fit.coef[row, :, 0], reference.coef_, atol=1e-9)
        np.testing.assert_allclose(fit.intercept[row, 0], reference.intercept_, atol=1e-9)


def test_padded_candidates_are_the_smaller_probes(rows):
    """dims of -1 read as zero columns whose weight stays exactly 0."""
    x, score = rows
    y = (score > 0).astype(np.int64)
    weight = np.ones(y.size)
    padded, _ = fit_logistic_stream(chunked(x, y, weight, 800), np.array([[2, -1, -1]]), C=1.0)
    alone, _ = fit_logistic_stream(chunked(x, y, weight, 800), np.array([[2]]), C=1.0)
    assert np.all(padded.coef[0, 1:] == 0.0)
    np.testing.assert_allclose(padded.coef[0, :1], alone.coef[0], atol=1e-9)
    np.testing.assert_allclose(padded.intercept, alone.intercept, atol=1e-9)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_metric_sums_equal_the_batch_metrics(kind):
    rng = np.random.default_rng(0)
    if kind == "regression":
        y, pred, names = rng.standard_normal(400), rng.standard_normal((400, 3)), ("pearson",)
    else:
        n_classes = 2 if kind == "binary" else 3
        y = rng.integers(0, n_classes, 400)
        pred = rng.integers(0, n_classes, (400, 3))
        names = ("accuracy", "f1", "mcc") if kind == "binary" else ("accuracy", "mcc")
    sums = MetricSums(kind, 3 if kind == "multiclass" else 2, 3)
    for start in range(0, 400, 130):
        sums.add(y[start : start + 130], pred[start : start + 130])
    expected = batch_metrics(names, y, pred, 3 if kind == "multiclass" else 2)
    for name in names:
        np.testing.assert_allclose(
            sums.value(name), [row[name] for row in expected], rtol=1e-12, atol=1e-12
        )


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ooc")
    train = write_synthetic_cache(folder / "train.h5", n_examples=1200, seed=1, split="train")
    dev = write_synthetic_cache(folder / "dev.h5", n_examples=300, seed=2, split="dev")
    return train, dev


def test_token_rows_are_the_word_tokens_of_their_examples(caches):
    train, _ = caches
    source = RowSource(train, layer=1, kind="tokens", chunk_rows=777)
    chunks = list(source.chunks())
    with Cache.open(train) as cache:
        special = cache.special_tokens()
        expected = cache.layer_tokens(1)[~special]
        owner = np.repeat(np.arange(cache.n_examples), cache.lengths)[~special]
    np.testing.assert_array_equal(np.concatenate([c.features for c in chunks]), expected)
    np.testing.assert_array_equal(np.concatenate([c.examples for c in chunks]), owner)
    assert len(chunks) > 10


def test_pooled_rows_out_of_core_match_the_in_memory_sweep(caches):
    """rank and pairs select and score exactly as in memory (same screen, same exact fits)."""
    train, dev = caches
    common = dict(poolings=("mean",), methods=("rank", "pairs"), config=FAST)
    in_memory = run_sweep(SweepSpec(str(train), str(dev), out_of_core="never", **common))
    chunked_run = run_sweep(
        SweepSpec(str(train), str(dev), out_of_core="always", chunk_rows=97, **common)
    )
    assert len(in_memory.cells) == len(chunked_run.cells) == 4
    for memory_cell, chunk_cell in zip(in_memory.cells, chunked_run.cells, strict=True):
        assert chunk_cell.details["out_of_core"] is True
        assert memory_cell.dims == chunk_cell.dims
        for metric, value in memory_cell.scores["eval"].items():
            assert chunk_cell.scores["eval"][metric] == pytest.approx(value, abs=1e-9)
    (layer1_pairs,) = chunked_run.find(layer=1, pooling="mean", method="pairs")
    assert sorted(layer1_pairs.dims) == sorted(SIGNAL_DIMS)


def materialised_tokens(path: Path, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with Cache.open(path) as cache:
        words = ~cache.special_tokens()
        owner = np.repeat(np.arange(cache.n_examples), cache.lengths)[words]
        return cache.layer_tokens(layer)[words], cache.labels[owner], owner


def test_token_full_probe_equals_sklearn_on_the_materialised_rows(caches):
    train, dev = caches
    spec = SweepSpec(
        str(train),
        str(dev),
        layers=(1,),
        poolings=("tokens",),
        methods=("full",),
        C=0.5,
        config=FAST,
        chunk_rows=1000,
    )
    cell = run_sweep(spec).cells[0]
    x_train, y_train, _ = materialised_tokens(train, 1)
    x_dev, y_dev, _ = materialised_tokens(dev, 1)
    mean, scale = x_train.astype(np.float64).mean(0), x_train.astype(np.float64).std(0)
    reference = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(
        (x_train - mean) / scale, y_train, sample_weight=balanced_sample_weight(y_train, 2)
    )
    accuracy = float((reference.predict((x_dev - mean) / scale) == y_dev).mean())
    assert cell.pooling == "tokens"
    assert cell.details["n_rows"]["train"] == len(y_train)
    assert cell.scores["eval"]["accuracy"] == pytest.approx(accuracy, abs=1.0 / len(y_dev))
    assert accuracy > 0.75  # the planted token-level signal is found


def test_inner_split_keeps_each_sentence_on_one_side(caches):
    from probe.outofcore.group import load_problem
    from probe.sweep import plan

    train, dev = caches
    spec = SweepSpec(str(train), str(dev), poolings=("tokens",), methods=("pairs",), config=FAST)
    facts, _, _ = plan(spec)
    problem = load_problem(spec, facts, 1, "tokens")
    _, _, owner = materialised_tokens(train, 1)
    validation_rows = problem.is_validation[owner].sum()
    assert problem.row_counts["validation"] == validation_rows
    assert problem.row_counts["fit"] == owner.size - validation_rows
    assert 0.1 < validation_rows / owner.size < 0.3


def test_auto_streams_pooled_slices_that_do_not_fit(caches, monkeypatch):
    import probe.sweep as sweep

    train, dev = caches
    spec = SweepSpec(str(train), str(dev), poolings=("cls", "tokens"), methods=("pairs", "triples"))
    facts, _, provenance = sweep.plan(spec)
    assert facts.out_of_core == ("tokens",)
    assert provenance["out_of_core"]["skipped_methods"] == ["triples"]
    monkeypatch.setattr(sweep, "available_bytes", lambda: 1000)
    facts, _, _ = sweep.plan(spec)
    assert facts.out_of_core == ("cls", "tokens")


def test_runners_are_the_supported_methods():
    assert tuple(RUNNERS) == SUPPORTED_METHODS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pooling", "tokens", "--out-of-core", "never"], "only probed out of core"),
        (["--pooling", "tokens", "--methods", "triples,control"], "Add one of those methods"),
        (["--pooling", "tokens", "--chunk-rows", "0"], "--chunk-rows must be at least 1"),
    ],
)
def test_cli_refuses_out_of_core_settings_it_cannot_run(caches, tmp_path, capsys, argv, message):
    train, dev = caches
    out = tmp_path / "r.json"
    code = main(["probe", "--train", str(train), "--eval", str(dev), "--out", str(out), *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_token_probe_writes_results(caches, tmp_path, capsys):
    train, dev = caches
    out = tmp_path / "r.json"
    argv = ["probe", "--train", str(train), "--eval", str(dev), "--out", str(out)]
    argv += ["--pooling", "tokens", "--layers", "1", "--k", "2", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped there" in printed
    saved = json.loads(out.read_text())
    methods = [cell["method"] for cell in saved["cells"]]
    assert methods == ["full", "rank", "pairs", "greedy", "backward", "random"]
    greedy = saved["cells"][methods.index("greedy")]
    assert [step["k"] for step in greedy["steps"]] == [1, 2]
    assert sorted(greedy["dims"]) == sorted(SIGNAL_DIMS)


# --- bounded memory --------------------------------------------------------------------


def test_a_token_slice_several_times_the_memory_limit_is_probed(tmp_path):
    """The child may allocate 64 MiB beyond its imports (RLIMIT_AS); the token slice it probes
    is 3.4x that as float32 (1.7x as stored float16). Reading the slice whole fails with
    MemoryError; the out-of-core sweep (2,048-row chunks) finds the planted dims."""
    headroom = 64 << 20
    train = write_synthetic_cache(
        tmp_path / "train.h5",
        n_examples=25_000,
        hidden_size=128,
        layers=(1,),
        mean_length=16,
        seed=1,
        split="train",
    )
    dev = write_synthetic_cache(
        tmp_path / "dev.h5", n_examples=500, hidden_size=128, layers=(1,), seed=2, split="dev"
    )
    with Cache.open(train) as cache:
        slice_bytes = cache.n_tokens * cache.hidden_size * 4
    assert slice_bytes > 3 * headroom
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    child = [sys.executable, "-m", "tests.memory_limited_probe", str(train), str(dev)]
    completed = subprocess.run(
        [*child, str(headroom), "pairs,greedy", "2048"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**__import__("os").environ, **env},
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["whole_slice_read"] == "MemoryError"
    assert [sorted(cell["dims"][:2]) for cell in report["cells"]] == [sorted(SIGNAL_DIMS)] * 2
    assert min(cell["eval_accuracy"] for cell in report["cells"]) > 0.7


def test_report_keeps_token_rows_out_of_the_sentence_level_headline(caches, tmp_path):
    from probe.report.render import render_report

    train, dev = caches
    spec = SweepSpec(
        str(train),
        str(dev),
        layers=(1,),
        poolings=("mean", "tokens"),
        methods=("full", "pairs"),
        config=FAST,
    )
    results = run_sweep(spec)
    token_full = results.find(pooling="tokens", method="full")[0].scores["eval"]["accuracy"]
    mean_full = results.find(pooling="mean", method="full")[0].scores["eval"]["accuracy"]
    path = results.save(tmp_path / "r.json")
    text = (render_report([path], tmp_path / "report").markdown).read_text()
    headline = next(line for line in text.splitlines() if line.startswith("**Best**"))
    assert "layer 1 / mean" in headline and "/ tokens" not in headline
    assert f"{mean_full:.3f}" in headline and token_full != mean_full
    assert "scored per word token" in text


def test_settings_and_empty_slices_are_refused_with_the_fix(caches):
    from probe.errors import DataError
    from probe.outofcore.problem import _train_pass
    from probe.sweep import plan

    train, dev = caches
    with pytest.raises(FewdimsError, match="choose from auto, always, never"):
        plan(SweepSpec(str(train), str(dev), out_of_core="sometimes"))

    class NoRows(RowSource):
        def chunks(self):
            return iter(())

    empty = NoRows(train, layer=1, kind="tokens")
    with pytest.raises(DataError, match=r"no tokens rows at layer 1 .* Probe a pooling"):
        _train_pass(empty, np.zeros(3, np.int64), np.zeros(3, bool), 2)


def test_a_split_part_without_rows_is_refused_with_the_fix(caches):
    from probe.errors import DataError
    from probe.outofcore.group import load_problem
    from probe.sweep import plan

    train, dev = caches
    spec = SweepSpec(str(train), str(dev), poolings=("tokens",), methods=("pairs",), config=FAST)
    facts, _, _ = plan(spec)
    problem = load_problem(spec, facts, 1, "tokens")
    problem.is_validation[:] = False  # as if no validation example held a word token
    with pytest.raises(DataError, match=r"has no rows: .* probe a pooling instead"):
        problem.screen()
