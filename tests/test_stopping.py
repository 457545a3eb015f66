"""Stopping a cold training run: SIGINT (Jupyter's Interrupt, Ctrl-C: the whole process group), SIGTERM (`kill`,
`timeout`, a cancelled CI job) or SIGKILL (the caller gone without cleaning up). The run stops within seconds, no
process it started survives, the queued models are never started, and the cache holds only complete models."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from modeinterp.method import train

from helpers import alive, wait_for

TESTS = Path(__file__).resolve().parent

# Two quick models (stored before the stop), then slow ones that never finish: two run, the rest are queued.
RUN = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a kernel or a terminal, whatever the tests inherited
from functools import partial
from pathlib import Path
sys.path.insert(0, {tests!r})
from helpers import announced
from modeinterp.experiments import toy
from modeinterp.method import train
kw = dict(std=0.05, n_train=200, T=20, batch=32, lr=1e-3, width=8)
configs = [toy.ToyConfig("quick", [1.0, 2.0], steps=1, seed=s, **kw) for s in range({quick})]
configs += [toy.ToyConfig("slow", [1.0, 2.0], steps=10**9, seed=s, **kw) for s in range({slow})]
try:
    train.cached_many(configs, partial(announced, folder={started!r}), {cache!r}, workers={workers},
                      processes={processes})
except KeyboardInterrupt:
    Path({started!r}, "interrupted").touch()  # and live on, as a notebook's kernel does after an interrupt
    time.sleep(600)
"""


def start_run(tmp_path, workers: int, processes: int, quick: int, slow: int):
    """A cold training run in its own process (and process group), once every slow model that can run has
    started; returns the process, the processes it started, and the folders of the cache and the start marks."""
    cache, started = tmp_path / "cache", tmp_path / "started"
    started.mkdir()
    code = RUN.format(tests=str(TESTS), started=str(started), cache=str(cache), workers=workers,
                      processes=processes, quick=quick, slow=slow)
    env = {**os.environ, train.CACHE_ENV: "readwrite", "MODEINTERP_PROGRESS": "0"}
    run = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True, stderr=subprocess.PIPE,
                           text=True)
    parent, children = psutil.Process(run.pid), {}
    running = min(slow, workers) * processes  # slow models in progress, times the processes each trains in

    def ready():
        children.update({c.pid: c for c in parent.children(recursive=True)})
        assert run.poll() is None, run.communicate()
        return len(list(started.glob("slow-*"))) == running and len(list(cache.glob("quick-*.pt"))) == quick

    start = time.monotonic()
    while not ready():  # startup: imports and spawning, slow on a loaded machine
        assert time.monotonic() - start < 120, "the training run did not start"
        time.sleep(0.05)
    return run, list(children.values()), cache, started


def only_complete_models(cache: Path, quick: int) -> None:
    """The cache holds the quick models, each complete (its digest matches), and nothing else."""
    files = sorted(cache.iterdir()) if cache.exists() else []
    assert [f.name.split("-")[0] for f in files] == ["quick"] * quick, [f.name for f in files]
    for f in files:
        train.load(f)


def started_by(children: list) -> list:
    """The processes that a run started to compute (its workers), not multiprocessing's resource tracker."""
    return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]


def stop(run: subprocess.Popen, children: list, started: Path, signum: int) -> None:
    """Send `signum` as it arrives in practice (SIGINT to the process group, as Jupyter's Interrupt and Ctrl-C do;
    the others to the process) and wait for the outcome: after SIGINT the caller lives on (as a notebook's kernel
    does) and the processes it started have ended; otherwise the caller, by that signal, and every process it
    started have ended."""
    workers = started_by(children)
    try:
        if signum == signal.SIGINT:
            os.killpg(run.pid, signum)
            wait_for(lambda: (started / "interrupted").exists() and not any(alive(c) for c in workers),
                     "the interrupt reaches the caller and the processes it started end")
            assert run.poll() is None
        else:
            os.kill(run.pid, signum)
            wait_for(lambda: run.poll() is not None and not any(alive(c) for c in children),
                     "the run and every process it started end")
            assert run.returncode == -signum
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_stopped_training_run_ends_at_once_and_leaves_only_complete_models(tmp_path, signum):
    run, children, cache, started = start_run(tmp_path, workers=2, processes=1, quick=2, slow=3)
    assert len(started_by(children)) == 2
    stop(run, children, started, signum)
    assert sorted(p.name.split("-")[1] for p in started.glob("slow-*")) == ["0", "1"]  # the third never started
    only_complete_models(cache, quick=2)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_stopped_data_parallel_training_ends_at_once_and_stores_nothing(tmp_path, signum):
    run, children, cache, started = start_run(tmp_path, workers=1, processes=2, quick=0, slow=1)
    assert len(started_by(children)) == 2
    stop(run, children, started, signum)
    only_complete_models(cache, quick=0)
