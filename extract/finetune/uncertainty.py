"""Kept predictions and bootstrap CIs for a fine-tuning cell's eval scores.

``training.evaluate`` returns :class:`probe.metrics.MetricScores`, which carry the eval
predictions they were computed from; :func:`eval_uncertainty` turns them into the
``predictions`` and ``intervals`` fields of the result cell (see ``probe.results``), so
fine-tuned heads can be compared with each other and with frozen probes by paired tests on
the same dev examples. Scores restored from a checkpoint written by an older fewdims carry no
predictions; their cells then simply have none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from extract.finetune.training import StageTask
from probe.stats.bootstrap import BootstrapSpec, intervals_to_records, metric_intervals

FINETUNE_BOOTSTRAP = BootstrapSpec()


def eval_uncertainty(scores: Any, task: StageTask) -> dict[str, Any]:
    """``{"predictions": ..., "intervals": ...}`` for a cell, or ``{}`` without predictions.

    Arrays go in as lists: the cells also travel through the JSON checkpoint.
    """
    predictions = getattr(scores, "predictions", None)
    if predictions is None:
        return {}
    labels = np.asarray(task.eval.labels)
    n_classes = 2 if task.is_regression else max(task.n_outputs, 2)
    intervals = metric_intervals(
        task.metrics, labels, predictions, FINETUNE_BOOTSTRAP, n_classes=n_classes
    )[0]
    return {
        "predictions": {"eval": predictions.tolist(), "labels": labels.tolist()},
        "intervals": {"eval": intervals_to_records(intervals)},
    }
