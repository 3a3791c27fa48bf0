"""The report's "Claims" section: each of the paper's findings as a tested comparison.

Fukuhata & Kano (2025) state five findings; fewdims can test them with the results it holds.
Every claim here is one comparison of two prediction vectors on the **same** eval examples:
the effect (A minus B, in the task's primary metric) with its 95% paired-bootstrap CI, the
test's p-value (paired bootstrap; exact McNemar beside it for accuracy), the p-value after
Holm's correction over every comparison of the report, and a verdict.

Which cells are compared is decided on validation scores only (``TaskSummary.best_row``):
"the best layer", "the best 2 dims" are chosen on the inner validation split of train, so the
eval split that the comparison is measured on did not choose its own contestants.
Fine-tuning runs are only set against runs trained with the same recipe (rows, epochs,
rates); a run over several seeds enters as its seed mean.

Verdicts, with margin ``MARGIN`` (in metric units) and ``ALPHA`` on the Holm-adjusted p:

* *A is not worse than B* (non-inferiority): holds when the CI lies above ``-MARGIN``, does not
  hold when it lies below ``-MARGIN``;
* *A and B are equivalent*: holds when the CI lies inside ``(-MARGIN, MARGIN)``, does not hold
  when it lies wholly outside;
* *A is better than B*: holds when the effect is positive and the adjusted p < ``ALPHA``, does
  not hold when the CI lies below ``MARGIN`` and the effect is not significant in A's favour;

anything else is "cannot tell at this sample size". Comparisons without kept predictions
are listed as not tested, with how to get them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from probe.outofcore.rows import TOKEN_ROWS
from probe.report.document import Block, Heading, Paragraph, Table, TableCell
from probe.report.summary import (
    FinetuneResult,
    LayerPoolingRow,
    Subset,
    TaskSummary,
    TrainingRecipe,
)
from probe.report.uncertainty import Scored, scored_of
from probe.stats.bootstrap import BootstrapSpec, interval_text
from probe.stats.paired import Comparison, holm, mcnemar, paired_bootstrap, random_subset_rank

MARGIN = 0.02
ALPHA = 0.05
NOT_WORSE = "not worse"
EQUIVALENT = "equivalent"
BETTER = "better"
HOLDS = "holds"
FAILS = "does not hold"
CANNOT_TELL = "cannot tell at this sample size"
NOT_TESTED = "not tested"


@dataclass(frozen=True)
class Contestant:
    """One side of a comparison: what it is (for the reader) and its eval predictions."""

    label: str
    scored: Scored | None
    random_scores: np.ndarray | None = None  # per-draw eval scores (random-subset baseline)


@dataclass
class Claim:
    """One tested comparison (see the module docstring for the verdict rules)."""

    finding: str
    task: str
    statement: str  # what would make the finding true here, e.g. "A is not worse than B"
    kind: str
    first: Contestant
    second: Contestant
    metric: str
    result: Comparison | None = None
    mcnemar: Comparison | None = None
    note: str = ""
    p_holm: float = math.nan
    verdict: str = NOT_TESTED


def claims_for(summaries: Sequence[TaskSummary], spec: BootstrapSpec | None = None) -> list[Claim]:
    """Every claim the results can test, tested and Holm-corrected as one family."""
    spec = spec or BootstrapSpec()
    claims: list[Claim] = []
    for summary in summaries:
        claims += _probe_claims(summary)
        claims += _finetune_claims(summary)
    for claim in claims:
        _test(claim, spec)
    adjusted = holm([claim.result.p_value if claim.result else math.nan for claim in claims])
    for claim, p_holm in zip(claims, adjusted, strict=True):
        claim.p_holm = p_holm
        claim.verdict = _verdict(claim)
    return claims


# --- which comparisons -------------------------------------------------------------------
def _sentence_rows(summary: TaskSummary) -> list[LayerPoolingRow]:
    return [row for row in summary.rows if row.pooling != TOKEN_ROWS]


def _only(summary: TaskSummary, rows: list[LayerPoolingRow]) -> TaskSummary:
    return replace(summary, rows=rows)


def _full(row: LayerPoolingRow, why: str) -> Contestant:
    return Contestant(
        f"all dims, layer {row.layer} / {row.pooling} ({why})", scored_of(row.full_cell, "eval")
    )


def _subset(subset: Subset, why: str) -> Contestant:
    dims = ", ".join(str(dim) for dim in subset.dims)
    return Contestant(
        f"{subset.k} dims [{dims}], layer {subset.layer} / {subset.pooling}, {subset.method} "
        f"({why})",
        scored_of(subset.cell, subset.key),
    )


def _probe_claims(summary: TaskSummary) -> list[Claim]:
    rows = _sentence_rows(summary)
    if not rows:
        return []
    metric, task = summary.primary_metric, summary.task
    claims = []
    best_full = _only(summary, rows).best_row(None)
    chosen = "chosen on validation"
    # 1. Other token vectors are equivalent to CLS (each pooling's best layer on validation).
    cls_rows = [row for row in rows if row.pooling == "cls"]
    best_cls = _only(summary, cls_rows).best_row(None) if cls_rows else None
    for pooling in ("mean", "maxnorm"):
        other = [row for row in rows if row.pooling == pooling]
        best_other = _only(summary, other).best_row(None) if other else None
        if best_cls is not None and best_other is not None:
            claims.append(
                Claim(
                    "1. token vectors other than CLS are equivalent",
                    task,
                    f"{pooling} ≈ cls",
                    EQUIVALENT,
                    _full(best_other, f"best {pooling} layer, {chosen}"),
                    _full(best_cls, f"best cls layer, {chosen}"),
                    metric,
                )
            )
    # 2. Two or three dims suffice; and the chosen dims beat random dims of the same size.
    for k in (2, 3):
        row = _only(summary, rows).best_row(k)
        if row is None or best_full is None:
            continue
        subset = row.best_by_k[k]
        claims.append(
            Claim(
                "2. two or three dims suffice (frozen probe)",
                task,
                f"best {k} dims not worse than all dims",
                NOT_WORSE,
                _subset(subset, chosen),
                _full(best_full, f"best layer and pooling, {chosen}"),
                metric,
            )
        )
        draws = _random_draws(summary, row, k)
        if draws is not None:
            claims.append(
                Claim(
                    "2. two or three dims suffice (frozen probe)",
                    task,
                    f"best {k} dims better than random {k} dims",
                    BETTER,
                    _subset(subset, chosen),
                    Contestant(
                        f"{draws.size} random {k}-dim subsets, layer {row.layer} / {row.pooling}",
                        None,
                        draws,
                    ),
                    metric,
                )
            )
    # 3. Lower layers contribute less; higher layers are similar (at the chosen pooling).
    if best_full is not None:
        same_pooling = sorted(
            (row for row in rows if row.pooling == best_full.pooling and row.full_cell),
            key=lambda row: row.layer,
        )
        transformer_rows = [row for row in same_pooling if row.layer > 0]
        upper = transformer_rows[len(transformer_rows) // 2 :]
        best_upper = _only(summary, upper).best_row(None) if len(transformer_rows) >= 2 else None
        if best_upper is not None:
            lowest = transformer_rows[0]
            claims.append(
                Claim(
                    "3. lower layers contribute less",
                    task,
                    f"best upper layer better than layer {lowest.layer}",
                    BETTER,
                    _full(
                        best_upper, f"best of layers {upper[0].layer}–{upper[-1].layer}, {chosen}"
                    ),
                    _full(lowest, "lowest transformer layer"),
                    metric,
                )
            )
        if len(same_pooling) >= 2:
            top, below = same_pooling[-1], same_pooling[-2]
            claims.append(
                Claim(
                    "3. higher layers are similar",
                    task,
                    f"layer {top.layer} ≈ layer {below.layer}",
                    EQUIVALENT,
                    _full(top, "last layer"),
                    _full(below, "the layer below"),
                    metric,
                )
            )
    return claims


def _random_draws(summary: TaskSummary, row: LayerPoolingRow, k: int) -> np.ndarray | None:
    cell = summary.cell(row.layer, row.pooling, "random")
    if cell is None:
        return None
    for index, step in enumerate(cell.steps):
        if isinstance(step, dict) and step.get("k") == k:
            draws = cell.predictions.get(f"steps/{index}/draw_scores")
            return None if draws is None else np.asarray(draws, dtype=np.float64)
    return None


def _trained_on(result: FinetuneResult) -> Any:
    return result.cell.details.get("trained_on") if result.cell is not None else None


def _closeness(result: FinetuneResult, other: FinetuneResult) -> tuple[bool, bool, bool]:
    """Sort key, best first: the same layer and pooling, the same pooling, the same seeds."""
    return (
        (other.layer, other.pooling) != (result.layer, result.pooling),
        other.pooling != result.pooling,
        len(other.seed_cells) != len(result.seed_cells),
    )


def _same_recipe_partner(
    result: FinetuneResult, candidates: list[FinetuneResult]
) -> FinetuneResult | None:
    """The all-dim run to judge a small head against: same head, task and training recipe
    (rows, epochs, rates), nearest in layer/pooling and seeds. A run with another budget is
    never a partner: a 2-dim head on 8,000 rows against all dims on 2,000 measures the
    budget, not the head. The partner pools the same way, or is the standard CLS fine-tune
    (the paper's "all dims" reference) when the small head's dims came from another pooling.
    """
    matching = [
        other
        for other in candidates
        if other.pooling in (result.pooling, "cls")
        and other.head == result.head
        and _trained_on(other) == _trained_on(result)
        and other.recipe == result.recipe
    ]
    return min(matching, key=lambda other: _closeness(result, other), default=None)


def _no_richer_partner(
    frozen: FinetuneResult, candidates: list[FinetuneResult]
) -> FinetuneResult | None:
    """The fine-tuned run to set against a frozen-encoder run: same task, model and epochs,
    trained on no more rows than the frozen run (so the comparison cannot favour fine-tuning
    by budget), the same optimiser settings first, then the most rows, then the nearest
    layer/pooling."""
    mine = frozen.recipe or TrainingRecipe(None, None, None, ())

    def fair(other: FinetuneResult) -> bool:
        theirs = other.recipe
        if theirs is None or _trained_on(other) != _trained_on(frozen):
            return False
        if (theirs.model, theirs.epochs) != (mine.model, mine.epochs):
            return False
        return mine.n_train is None or other.n_train is None or other.n_train <= mine.n_train

    return min(
        (other for other in candidates if fair(other)),
        key=lambda other: (
            other.recipe.settings != mine.settings,
            -(other.n_train or 0),
            _closeness(frozen, other),
        ),
        default=None,
    )


def _budget(result: FinetuneResult) -> str:
    """The budget in a contestant label, e.g. ``, 8,000 training rows × 2 epochs``: what a
    reader needs to tell two runs of one head apart (claims only pair runs with the same
    recipe, so both sides show the same budget)."""
    parts = []
    if result.n_train is not None:
        parts.append(f"{result.n_train:,} training rows")
    epochs = result.recipe.epochs if result.recipe is not None else None
    if isinstance(epochs, int):
        parts.append(f"{epochs} epoch{'s' if epochs != 1 else ''}")
    return ", " + " × ".join(parts) if parts else ""


def _finetune_claims(summary: TaskSummary) -> list[Claim]:
    metric, task = summary.primary_metric, summary.task
    own = [result for result in summary.finetunes if result.own_stage]
    claims = []

    def contestant(result: FinetuneResult, what: str) -> Contestant:
        return Contestant(
            f"fine-tuned {what}, layer {result.layer} / {result.pooling}, {result.head} head "
            f"({result.label}{_budget(result)})",
            _finetune_scored(result),
        )

    trained_all = [r for r in own if not r.dims and r.frozen_encoder is False]
    # 1 (fine-tuned). Another token vector is equivalent to CLS once the encoder is trained.
    for result in trained_all:
        if result.pooling == "cls":
            continue
        partner = _same_recipe_partner(result, [r for r in trained_all if r.pooling == "cls"])
        if partner is not None:
            claims.append(
                Claim(
                    "1. token vectors other than CLS are equivalent (fine-tuned)",
                    task,
                    f"{result.pooling} ≈ cls",
                    EQUIVALENT,
                    contestant(result, f"all dims through {result.pooling}"),
                    contestant(partner, "all dims through cls"),
                    metric,
                )
            )
    # 2 (fine-tuned). A 2- or 3-dim head is not worse than an all-dim head trained the same way.
    for result in own:
        if len(result.dims) not in (2, 3) or result.frozen_encoder is not False:
            continue
        partner = _same_recipe_partner(result, trained_all)
        if partner is not None:
            claims.append(
                Claim(
                    "2. two or three dims suffice (fine-tuned)",
                    task,
                    f"{len(result.dims)}-dim head not worse than all-dim head",
                    NOT_WORSE,
                    contestant(result, f"{len(result.dims)}-dim head"),
                    contestant(partner, "all-dim head"),
                    metric,
                )
            )
    # 4. Freezing the encoder costs a lot: trained all dims better than frozen all dims.
    for result in own:
        if result.dims or result.frozen_encoder is not True:
            continue
        partner = _no_richer_partner(result, trained_all)
        if partner is not None:
            claims.append(
                Claim(
                    "4. freezing the pre-trained layers costs a lot",
                    task,
                    "fine-tuned encoder better than frozen encoder",
                    BETTER,
                    contestant(partner, "encoder"),
                    contestant(result, "with a frozen encoder"),
                    metric,
                )
            )
    # 5. Sequential fine-tuning keeps earlier tasks: after a later stage vs right after its own.
    for later in (r for r in summary.finetunes if not r.own_stage and r.cell is not None):
        stages = later.cell.details.get("stages")
        earlier = next(
            (
                r
                for r in own
                if r.cell is not None
                and r.cell.details.get("stages") == stages
                and (r.layer, r.pooling) == (later.layer, later.pooling)
            ),
            None,
        )
        if earlier is not None:
            claims.append(
                Claim(
                    "5. sequential fine-tuning keeps earlier tasks",
                    task,
                    "after the later stage not worse than right after its own stage",
                    NOT_WORSE,
                    contestant(later, "then trained on the next task"),
                    contestant(earlier, "after its own stage"),
                    metric,
                )
            )
    return claims


def _finetune_scored(result: FinetuneResult) -> Scored | None:
    """The run's eval predictions; a run over several seeds gives one column per seed (the
    paired test then compares seed means), when every seed kept them for the same examples."""
    first = scored_of(result.cell, "eval")
    if first is None or len(result.seed_cells) < 2:
        return first
    seeds = [scored_of(cell, "eval") for cell in result.seed_cells]
    if any(
        seed is None
        or seed.predictions.shape != first.predictions.shape
        or not np.array_equal(seed.labels, first.labels)
        for seed in seeds
    ):
        return first
    columns = np.stack([seed.predictions for seed in seeds if seed is not None], axis=1)
    return replace(first, predictions=columns)


# --- testing -----------------------------------------------------------------------------
def _test(claim: Claim, spec: BootstrapSpec) -> None:
    first, second = claim.first.scored, claim.second.scored
    if claim.second.random_scores is not None:
        if first is None:
            claim.note = "no kept predictions for the selected subset (see the task's note)"
            return
        from probe.metrics import metric as point_metric

        score = point_metric(claim.metric, first.labels, first.predictions)
        claim.result = random_subset_rank(score, claim.second.random_scores)
        return
    if first is None or second is None:
        claim.note = (
            "no per-example predictions in these results (older fewdims; see the task's note)"
        )
        return
    if first.labels.shape != second.labels.shape or not np.array_equal(first.labels, second.labels):
        claim.note = "the two sides were scored on different examples; no paired test"
        return
    n_classes = _n_classes(claim.metric, first, second)
    claim.result = paired_bootstrap(
        claim.metric,
        first.labels,
        first.predictions,
        second.predictions,
        spec,
        n_classes=n_classes,
        groups=first.groups,
    )
    if claim.metric == "accuracy" and first.predictions.ndim == second.predictions.ndim == 1:
        claim.mcnemar = mcnemar(first.labels, first.predictions, second.predictions)


def _n_classes(metric: str, first: Scored, second: Scored) -> int:
    if metric in ("pearson", "spearman"):
        return 2
    top = max(first.labels.max(), first.predictions.max(), second.predictions.max())
    return max(2, int(top) + 1)


def _verdict(claim: Claim) -> str:
    result = claim.result
    if result is None:
        return NOT_TESTED
    low, high = result.interval.low, result.interval.high
    if not (math.isfinite(low) and math.isfinite(high)):
        return CANNOT_TELL
    significant = math.isfinite(claim.p_holm) and claim.p_holm < ALPHA
    if claim.kind == NOT_WORSE:
        return HOLDS if low > -MARGIN else FAILS if high < -MARGIN else CANNOT_TELL
    if claim.kind == EQUIVALENT:
        if low > -MARGIN and high < MARGIN:
            return HOLDS
        return FAILS if low > MARGIN or high < -MARGIN else CANNOT_TELL
    if result.effect > 0 and significant:
        return HOLDS
    return FAILS if (high < MARGIN and not significant) or high <= 0 else CANNOT_TELL


# --- rendering ---------------------------------------------------------------------------
def claims_section(
    summaries: Sequence[TaskSummary], spec: BootstrapSpec | None = None
) -> list[Block]:
    """The "Claims" heading, how verdicts are reached, and one table row per comparison."""
    claims = claims_for(summaries, spec)
    blocks: list[Block] = [Heading("Claims", 2)]
    if not claims:
        blocks.append(
            Paragraph(
                "No claim could be set up from these results (they need probe cells with all "
                "dims and with selected subsets, or matching fine-tuning runs)."
            )
        )
        return blocks
    spec = spec or BootstrapSpec()
    blocks.append(
        Paragraph(
            "Each of the paper's findings (Fukuhata & Kano 2025) as a comparison of two "
            "predictors **on the same eval examples**. Effect = A − B in the task's primary "
            f"metric, with its 95% paired-bootstrap CI ({spec.n_resamples} resamples of the "
            f"eval examples, seed {spec.seed}); p = paired bootstrap (two-sided; exact McNemar "
            "beside it for accuracy; where no resample reaches the observed effect, the "
            "normal tail of the effect over the resamples' SD, since a count cannot go "
            f"below 1/{spec.n_resamples + 1}); a fine-tune run over several seeds enters as "
            "its seed mean, on the examples and on every resample; p (Holm) = adjusted over all "
            f"{sum(1 for c in claims if c.result)} tests in this table. The contestants "
            "(best layer, pooling and dims) were chosen on the validation split of train, "
            f"never on the eval split. Verdicts use a margin of ±{MARGIN} and α = {ALPHA}: "
            f"*not worse* holds when the CI lies above −{MARGIN}; *equivalent* when it lies "
            f"inside ±{MARGIN}; *better* when the effect is positive and p (Holm) < {ALPHA}. "
            'A CI that straddles the margin gives "cannot tell at this sample size".'
        )
    )
    rows = []
    for claim in claims:
        result = claim.result
        effect = (
            f"{result.effect:+.3f} {interval_text(result.interval)}".strip()
            if result and math.isfinite(result.effect)
            else "—"
        )
        test = result.method if result else claim.note
        if claim.second.random_scores is not None and result:
            test += "; interval = 2.5–97.5% of the random scores minus their median"
        if claim.mcnemar is not None:
            test += f"; {claim.mcnemar.method} p {_p_text(claim.mcnemar.p_value, '= ')}"
        rows.append(
            (
                TableCell(claim.finding),
                TableCell(claim.task),
                TableCell(f"{claim.statement} — A: {claim.first.label}; B: {claim.second.label}"),
                TableCell(f"{effect} ({claim.metric})" if result else "—"),
                TableCell(test),
                TableCell(_p_text(result.p_value) if result else "—"),
                TableCell(_p_text(claim.p_holm)),
                TableCell(claim.verdict, claim.verdict in (HOLDS, FAILS)),
            )
        )
    blocks.append(
        Table(
            ("finding", "task", "comparison (A vs B)", "effect A − B [95% CI]", "test", "p",
             "p (Holm)", "verdict"),
            tuple(rows),
            caption="Verdicts in bold are decided at this sample size.",
            label_columns=5,
        )
    )  # fmt: skip
    return blocks


def _p_text(value: float, equals: str = "") -> str:
    if not math.isfinite(value):
        return "—"
    return f"{equals}{value:.2g}" if value >= 0.001 else "< 0.001"
