"""The noise: a counter-based Gaussian, one stream per sample index, independent of how rows are grouped;
its numbers pass the tests a standard normal passes, and a draw costs the same number of tensor operations
whatever the number of rows."""
import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils._python_dispatch import TorchDispatchMode

from modeinterp.method import noise

SE = 5  # standard errors a statistic may stray by (a correct generator strays further once in 3.5 million)


def draws(seed, start, rows, shape, n_draws):
    """n_draws draws of Streams(seed, start, rows, shape): n_draws x rows x shape."""
    streams = noise.Streams(seed, start, rows, shape, n_draws)
    return torch.stack([streams.randn() for _ in range(n_draws)])


def test_each_row_sees_its_own_stream_whatever_the_grouping():
    whole = noise.Streams(11, 0, 10, (3,), 5)
    parts = [noise.Streams(11, s, r, (3,), 5) for s, r in ((0, 4), (4, 6))]
    for _ in range(5):
        torch.testing.assert_close(whole.randn(), torch.cat([p.randn() for p in parts]), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(1,), (2,), (3,), (1, 8, 8)])
def test_a_row_drawn_alone_gets_the_numbers_it_gets_among_10000(shape):
    among = draws(5, 0, 10_000, shape, 7)
    for i in (0, 1234, 9_999):
        torch.testing.assert_close(draws(5, i, 1, shape, 7)[:, 0], among[:, i], rtol=0, atol=0)


def test_the_numbers_do_not_depend_on_the_draws_announced():
    announced_one = noise.Streams(3, 0, 4, (2,), 1)
    nine = torch.stack([announced_one.randn() for _ in range(9)])
    torch.testing.assert_close(nine, draws(3, 0, 4, (2,), 9), rtol=0, atol=0)


def test_streams_differ_between_samples_draws_and_runs():
    a = noise.Streams(1, 0, 2, (1000,), 2)
    first, second = a.randn(), a.randn()
    assert not torch.equal(first[0], first[1]) and not torch.equal(first, second)
    assert not torch.equal(first, noise.Streams(2, 0, 2, (1000,), 2).randn())


def test_mix64_is_splitmix64():
    """splitmix64 seeded 0 starts 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f (Vigna's
    reference splitmix64.c: state += golden, then the finaliser)."""
    states = torch.tensor([noise._int64(k * noise.GOLDEN) for k in (1, 2, 3)])
    assert [v & (2**64 - 1) for v in noise.mix64(states).tolist()] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


@pytest.mark.parametrize("seed", [0, 7, 2**62 - 1, 2**64 + 5])
def test_sample_keys_are_the_sample_seeds(seed):
    for start in (0, 10**12):
        keys = noise.sample_keys(seed, start, 300)
        assert keys.tolist() == [noise.sample_seed(seed, i) for i in range(start, start + 300)]


def test_sample_seeds_are_distinct_and_fit_a_signed_64_bit_seed():
    seeds = {noise.sample_seed(s, i) for s in range(20) for i in range(500)}
    assert len(seeds) == 20 * 500 and max(seeds) < 2**63


def test_a_run_seed_comes_from_the_generator():
    g = torch.Generator().manual_seed(0)
    first, second = noise.run_seed(g), noise.run_seed(g)
    assert first != second and first == noise.run_seed(torch.Generator().manual_seed(0))


@pytest.mark.parametrize("shape", [(1,), (2,), (1, 32, 32)])
def test_the_numbers_are_standard_normal(shape):
    rows = 200_000 // (10 * math.prod(shape)) or 1
    z = draws(123, 0, rows, shape, 10).double().flatten().numpy()
    n = len(z)
    assert abs(z.mean()) < SE / n**0.5
    assert abs(z.var() - 1) < SE * (2 / n) ** 0.5
    assert stats.kstest(z, "norm").pvalue > 1e-4
    tail = stats.norm.sf(3) * 2  # P(|z| > 3)
    assert abs((np.abs(z) > 3).mean() - tail) < SE * (tail * (1 - tail) / n) ** 0.5
    assert np.abs(z).max() <= (2 * noise.UNIFORM_BITS * math.log(2)) ** 0.5 + 1e-5


def _uncorrelated(a: torch.Tensor, b: torch.Tensor) -> None:
    """a and b (same shape) uncorrelated, and so are their squares (within SE standard errors)."""
    for x, y in ((a, b), (a**2, b**2)):
        r = np.corrcoef(x.double().flatten().numpy(), y.double().flatten().numpy())[0, 1]
        assert abs(r) < SE / a.numel() ** 0.5, r


def test_neighbouring_samples_draws_and_elements_are_uncorrelated():
    z = draws(99, 0, 20_000, (4,), 16)  # draws x rows x elements
    _uncorrelated(z[:, 1:], z[:, :-1])  # samples i and i + 1
    _uncorrelated(z[1:], z[:-1])  # draws d and d + 1
    _uncorrelated(z[..., 1:], z[..., :-1])  # elements e and e + 1
    block = noise.Streams(99, 0, 1, (1,), 1).block
    one = draws(99, 0, 100_000, (1,), 2 * block)[..., 0]
    _uncorrelated(one[1:], one[:-1])  # 1D: every draw's neighbour, across blocks too
    _uncorrelated(one[:block // 2], one[block // 2:block])  # the two numbers of each Box-Muller pair


def test_runs_with_neighbouring_seeds_are_uncorrelated():
    _uncorrelated(draws(1, 0, 50_000, (2,), 2), draws(2, 0, 50_000, (2,), 2))


class CountOps(TorchDispatchMode):
    """Count the tensor operations (aten calls) run inside it."""

    def __init__(self):
        super().__init__()
        self.ops = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func)] += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("shape, n_draws", [((1,), 40), ((2,), 40), ((3, 8, 8), 3)])
def test_a_draw_launches_as_many_operations_for_one_row_as_for_10000(shape, n_draws):
    counts = []
    for rows in (1, 10_000):
        with CountOps() as mode:
            draws(0, 0, rows, shape, n_draws)
        counts.append(mode.ops)
    assert counts[0] == counts[1]


def test_streams_reject_what_they_cannot_draw():
    for args, name in (((-1, 2), "start"), ((0, -2), "rows")):
        with pytest.raises(ValueError, match=name):
            noise.Streams(0, *args, (1,), 3)
    with pytest.raises(ValueError, match="n_draws"):
        noise.Streams(0, 0, 2, (1,), 0)
    with pytest.raises(ValueError, match="shape"):
        noise.Streams(0, 0, 2, (3, 0), 3)


def test_streams_at_any_indices_draw_what_those_samples_draw_in_the_run():
    whole = draws(21, 0, 12, (5,), 4)
    index = [9, 0, 3, 3, 11]
    at = noise.Streams.at(21, index, (5,))
    picked = torch.stack([at.randn() for _ in range(4)])
    assert torch.equal(picked, whole[:, index])
    assert torch.equal(noise.keys_at(21, torch.tensor(index)), noise.sample_keys(21, 0, 12)[index])
    with pytest.raises(ValueError, match="sample indices must be >= 0; got -1"):
        noise.Streams.at(21, [2, -1], (5,))
