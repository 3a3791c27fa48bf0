"""Build the report's blocks (headings, tables, figures, provenance) from task summaries.

Wording lives here, numbers come from :mod:`probe.report.summary`, figures from
:mod:`probe.report.plots`. Every score is printed with :func:`format_score` so the Markdown
and HTML show the same digits, and tests can compare the table with the results file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from probe import __version__
from probe.report.codelength import codelength_blocks
from probe.report.document import (
    Alert,
    Block,
    Heading,
    Image,
    Paragraph,
    Table,
    TableCell,
)
from probe.report.plots import PLOT_KINDS
from probe.report.summary import SUMMARY_KS, LayerPoolingRow, TaskSummary
from probe.report.uncertainty import (
    HOW_TO_GET_CIS,
    files_without_predictions,
    interval_of,
    score_with_interval,
)
from probe.seeds import SeedSpread
from probe.stats.bootstrap import Interval
from probe.vocabulary import TOKEN_ROWS

MISSING = "—"
NO_VALIDATION_MARK = " †"


def format_score(value: float) -> str:
    """Scores everywhere in the report: three decimals, an em dash when missing."""
    return f"{value:.3f}" if math.isfinite(value) else MISSING


def format_dims(dims: Sequence[int]) -> str:
    return "[" + ", ".join(str(dim) for dim in dims) + "]"


def report_intro(n_files: int, warnings: Sequence[str], eval_splits: Sequence[str]) -> list[Block]:
    """Title, warnings, and how to read the numbers (which split they are on, what is bold)."""
    split_names = " / ".join(dict.fromkeys(eval_splits)) or "dev"
    created = datetime.now(UTC).isoformat(timespec="seconds")
    blocks: list[Block] = [
        Heading("fewdims report", 1),
        Paragraph(
            f"Rendered {created} by fewdims {__version__} from {n_files} results "
            f"file{'s' if n_files != 1 else ''} (no recomputation; rebuild with `fewdims report`)."
        ),
    ]
    blocks.extend(Alert(text) for text in warnings)
    blocks.extend(
        [
            Heading("How to read this report", 2),
            Paragraph(
                f"**Dims were selected on train, scores are reported on {split_names}.** Every "
                "subset of hidden dims was chosen using the training data only (probes fit on "
                "train, choices made on a validation part held out from train); every score in "
                f"the tables and plots is on the held-out eval split ({split_names}), which no "
                "selection looked at. The exceptions are labelled as such: per-dimension bars, "
                "the validation bars of the pairs figure, and selectivity are validation scores."
            ),
            Paragraph(
                "**best k dims** = of every k-dim subset any search method evaluated at that "
                "layer and pooling (rank, pairs, triples, greedy, backward), the one with the "
                "best validation score; the numbers in [brackets] are its hidden-dim indices. "
                "**random** = mean ± sd over random k-dim subsets (the chance level for k dims). "
                "**selectivity** = real-task minus control-task score (validation); high "
                "selectivity means the dims encode the task, not just word identity. "
                "**Bold** marks the best value in each column."
            ),
            Paragraph(
                "**Reading a CI and a paired test.** `0.812 [0.786, 0.838]` is a score with its "
                "95% bootstrap confidence interval: the eval examples were resampled with "
                "replacement 1,000 times and the interval holds the middle 95% of the "
                "resampled scores, so it shows how much the score would move on another "
                "sample of the same size. Two overlapping intervals do not mean two probes "
                "are equal: both were scored on the same examples, so the **Claims** section "
                "compares them with paired tests (the difference on each of the same "
                "resamples, or McNemar's test on the examples exactly one of them gets "
                "right), and corrects the p-values for the number of comparisons (Holm)."
            ),
        ]
    )
    return blocks


def task_section(summary: TaskSummary, plots: dict[str, Path | None]) -> list[Block]:
    """One task (and model): headline, summary tables, figures, fine-tuning."""
    metric = f"{summary.primary_metric} on {summary.eval_split}"
    blocks: list[Block] = [
        Heading(f"Task {summary.group.title}", 2),
        Paragraph(f"Model: `{summary.group.model}`. Metric: **{metric}**."),
    ]
    without = files_without_predictions(summary.group.files)
    if without:
        names = ", ".join(f"`{item.path.name}`" for item in without)
        blocks.append(
            Alert(
                f"Confidence intervals are unavailable for {names}: these results keep no "
                f"per-example predictions (written by an older fewdims). To get them, "
                f"{HOW_TO_GET_CIS}."
            )
        )
    blocks.extend(_seeds_note(summary))
    if not summary.rows:
        blocks.append(Paragraph("No probe results for this task; run `fewdims probe` first."))
    else:
        blocks.append(Paragraph(_headline(summary)))
        blocks.append(Heading("Summary", 3))
        blocks.append(_summary_table(summary))
        blocks.append(Heading("Baselines: random dims and control task", 3))
        blocks.extend(_baseline_blocks(summary))
    blocks.extend(codelength_blocks(summary))
    figures: list[Block] = []
    for kind in PLOT_KINDS:
        plot_path = plots.get(kind.name)
        if plot_path is not None:
            figures.append(Image(plot_path, kind.title, kind.caption))
        elif summary.rows and kind.name != "finetune":
            # Without any probe rows the line above already says to run `fewdims probe`;
            # the fine-tuning section explains its own absence.
            figures.append(Paragraph(f"**{kind.title}:** {kind.missing}"))
    if figures:
        blocks += [Heading("Plots", 3), *figures]
    blocks.append(Heading("Fine-tuning", 3))
    blocks.extend(_finetune_blocks(summary))
    return blocks


def _seeds_note(summary: TaskSummary) -> list[Block]:
    """How to read a section whose probes or fine-tuning runs were repeated over seeds."""
    repeated = [result for result in summary.finetunes if result.spread_of() is not None]
    if not (summary.seeds or repeated):
        return []
    parts = []
    if summary.seeds:
        seeds = ", ".join(map(str, summary.seeds))
        parts.append(
            f"The probe sweep was repeated over {len(summary.seeds)} inner-split seeds "
            f"({seeds}; the {summary.eval_split} split is the same for all): each seed chose "
            "its own dims on its own validation split, and a probe score reads **mean ± sd "
            "(n seeds)** over those choices, with each seed's dims in seed order. CIs, the "
            "claims, the headline's choice of layer, the random / control baselines and the "
            f"pair / per-dim figures use seed {summary.seeds[0]}'s cells."
        )
    if repeated:
        parts.append(
            "Fine-tuning rows marked with seeds are one run repeated per seed (head init, "
            "data order, dropout): **mean ± sd (n seeds)**, their seconds the mean per seed."
        )
    parts.append(
        "sd is the sample standard deviation over seeds (ddof = 1); plots draw it as error "
        "bars (± 1 sd) where several seeds exist, and 95% bootstrap CIs elsewhere."
    )
    return [Paragraph(" ".join(parts))]


def _score_text(value: float, interval: Interval | None, spread: SeedSpread | None) -> str:
    """A score as every table prints it: mean ± sd over seeds, else the score with its CI."""
    return spread.text() if spread is not None else score_with_interval(value, interval)


def _seed_dims(dims_by_seed: Sequence[Sequence[int]]) -> str:
    """Each seed's dims in seed order, ``[3, 8] / [3, 8] / [1, 8]``."""
    return " / ".join(format_dims(dims) if dims else MISSING for dims in dims_by_seed)


