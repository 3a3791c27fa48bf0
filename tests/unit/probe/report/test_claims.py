"""The Claims section: contestants chosen on validation, paired tests on the kept
predictions, Holm over the family, verdicts by the documented rules."""

import numpy as np
import pytest
from scipy.stats import norm

from probe.report import render_report
from probe.report.claims import (
    CANNOT_TELL,
    EQUIVALENT,
    FAILS,
    HOLDS,
    NOT_TESTED,
    NOT_WORSE,
    Claim,
    Contestant,
    _verdict,
    claims_for,
)
from probe.report.inputs import group_by_task, load_results
from probe.report.summary import summarize
from probe.results import ResultCell, ResultsFile
from probe.stats.bootstrap import BootstrapSpec, Interval
from probe.stats.paired import Comparison, holm, paired_bootstrap

N = 400


def predictions_with_accuracy(labels, accuracy, seed):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(labels.size) < accuracy, labels, 1 - labels)


@pytest.fixture(scope="module")
def results_path(tmp_path_factory):
    labels = np.random.default_rng(0).integers(0, 2, N)
    cells = []
    for layer, accuracy in ((1, 0.62), (2, 0.80), (3, 0.81)):
        for pooling, shift in (("cls", 0.0), ("mean", 0.01)):
            full = predictions_with_accuracy(labels, accuracy + shift, 10 * layer + len(pooling))
            cells.append(
                ResultCell(
                    layer, pooling, "full", [],
                    {"validation": {"accuracy": accuracy + shift},
                     "eval": {"accuracy": float(np.mean(full == labels))}},
                    predictions={"eval": full, "labels": labels},
                )
            )  # fmt: skip
    pair = predictions_with_accuracy(labels, 0.70, 99)
    cells.append(
        ResultCell(
            3, "mean", "pairs", [4, 7],
            {"validation": {"accuracy": 0.71}, "eval": {"accuracy": float(np.mean(pair == labels))}},
            predictions={"eval": pair, "labels": labels},
        )
    )  # fmt: skip
    draws = np.random.default_rng(5).normal(0.55, 0.03, 200)
    cells.append(
        ResultCell(
            3, "mean", "random", [],
            steps=[{"k": 2, "n_draws": 200, "mean": float(draws.mean())}],
            predictions={"steps/0/draw_scores": draws},
        )
    )  # fmt: skip
    path = tmp_path_factory.mktemp("claims") / "sst2-probe.json"
    ResultsFile("probe", "sst2", "accuracy", {"model": "m"}, cells).save(path)
    return path, labels, pair


def claims_of(path):
    groups, _ = group_by_task(load_results([path]))
    return claims_for([summarize(group) for group in groups], BootstrapSpec())


def test_two_dims_claim_uses_the_validation_choices_and_a_paired_test(results_path):
    path, labels, pair = results_path
    claims = claims_of(path)
    two_dims = next(c for c in claims if c.statement == "best 2 dims not worse than all dims")
    # all dims: layer 3 / mean has the best validation score (0.82)
    assert (
        "layer 3 / mean" in two_dims.second.label
        and "chosen on validation" in two_dims.second.label
    )
    full = ResultsFile.load(path).find(3, "mean", "full")[0].predictions["eval"]
    expected = paired_bootstrap("accuracy", labels, pair, full, BootstrapSpec())
    assert two_dims.result.effect == pytest.approx(expected.effect)
    assert two_dims.result.p_value == pytest.approx(expected.p_value)
    assert two_dims.result.interval.high < -0.02  # ~0.70 vs ~0.82 on 400 examples
    assert two_dims.verdict == FAILS
    assert two_dims.mcnemar is not None and two_dims.mcnemar.p_value < 0.001


def test_holm_runs_over_every_test_of_the_report(results_path):
    claims = claims_of(results_path[0])
    tested = [c for c in claims if c.result]
    assert len(tested) >= 5
    assert [c.p_holm for c in tested] == pytest.approx(holm([c.result.p_value for c in tested]))


def test_random_rank_claim_and_lower_layers_claim(results_path):
    claims = claims_of(results_path[0])
    random = next(c for c in claims if c.statement == "best 2 dims better than random 2 dims")
    # the pair (0.70) lies beyond all 200 draws (~0.55 +- 0.03): normal tail, below 1/201
    draws = np.random.default_rng(5).normal(0.55, 0.03, 200)
    score = float(np.mean(results_path[2] == results_path[1]))
    z = (score - draws.mean()) / draws.std(ddof=1)
    assert random.result.p_value == pytest.approx(norm.sf(z), rel=1e-4)  # draws kept as float32
    assert random.result.p_value < 1 / 201
    assert random.verdict == HOLDS
    lower = next(c for c in claims if c.finding == "3. lower layers contribute less")
    assert "layer 1 /" in lower.second.label and lower.verdict == HOLDS


