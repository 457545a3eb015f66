"""The toy experiment end to end: a Gaussian mixture, its training set, and the MLP trained on it, all from one
configuration (which is also the cache key)."""
import math
from dataclasses import dataclass, field

import torch

from ..support import params
from ..method.mixtures import mixture
from ..method.nets import ToyMLP
from ..support.runtime import generator
from ..method.train import ModelConfig


@dataclass(frozen=True, kw_only=True)
class ToyConfig(ModelConfig):
    """The full configuration of one toy model: data (a mixture of `means`, each of std `std`), network,
    schedule and optimisation. Built as ToyConfig(name, means, std, *, n_train=..., T=..., ...)."""

    KEYS = ("name", "means", "std", "n_train", "T", "schedule", "width", "n_blocks", "shared_blocks", "steps",
            "batch", "lr", "warmup", "low_t_share", "low_t_max", "seed")

    means: list = field(kw_only=False)  # one number per mode (1D), or one list of coordinates per mode
    std: float = field(kw_only=False)
    n_train: int
    schedule: str = "linear"
    width: int = 128
    n_blocks: int = 3
    shared_blocks: bool = False
    low_t_share: float = 0.0  # share of each batch with t below low_t_max (see diffusion.sample_t)
    low_t_max: int = 50

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "means", [m if isinstance(m, (int, float)) else list(m) for m in self.means])

    def training_set(self) -> torch.Tensor:
        """The n_train points the model is trained on (seeded by the configuration's seed)."""
        return mixture(self.means, self.std).sample(self.n_train, generator(self.seed))

    def training_data(self, data: dict | None) -> torch.Tensor:
        """data[name] if `data` is given (e.g. samples of an earlier model, in recursive training), else the
        configuration's training set."""
        return self.training_set() if data is None else data[self.name]

    def build(self) -> ToyMLP:
        """An untrained network of the configuration's shape."""
        dim = len(self.means[0]) if isinstance(self.means[0], list) else 1
        return ToyMLP(dim, self.T, self.width, self.n_blocks, self.shared_blocks)


def check_recipe(*, T: int, train_steps: int, batch: int, lr: float, width: int, low_t_share: float | None = None,
                 low_t_max: int | None = None) -> None:
    """Check a toy model's training parameters as the notebooks name them (clear errors before any compute);
    low_t_share and low_t_max only where a notebook has them."""
    params.training(train_steps=train_steps, batch=batch, lr=lr)
    params.integer("width", width, low=2)
    if low_t_share is not None:
        params.real("low_t_share", low_t_share, low=0, high=1)
        params.integer("low_t_max", low_t_max, low=1, high=T)


def check_variant_means(means) -> list[float]:
    """Check Fig 2's second mixture: at least three distinct means whose gaps are not all equally wide (the figure
    compares a nearer pair of neighbouring modes with a farther one)."""
    means = params.reals("variant_means", means, min_len=3, distinct=True)
    ends = sorted(means)
    widths = [b - a for a, b in zip(ends, ends[1:])]
    if all(math.isclose(w, widths[0], rel_tol=1e-9) for w in widths):
        params.fail("variant_means", "at least three distinct numbers whose gaps are not all equally wide (Fig 2 "
                    "compares a nearer pair of neighbouring modes with a farther one)", means)
    return means
