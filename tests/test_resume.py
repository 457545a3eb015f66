"""Resuming an interrupted training run (train.Checkpoint): stopped by SIGINT or SIGKILL mid-run, in one process or
two, the rerun resumes from the checkpoint and ends with the model and loss history of an uninterrupted run, bit for
bit; keeping checkpoints changes nothing; the checkpoint is removed once the model is stored; a damaged or foreign
checkpoint is reported and never used; the study's training resumes and keeps the step files it saved."""
import functools
import os
import signal
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import psutil
import pytest
import torch

from modeinterp.experiments import budget, images
from modeinterp.method import train
from modeinterp.support.runtime import generator

from helpers import alive, steps_seen, wait_for, watched

TESTS = Path(__file__).resolve().parent
# a tiny U-Net with an EMA and mixed precision: every part of the state a checkpoint holds
CONFIG = images.ImageConfig("tiny", size=8, T=20, steps=40, batch=8, lr=1e-3, seed=0,
                            arch=dict(fold=1, base=8, mults=[1, 2]), extra=dict(n_train=16))
DATA = {"tiny": torch.rand(16, 1, 8, 8, generator=generator(0)) * 2 - 1}
SLOW_FROM = 10  # the interrupted run slows down from this step on, and is stopped then

RUN = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a kernel or a terminal, whatever the tests inherited
from functools import partial
sys.path.insert(0, {tests!r})
from helpers import watched
from test_resume import CONFIG, DATA, SLOW_FROM
from modeinterp.method import train
from modeinterp.support.runtime import setup
setup(0, 1)  # as the tests' process
train.cached_many([CONFIG], partial(watched, cache_dir={cache!r}, folder={folder!r}, data=DATA, slow_from=SLOW_FROM),
                  {cache!r}, processes={processes})