def interval_claim(kind, low, high, effect, p_holm=1.0):
    claim = Claim("f", "t", "s", kind, Contestant("a", None), Contestant("b", None), "accuracy")
    claim.result = Comparison(effect, Interval(low, high), p_holm, "m")
    claim.p_holm = p_holm
    return claim


@pytest.mark.parametrize(
    "kind, low, high, effect, verdict",
    [
        (NOT_WORSE, -0.015, 0.03, 0.0, HOLDS),
        (NOT_WORSE, -0.10, -0.03, -0.06, FAILS),
        (NOT_WORSE, -0.05, 0.01, -0.02, CANNOT_TELL),
        (EQUIVALENT, -0.01, 0.015, 0.0, HOLDS),
        (EQUIVALENT, 0.03, 0.08, 0.05, FAILS),
        (EQUIVALENT, -0.03, 0.01, -0.01, CANNOT_TELL),
    ],
)
def test_verdict_rules(kind, low, high, effect, verdict):
    assert _verdict(interval_claim(kind, low, high, effect)) == verdict


def test_old_results_without_predictions_are_not_tested_and_say_how(tmp_path):
    cells = [
        ResultCell(
            layer, "cls", "full", [], {"validation": {"accuracy": 0.7}, "eval": {"accuracy": 0.7}}
        )
        for layer in (1, 2, 3)
    ] + [
        ResultCell(
            3, "cls", "pairs", [1, 2], {"validation": {"accuracy": 0.6}, "eval": {"accuracy": 0.6}}
        )
    ]
    path = ResultsFile("probe", "sst2", "accuracy", {"model": "m"}, cells).save(
        tmp_path / "old.json"
    )
    claims = claims_of(path)
    assert claims and all(c.verdict == NOT_TESTED for c in claims)
    assert (
        "no per-example predictions" in claims[0].note and "see the task's note" in claims[0].note
    )
    markdown = render_report([path], tmp_path / "out").markdown.read_text(encoding="utf-8")
    assert "Confidence intervals are unavailable for `old.json`" in markdown
    assert "keep per-example predictions" in markdown


def finetune_cell(
    layer, pooling, dims, accuracy, *, n_train, lr, frozen=False, seed=None, epochs=1
):
    details = {"task": "sst2", "stage": "stage 1: sst2", "stages": ["sst2"],
               "trained_on": "sst2", "frozen": frozen, "head": "linear", "model": "m",
               "epochs": epochs, "n_train": n_train, "n_eval": N}  # fmt: skip
    return ResultCell(layer, pooling, "finetune", dims, {"eval": {"accuracy": accuracy}},
                      details=details, seed=seed)  # fmt: skip


def finetune_file(tmp_path, name, cells, lr):
    path = tmp_path / f"sst2-{name}.json"
    provenance = {"model": "m", "args": {"lr": lr, "head_lr": 0.01, "max_length": 64}}
    ResultsFile("finetune", "sst2", "accuracy", provenance, cells).save(path)
    return path


