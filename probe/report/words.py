"""The report section of a word-level (CoNLL-U) probe: what ``fewdims probe --label`` found.

Built from results files only, like every section: accuracy per layer and subword pooling,
score vs k (greedy, the random band, all dims), per-tag F1 for the best k-dim probe and for
all dims, the top confusions (both from the confusion matrices stored in the ``full`` and
``greedy`` cells), and selectivity against the per-word-type control task.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from probe.metrics import per_class_f1
from probe.report.document import Block, Heading, Image, Paragraph, Table, TableCell
from probe.report.inputs import TaskGroup
from probe.results import ResultCell

N_CONFUSIONS = 10


def is_word_group(group: TaskGroup) -> bool:
    """True for a task whose probe results are word rows (``fewdims probe --label``)."""
    return bool(group.probe_files) and all(
        item.results.provenance.get("rows") == "words" for item in group.probe_files
    )


def word_eval_split(group: TaskGroup) -> str:
    return str(group.probe_files[0].results.provenance["eval_cache"].get("split", "test"))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _cells(group: TaskGroup) -> list[ResultCell]:
    return [cell for item in group.probe_files for cell in item.results.cells]


def _find(cells: list[ResultCell], layer: int, pooling: str, method: str) -> ResultCell | None:
    for cell in cells:
        if (cell.layer, cell.pooling, cell.method) == (layer, pooling, method):
            return cell
    return None


def word_section(group: TaskGroup, out_dir: Path, plot_stem: str) -> list[Block]:
    """Every block of one word-level task."""
    provenance = group.probe_files[0].results.provenance
    labels = provenance["labels"]
    cells = _cells(group)
    keys = sorted({(cell.layer, cell.pooling) for cell in cells})
    blocks: list[Block] = [Heading(f"{group.title} (word-level, {labels['label']})", 2)]
    blocks.append(Paragraph(_facts(provenance)))
    blocks.append(_layer_table(cells, keys, int(provenance["spec"]["config"]["k"])))
    best = _best_key(cells, keys)
    if best is None:
        blocks.append(Paragraph("No `full` cell: run the `full` method to pick the best slice."))
        return blocks
    layer, pooling = best
    image = _score_vs_k_plot(cells, layer, pooling, out_dir, plot_stem, labels["label"])
    if image is not None:
        blocks.append(image)
    blocks.extend(_tag_tables(cells, layer, pooling, labels["classes"]))
    blocks.extend(_selectivity(cells, keys))
    return blocks


def _facts(provenance: dict[str, Any]) -> str:
    labels = provenance["labels"]
    text = (
        f"**{provenance.get('splits_note', '')}.** {labels['n_train_words']:,} train words, "
        f"{labels['n_eval_words']:,} scored eval words, {len(labels['classes'])} classes "
        f"(label `{labels['label']}`). "
    )
    if labels["n_eval_unseen"]:
        unseen = ", ".join(
            f"{name} ({count})" for name, count in labels["unseen_eval_labels"].items()
        )
        text += (
            f"{labels['n_eval_unseen']} eval word(s) carry a label unseen in train and are not "
            f"scored: {unseen}. "
        )
    if labels["rare_train_labels"]:
        rare = ", ".join(f"{name} ({count})" for name, count in labels["rare_train_labels"].items())
        text += f"Train labels with words in fewer than 2 sentences, left out: {rare}. "
    dropped = provenance["eval_cache"].get("words", {}).get("n_truncated", 0)
    dropped_train = provenance["train_cache"].get("words", {}).get("n_truncated", 0)
    # results made before the split kept sentences whole say nothing; say nothing for them
    by_sentence = provenance.get("inner_split_groups") == "sentence"
    text += (
        f"Words dropped by --max-length: {dropped_train} train, {dropped} eval. Scores are eval "
        "accuracy / macro-F1; dims and C were chosen on a validation part of the train words"
        + (
            " (whole sentences: no sentence has words in both the fitted and the validation part)."
            if by_sentence
            else "."
        )
    )
    return text


def _score(cell: ResultCell | None, metric: str = "accuracy") -> float | None:
    return None if cell is None else cell.eval_score(metric)


def _greedy_at(cell: ResultCell | None, k: int, metric: str = "accuracy") -> float | None:
    if cell is None:
        return None
    for step in cell.steps:
        if step["k"] == k:
            return float(step["eval"][metric])
    return None


def _layer_table(cells: list[ResultCell], keys: list[tuple[int, str]], max_k: int) -> Table:
    rows = []
    for layer, pooling in keys:
        full = _find(cells, layer, pooling, "full")
        greedy = _find(cells, layer, pooling, "greedy")
        pairs = _find(cells, layer, pooling, "pairs")
        rank = _find(cells, layer, pooling, "rank")
        rows.append(
            (
                TableCell(str(layer)),
                TableCell(pooling),
                TableCell(_fmt(_score(full))),
                TableCell(_fmt(_score(full, "f1_macro"))),
                TableCell(_fmt(_score(rank))),
                TableCell(_fmt(_score(pairs))),
                TableCell(_fmt(_greedy_at(greedy, max_k))),
                TableCell(_fmt(_greedy_at(greedy, max_k, "f1_macro"))),
            )
        )
    return Table(
        columns=(
            "layer",
            "subword pooling",
            "all dims acc",
            "all dims macro-F1",
            "best 1 dim (rank) acc",
            "best pair acc",
            f"greedy {max_k} dims acc",
            f"greedy {max_k} dims macro-F1",
        ),
        rows=tuple(rows),
        caption="Eval accuracy per layer and subword pooling (a word's vector: its first "
        "subword, or the mean of its subwords).",
    )


def _best_key(cells: list[ResultCell], keys: list[tuple[int, str]]) -> tuple[int, str] | None:
    scored = [
        (_score(_find(cells, layer, pooling, "full")) or -1.0, -layer, layer, pooling)
        for layer, pooling in keys
        if _find(cells, layer, pooling, "full") is not None
    ]
    if not scored:
        return None
    _, _, layer, pooling = max(scored)
    return layer, pooling


def _score_vs_k_plot(
    cells: list[ResultCell], layer: int, pooling: str, out_dir: Path, stem: str, label: str
) -> Image | None:
    greedy = _find(cells, layer, pooling, "greedy")
    random = _find(cells, layer, pooling, "random")
    full = _find(cells, layer, pooling, "full")
    if greedy is None and random is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.0, 3.8))
    if greedy is not None:
        ks = [step["k"] for step in greedy.steps]
        axis.plot(ks, [step["eval"]["accuracy"] for step in greedy.steps], "o-", label="greedy")
    if random is not None and random.steps:
        ks = [step["k"] for step in random.steps]
        axis.fill_between(
            ks,
            [step["q05"] for step in random.steps],
            [step["q95"] for step in random.steps],
            alpha=0.25,
            color="gray",
            label="random k dims (5-95%)",
        )
        axis.plot(ks, [step["median"] for step in random.steps], "--", color="gray")
    if full is not None:
        axis.axhline(full.eval_score("accuracy"), color="black", lw=1, label="all dims")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("number of dims k")
    axis.set_ylabel("eval accuracy")
    axis.set_title(f"{label}: layer {layer}, {pooling} subword")
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    relative = Path("plots") / f"{stem}_score_vs_k.png"
    (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_dir / relative, dpi=110)
    plt.close(figure)
    return Image(
        relative,
        f"{label} score vs k",
        f"{label} eval accuracy vs number of dims at layer {layer} ({pooling} subword): greedy "
        "forward selection, the band of random k-dim subsets, and the all-dims probe.",
    )


def _tag_tables(
    cells: list[ResultCell], layer: int, pooling: str, classes: list[str]
) -> list[Block]:
    full = _find(cells, layer, pooling, "full")
    greedy = _find(cells, layer, pooling, "greedy")
    matrices: dict[str, np.ndarray] = {}
    if full is not None and "confusion" in full.details:
        matrices["all dims"] = np.asarray(full.details["confusion"])
    by_k = {} if greedy is None else greedy.details.get("confusion_by_k", {})
    for k in sorted(by_k, key=int):
        if int(k) in (1, 2, 4) or k == max(by_k, key=int):
            matrices[f"greedy {k} dims"] = np.asarray(by_k[k])
    if not matrices:
        return []
    f1 = {name: per_class_f1(matrix[None])[0][0] for name, matrix in matrices.items()}
    support = next(iter(matrices.values())).sum(axis=1)
    rows = []
    for index in np.argsort(-support, kind="stable"):
        rows.append(
            (
                TableCell(classes[index]),
                TableCell(f"{int(support[index]):,}"),
                *(TableCell(_fmt(float(f1[name][index]))) for name in matrices),
            )
        )
    blocks: list[Block] = [
        Table(
            columns=("tag", "eval words", *(f"F1 {name}" for name in matrices)),
            rows=tuple(rows),
            caption=f"Per-tag eval F1 at layer {layer} ({pooling} subword), most frequent first.",
            label_columns=1,
        )
    ]
    for name in ("all dims", *[n for n in matrices if n.startswith("greedy")][-1:]):
        if name in matrices:
            blocks.append(_confusion_table(matrices[name], classes, name, layer, pooling))
    return blocks


def _confusion_table(
    matrix: np.ndarray, classes: list[str], name: str, layer: int, pooling: str
) -> Table:
    off = matrix.astype(np.int64).copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:N_CONFUSIONS]
    totals = matrix.sum(axis=1)
    rows = []
    for flat in order:
        true, predicted = np.unravel_index(flat, off.shape)
        if off[true, predicted] == 0:
            break
        rows.append(
            (
                TableCell(classes[true]),
                TableCell(classes[predicted]),
                TableCell(f"{int(off[true, predicted]):,}"),
                TableCell(f"{off[true, predicted] / max(totals[true], 1):.1%}"),
            )
        )
    return Table(
        columns=("true", "predicted as", "eval words", "share of true tag"),
        rows=tuple(rows),
        caption=f"Top confusions of the {name} probe (layer {layer}, {pooling} subword).",
    )


def _selectivity(cells: list[ResultCell], keys: list[tuple[int, str]]) -> list[Block]:
    rows = []
    for layer, pooling in keys:
        control = _find(cells, layer, pooling, "control")
        if control is None:
            continue
        for step in control.steps:
            rows.append(
                (
                    TableCell(str(layer)),
                    TableCell(pooling),
                    TableCell(step.get("method", "greedy")),
                    TableCell(str(step["k"])),
                    TableCell(_fmt(step["real"])),
                    TableCell(_fmt(step["control"])),
                    TableCell(_fmt(step["selectivity"])),
                )
            )
    if not rows:
        return [Paragraph("No control cells: add `control` to --methods for selectivity.")]
    return [
        Heading("Selectivity (per-word-type control task)", 3),
        Table(
            columns=("layer", "subword pooling", "method", "k", "real", "control", "selectivity"),
            rows=tuple(rows),
            caption="Eval accuracy on the real labels and on the control task (each word type "
            "one random label drawn from the train label distribution, Hewitt & Liang 2019); "
            "selectivity = real − control.",
            label_columns=4,
        ),
    ]
