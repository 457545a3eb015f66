"""The toy experiment end to end: a Gaussian mixture, its training set, and the MLP trained on it, all from one
configuration dict (which is also the cache key)."""
from functools import partial

import torch

from . import diffusion, params, train
from .mixtures import mixture
from .nets import ToyMLP
from .runtime import generator


def toy_config(name: str, means, std: float, *, n_train: int, T: int, steps: int, batch: int, lr: float,
               seed: int, width: int = 128, n_blocks: int = 3, shared_blocks: bool = False,
               schedule: str = "linear", low_t_share: float = 0.0, low_t_max: int = 50,
               warmup: float = 0.05) -> dict:
    """The full configuration of one toy model: data, network, schedule and optimisation."""
    return dict(name=name, means=[m if isinstance(m, (int, float)) else list(m) for m in means], std=std,
                n_train=n_train, T=T, schedule=schedule, width=width, n_blocks=n_blocks,
                shared_blocks=shared_blocks, steps=steps, batch=batch, lr=lr, warmup=warmup,
                low_t_share=low_t_share, low_t_max=low_t_max, seed=seed)


def check_recipe(*, T: int, train_steps: int, batch: int, lr: float, width: int, low_t_share: float | None = None,
                 low_t_max: int | None = None) -> None:
    """Check a toy model's training parameters as the notebooks name them (clear errors before any compute);
    low_t_share and low_t_max only where a notebook has them."""
    params.training(train_steps=train_steps, batch=batch, lr=lr)
    params.integer("width", width, low=2)
    if low_t_share is not None:
        params.real("low_t_share", low_t_share, low=0, high=1)
        params.integer("low_t_max", low_t_max, low=1, high=T)


def training_set(config: dict) -> torch.Tensor:
    """The n_train points the model of `config` is trained on (seeded by the config's seed)."""
    return mixture(config["means"], config["std"]).sample(config["n_train"], generator(config["seed"]))


def build(config: dict) -> ToyMLP:
    """An untrained network of the configuration's shape."""
    dim = len(config["means"][0]) if isinstance(config["means"][0], list) else 1
    return ToyMLP(dim, config["T"], config["width"], config["n_blocks"], config["shared_blocks"])


def train_toy(config: dict, progress: bool = True, device: str = "cpu", data: dict | None = None) -> dict:
    """Train the configuration's MLP (on `device`); return its state and loss history.

    It trains on the configuration's training set, or on data[config["name"]] when `data` (name -> points) is
    given: e.g. samples of an earlier model, in recursive training.
    """
    data = training_set(config) if data is None else data[config["name"]]
    schedule = diffusion.make_schedule(config["schedule"], config["T"])
    torch.manual_seed(config["seed"])
    return train.train_eps(build(config).to(device), data, schedule, config, device, progress)


def toy_models(configs: list[dict], cache_dir, workers: int = 1, device: str = "cpu",
               data: dict | None = None, processes: int = 1) -> list[tuple[ToyMLP, dict]]:
    """The trained models of `configs` (on `device`) with their payloads: cached, else trained in `workers`
    processes, or each data-parallel in `processes` processes (on `data`, if given: see train_toy)."""
    fn = partial(train_toy, progress=workers <= 1, device=str(device), data=data)
    return train.trained_models(configs, build, fn, cache_dir, workers, device, processes)
