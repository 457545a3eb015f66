"""Image diffusion models end to end: a network (U-Net, or MLP for tiny images) per configuration (which is also the cache key), trained on
given images, cached like the toy models. Used by the shapes, hands and digits notebooks."""
from dataclasses import dataclass, field

import torch
from torch import nn

from ..support import params
from ..method.nets import ToyMLP, UNet, check_unet
from ..method.train import ModelConfig

ARCH = {  # each network's settings and their defaults
    "unet": dict(fold=4, base=32, mults=[1, 2, 4], attention_below=4),
    "mlp": dict(width=256, n_blocks=3),
}
OPTIONAL = {"unet": dict(stem=0), "mlp": {}}  # settings kept out of the configuration (and its key) at their default


@dataclass(frozen=True, kw_only=True)
class ImageConfig(ModelConfig):
    """The full configuration of one image model: network (`net` with `arch` settings overriding ARCH[net]),
    schedule, optimisation, and (in `extra`) whatever determines its training images (n_train, a data seed).
    Built as ImageConfig(name, size, *, T=..., steps=..., ...)."""

    KEYS = ("name", "size", "channels", "net", "arch", "T", "schedule", "steps", "batch", "lr", "warmup",
            "ema", "bf16", "seed")

    size: int = field(kw_only=False)  # image side
    channels: int = 1
    net: str = "unet"
    arch: dict | None = None  # becomes the full settings: ARCH[net] updated by these
    schedule: str = "cosine"
    ema: float | None = 0.999  # decay of the moving average of the weights per step (see train.fit)
    bf16: bool = True

    def __post_init__(self):
        super().__post_init__()
        params.choice("net", self.net, ARCH)
        optional = OPTIONAL[self.net]
        arch = {**ARCH[self.net], **(self.arch or {})}
        if not set(ARCH[self.net]) <= set(arch) <= set(ARCH[self.net]) | set(optional):
            params.fail("arch", f"settings among {sorted({**ARCH[self.net], **optional})} for net {self.net!r}",
                        sorted(arch))
        arch = {k: v for k, v in arch.items() if k not in optional or v != optional[k]}
        object.__setattr__(self, "arch", arch)
        params.integer("steps", self.steps, low=1)
        params.integer("batch", self.batch, low=1)
        params.real("lr", self.lr, 0.0, low_open=True)
        if self.ema is not None:
            params.real("ema", self.ema, 0.0, 1.0)

    def build(self) -> nn.Module:
        """An untrained network of the configuration's shape: a U-Net, or an MLP on the flattened image."""
        a = self.arch
        if self.net == "mlp":
            return ToyMLP(self.channels * self.size ** 2, self.T, a["width"], a["n_blocks"])
        return UNet(self.channels, self.size, self.T, a["fold"], a["base"], tuple(a["mults"]),
                    a["attention_below"], stem=a.get("stem", 0))

    def training_data(self, data: dict | None) -> torch.Tensor:
        """data[name]: the training images, N x C x H x W in [-1, 1] (checked)."""
        if data is None or self.name not in data:
            raise ValueError(f"no training images given for {self.name!r}")
        images = data[self.name]
        expected = (self.channels, self.size, self.size)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(f"{self.name}: training images must be N x {expected}; got {tuple(images.shape)}")
        return images


def check_recipe(*, size: int, fold: int, n_train: int, T: int, train_steps: int, batch: int, lr: float,
                 ema: float, base: int, mults: list | None = None, stem: int = 0) -> None:
    """Check a U-Net model's parameters as notebooks 03 and 04 name them, together (the image side fits the fold
    and the levels; mults: ARCH's by default; stem: see nets.Stem), with clear errors before any compute."""
    params.integer("fold", fold, low=1, high=8)
    params.integer("n_train", n_train, low=100)
    params.integer("T", T, low=10, high=100_000)
    params.training(train_steps=train_steps, batch=batch, lr=lr)
    params.real("ema", ema, low=0, high=1)
    params.integer("base", base, low=8)
    unet = ARCH["unet"]
    check_unet(1, size, T, fold, base, unet["mults"] if mults is None else mults, unet["attention_below"], stem=stem)
