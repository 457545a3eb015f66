"""Helpers used only by the tests: the cache of a single model; a training that says when it starts."""
import os
from collections.abc import Callable
from pathlib import Path

from modeinterp.method.train import ModelConfig, cached_many, train_model


def cached(config: ModelConfig, train: Callable[[ModelConfig], dict], cache_dir) -> dict:
    """The payload trained from `config`: loaded from the cache, or trained by `train(config)` and stored."""
    return cached_many([config], train, cache_dir)[0]


def announced(config: ModelConfig, folder) -> dict:
    """train_model, after leaving a file in `folder` named by the configuration and this process (the tests of
    stopping wait for it): importable, so worker processes can run it."""
    Path(folder, f"{config.name}-{config.seed}-{os.getpid()}").touch()
    return train_model(config, progress=False)
