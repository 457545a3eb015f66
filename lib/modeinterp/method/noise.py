"""Gaussian noise as a pure function of (run seed, sample index, draw index, element index), so that a run's
samples do not depend on how its rows are split into chunks or processes.

A run draws one 63-bit seed from the generator it is given; sample i's key k_i mixes that seed with i
(splitmix64, `sample_seed`), as NVlabs/edm seeds each image by its index. Pair q of sample i's stream is the
Box-Muller transform of the 64 random bits mix64(k_i + mix64((q + 1) * golden)), mix64 being splitmix64's
finaliser: a counter-based generator in int64 tensor arithmetic, which wraps the same on every device (the
integers are identical on CPU and CUDA, the normal numbers equal up to the rounding of log, cos and sin).

Draws are read in blocks of B draws of D numbers each (B fixed by D: BLOCK_NUMEL). Block b is made of the P =
B * D / 2 pairs b * P .. b * P + P - 1; its numbers in order (draw by draw) are the pairs' first numbers, then
their second. `Streams` computes a block for a whole chunk of rows in a fixed number of tensor operations,
however many rows it has.
"""
import math
from collections.abc import Sequence

import torch

BLOCK_NUMEL = 8  # numbers per sample computed at once (whole draws, at least one): keeps a chunk in cache
OFFSET_PAIRS = 4096  # pairs whose offsets are computed at once (whole blocks, at least one)
_MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment, 2^64 / golden ratio
MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)  # splitmix64's finaliser multipliers
UNIFORM_BITS = 24  # bits of each uniform of the Box-Muller pair, as torch.randn's on the CPU (float32)


def run_seed(generator: torch.Generator) -> int:
    """A 63-bit seed for one run, drawn from `generator` (so two runs on one generator differ)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample `index`'s stream in the run seeded `seed` (splitmix64 of the pair)."""
    z = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) >> 1  # 63 bits: torch seeds are signed 64-bit on some devices


def _int64(c: int) -> int:
    """The signed 64-bit integer with the bits of c mod 2^64 (how an int64 tensor holds it)."""
    c &= _MASK
    return c - (1 << 64) if c >> 63 else c


def _logical_shift(z: torch.Tensor, bits: int, out: torch.Tensor) -> torch.Tensor:
    """z >> bits with zeros shifted in (int64's >> copies the sign bit), written to `out`."""
    return torch.bitwise_right_shift(z, bits, out=out).bitwise_and_((1 << (64 - bits)) - 1)


