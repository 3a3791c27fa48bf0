"""Write the committed tiny caches ``tests/data/tiny-{train,dev}.h5`` (a few KB each).

They let a core install without torch probe a real cache file and render a report
(``.ci/run``'s second venv, and the torch-free tests). Made from
:func:`tests.synthetic_cache.write_synthetic_cache` (seeded, no model), so re-running this
script reproduces the arrays; commit the files it writes::

    python tests/data/make_tiny_cache.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.synthetic_cache import write_synthetic_cache  # noqa: E402

HERE = Path(__file__).resolve().parent
TINY_TRAIN = HERE / "tiny-train.h5"
TINY_DEV = HERE / "tiny-dev.h5"
SETTINGS = {"hidden_size": 8, "layers": (0, 1), "mean_length": 4, "strength": 1.0}


def main() -> None:
    for path, n_examples, split, seed in ((TINY_TRAIN, 48, "train", 1), (TINY_DEV, 24, "dev", 2)):
        path.unlink(missing_ok=True)
        write_synthetic_cache(path, n_examples=n_examples, split=split, seed=seed, **SETTINGS)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