"""


@pytest.fixture(autouse=True)
def _every_step(monkeypatch):
    """A checkpoint after every step, here and in the processes started here."""
    monkeypatch.setenv(train.CHECKPOINT_ENV, "0")


@functools.cache
def uninterrupted(processes: int) -> dict:
    """The payload of an uninterrupted run in `processes` processes, keeping no checkpoint (as before there were
    any)."""
    with tempfile.TemporaryDirectory() as cache:
        return train.cached_many([CONFIG], partial(train.train_model, data=DATA, progress=False), cache,
                                 processes=processes)[0]


def assert_identical(payload: dict, reference: dict) -> None:
    """The same weights (every tensor equal, bit for bit) and the same loss history."""
    assert payload["state"].keys() == reference["state"].keys()
    assert all(torch.equal(payload["state"][k], v) for k, v in reference["state"].items())
    assert payload["loss"] == reference["loss"] and len(payload["loss"]) == CONFIG.steps


def interrupt(cache: Path, folder: Path, processes: int, signum: int) -> None:
    """Run the training in its own process (group), stop it with `signum` once it is past SLOW_FROM steps (SIGINT
    to the group, as Ctrl-C does; SIGKILL to every process at once), and wait until every process has ended."""
    folder.mkdir()
    code = RUN.format(tests=str(TESTS), cache=str(cache), folder=str(folder), processes=processes)
    env = {**os.environ, train.CACHE_ENV: "readwrite", "MODEINTERP_PROGRESS": "0"}
    with open(folder / "stderr", "w") as stderr:
        run = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True, stderr=stderr)

    def reached():
        assert run.poll() is None, (folder / "stderr").read_text()
        return SLOW_FROM in steps_seen(folder)

    try:
        wait_for(reached, "the training reaches SLOW_FROM", deadline=120)  # startup: imports, spawning (slow here)
        children = psutil.Process(run.pid).children(recursive=True)
        os.killpg(run.pid, signum)
        wait_for(lambda: run.poll() is not None and not any(alive(c) for c in children), "every process ends")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode != 0, (folder / "stderr").read_text()
    assert steps_seen(folder)[-1] < CONFIG.steps and not train.cache_path(CONFIG, cache).exists()


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_an_interrupted_run_resumes_to_the_model_of_an_uninterrupted_one(tmp_path, signum, processes):
    cache, checkpoint = tmp_path / "cache", train.checkpoint_path(CONFIG, tmp_path / "cache")
    interrupt(cache, tmp_path / "first", processes, signum)
    step = train.load(checkpoint)["step"]
    assert SLOW_FROM - 1 <= step < CONFIG.steps
    (tmp_path / "second").mkdir()
    payload, = train.cached_many([CONFIG], partial(watched, cache_dir=cache, folder=tmp_path / "second", data=DATA),
                                 cache, processes=processes)
    assert steps_seen(tmp_path / "second") == list(range(step + 1, CONFIG.steps + 1))  # resumed, every later step
    assert_identical(payload, uninterrupted(processes))
    assert_identical(train.load(train.cache_path(CONFIG, cache)), payload)
    assert list(checkpoint.parent.iterdir()) == []  # removed with the model stored, no temporary file left


def stopped_at(step: int, cache: Path) -> None:
    """Train in this process with checkpoints in `cache`, and interrupt the run after `step` steps."""
    def stop(s, model):
        if s == step:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train.train_model(CONFIG, DATA, progress=False, cache_dir=cache, callback=stop)


def test_keeping_checkpoints_changes_nothing_and_models_resumes_from_them(tmp_path, monkeypatch):
    """A run saving its state after every step gives the bytes of one that saves none; train.models resumes an
    interrupted run and removes its checkpoint once the model is stored."""
    every_step = train.train_model(CONFIG, DATA, progress=False, cache_dir=tmp_path / "every")
    assert_identical(every_step, uninterrupted(1))
    assert train.load(train.checkpoint_path(CONFIG, tmp_path / "every"))["step"] == CONFIG.steps - 1  # not the last
    stopped_at(12, tmp_path)
    restore, resumed = train.Checkpoint.restore, []

    def spy(*args):
        step, history = restore(*args)
        resumed.append(step)
        return step, history

    monkeypatch.setattr(train.Checkpoint, "restore", spy)
    (model, payload), = train.models([CONFIG], tmp_path, data=DATA)
    assert resumed == [11]  # the checkpoint after the last step before the interrupt
    assert_identical(payload, uninterrupted(1))
    assert not train.checkpoint_path(CONFIG, tmp_path).exists() and train.cache_path(CONFIG, tmp_path).exists()


DAMAGES = {"truncate": "truncated or corrupt", "flip": "truncated or corrupt",
           "another configuration": "holds another configuration", "two processes": "written by another run"}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_or_foreign_checkpoint_is_reported_and_training_starts_over(tmp_path, damage):
    stopped_at(12, tmp_path)
    path = train.checkpoint_path(CONFIG, tmp_path)
    raw = path.read_bytes()
    if damage == "another configuration":
        train.save({**train.load(path), "config": {**CONFIG.to_dict(), "lr": 2e-3}}, path)
    elif damage == "two processes":
        train.save({**train.load(path), "run": {"processes": 2, "device": "cpu"}}, path)
    else:
        path.write_bytes(raw[: len(raw) // 2] if damage == "truncate" else raw[:-10] + bytes(10))
    with pytest.warns(UserWarning, match=f"{DAMAGES[damage]}.*; training starts over from step 0"):
        (model, payload), = train.models([CONFIG], tmp_path, data=DATA)
    assert_identical(payload, uninterrupted(1))
    assert not path.exists()


def test_a_readonly_cache_trains_nothing_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    stopped_at(5, tmp_path)
    before = train.checkpoint_path(CONFIG, tmp_path).read_bytes()
    monkeypatch.setenv(train.CACHE_ENV, "readonly")
    with pytest.raises(RuntimeError, match="no trained model"):
        train.models([CONFIG], tmp_path, data=DATA)
    assert train.checkpoint_path(CONFIG, tmp_path).read_bytes() == before


@pytest.mark.parametrize("value", ["-1", "five", "nan"])
def test_the_checkpoint_interval_accepts_only_seconds(monkeypatch, value):
    monkeypatch.setenv(train.CHECKPOINT_ENV, value)
    with pytest.raises(ValueError, match=f"{train.CHECKPOINT_ENV} must be a number of seconds"):
        train.checkpoint_seconds()
    for good, seconds in [("", train.CHECKPOINT_SECONDS), ("0", 0.0), ("0.5", 0.5), ("inf", float("inf"))]:
        monkeypatch.setenv(train.CHECKPOINT_ENV, good)
        assert train.checkpoint_seconds() == seconds


def test_an_interrupted_study_resumes_and_keeps_the_step_files_it_saved(tmp_path, monkeypatch):
    """The study's training (make study) stopped after 4 of 6 steps: the rerun resumes after step 4, so the file of
    step 3 stays as it was, and it ends with the files and losses of an uninterrupted run; its checkpoint is then
    removed."""
    s = budget.study_config(size=32, base=8, batch=8, n_train=100, warmup_steps=2, checkpoints=[3, 6])
    whole, work = tmp_path / "whole", tmp_path / "work"
    budget._train(s, whole)
    keep = train.Checkpoint.keep

    def stop(self, step, *args):
        keep(self, step, *args)
        if step == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(train.Checkpoint, "keep", stop)
    with pytest.raises(KeyboardInterrupt):
        budget._train(s, work)
    monkeypatch.setattr(train.Checkpoint, "keep", keep)
    saved = (work / "step-3.pt").stat().st_mtime_ns
    assert not (work / "step-6.pt").exists() and not (work / "loss.json").exists()
    budget._train(s, work)
    assert (work / "step-3.pt").stat().st_mtime_ns == saved  # not trained again
    for name in ("step-3.pt", "step-6.pt", "loss.json"):
        assert (work / name).read_bytes() == (whole / name).read_bytes(), name
    assert list((work / "checkpoints").iterdir()) == []