def mix64(z: torch.Tensor, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """splitmix64's finaliser of every element of the int64 tensor z, in place (returns z); `scratch` (int64,
    z's shape) saves allocating one."""
    scratch = torch.empty_like(z) if scratch is None else scratch
    for bits, multiplier in zip((30, 27), MIX):
        z.bitwise_xor_(_logical_shift(z, bits, scratch)).mul_(_int64(multiplier))
    return z.bitwise_xor_(_logical_shift(z, 31, scratch))


def sample_keys(seed: int, start: int, rows: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """sample_seed(seed, i) for i in start..start+rows-1, as an int64 tensor on `device`."""
    return keys_at(seed, torch.arange(start, start + rows, dtype=torch.int64, device=device))


def keys_at(seed: int, index: torch.Tensor) -> torch.Tensor:
    """sample_seed(seed, i) for every sample index i in the int64 tensor `index` (on its device)."""
    z = mix64((index.to(torch.int64) + 1).mul_(_int64(MIX[0])).add_(_int64(seed * GOLDEN)))
    return _logical_shift(z, 1, z)


def pair_offsets(first: int, pairs: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """mix64((q + 1) * golden) for pairs q = first..first+pairs-1 of every stream: int64 on `device`."""
    counter = torch.arange(first + 1, first + pairs + 1, dtype=torch.int64, device=device)
    return mix64(counter.mul_(_int64(GOLDEN)))


def pair_bits(keys: torch.Tensor, offsets: torch.Tensor, out: torch.Tensor | None = None,
              scratch: torch.Tensor | None = None) -> torch.Tensor:
    """The 64 random bits mix64(key + offset) of each pair (`offsets`, from pair_offsets) of each key's
    stream: pairs x keys, int64 (in `out` if given, with `scratch` of its shape)."""
    return mix64(torch.add(offsets[:, None], keys, out=out), scratch)


def box_muller(bits: torch.Tensor, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Two standard normal numbers per element of the int64 tensor `bits`, which it overwrites: 2 x
    bits.shape, float32 (`scratch`, int64 of bits' shape, saves allocating one). The angle comes from the top
    UNIFORM_BITS bits, the radius sqrt(-2 log u) from the low ones (u in (0, 1], so the largest |z| is
    sqrt(2 log 2^UNIFORM_BITS) = 5.8, as torch.randn's on the CPU)."""
    scratch = torch.empty_like(bits) if scratch is None else scratch
    out = torch.empty((2, *bits.shape), device=bits.device)
    radius, angle = out  # then r cos(angle) and r sin(angle), in place
    scale = 2.0 ** -UNIFORM_BITS
    angle.copy_(torch.bitwise_right_shift(bits, 64 - UNIFORM_BITS, out=scratch)).mul_(2 * math.pi * scale)
    radius.copy_(bits.bitwise_and_((1 << UNIFORM_BITS) - 1)).mul_(-scale).add_(1)  # u, exact in float32
    radius.log_().mul_(-2).sqrt_()
    cos = angle.cos()
    angle.sin_().mul_(radius)
    radius.mul_(cos)
    return out


def by_draw(z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """A block of Box-Muller pairs (2 x pairs x rows) as the draws it makes up: draws x rows x shape,
    contiguous. In each row, the draws' numbers in order are the pairs' first numbers, then their second."""
    _, pairs, rows = z.shape
    numel = math.prod(shape)
    draws = z.view(2 * pairs // numel, numel, rows).transpose(1, 2)
    if numel > 1:  # a copy whatever the rows (contiguous() would skip it for one row)
        draws = draws.clone(memory_format=torch.contiguous_format)
    return draws.view(len(draws), rows, *shape)


class Streams:
    """The noise of samples start..start+rows-1 of a run (or of any samples: `Streams.at`): call `randn()` once
    per draw, `n_draws` times (the numbers do not depend on n_draws: more draws continue the streams)."""

    def __init__(self, seed: int, start: int, rows: int, shape: Sequence[int], n_draws: int,
                 device: torch.device | str = "cpu"):
        if start < 0 or rows < 0 or n_draws < 1:
            raise ValueError(f"start ({start}) and rows ({rows}) must be >= 0 and n_draws ({n_draws}) >= 1")
        self._start(sample_keys(seed, start, rows, device), shape)

    @classmethod
    def at(cls, seed: int, index: Sequence[int], shape: Sequence[int], device: torch.device | str = "cpu"):
        """The noise of the samples `index` of a run (any sample indices, one row each, in that order): row r
        draws exactly what sample index[r] draws among all the run's samples."""
        index = torch.as_tensor(index, dtype=torch.int64, device=device).reshape(-1)
        if len(index) and int(index.min()) < 0:
            raise ValueError(f"sample indices must be >= 0; got {int(index.min())}")
        streams = cls.__new__(cls)
        streams._start(keys_at(seed, index), shape)
        return streams

    def _start(self, keys: torch.Tensor, shape: Sequence[int]) -> None:
        """Set up the streams of these sample keys (int64, one per row)."""
        self.shape, self.numel = tuple(shape), math.prod(shape)
        if self.numel == 0:
            raise ValueError(f"shape {self.shape} holds no numbers: a draw needs at least one")
        rows, device = len(keys), keys.device
        self.block = max(1, BLOCK_NUMEL // self.numel)  # draws per block: fixed by the draw's size
        self.block += self.block * self.numel % 2  # whole pairs in every block
        self.keys = keys
        self.pairs = self.block * self.numel // 2  # per row and block
        self.bits, self.scratch = (torch.empty((self.pairs, rows), dtype=torch.int64, device=device)
                                   for _ in range(2))
        self.offset_blocks = max(1, OFFSET_PAIRS // self.pairs)
        self.offsets, self.buffer, self.drawn = None, None, 0

    def randn(self) -> torch.Tensor:
        """The next draw: rows x shape standard normal numbers, one stream per row."""
        position = self.drawn % self.block
        if position == 0:
            block = self.drawn // self.block
            if block % self.offset_blocks == 0:  # the offsets of this block and the next offset_blocks - 1
                self.offsets = pair_offsets(block * self.pairs, self.offset_blocks * self.pairs,
                                            self.keys.device).view(self.offset_blocks, self.pairs)
            bits = pair_bits(self.keys, self.offsets[block % self.offset_blocks], self.bits, self.scratch)
            self.buffer = by_draw(box_muller(bits, self.scratch), self.shape)
        self.drawn += 1
        return self.buffer[position]
