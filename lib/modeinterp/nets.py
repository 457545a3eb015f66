"""Denoisers. The toy MLP of the paper's Gaussian experiments: width 128, three residual time-conditioned
blocks (LayerNorm, LeakyReLU 0.02), sinusoidal time embedding.

The released code repeats one block object three times, so its three blocks share weights; here each block has
its own weights unless `shared_blocks=True` reproduces that quirk.
"""
import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style sinusoidal embedding of timesteps t (shape len(t) x dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / max(half - 1, 1))
    angles = t.to(torch.float64)[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


class Block(nn.Module):
    """A residual block: h + W2 act(W1 LayerNorm(h) + time projection)."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.time = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.LeakyReLU(0.02)

    def forward(self, h: torch.Tensor, time_proj: torch.Tensor) -> torch.Tensor:
        return h + self.fc2(self.act(self.fc1(self.norm(h)) + time_proj))


class ToyMLP(nn.Module):
    """eps(x_t, t) for low-dimensional data; t is an int (one step for the whole batch) or a tensor of N steps."""

    def __init__(self, dim: int, T: int, width: int = 128, n_blocks: int = 3, shared_blocks: bool = False):
        super().__init__()
        self.inp = nn.Linear(dim, width)
        block = Block(width)
        blocks = [block] * n_blocks if shared_blocks else [block] + [Block(width) for _ in range(n_blocks - 1)]
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))
        self.register_buffer("temb", sinusoidal_embedding(torch.arange(T), width), persistent=False)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        if isinstance(t, int) or (torch.is_tensor(t) and t.dim() == 0):
            temb = self.temb[int(t)][None]  # one step for all rows: the time branch is computed once
            proj = [b.time(temb) for b in self.blocks]
        else:  # one T-row table per block, then a lookup: once per distinct t, not once per row
            proj = [b.time(self.temb)[t] for b in self.blocks]
        h = self.inp(x)
        for block, p in zip(self.blocks, proj):
            h = block(h, p)
        return self.out(h)
