"""Dimension-subset search methods, one per module behind one interface.

Each method module exposes ``run(problem, config) -> MethodOutcome`` (see ``base``). All of
them share the honest protocol of ``problem`` (select on an inner validation split of the
training cache, report on the eval cache) and the vectorised machinery of ``gram`` (the
closed-form screen) and ``select`` (pool -> metric -> exact re-fit).

Methods are imported lazily by :func:`get_method`, and ``Problem`` lives in
``probe.search.problem`` (it pulls in scipy), so importing this package is cheap: every
``fewdims`` command imports it to list the method names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from probe.errors import FewdimsError
from probe.search.base import MethodOutcome, SearchConfig

if TYPE_CHECKING:
    from probe.search.problem import Problem

# method name -> module under probe.search
METHOD_MODULES: dict[str, str] = {
    "full": "full",
    "rank": "rank",
    "pairs": "pairs",
    "triples": "triples",
    "greedy": "greedy",
    "backward": "backward",
    "random": "random_baseline",
    "control": "control",
    "mdl": "mdl",
}

# Laptop defaults. ``triples`` is left out: 75 M candidates at D = 768 cost 5-10 s per
# (layer, pooling) cell on a 2-core laptop, where every default method costs about a second.
DEFAULT_METHODS: tuple[str, ...] = (
    "full",
    "rank",
    "pairs",
    "greedy",
    "backward",
    "random",
    "control",
)


class UnknownMethodError(FewdimsError, ValueError):
    """A search method name that fewdims does not have."""


def get_method(name: str) -> Callable[[Problem, SearchConfig], MethodOutcome]:
    """The ``run`` function of method ``name``; raises ``UnknownMethodError`` listing the options."""
    if name not in METHOD_MODULES:
        raise UnknownMethodError(
            f"Unknown search method {name!r}; choose from {', '.join(METHOD_MODULES)} "
            "(comma-separated in --methods)."
        )
    module = importlib.import_module(f"probe.search.{METHOD_MODULES[name]}")
    return module.run


__all__ = [
    "DEFAULT_METHODS",
    "METHOD_MODULES",
    "MethodOutcome",
    "SearchConfig",
    "get_method",
]
