"""Helpers used only by the tests: the cache of a single model."""
from collections.abc import Callable

from modeinterp.method.train import ModelConfig, cached_many


def cached(config: ModelConfig, train: Callable[[ModelConfig], dict], cache_dir) -> dict:
    """The payload trained from `config`: loaded from the cache, or trained by `train(config)` and stored."""
    return cached_many([config], train, cache_dir)[0]
