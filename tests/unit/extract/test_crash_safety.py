"""Crash safety and one-writer locking, with real processes.

The kill harness runs ``fewdims extract`` in a separate process, SIGKILLs it at random
moments (while parts are being written, right after a part lands, during consolidation),
checks that the final path holds nothing or a complete cache, re-runs the same command to
completion and compares every dataset with an uninterrupted run's, bit for bit.

Importing torch takes seconds, so the killed processes are forked from a *zygote*: a
subprocess that imports fewdims once and, per trial, forks a child that runs
``probe.cli.main(argv)`` — the same code as ``python -m probe.cli``, at a fork's cost. The
zygote never runs torch itself, so forking it is safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from probe.cache import Cache
from probe.cli import main
from tests.unit.extract.test_sharding import all_arrays
from tests.unit.helpers import extract_cli_args

REPO = Path(__file__).resolve().parents[3]
WORDS = ["the", "movie", "was", "good", "bad", "plot", "fun", "really", "boring", "not", "very"]
KILL_TRIALS = 10


def write_rows(path: Path, count: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 30)))) for _ in range(count)]
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(lines)))
    return path


def extract_args(model_dir: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        *extract_cli_args(model_dir, data),
        "--batch-size",
        "4",
        "--max-length",
        "24",
        "--out",
        str(out),
        *extra,
    ]


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(out.name + ".*"))


@pytest.fixture
def one_thread(monkeypatch):
    """Same intra-op thread count in this process and the subprocesses: same float sums."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("FEWDIMS_PART_TOKENS", "50")
    yield
    torch.set_num_threads(threads)


def wait_for(condition, ended, timeout: float = 120.0) -> bool:
    """Poll every millisecond until ``condition()``; False if ``ended()`` first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if ended():
            return False
        time.sleep(0.001)
    raise AssertionError("the extraction never reached the awaited state")


ZYGOTE = """
import json, os, sys
import extract.extractor, probe.cli  # the slow imports, once
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        os._exit(probe.cli.main(json.loads(line)))
    sys.stdout.write(f"{pid}\\n"); sys.stdout.flush()
    sys.stdout.write(f"{os.waitpid(pid, 0)[1]}\\n"); sys.stdout.flush()
