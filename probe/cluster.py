"""Where a sweep's (layer, pooling) cell groups run: here (serially or in ``--jobs``
processes), on a Dask cluster named by ``--scheduler tcp://host:8786`` or
``$FEWDIMS_SCHEDULER``, or on Ray (``--scheduler ray`` for a local Ray or ``$RAY_ADDRESS``,
``--scheduler ray://host:10001`` for a Ray client address) through Ray's joblib backend.

Why Dask futures rather than joblib's Dask backend: a future per group gives the scheduler
something to re-run when a worker dies (Dask moves a dead worker's tasks to the others and
``retries`` covers a task that itself failed), and the client collects each group's cells
exactly once, in grid order, and writes the results file once at the end (atomically,
``ResultsFile.save``). A worker killed mid-sweep therefore neither loses nor duplicates
cells (a test kills one). Every group seeds its random choices from ``(seed, ...)``, never
from where or when it runs, so cluster results equal the serial run's.

What the cluster needs: ``fewdims`` (``pip install 'fewdims[dask]'``) on every worker, and
the two caches at the same path on every worker (a shared filesystem): only paths and
settings travel, never feature rows. Start one with ``dask scheduler`` and
``dask worker tcp://HOST:8786`` on each machine.

Ray: groups go through ``joblib`` with Ray's backend (``ray.util.joblib``), so the same
ordered collection applies; a dead Ray worker's task is retried by Ray's own task retries.
Only Dask's behaviour under a killed worker is tested here (Ray needs the ``[ray]`` extra,
~260 MB, and ~20 s to start on a 2-core laptop).

``--jobs auto`` (the command-line default) runs one process per available core: the
search kernels are single-threaded on purpose (spinning BLAS threads cost more than they
gain on a busy laptop), so on a 2-core laptop two groups at a time nearly halve a sweep's
wall time, with identical results; joblib gives each worker one BLAS thread.

Flags: ``--jobs`` and ``--scheduler`` are declared here (:func:`add_execution_options`),
beside the code that reads them, for both ``fewdims probe`` and ``fewdims run``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from probe.errors import FewdimsError

SCHEDULER_ENV = "FEWDIMS_SCHEDULER"
# Seconds to wait for the scheduler before giving up: an address with nothing listening
# fails at once; an unroutable host would otherwise hang for minutes.
CONNECT_TIMEOUT_S = 5.0
# Extra attempts for a group whose task raised on a worker (a worker that died is handled
# by the scheduler itself, which re-runs its tasks elsewhere).
TASK_RETRIES = 2


class ClusterError(FewdimsError):
    """A scheduler that cannot be used (unreachable, or Dask not installed)."""


@dataclass(frozen=True)
class Execution:
    """How cell groups run. ``jobs`` >= 1 local processes; ``scheduler`` a Dask address
    (then ``jobs`` is ignored: the cluster's workers set the parallelism)."""

    jobs: int = 1
    scheduler: str | None = None
    connect_timeout_s: float = CONNECT_TIMEOUT_S


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def positive_jobs(text: str) -> int:
    """argparse type of ``--jobs``: ``auto`` (every available core) or an integer >= 1."""
    if text.strip().lower() == "auto":
        return available_cores()
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--jobs takes 'auto' or a whole number of processes, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"--jobs must be at least 1 (1 runs the (layer, pooling) groups one after another; "
            f"N runs N at once, up to your core count), got {value}"
        )
    return value


def add_execution_options(parser: argparse.ArgumentParser) -> None:
    """``--jobs`` and ``--scheduler``, declared once for ``fewdims probe`` and ``fewdims run``."""
    parser.add_argument(
        "--jobs",
        type=positive_jobs,
        default="auto",
        help="(layer, pooling) groups run in parallel processes on this machine: 'auto' (one "
        "per available core, the default) or a number; 1 runs them one after another",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the groups on a Dask cluster, e.g. tcp://host:8786 (default: "
        f"${SCHEDULER_ENV} if set, else this machine); needs pip install 'fewdims[dask]' "
        "and the caches at the same path on every worker",
    )


def execution_from_args(args: argparse.Namespace) -> Execution:
    """The flags (``--scheduler`` wins over ``$FEWDIMS_SCHEDULER``) as an :class:`Execution`."""
    scheduler = args.scheduler or os.environ.get(SCHEDULER_ENV) or None
    return Execution(jobs=args.jobs, scheduler=scheduler.strip() if scheduler else None)


