"""The metric and the detection numbers on hand-made inputs."""
import math

import numpy as np
import pytest
import torch

from modeinterp import diffusion, metric
from modeinterp.runtime import generator


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


def test_operating_point_on_a_hand_made_list():
    inside = np.arange(1, 21, dtype=float)  # 20 in-support scores 1..20
    hal_scores = np.array([5.0, 25.0, 30.0, 40.0])
    score = np.concatenate([inside, hal_scores])
    hal = np.r_[np.zeros(20, bool), np.ones(4, bool)]
    op = metric.operating_point(score, hal, 0.95)
    assert (op.threshold, op.retention, op.removed) == (19.0, 0.95, 0.75)
    op = metric.operating_point(score, hal, 1.0)
    assert (op.threshold, op.retention, op.removed) == (20.0, 1.0, 0.75)
    # AUROC: 3 of 4 hallucinations beat all 20; the one at 5 beats 4 of 20 and ties one (counts a half)
    assert metric.auroc(score, hal) == pytest.approx((3 * 20 + 4 + 0.5) / 80)


def test_operating_point_with_ties_keeps_at_least_the_retention():
    score = np.array([1, 1, 1, 1, 2, 3, 3])
    hal = np.array([0, 0, 0, 0, 0, 1, 1], bool)
    op = metric.operating_point(score, hal, 0.5)
    assert op.retention >= 0.5 and op.threshold == 1 and op.removed == 1.0


def test_detection_needs_both_kinds():
    with pytest.raises(ValueError, match="both hallucinated and in-support"):
        metric.auroc([1, 2], [False, False])


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


def test_auroc_within_groups_sees_through_a_confounder():
    # the score only tells the groups apart: perfect overall, at chance within each group
    groups = np.repeat([2, 3], 200)
    hallucinated = np.r_[np.zeros(180), np.ones(20), np.zeros(20), np.ones(180)].astype(bool)
    score = groups + np.random.default_rng(0).normal(0, 0.01, 400)
    assert metric.auroc(score, hallucinated) > 0.85
    mean, per = metric.auroc_within(score, hallucinated, groups)
    assert set(per) == {2, 3} and abs(mean - 0.5) < 0.15
    with pytest.raises(ValueError, match="no group"):
        metric.auroc_within(score, hallucinated, np.where(hallucinated, 1, 0))


def test_agreement_rises_as_x0_hat_reaches_the_sample():
    x0 = torch.randn(5, 1, 4, 4, generator=generator(0))
    noise = torch.randn(3, 5, 1, 4, 4, generator=generator(1))
    steps = torch.stack([noise[0], 0.5 * noise[1] + x0, x0])
    r = metric.agreement(steps, x0)
    assert r.shape == (3,) and abs(r[0]) < 0.6 and 0.7 < r[1] < 1 and r[2] == pytest.approx(1.0)


def test_detection_bundles_auroc_operating_point_and_the_control():
    hallucinated = np.r_[np.zeros(50), np.ones(50)].astype(bool)
    score = np.r_[np.arange(50), np.arange(40, 90)].astype(float)
    d = metric.detection(score, hallucinated, 0.9, groups=np.arange(100) % 2)
    assert d.auroc == metric.auroc(score, hallucinated) and d.op == metric.operating_point(score, hallucinated, 0.9)
    assert d.within is not None and metric.detection(score, hallucinated).within is None


def test_compare_windows_selects_on_one_half_and_reports_on_the_other():
    rng = np.random.default_rng(0)
    hallucinated = rng.random(400) < 0.3
    good, bad = hallucinated + rng.normal(0, 0.5, 400), rng.normal(0, 1, 400)
    variance = {(0, 1): bad, (0, 5): good, (5, 9): bad}
    rows, best = metric.compare_windows(variance, hallucinated, {"paper": (5, 9)}, [(0, 1), (0, 5)])
    assert best == (0, 5)
    odd = np.arange(400) % 2 == 1
    assert rows[metric.BEST].auroc == metric.auroc(good[odd], hallucinated[odd])
    assert rows["paper"].auroc == metric.auroc(bad, hallucinated)


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