"""


class Zygote:
    """Forks ``probe.cli.main(argv)`` children on demand (see the module docstring)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )

    def start(self, argv: list[str]) -> int:
        self.process.stdin.write((json.dumps(argv) + "\n").encode())
        return int(self.process.stdout.readline())

    def ended(self) -> bool:
        return bool(select.select([self.process.stdout], [], [], 0)[0])

    def reap(self) -> int:
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def test_sigkill_at_random_points_then_resume_gives_identical_arrays(
    tiny_model_dir, tmp_path, one_thread, capsys
):
    data = write_rows(tmp_path / "rows.tsv", 70)
    reference = tmp_path / "reference.h5"
    zygote = Zygote()
    started = time.perf_counter()
    assert main(extract_args(tiny_model_dir, data, reference)) == 0
    work_seconds = time.perf_counter() - started  # model load + forward + consolidation
    expected = all_arrays(reference)
    with Cache.open(reference) as cache:
        n_parts = cache.meta.extra["n_parts"]
    rng = np.random.default_rng(2024)
    phases = ["random", "after-part", "consolidating"]
    outcomes: list[dict] = []
    trial = 0
    # A run may finish before its kill lands (then it is checked all the same): go on until
    # KILL_TRIALS runs were really killed, within a bounded number of attempts.
    while sum(o["killed"] for o in outcomes) < KILL_TRIALS and trial < KILL_TRIALS + 6:
        phase = phases[trial % len(phases)]
        trial += 1
        out = tmp_path / f"trial-{trial}" / "cache.h5"
        out.parent.mkdir()
        partial = out.with_name(out.name + ".partial")
        pid = zygote.start(extract_args(tiny_model_dir, data, out))
        running = wait_for(out.with_name(out.name + ".lock").exists, zygote.ended)
        if running and phase == "random":
            time.sleep(float(rng.uniform(0, 0.9 * work_seconds)))
        elif running and phase == "after-part":
            wanted = int(rng.integers(1, n_parts))
            running = wait_for(
                lambda p=partial, w=wanted: len(list(p.glob("part-*.h5"))) >= w, zygote.ended
            )
        elif running:
            running = wait_for(out.with_name(out.name + ".tmp").exists, zygote.ended)
            time.sleep(float(rng.uniform(0, 0.02)))
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.kill(pid, signal.SIGKILL)
        status = zygote.reap()
        state = {
            "phase": phase,
            "killed": os.WIFSIGNALED(status),
            "parts": len(list(partial.glob("part-*.h5"))),
            "consolidating": out.with_name(out.name + ".tmp").exists(),
            "finished": out.exists(),
        }
        outcomes.append(state)
        if out.exists():  # only ever a complete cache at the final path
            for name, values in all_arrays(out).items():
                np.testing.assert_array_equal(values, expected[name], err_msg=f"{state} {name}")
        assert main(extract_args(tiny_model_dir, data, out)) == 0, state
        resumed = all_arrays(out)
        assert resumed.keys() == expected.keys(), state
        for name, values in expected.items():
            np.testing.assert_array_equal(resumed[name], values, err_msg=f"{state} {name}")
        assert leftovers(out) == [], (state, leftovers(out))
    zygote.close()
    capsys.readouterr()
    assert sum(o["killed"] for o in outcomes) >= KILL_TRIALS, outcomes
    assert sum(o["parts"] > 0 and not o["finished"] for o in outcomes) >= 3, outcomes
    assert any(o["consolidating"] for o in outcomes), outcomes


def hold_lock(out: Path, seconds: float) -> subprocess.Popen:
    """Another process holding ``<out>.lock`` the way an extraction does."""
    code = (
        "import sys, time; from probe.cache import exclusive_lock\n"
        f"with exclusive_lock({str(out)!r}):\n"
        "    print('locked', flush=True); time.sleep(float(sys.argv[1]))\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(seconds)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_second_writer_is_refused_or_waits(tiny_model_dir, tmp_path, capsys):
    data = write_rows(tmp_path / "rows.tsv", 12)
    out = tmp_path / "busy.h5"
    holder = hold_lock(out, 60)
    try:
        assert main(extract_args(tiny_model_dir, data, out)) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "--wait" in err and "Traceback" not in err
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    holder = hold_lock(out, 2.0)
    started = time.perf_counter()
    assert main(extract_args(tiny_model_dir, data, out, "--wait")) == 0
    assert time.perf_counter() - started > 1.0 and holder.wait() == 0
    assert out.exists() and leftovers(out) == []


def test_stale_lock_of_a_killed_process_is_taken_over(tiny_model_dir, tmp_path, capsys):
    data = write_rows(tmp_path / "rows.tsv", 12)
    out = tmp_path / "stale.h5"
    holder = hold_lock(out, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = out.with_name(out.name + ".lock")
    assert lock.exists() and f"pid {holder.pid}" in lock.read_text()
    assert main(extract_args(tiny_model_dir, data, out)) == 0
    assert out.exists() and not lock.exists()


def test_two_extractions_of_the_same_output(tiny_model_dir, tmp_path, capsys):
    """The second of two identical runs waits (--wait) and then finds the cache complete."""
    data = write_rows(tmp_path / "rows.tsv", 60)
    out = tmp_path / "twice.h5"
    first = subprocess.Popen(
        [sys.executable, "-m", "probe.cli", *extract_args(tiny_model_dir, data, out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_for(out.with_name(out.name + ".lock").exists, lambda: first.poll() is not None)
    assert main(extract_args(tiny_model_dir, data, out, "--wait")) == 0
    assert first.wait() == 0
    assert "already complete" in capsys.readouterr().out
    assert leftovers(out) == []