def _headline(summary: TaskSummary) -> str:
    metric = summary.primary_metric
    parts = []
    best_full = summary.best_row(None)
    if best_full is not None:
        interval = interval_of(best_full.full_cell, "eval", metric)
        score = _score_text(best_full.full_eval, interval, best_full.spread_of("all"))
        parts.append(f"all dims {score} (layer {best_full.layer} / {best_full.pooling})")
    for k in SUMMARY_KS:
        row = summary.best_row(k)
        if row is None:
            continue
        subset = row.best_by_k[k]
        baseline = row.random_by_k.get(k)
        versus = (
            f"; random {k}: {format_score(baseline.mean)} ± {format_score(baseline.sd)}"
            if baseline
            else ""
        )
        interval = interval_of(subset.cell, subset.key, metric)
        spread = row.spread_of(f"best/{k}")
        dims = (
            _seed_dims(row.best_dims_by_seed[k]) if spread is not None else format_dims(subset.dims)
        )
        parts.append(
            f"{k} dim{'s' if k > 1 else ''} {_score_text(subset.eval(metric), interval, spread)} "
            f"(layer {row.layer} / {row.pooling}, dims {dims}, "
            f"{subset.method}{versus})"
        )
    if not parts:
        return "No scores recorded."
    with_ci = " with its 95% CI" if any("[" in part.split("(")[0] for part in parts) else ""
    return (
        "**Best** (layer, pooling and dims chosen on the validation split of train, score on "
        f"{summary.eval_split}{with_ci}): " + "; ".join(parts) + "."
    )


def _column_best(values: list[float]) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return max(finite) if finite else math.nan


