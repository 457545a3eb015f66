"""Gaussian noise with one random stream per sample, so that a run's samples do not depend on how its rows are
split into chunks (or, later, processes).

A run draws one 63-bit seed from the generator it is given; sample i's stream is a generator seeded by mixing
that seed with i (splitmix64), as NVlabs/edm seeds each image by its index. A stream is read in blocks of a
fixed number of draws that depends only on the size of one draw, never on the chunk, so every sample sees the
same numbers however the rows are grouped.
"""
import math
from collections.abc import Sequence

import torch

BLOCK_NUMEL = 4096  # numbers drawn per sample at once (at least one whole draw)
MAX_BLOCK_DRAWS = 64  # draws per block at most, whatever their size
_MASK = (1 << 64) - 1


def run_seed(generator: torch.Generator) -> int:
    """A 63-bit seed for one run, drawn from `generator` (so two runs on one generator differ)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample `index`'s stream in the run seeded `seed` (splitmix64 of the pair)."""
    z = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) >> 1  # 63 bits: torch seeds are signed 64-bit on some devices


class Streams:
    """The noise of samples start..start+rows-1 of a run: call `randn()` once per draw, `n_draws` times."""

    def __init__(self, seed: int, start: int, rows: int, shape: Sequence[int], n_draws: int,
                 device: torch.device | str = "cpu"):
        self.shape, self.device = tuple(shape), torch.device(device)
        numel = math.prod(self.shape)
        self.block = max(1, min(BLOCK_NUMEL // max(numel, 1), MAX_BLOCK_DRAWS, n_draws))
        self.generators = [torch.Generator(self.device).manual_seed(sample_seed(seed, i))
                           for i in range(start, start + rows)]
        self.buffer, self.position = None, self.block

    def randn(self) -> torch.Tensor:
        """The next draw: rows x shape standard normal numbers, one stream per row."""
        if self.position == self.block:
            self.buffer = torch.stack([torch.randn((self.block, *self.shape), generator=g, device=self.device)
                                       for g in self.generators], 1)
            self.position = 0
        self.position += 1
        return self.buffer[self.position - 1]
