"""Sweeps on a real Dask cluster (2 worker processes) equal the serial run, survive a worker
killed mid-sweep without losing or duplicating cells, and bad --scheduler / --jobs values
fail with exit 2 and a message naming the problem."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

import pytest

import probe.sweep as sweep
from probe.cli import main
from probe.cluster import ClusterError, check_scheduler
from probe.sweep import run_sweep
from tests.unit.probe.test_sweep import caches, comparable, serial_results, spec_for  # noqa: F401

distributed = pytest.importorskip("distributed", reason="Dask is an optional extra: [dask]")


def probe_args(train, dev) -> list[str]:
    paths = ("--train", str(train), "--eval", str(dev), "--out", "unused.json")
    return ["probe", *paths, "--methods", "pairs", "--k", "3", "--top-k", "10", "--quiet"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def test_local_cluster_results_equal_the_serial_run(caches, serial_results, cluster):  # noqa: F811
    with distributed.Client(cluster) as client:
        pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids  # two real worker processes
    clustered = run_sweep(replace(spec_for(caches), scheduler=cluster.scheduler_address))
    assert comparable(clustered) == comparable(serial_results)
    assert "scheduler" not in clustered.provenance["spec"]


def test_worker_killed_mid_sweep_loses_and_duplicates_no_cell(
    caches,  # noqa: F811
    serial_results,  # noqa: F811
    cluster,
    tmp_path,
    monkeypatch,
):
    marker = tmp_path / "killed"
    original = sweep.run_group

    def run_group_killing_once(spec, facts, layer, pooling):
        # a closure, so Dask ships it by value; the first worker to reach this group dies
        if (layer, pooling) == (2, "cls") and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return original(spec, facts, layer, pooling)

    monkeypatch.setattr(sweep, "run_group", run_group_killing_once)
    clustered = run_sweep(replace(spec_for(caches), scheduler=cluster.scheduler_address))
    assert marker.exists(), "no worker was killed"
    assert comparable(clustered) == comparable(serial_results)  # every cell once, in order


def test_unreachable_scheduler_fails_fast_naming_the_address(caches, capsys):  # noqa: F811
    train, dev = caches
    address = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
    started = time.perf_counter()
    code = main([*probe_args(train, dev), "--scheduler", address])
    assert code == 2 and time.perf_counter() - started < 30
    error = capsys.readouterr().err
    assert address in error and "dask scheduler" in error
    with pytest.raises(ClusterError, match=r"127\.0\.0\.1:9"):
        check_scheduler(address, timeout_s=1)


def test_scheduler_from_the_environment(caches, capsys, monkeypatch):  # noqa: F811
    train, dev = caches
    monkeypatch.setenv("FEWDIMS_SCHEDULER", "tcp://127.0.0.1:9")
    code = main(probe_args(train, dev))
    assert code == 2 and "tcp://127.0.0.1:9" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["probe", "run"])
@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one_is_refused_with_the_fix(command, jobs, capsys):
    arguments = (
        ["probe", "--train", "a.h5", "--eval", "b.h5", "--out", "c.json"]
        if command == "probe"
        else ["run", "--task", "sst2"]
    )
    with pytest.raises(SystemExit) as raised:
        main([*arguments, "--jobs", jobs])
    assert raised.value.code == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_ray_joblib_backend_results_equal_the_serial_run(caches, serial_results):  # noqa: F811
    pytest.importorskip("ray", reason="Ray is an optional extra: [ray]")
    on_ray = run_sweep(replace(spec_for(caches), scheduler="ray"))
    assert comparable(on_ray) == comparable(serial_results)
