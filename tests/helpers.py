"""Helpers used only by the tests: the cache of a single model; trainings that say when they start and what steps
they see; waiting for processes to end."""
import os
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from modeinterp.method.train import ModelConfig, cached_many, train_model

DEADLINE = 15.0  # seconds to stop: generous for a loaded 2-core machine (here a stop takes well under one)


def cached(config: ModelConfig, train: Callable[[ModelConfig], dict], cache_dir) -> dict:
    """The payload trained from `config`: loaded from the cache, or trained by `train(config)` and stored."""
    return cached_many([config], train, cache_dir)[0]


def announced(config: ModelConfig, folder) -> dict:
    """train_model, after leaving a file in `folder` named by the configuration and this process (the tests of
    stopping wait for it): importable, so worker processes can run it."""
    Path(folder, f"{config.name}-{config.seed}-{os.getpid()}").touch()
    return train_model(config, progress=False)


def watched(config: ModelConfig, cache_dir, folder, data: dict | None = None, slow_from: int | None = None) -> dict:
    """train_model with checkpoints in cache_dir (see train.Checkpoint), writing each step its callback sees to
    folder/steps, and a tenth of a second slower a step from step `slow_from` on (the tests of resuming interrupt it
    then): importable, so worker processes can run it."""
    def see(step, model):
        with open(Path(folder, "steps"), "a") as f:
            f.write(f"{step}\n")
        if slow_from is not None and step >= slow_from:
            time.sleep(0.1)
    return train_model(config, data, progress=False, cache_dir=cache_dir, callback=see)


def steps_seen(folder) -> list[int]:
    """The steps a `watched` training's callback saw, in order."""
    path = Path(folder, "steps")
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def alive(process: psutil.Process) -> bool:
    """Whether a process still runs (a zombie has ended: only its exit status waits to be collected)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition, what: str, deadline: float = DEADLINE) -> None:
    """Poll `condition` until it holds; fail if it does not within `deadline` seconds."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < deadline, f"not within {deadline:.0f} s: {what}"
        time.sleep(0.05)
