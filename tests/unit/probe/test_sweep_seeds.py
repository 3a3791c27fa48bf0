"""``fewdims probe --seeds``: the sweep once per inner-split seed, slices read once.

A seed's cells must equal those of a separate sweep with ``--seed`` = that seed (only the
timings may differ); the file keeps every seed and their mean ± sd per (layer, pooling,
method, k). Runs on the committed tiny caches (48 train / 24 dev rows, 8 dims).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import probe.sweep as sweep
from probe.cli import main
from probe.errors import FewdimsError
from probe.results import ResultsFile
from probe.search import SearchConfig
from probe.seeds import SeedSpread, parse_seeds
from probe.sweep import SweepSpec, run_sweep
from tests.data.make_tiny_cache import TINY_DEV, TINY_TRAIN

pytestmark = pytest.mark.torch_free

SEEDS = (0, 1, 5)
FAST = SearchConfig(k=3, top_k=5, pool_size=20, n_random_draws=10, random_ks=(1, 2))
METHODS = ("full", "rank", "pairs", "greedy", "random", "control")


def spec(**changes) -> SweepSpec:
    base = SweepSpec(
        train_path=str(TINY_TRAIN),
        eval_path=str(TINY_DEV),
        layers=(1,),
        poolings=("cls", "mean"),
        methods=METHODS,
        config=FAST,
    )
    return replace(base, **changes)


def untimed(cell) -> dict:
    record = {key: value for key, value in vars(cell).items() if key not in ("seconds", "seed")}
    record["details"] = {
        key: value for key, value in cell.details.items()
        if key not in ("prepare_seconds", "ci_seconds")
    }  # fmt: skip
    record["predictions"] = {key: np.asarray(v).tolist() for key, v in cell.predictions.items()}
    return record


@pytest.fixture(scope="module")
def seeded():
    return run_sweep(spec(seeds=SEEDS))


def test_each_seed_equals_a_separate_single_seed_sweep(seeded):
    assert seeded.seeds == SEEDS and seeded.provenance["seeds"] == list(SEEDS)
    for seed in SEEDS:
        alone = run_sweep(spec(config=replace(FAST, seed=seed)))
        mine = [cell for cell in seeded.cells if cell.seed == seed]
        assert [untimed(cell) for cell in mine] == [untimed(cell) for cell in alone.cells]
    # Selection moved with the inner split somewhere, or the test would prove little.
    greedy = {tuple(c.dims) for c in seeded.find(layer=1, pooling="cls", method="greedy")}
    validation = {c.scores["validation"]["accuracy"] for c in seeded.find(method="full")}
    assert len(greedy) > 1 or len(validation) > 1


def test_each_slice_is_read_once_for_all_seeds(monkeypatch):
    reads = []
    real = sweep.read_slice

    def counting(spec, layer, pooling):
        reads.append((layer, pooling))
        return real(spec, layer, pooling)

    monkeypatch.setattr(sweep, "read_slice", counting)
    run_sweep(spec(seeds=SEEDS, methods=("full",)))
    assert sorted(reads) == [(1, "cls"), (1, "mean")]


def test_summary_is_numpys_mean_and_sample_sd(seeded, tmp_path):
    path = seeded.save(tmp_path / "seeded.json")
    payload = json.loads(path.read_text())
    assert payload["version"] == 3
    entries = {(e["layer"], e["pooling"], e["method"], e["k"]): e for e in payload["seed_summary"]}
    assert {key[2] for key in entries} == {"full", "rank", "pairs", "greedy"}  # baselines: none
    for (layer, pooling, method, k), entry in entries.items():
        cells = seeded.find(layer, pooling, method)
        assert entry["seeds"] == [cell.seed for cell in cells] == list(SEEDS)
        if method in ("greedy", "rank"):
            steps = [next(s for s in cell.steps if s["k"] == k) for cell in cells]
            values = [step["eval"]["accuracy"] for step in steps]
            assert entry["dims"] == [step["dims"] for step in steps]
            validation = [step["validation"] for step in steps]
            assert entry["scores"]["validation"]["accuracy"]["values"] == validation
        else:
            assert k == len(cells[0].dims)
            values = [cell.scores["eval"]["accuracy"] for cell in cells]
        record = entry["scores"]["eval"]["accuracy"]
        assert record["values"] == values
        assert record["mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert record["sd"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    loaded = ResultsFile.load(path)
    assert [untimed(c) for c in loaded.cells] == [untimed(c) for c in seeded.cells]
    assert [c.seed for c in loaded.cells] == [c.seed for c in seeded.cells]


def test_seed_spread_leaves_out_missing_values_and_needs_two_for_an_sd():
    spread = SeedSpread.of((0, 1, 2), [0.5, None, 0.7])
    assert spread.n == 2 and spread.mean == pytest.approx(0.6)
    assert spread.sd == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert spread.text() == "0.600 ± 0.141 (2 seeds)"
    assert np.isnan(SeedSpread.of((0,), [0.5]).sd)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty seed"), (" ", "empty seed"), ("a,b", "integer seeds"), ("1,,2", "empty seed"),
     ("0,1,1", "seed\\(s\\) 1 more than once"), ("1.5", "integer seeds")],
)  # fmt: skip
def test_parse_seeds_refuses_bad_lists(text, message):
    with pytest.raises(FewdimsError, match=message):
        parse_seeds(text)


def test_parse_seeds_reads_a_list():
    assert parse_seeds("0, 1,-2") == (0, 1, -2)


def test_cli_repeats_the_sweep_and_refuses_bad_seeds(tmp_path, capsys):
    out = tmp_path / "cli.json"
    argv = ["probe", "--train", str(TINY_TRAIN), "--eval", str(TINY_DEV), "--layers", "1",
            "--pooling", "mean", "--methods", "full,pairs", "--k", "2", "--quiet"]  # fmt: skip
    assert main([*argv, "--seeds", "0,2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "seed 2 eval accuracy" in printed and "over seeds: layer 1 mean pairs 2 dims" in printed
    assert [cell.seed for cell in ResultsFile.load(out).cells] == [0, 0, 2, 2]
    for bad in ("", "a,b", "3,3"):
        assert main([*argv, "--seeds", bad, "--out", str(tmp_path / "bad.json")]) == 2
        assert "--seeds" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--seed", "1", "--seeds", "0,1", "--out", str(tmp_path / "bad.json")])
    assert exit_info.value.code == 2


def test_word_probing_refuses_seeds(tmp_path, capsys):
    argv = ["probe", "--train", str(TINY_TRAIN), "--eval", str(TINY_DEV), "--label", "upos",
            "--seeds", "0,1", "--out", str(tmp_path / "w.json")]  # fmt: skip
    assert main(argv) == 2
    assert "--label" in capsys.readouterr().err
