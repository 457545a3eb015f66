"""Denoisers. The toy MLP of the paper's Gaussian experiments: width 128, three residual time-conditioned
blocks (LayerNorm, LeakyReLU 0.02), sinusoidal time embedding. A small U-Net for images (simple shapes).

The released code repeats one block object three times, so its three blocks share weights; here each block has
its own weights unless `shared_blocks=True` reproduces that quirk.
"""
import copy
import math

import torch
from torch import nn

from ..support import params


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
    """eps(x_t, t) for low-dimensional data; t is an int (one step for the whole batch) or a tensor of N steps.

    x is N x dim, or N x ... with dim values per row (e.g. small images), and eps comes back in x's shape.
    """

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
        h = self.inp(x.flatten(1))
        for block, p in zip(self.blocks, proj):
            h = block(h, p)
        return self.out(h).view(x.shape)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv3x3, + time bias, GroupNorm, SiLU, conv3x3; a 1x1 skip conv if channels change."""

    def __init__(self, c_in: int, c_out: int, t_dim: int, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Sequential(nn.SiLU(), nn.Linear(t_dim, c_out))
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.act(self.norm1(h))) + self.time(emb)[:, :, None, None]
        return self.skip(h) + self.conv2(self.act(self.norm2(y)))


class Attention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, with GroupNorm and a residual."""

    def __init__(self, c: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, c, height, width = h.shape
        q, k, v = self.qkv(self.norm(h)).reshape(n, 3, c, height * width).transpose(2, 3).unbind(1)
        y = nn.functional.scaled_dot_product_attention(q, k, v)  # (n, pixels, c)
        return h + self.proj(y.transpose(1, 2).reshape(n, c, height, width))


class UNet(nn.Module):
    """eps(x_t, t) for images: a small U-Net that runs at size/fold resolution on pixel-unshuffled images.

    Folding fold x fold pixel blocks into channels (64x64x1 -> 16x16x16 at fold=4) makes the U-Net affordable
    on one CPU thread; t is an int (one step for the whole batch) or a tensor of N steps, as for ToyMLP.
    """

    def __init__(self, channels: int = 1, size: int = 64, T: int = 1000, fold: int = 4, base: int = 32,
                 mults: tuple = (1, 2, 4), attention_below: int = 4, groups: int = 8, stem: int = 0):
        super().__init__()
        mults = check_unet(channels, size, T, fold, base, mults, attention_below, groups, stem)
        self.stem = Stem(channels, stem, groups) if stem else None
        channels = stem or channels  # the folded U-Net runs on the stem's features
        widths, res = [base * m for m in mults], [size // fold // 2**i for i in range(len(mults))]
        t_dim, t_freq = 4 * base, base + base % 2  # sinusoidal_embedding needs an even width
        self.register_buffer("temb", sinusoidal_embedding(torch.arange(T), t_freq), persistent=False)
        self.time = nn.Sequential(nn.Linear(t_freq, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.fold, self.unfold = nn.PixelUnshuffle(fold), nn.PixelShuffle(fold)
        self.inp = nn.Conv2d(channels * fold**2, base, 3, padding=1)

        def attn(i):
            return Attention(widths[i], groups) if res[i] <= attention_below else nn.Identity()

        levels = range(len(widths))
        self.down = nn.ModuleList(ResBlock(([base] + widths)[i], widths[i], t_dim, groups) for i in levels)
        self.down_attn = nn.ModuleList(attn(i) for i in levels)
        self.downsample = nn.ModuleList(nn.Conv2d(widths[i], widths[i], 3, stride=2, padding=1)
                                        if i < len(widths) - 1 else nn.Identity() for i in levels)
        c = widths[-1]
        self.mid1, self.mid_attn = ResBlock(c, c, t_dim, groups), Attention(c, groups)
        self.mid2 = ResBlock(c, c, t_dim, groups)
        # up path, deepest level first: concatenate the level's skip, then upsample to the next level's width
        self.up = nn.ModuleList(ResBlock(2 * widths[i], widths[i], t_dim, groups) for i in reversed(levels))
        self.up_attn = nn.ModuleList(attn(i) for i in reversed(levels))
        self.upsample = nn.ModuleList(_upsample(widths[i], widths[i - 1]) if i > 0 else nn.Identity()
                                      for i in reversed(levels))
        self.out = nn.Sequential(nn.GroupNorm(groups, base), nn.SiLU(),
                                 nn.Conv2d(base, channels * fold**2, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        """The predicted noise eps, shaped like x."""
        s = x if self.stem is None else self.stem.inp(x)
        h, skips, emb = self._encode(s, t)
        for block, attn, upsample in zip(self.up, self.up_attn, self.upsample):
            h = upsample(attn(block(torch.cat([h, skips.pop()], dim=1), emb)))
        h = self.unfold(self.out(h))
        return h if self.stem is None else self.stem.head(s + h)

    def features(self, x: torch.Tensor, t, pool: bool = True) -> torch.Tensor:
        """Bottleneck (middle block) features for a t-SNE: mean-pooled over space, (N, base * mults[-1]), or
        with pool=False every position kept (flattened), so that where a shape lies is still told apart. No rows
        give no rows (of the same width)."""
        if len(x) == 0:  # torch's pixel_unshuffle mishandles an empty batch: compute one row, keep none
            return self.features(x.new_zeros(1, *x.shape[1:]), t, pool)[:0]
        h = self._encode(x if self.stem is None else self.stem.inp(x), t)[0]
        return h.mean(dim=(2, 3)) if pool else h.flatten(1)

    def _encode(self, x: torch.Tensor, t):
        """The time embedding, the down path (keeping one skip per level) and the middle; x as the folded U-Net
        takes it (after the stem, if any)."""
        if isinstance(t, int) or (torch.is_tensor(t) and t.dim() == 0):
            emb = self.time(self.temb[int(t)][None])  # one step for all rows: the time MLP runs once
        else:  # the MLP on the T-row table, then a lookup: once per distinct t, not once per row
            emb = self.time(self.temb)[t]
        h, skips = self.inp(self.fold(x)), []
        for block, attn, downsample in zip(self.down, self.down_attn, self.downsample):
            h = attn(block(h, emb))
            skips.append(h)
            h = downsample(h)
        return self.mid2(self.mid_attn(self.mid1(h, emb)), emb), skips, emb


class Stem(nn.Module):
    """Full-resolution 3x3 convolutions around a folded U-Net, as patch-based diffusion models put them: `inp` maps
    the image to `width` features, on which the U-Net runs; `head` maps their sum with the U-Net's output back to
    the image's channels, so that detail finer than the fold's blocks has a path that never folds."""

    def __init__(self, channels: int, width: int, groups: int):
        super().__init__()
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.head = nn.Sequential(nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1),
                                  nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1))


class ChannelsLast(nn.Module):
    """A copy of a convolutional denoiser evaluated in channels-last memory, oneDNN's fast layout for convolutions on
    a CPU (`make benchmark` measures it): the same function, its outputs equal to float32 rounding. The samplers'
    path for the U-Nets; training keeps the plain layout, with which the shipped models were made."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model).to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        return self.model(x.contiguous(memory_format=torch.channels_last), t)


def for_sampling(model):
    """The model as the samplers run it: a U-Net in channels-last memory (ChannelsLast), anything else as it is."""
    return ChannelsLast(model) if isinstance(model, UNet) else model


def _upsample(c_in: int, c_out: int) -> nn.Module:
    """Nearest-neighbour upsampling by 2, then a 3x3 conv from c_in to c_out channels."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1))


def check_unet(channels: int, size: int, T: int, fold: int, base: int, mults, attention_below: int = 4,
               groups: int = 8, stem: int = 0) -> list[int]:
    """Check the U-Net's settings (as UNet takes them) before building it; return mults as a list."""
    params.integer("channels", channels, low=1)
    params.integer("stem", stem, low=0)
    if stem % groups:
        params.fail("stem", f"0 (none) or a multiple of groups = {groups}", stem)
    params.integer("T", T, low=1)
    params.integer("fold", fold, low=1)
    params.integer("groups", groups, low=1)
    params.integer("base", base, low=groups)
    if base % groups:
        params.fail("base", f"a multiple of groups = {groups}", base)
    mults = params.integers("mults", mults, low=1)
    params.integer("attention_below", attention_below, low=0)
    step = fold * 2 ** (len(mults) - 1)
    params.integer("size", size, low=1)
    if size % step:
        params.fail("size", f"a multiple of fold * 2**(len(mults) - 1) = {fold} * {step // fold} = {step}", size)
    return mults