def _summary_table(summary: TaskSummary) -> Table:
    metric = summary.primary_metric
    ks = [k for k in SUMMARY_KS if any(k in row.best_by_k for row in summary.rows)]
    has_finetune = any(row.finetuned for row in summary.rows)
    columns = ["layer", "pooling", "all dims"]
    columns += [f"best {k} dim{'s' if k > 1 else ''} [dims]" for k in ks]
    if has_finetune:
        columns.append("fine-tuned")
    best_full = _column_best([row.shown("all", row.full_eval) for row in summary.rows])
    best_k = {
        k: _column_best([row.shown(f"best/{k}", row.best_eval(k, metric)) for row in summary.rows])
        for k in ks
    }
    best_tuned = _column_best(
        [row.finetuned.shown(metric) if row.finetuned else math.nan for row in summary.rows]
    )
    table_rows = []
    chosen_on_eval = False
    for row in summary.rows:
        full_spread = row.spread_of("all")
        full_interval = interval_of(row.full_cell, "eval", metric)
        full_text = _score_text(row.full_eval, full_interval, full_spread)
        cells = [
            TableCell(str(row.layer)),
            TableCell(row.pooling),
            TableCell(full_text, row.shown("all", row.full_eval) == best_full),
        ]
        for k in ks:
            subset = row.best_by_k.get(k)
            spread = row.spread_of(f"best/{k}")
            score = row.shown(f"best/{k}", subset.eval(metric) if subset else math.nan)
            if spread is not None:
                text = f"{spread.text()} {_seed_dims(row.best_dims_by_seed[k])}"
            elif subset:
                interval = interval_of(subset.cell, subset.key, metric)
                text = f"{score_with_interval(score, interval)} {format_dims(subset.dims)}"
            else:
                text = MISSING
            if subset and not math.isfinite(subset.validation):
                text += NO_VALIDATION_MARK
                chosen_on_eval = True
            cells.append(TableCell(text, score == best_k[k]))
        if has_finetune:
            cells.append(_finetuned_cell(row, metric, best_tuned))
        table_rows.append(tuple(cells))
    caption = (
        f"{metric} on {summary.eval_split} [95% bootstrap CI over {summary.eval_split} "
        "examples], one row per layer and pooling."
    )
    if summary.seeds:
        caption += (
            f" Over {len(summary.seeds)} inner-split seeds: mean ± sd (n seeds) of each seed's "
            "own choice, its dims listed per seed (seeds "
            f"{', '.join(map(str, summary.seeds))})."
        )
    if any(row.pooling == TOKEN_ROWS for row in summary.rows):
        caption += (
            f" `{TOKEN_ROWS}` rows are scored per word token (each token's vector predicts its "
            "sentence's label), not per sentence: compare them with each other, not with the "
            "poolings."
        )
    if chosen_on_eval:
        caption += (
            f" {NO_VALIDATION_MARK} no validation score was recorded for this subset, so it "
            f"was chosen on {summary.eval_split}: that score is optimistic."
        )
    return Table(tuple(columns), tuple(table_rows), caption=caption)


def _finetuned_cell(row: LayerPoolingRow, metric: str, best: float) -> TableCell:
    if row.finetuned is None:
        return TableCell(MISSING)
    result = row.finetuned
    k = len(result.dims)
    interval = interval_of(result.cell, "eval", metric)
    text = _score_text(result.eval(metric), interval, result.spread_of())
    return TableCell(f"{text} ({k or 'all'} dims)", result.shown(metric) == best)


def _baseline_blocks(summary: TaskSummary) -> list[Block]:
    has_random = any(row.random_by_k for row in summary.rows)
    has_control = any(row.selectivity_by_k for row in summary.rows)
    blocks: list[Block] = []
    if not has_random:
        blocks.append(
            Paragraph(
                "No random-k baseline in these results; re-run `fewdims probe` including the "
                "`random` method to see the chance level for k dims."
            )
        )
    if not has_control:
        blocks.append(
            Paragraph(
                "No control-task results; re-run `fewdims probe` including the `control` method "
                "to measure selectivity."
            )
        )
    if not (has_random or has_control):
        return blocks
    columns = ["layer", "pooling"]
    if has_random:
        columns += [f"random {k} dim{'s' if k > 1 else ''} (mean ± sd)" for k in SUMMARY_KS]
    if has_control:
        columns += [f"selectivity {k} dim{'s' if k > 1 else ''}" for k in SUMMARY_KS]
    best_selectivity = {
        k: _column_best([row.selectivity_by_k.get(k, math.nan) for row in summary.rows])
        for k in SUMMARY_KS
    }
    table_rows = []
    for row in summary.rows:
        if not (row.random_by_k or row.selectivity_by_k):
            continue  # e.g. token rows, probed out of core without baselines
        cells = [TableCell(str(row.layer)), TableCell(row.pooling)]
        if has_random:
            for k in SUMMARY_KS:
                baseline = row.random_by_k.get(k)
                text = (
                    f"{format_score(baseline.mean)} ± {format_score(baseline.sd)}"
                    if baseline
                    else MISSING
                )
                cells.append(TableCell(text))
        if has_control:
            for k in SUMMARY_KS:
                value = row.selectivity_by_k.get(k, math.nan)
                cells.append(TableCell(format_score(value), value == best_selectivity[k]))
        table_rows.append(tuple(cells))
    caption = (
        f"Random: {summary.primary_metric} on {summary.eval_split} over random k-dim subsets. "
        "Selectivity: validation score on the task minus on its control task."
    )
    blocks.append(Table(tuple(columns), tuple(table_rows), caption=caption))
    return blocks


