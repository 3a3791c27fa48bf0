"""The probe sweep on real MiniLM caches of GLUE SST-2: numbers a user would see."""

from __future__ import annotations

import pytest

from probe.results import ResultsFile
from probe.search import SearchConfig
from probe.sweep import SweepSpec, run_sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sst2_train_cache(minilm, glue_dir, tmp_path_factory):
    from extract.datasets import load_split
    from extract.extractor import ExtractConfig, extract_split

    out = tmp_path_factory.mktemp("minilm-train") / "sst2-train-2000.h5"
    split = load_split("sst2", "train", glue_dir).sample(2000, seed=0)
    extract_split(split, out, ExtractConfig(device="cpu", layers=[3, 6]), loaded=minilm)
    return out


def test_sweep_on_real_caches(sst2_train_cache, sst2_dev_cache, tmp_path):
    spec = SweepSpec(
        train_path=str(sst2_train_cache),
        eval_path=str(sst2_dev_cache),
        layers=(3, 6),
        poolings=("cls", "mean"),
        methods=("full", "pairs", "random"),
        config=SearchConfig(k=3, seed=0),
    )
    results = run_sweep(spec)
    path = results.save(tmp_path / "sst2.json")
    reread = ResultsFile.load(path)
    assert reread.task == "sst2" and len(reread.cells) == 2 * 2 * 3
    full = {(c.layer, c.pooling): c.eval_score("accuracy") for c in reread.find(method="full")}
    # a linear probe on frozen MiniLM sentence vectors is far above chance (0.51) on SST-2 dev
    assert min(full.values()) > 0.7
    for cell in reread.find(method="pairs"):
        random_pair = next(
            step
            for step in reread.find(cell.layer, cell.pooling, "random")[0].steps
            if step["k"] == 2
        )
        assert len(cell.dims) == 2
        # the searched pair beats the average random pair, and is below all dims (frozen features)
        assert cell.eval_score("accuracy") > random_pair["mean"]
        assert cell.eval_score("accuracy") < full[(cell.layer, cell.pooling)]
    assert reread.provenance["train_cache"]["split"] == "train"
    assert reread.provenance["eval_cache"]["split"] == "dev"
