"""Image diffusion models end to end: a network (U-Net, or MLP for tiny images) per configuration dict (which is also the cache key), trained on
given images, cached like the toy models. Used by the shapes, hands and digits notebooks."""
from functools import partial

import torch
from torch import nn

from . import diffusion, params, train
from .nets import ToyMLP, UNet

ARCH = {  # each network's settings and their defaults
    "unet": dict(fold=4, base=32, mults=[1, 2, 4], attention_below=4),
    "mlp": dict(width=256, n_blocks=3),
}


def image_config(name: str, size: int, T: int, steps: int, batch: int, lr: float, seed: int, *,
                 channels: int = 1, net: str = "unet", arch: dict | None = None, schedule: str = "cosine",
                 ema: float | None = 0.999, bf16: bool = True, warmup: float = 0.05, **data) -> dict:
    """The full configuration of one image model: network (`net` with `arch` settings overriding ARCH[net]),
    schedule, optimisation, and (in `data`) whatever determines its training images (n_train, a data seed)."""
    params.choice("net", net, ARCH)
    arch = {**ARCH[net], **(arch or {})}
    if set(arch) != set(ARCH[net]):
        params.fail("arch", f"settings among {sorted(ARCH[net])} for net {net!r}", sorted(arch))
    params.integer("steps", steps, low=1)
    params.integer("batch", batch, low=1)
    params.real("lr", lr, 0.0, low_open=True)
    if ema is not None:
        params.real("ema", ema, 0.0, 1.0)
    return dict(name=name, size=size, channels=channels, net=net, arch=arch, T=T, schedule=schedule,
                steps=steps, batch=batch, lr=lr, warmup=warmup, ema=ema, bf16=bf16, seed=seed, **data)


def check_recipe(*, fold: int, n_train: int, T: int, train_steps: int, batch: int, lr: float, ema: float,
                 base: int) -> None:
    """Check an image model's parameters as notebooks 03 and 04 name them (clear errors before any compute)."""
    params.integer("fold", fold, low=1, high=8)
    params.integer("n_train", n_train, low=100)
    params.integer("T", T, low=10, high=100_000)
    params.training(train_steps=train_steps, batch=batch, lr=lr)
    params.real("ema", ema, low=0, high=1)
    params.integer("base", base, low=8)


def build(config: dict) -> nn.Module:
    """An untrained network of the configuration's shape: a U-Net, or an MLP on the flattened image."""
    a = config["arch"]
    if config["net"] == "mlp":
        return ToyMLP(config["channels"] * config["size"] ** 2, config["T"], a["width"], a["n_blocks"])
    return UNet(config["channels"], config["size"], config["T"], a["fold"], a["base"], tuple(a["mults"]),
                a["attention_below"])


def train_image_model(config: dict, data: dict | None, progress: bool = True, device: str = "cpu",
                      callback=None) -> dict:
    """Train the configuration's network on data[config["name"]] (N x C x H x W in [-1, 1]); return its state.
    callback(step, model): as for train.fit (e.g. to keep checkpoints)."""
    if data is None or config["name"] not in data:
        raise ValueError(f"no training images given for {config['name']!r}")
    images = data[config["name"]]
    expected = (config["channels"], config["size"], config["size"])
    if tuple(images.shape[1:]) != expected:
        raise ValueError(f"{config['name']}: training images must be N x {expected}; got {tuple(images.shape)}")
    schedule = diffusion.make_schedule(config["schedule"], config["T"])
    torch.manual_seed(config["seed"])
    return train.train_eps(build(config).to(device), images, schedule, config, device, progress, callback)


def image_models(configs: list[dict], cache_dir, workers: int = 1, device: str = "cpu",
                 data: dict | None = None, processes: int = 1) -> list[tuple[nn.Module, dict]]:
    """The trained models of `configs` with their payloads: cached, else trained on data[name] in `workers`
    processes, or each data-parallel in `processes` processes (one GPU each on CUDA). `data` may omit
    configurations that are in the cache."""
    fn = partial(train_image_model, data=data, progress=workers <= 1, device=str(device))
    return train.trained_models(configs, build, fn, cache_dir, workers, device, processes)