def test_finetune_claims_pair_runs_trained_alike(tmp_path):
    """A 2-dim head is judged against the all-dim run with its own budget and rates (not an
    all-dim run on fewer rows that happens to come first), and a frozen encoder against a
    fine-tune that saw no more rows than it did."""
    paths = [
        finetune_file(tmp_path, "all-small", [finetune_cell(12, "cls", [], 0.91, n_train=2000,
                                                            lr=1e-4)], 1e-4),
        finetune_file(tmp_path, "all-big", [finetune_cell(12, "cls", [], 0.93, n_train=8000,
                                                          lr=5e-5, seed=s) for s in (0, 1)],
                      5e-5),
        finetune_file(tmp_path, "pair-big", [finetune_cell(12, "cls", [1, 2], 0.91, n_train=8000,
                                                           lr=5e-5, seed=s) for s in (0, 1)],
                      5e-5),
        finetune_file(tmp_path, "frozen", [finetune_cell(12, "cls", [], 0.87, n_train=4000,
                                                         lr=5e-5, frozen=True)], 5e-5),
        finetune_file(tmp_path, "triple-big", [finetune_cell(12, "cls", [1, 2, 3], 0.92,
                                                             n_train=8000, lr=5e-5, seed=s)
                                               for s in (0, 1)], 5e-5),
        finetune_file(tmp_path, "maxnorm-big", [finetune_cell(12, "maxnorm", [], 0.92,
                                                              n_train=8000, lr=5e-5)], 5e-5),
        # dims found at another pooling: judged against the standard CLS fine-tune
        finetune_file(tmp_path, "pair-mean", [finetune_cell(8, "mean", [3, 4], 0.90,
                                                            n_train=2000, lr=1e-4)], 1e-4),
    ]  # fmt: skip
    groups, _ = group_by_task(load_results(paths))
    claims = claims_for([summarize(group) for group in groups], BootstrapSpec())
    by_claim = {}
    for claim in claims:
        by_claim.setdefault(claim.finding, []).append(claim)
    two_dims = {
        claim.first.label.split(",")[1].strip(): claim
        for claim in by_claim["2. two or three dims suffice (fine-tuned)"]
        if claim.statement.startswith("2-dim")
    }
    assert set(two_dims) == {"layer 12 / cls", "layer 8 / mean"}
    assert "8,000 training rows" in two_dims["layer 12 / cls"].second.label
    assert "seeds 0, 1" in two_dims["layer 12 / cls"].second.label
    assert "2,000 training rows" in two_dims["layer 8 / mean"].second.label
    assert "layer 12 / cls" in two_dims["layer 8 / mean"].second.label
    (triple,) = [c for c in by_claim["2. two or three dims suffice (fine-tuned)"]
                 if c.statement == "3-dim head not worse than all-dim head"]  # fmt: skip
    assert "8,000 training rows" in triple.second.label and "seeds 0, 1" in triple.second.label
    (maxnorm,) = by_claim["1. token vectors other than CLS are equivalent (fine-tuned)"]
    assert "through maxnorm" in maxnorm.first.label
    assert "through cls" in maxnorm.second.label and "8,000 training rows" in maxnorm.second.label
    (frozen,) = by_claim["4. freezing the pre-trained layers costs a lot"]
    assert "2,000 training rows" in frozen.first.label  # not the 8,000-row run: it saw more rows


def test_finetune_claim_labels_name_the_epochs(tmp_path):
    """Two epochs of the same head and rows are another recipe: their claim is separate from
    the one-epoch claim, and the labels say which is which."""
    paths = [
        finetune_file(tmp_path, f"{name}-ep{epochs}",
                      [finetune_cell(12, "cls", dims, accuracy, n_train=8000, lr=5e-5,
                                     epochs=epochs)], 5e-5)
        for name, dims, accuracy, epochs in (("all", [], 0.93, 1), ("pair", [1, 2], 0.91, 1),
                                             ("all", [], 0.93, 2), ("pair", [1, 2], 0.92, 2))
    ]  # fmt: skip
    groups, _ = group_by_task(load_results(paths))
    claims = [claim for claim in claims_for([summarize(group) for group in groups], BootstrapSpec())
              if claim.statement.startswith("2-dim")]  # fmt: skip
    labels = sorted((claim.first.label, claim.second.label) for claim in claims)
    assert len(labels) == 2
    assert all("8,000 training rows × 1 epoch)" in label for label in labels[0])
    assert all("8,000 training rows × 2 epochs)" in label for label in labels[1])


def test_a_multi_seed_fine_tune_is_tested_as_its_seed_mean(tmp_path):
    labels = np.random.default_rng(1).integers(0, 2, N)
    paths, means = [], {}
    for name, dims, accuracies in (("pair", [1, 2], (0.88, 0.90, 0.86)),
                                   ("all", [], (0.92, 0.93, 0.91))):  # fmt: skip
        cells = []
        for seed, accuracy in enumerate(accuracies):
            cell = finetune_cell(12, "cls", dims, 0.0, n_train=8000, lr=5e-5, seed=seed)
            predicted = predictions_with_accuracy(labels, accuracy, 100 * seed + len(dims))
            cell.scores = {"eval": {"accuracy": float(np.mean(predicted == labels))}}
            cell.predictions = {"eval": predicted, "labels": labels}
            cells.append(cell)
        means[name] = np.mean([cell.scores["eval"]["accuracy"] for cell in cells])
        paths.append(finetune_file(tmp_path, f"ft-{name}", cells, 5e-5))
    groups, _ = group_by_task(load_results(paths))
    (claim,) = claims_for([summarize(group) for group in groups], BootstrapSpec())
    assert claim.result.effect == pytest.approx(means["pair"] - means["all"])
    assert "mean over 3 vs 3 seeds" in claim.result.method
    assert claim.mcnemar is None  # McNemar compares two prediction vectors, not seed means