@contextmanager
def dask_client(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A ``distributed.Client`` connected to ``address``, closed on exit.

    Raises ``ClusterError`` naming the address when nothing answers within ``timeout_s``,
    and naming the install command when Dask is missing.
    """
    try:
        from distributed import Client
    except ImportError as error:
        raise ClusterError(
            f"--scheduler {address} needs Dask's distributed scheduler, which is not installed; "
            "pip install 'fewdims[dask]', or drop --scheduler (and unset "
            f"{SCHEDULER_ENV}) to run on this machine."
        ) from error
    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise ClusterError(
            f"Could not reach a Dask scheduler at {address} within {timeout_s:g} s "
            f"({type(error).__name__}: {error}). Start one there (`dask scheduler`, then "
            f"`dask worker {address}` on each machine), fix the address, or drop --scheduler "
            f"(and unset {SCHEDULER_ENV}) to run on this machine."
        ) from error
    try:
        yield client
    finally:
        client.close()


def is_ray_address(address: str) -> bool:
    """``ray`` (a local Ray, or ``$RAY_ADDRESS``) or a ``ray://`` client address."""
    return address == "ray" or address.startswith("ray://")


def check_scheduler(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Connect once and disconnect: raises ``ClusterError`` as :func:`dask_client` does.

    ``fewdims run`` calls it before extracting, so a wrong address fails in seconds. A Ray
    address is checked for the ``ray`` package only (starting Ray twice costs ~20 s).
    """
    if is_ray_address(address):
        _import_ray(address)
        return
    with dask_client(address, timeout_s):
        pass


def _import_ray(address: str) -> Any:
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError as error:
        raise ClusterError(
            f"--scheduler {address} needs Ray, which is not installed; pip install "
            "'fewdims[ray]', or use a Dask scheduler (tcp://host:8786), or drop --scheduler."
        ) from error
    register_ray()
    return ray


def _on_ray(
    address: str, function: Callable[..., Any], arguments: Sequence[tuple[Any, ...]]
) -> Iterator[Any]:
    from joblib import Parallel, delayed, parallel_config

    ray = _import_ray(address)
    try:
        ray.init(
            address=None if address == "ray" else address,
            include_dashboard=False,
            log_to_driver=False,
        )
    except (ConnectionError, OSError, TimeoutError, RuntimeError) as error:
        raise ClusterError(
            f"Could not reach Ray at {address} ({type(error).__name__}: {error}). Start it "
            "(`ray start --head`), fix the address, or drop --scheduler to run here."
        ) from error
    try:
        with parallel_config(backend="ray"):
            # Ray's backend has no generator mode: all groups are collected, then yielded
            outputs = Parallel(n_jobs=-1)(delayed(function)(*args) for args in arguments)
        yield from outputs
    finally:
        ray.shutdown()


def map_in_order(
    execution: Execution, function: Callable[..., Any], arguments: Sequence[tuple[Any, ...]]
) -> Iterator[Any]:
    """``function(*args)`` for each tuple of ``arguments``, yielded in input order.

    Serial for ``jobs == 1`` without a scheduler; joblib processes for ``jobs > 1`` (a
    caller's ``joblib.parallel_config`` backend applies); Dask futures with a scheduler.
    """
    if execution.scheduler and is_ray_address(execution.scheduler):
        yield from _on_ray(execution.scheduler, function, arguments)
    elif execution.scheduler:
        yield from _on_dask(execution, function, arguments)
    elif execution.jobs == 1:
        for args in arguments:
            yield function(*args)
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=execution.jobs, return_as="generator")
        yield from parallel(delayed(function)(*args) for args in arguments)


def _on_dask(
    execution: Execution, function: Callable[..., Any], arguments: Sequence[tuple[Any, ...]]
) -> Iterator[Any]:
    assert execution.scheduler is not None
    with dask_client(execution.scheduler, execution.connect_timeout_s) as client:
        # pure=False: a re-run sweep computes afresh instead of reusing a key's old result
        futures = [
            client.submit(function, *args, pure=False, retries=TASK_RETRIES) for args in arguments
        ]
        try:
            for future in futures:
                yield future.result()
        finally:
            client.cancel(futures)