def _finetune_blocks(summary: TaskSummary) -> list[Block]:
    if not summary.finetunes:
        return [
            Paragraph(
                "No fine-tuning results for this task. To add them, run `fewdims finetune` "
                "with the selected dims and pass its results file to `fewdims report` "
                "together with this one."
            )
        ]
    metric = summary.primary_metric
    has_forgetting = any(math.isfinite(result.forgetting) for result in summary.finetunes)
    columns = [
        "stage",
        "layer",
        "pooling",
        "dims",
        "encoder",
        "head",
        f"frozen probe ({metric})",
        f"fine-tuned ({metric})",
        "gain",
    ]
    columns += ["forgetting"] if has_forgetting else []
    has_sizes = any(result.n_train or result.n_eval for result in summary.finetunes)
    columns += ["examples (train / eval)"] if has_sizes else []
    columns += ["epochs", "seconds"]
    table_rows = []
    for result in summary.finetunes:
        tuned = result.shown(metric)
        gain = tuned - result.frozen_probe_eval
        encoder = {True: "frozen", False: "trained", None: MISSING}[result.frozen_encoder]
        frozen_text = format_score(result.frozen_probe_eval)
        if result.frozen_probe_source:
            frozen_text += f" ({result.frozen_probe_source})"
        cells = [
            TableCell(result.label),
            TableCell(str(result.layer)),
            TableCell(result.pooling),
            TableCell(format_dims(result.dims) if result.dims else "all"),
            TableCell(encoder),
            TableCell(result.head or MISSING),
            TableCell(frozen_text),
            TableCell(
                _score_text(
                    result.eval(metric),
                    interval_of(result.cell, "eval", metric),
                    result.spread_of(),
                )
            ),
            TableCell(f"{gain:+.3f}" if math.isfinite(gain) else MISSING),
        ]
        if has_forgetting:
            cells.append(TableCell(format_score(result.forgetting)))
        if has_sizes:
            cells.append(TableCell(f"{result.n_train or MISSING} / {result.n_eval or MISSING}"))
        cells += [
            TableCell(str(len(result.epochs)) if result.epochs else MISSING),
            TableCell(f"{result.seconds:.1f}"),
        ]
        table_rows.append(tuple(cells))
    blocks: list[Block] = []
    probe_n = summary.probe_eval_examples
    mismatched = [
        result
        for result in summary.finetunes
        if probe_n and result.n_eval and result.n_eval != probe_n
        and math.isfinite(result.frozen_probe_eval)
    ]  # fmt: skip
    if mismatched:
        sizes = ", ".join(sorted({str(result.n_eval) for result in mismatched}))
        blocks.append(
            Alert(
                f"Fine-tuning was scored on {sizes} {summary.eval_split} examples, the frozen "
                f"probes on all {probe_n}: the gain column compares different example sets. "
                "Re-run `fewdims finetune` without --max-eval-examples for a like-for-like gain."
            )
        )
    return [
        *blocks,
        Table(
            tuple(columns),
            tuple(table_rows),
            label_columns=6,
            caption=f"{metric} on {summary.eval_split}; frozen probe = the probe on the same "
            "dims with the encoder frozen"
            + (
                "; a run repeated over seeds shows mean ± sd (n seeds), its gain from the mean "
                "and its seconds per seed (mean)"
                if any(result.spread_of() is not None for result in summary.finetunes)
                else ""
            )
            + (
                "; forgetting = this task's score right after its own stage minus its score "
                "after the later stage named in the row."
                if has_forgetting
                else "."
            ),
        ),
    ]
