"""Helpers used only by the tests: a seeded train/test split and the cache of a single model."""
from collections.abc import Callable

import torch

from modeinterp import params, runtime
from modeinterp.train import cached_many


def holdout(images: torch.Tensor, labels: torch.Tensor, seed: int,
            test: float = 0.2) -> tuple[torch.Tensor, ...]:
    """A seeded random split: (train x, train y, test x, test y), with a share `test` of rows held out."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length; got {len(images)} and {len(labels)}")
    params.real("test", test, 0.0, 1.0, low_open=True)
    order = torch.randperm(len(images), generator=runtime.generator(seed))
    n_test = int(round(test * len(images)))
    if not 0 < n_test < len(images):
        params.fail("test", f"a fraction leaving rows on both sides of a split of {len(images)} rows", test)
    held, kept = order[:n_test], order[n_test:]
    return images[kept], labels[kept], images[held], labels[held]


def cached(config: dict, train: Callable[[dict], dict], cache_dir) -> dict:
    """The payload trained from `config`: loaded from the cache, or trained by `train(config)` and stored."""
    return cached_many([config], train, cache_dir)[0]
