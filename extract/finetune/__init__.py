"""Fine-tuning with selected dimensions: the unfrozen comparison to frozen probes.

Fukuhata & Kano (2025, arXiv 2504.04966) fine-tune a whole encoder while the new head may
read only 2–3 chosen hidden dimensions. Modules, one job each:

* :mod:`.head` — the encoder cut at layer L, pooling, and the selected-dims heads;
* :mod:`.dims` — ``--dims`` lists and ``--dims-from`` probe results files;
* :mod:`.batches` — task data, tokenization and batch order;
* :mod:`.training` — the optimiser, one epoch, evaluation with ``probe.metrics``;
* :mod:`.checkpoint` — per-epoch checkpoints for resuming;
* :mod:`.runner` — stages over tasks, results file and provenance;
* :mod:`.config` — the settings dataclass (also the saved config).
"""

from extract.finetune.batches import TaskData, task_data
from extract.finetune.config import FinetuneConfig
from extract.finetune.runner import run_finetune
from extract.finetune.training import ProgressCallback, TrainProgress

__all__ = [
    "FinetuneConfig",
    "ProgressCallback",
    "TaskData",
    "TrainProgress",
    "run_finetune",
    "task_data",
]
