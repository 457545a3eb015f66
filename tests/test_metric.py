"""The metric on hand-made inputs: streaming and post-hoc variance, local aggregations, agreement."""
import math

import numpy as np
import pytest
import torch

from modeinterp.method import diffusion, metric
from modeinterp.support.runtime import generator


def test_welford_equals_the_population_variance():
    xs = torch.randn(20, 50, 3, generator=generator(0), dtype=torch.float64)
    acc = metric.Welford()
    for x in xs:
        acc.add(x)
    expected = xs.numpy().var(0).reshape(50, -1).mean(1)
    assert np.allclose(acc.variance().numpy(), expected, rtol=1e-12)
    assert np.allclose(metric.trajectory_variance(xs).numpy(), expected, rtol=1e-12)


def test_empty_window_is_an_error():
    with pytest.raises(ValueError, match="no steps were added"):
        metric.Welford().variance()


def test_posthoc_variance_has_the_expected_value():
    """With eps = 0, x0_hat at t is x_t / sqrt(alpha_bar_t): two steps give E[var] = (c1^2 + c2^2) / 4."""
    schedule = diffusion.linear_schedule(100)
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    n = 100_000
    x0 = torch.ones(n, 1)
    v = metric.posthoc_variance(zero, schedule, x0, [10, 20], generator(0))
    ab = schedule.alpha_bar
    c = [math.sqrt(1 - ab[t].item()) / math.sqrt(ab[t].item()) for t in (10, 20)]
    expected = (c[0] ** 2 + c[1] ** 2) / 4
    se = v.double().std().item() / math.sqrt(n)
    assert abs(v.double().mean().item() - expected) < 4 * se


def test_agreement_rises_as_x0_hat_reaches_the_sample():
    x0 = torch.randn(5, 1, 4, 4, generator=generator(0))
    noise = torch.randn(3, 5, 1, 4, 4, generator=generator(1))
    steps = torch.stack([noise[0], 0.5 * noise[1] + x0, x0])
    r = metric.agreement(steps, x0)
    assert r.shape == (3,) and abs(r[0]) < 0.6 and 0.7 < r[1] < 1 and r[2] == pytest.approx(1.0)


def test_local_aggregations_find_a_small_disagreement_that_the_mean_dilutes():
    v = torch.zeros(2, 1, 32, 32, dtype=torch.float64)
    v[0, 0, 8:12, 24:28] = 1.0  # one 4x4 patch of the first image disagrees
    v[1] = 1 / 64  # the second disagrees a little everywhere: the same mean
    x0 = -torch.ones(2, 1, 32, 32)
    x0[:, :, :2, :8] = 1  # 16 foreground pixels in each
    mean = v.flatten(1).mean(1)
    torch.testing.assert_close(mean[0], mean[1])
    patch = metric.largest_patch(4)(v, x0)
    assert patch[0].item() == 1.0 and patch[1].item() == pytest.approx(1 / 64)
    strip = metric.largest_strip(3)(v, x0)  # strips of 10, 10 and 12 columns: the patch is in the third
    assert strip[0].item() == pytest.approx(16 / (32 * 12)) and strip[1].item() == pytest.approx(1 / 64)
    torch.testing.assert_close(metric.per_foreground_pixel(v, x0), torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_aggregations_need_positive_sizes():
    with pytest.raises(ValueError, match="side"):
        metric.largest_patch(0)
    with pytest.raises(ValueError, match="n_strips"):
        metric.largest_strip(0)
