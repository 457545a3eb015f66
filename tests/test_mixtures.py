"""The Gaussian mixture: density, exact score and denoiser, labeller."""
import math

import pytest
import torch

from modeinterp.method import mixtures
from modeinterp.support.runtime import generator


def test_density_integrates_to_one():
    gm = mixtures.mixture([1, 2, 4], 0.05, [0.5, 0.3, 0.2])
    x = torch.linspace(-10, 15, 500_001, dtype=torch.float64)[:, None]
    for ab in (1.0, 0.9, 0.2):
        assert torch.trapezoid(gm.log_prob(x, ab).exp(), x[:, 0]).item() == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("ab", [0.999, 0.9, 0.3])
def test_score_is_the_gradient_of_the_log_density(ab):
    gm = mixtures.mixture([[0, 0], [1, 0], [0, 1]], 0.1, [0.2, 0.3, 0.5])
    x = torch.randn(50, 2, generator=generator(3), dtype=torch.float64).requires_grad_()
    (grad,) = torch.autograd.grad(gm.log_prob(x, ab).sum(), x)
    assert torch.allclose(gm.score(x.detach(), ab), grad, rtol=1e-8, atol=1e-8)


def test_denoiser_is_the_posterior_mean():
    """E[x0 | x_t] by Monte Carlo: draw (x0, x_t) pairs, average x0 over x_t in a thin bin."""
    gm = mixtures.mixture([1, 2, 3], 0.05)
    ab, n = 0.8, 2_000_000
    x0 = gm.sample(n, generator(0)).double()
    x_t = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * torch.randn(x0.shape, generator=generator(1), dtype=torch.float64)
    for centre in (1.2, 1.55, 2.0):
        sel = (x_t[:, 0] - centre).abs() < 0.005
        mc = x0[sel].mean().item()
        se = x0[sel].std().item() / math.sqrt(sel.sum().item())
        assert abs(gm.denoise(torch.tensor([[centre]]), ab).item() - mc) < 4 * se + 1e-3


def test_sample_mode_weights():
    gm = mixtures.mixture([1, 2, 3], 0.05, [0.5, 0.3, 0.2])
    counts = torch.bincount(gm.mode_of(gm.sample(100_000, generator(0))), minlength=3) / 100_000
    assert torch.allclose(counts, torch.tensor([0.5, 0.3, 0.2], dtype=counts.dtype), atol=0.006)


def test_labeller_uses_six_sigma():
    gm = mixtures.mixture([1, 2, 3], 0.05)
    x = torch.tensor([[1.0], [1 + 5.9 * 0.05], [1 + 6.1 * 0.05], [1.5], [3.4]])
    assert gm.hallucinated(x).tolist() == [False, False, True, True, True]
    assert gm.between_modes(x).tolist() == [False, True, True, True, False]


def test_bad_mixtures_are_clear_errors():
    with pytest.raises(ValueError, match="std must be > 0"):
        mixtures.mixture([1, 2], 0)
    with pytest.raises(ValueError, match="weights must be 2 non-negative numbers summing to 1"):
        mixtures.mixture([1, 2], 0.1, [0.5, 0.6])


def test_grid_is_the_papers_normalised_5x5_grid():
    gm = mixtures.grid()
    assert gm.means.shape == (25, 2)
    scale = math.sqrt(0.05**2 + 8)
    assert gm.std == pytest.approx(0.05 / scale)
    assert torch.allclose(gm.means.max(0).values, torch.tensor([4 / scale, 4 / scale], dtype=torch.float64))
    x = gm.sample(200_000, generator(0))
    assert torch.allclose(x.double().var(0), torch.ones(2, dtype=torch.float64), atol=0.02)
    spacing = 2 / scale
    assert torch.cdist(gm.means, gm.means).add(torch.eye(25) * 9).min().item() == pytest.approx(spacing)
    assert gm.nearest_spacing == pytest.approx(spacing)


def test_diamond_is_the_grid_rotated_by_45_degrees():
    square, diamond = mixtures.grid(), mixtures.grid(angle_deg=45)
    assert torch.allclose(torch.cdist(square.means, square.means), torch.cdist(diamond.means, diamond.means))
    # in the diamond, modes that share a y coordinate are sqrt(2) spacings apart: not nearest neighbours
    pairs, lengths = mixtures.mode_pairs(diamond, 2.0 / math.sqrt(8.0025) * 1.5)
    a, b = diamond.means[pairs[:, 0]], diamond.means[pairs[:, 1]]
    horizontal = (a[:, 1] - b[:, 1]).abs() < 1e-9
    assert horizontal.any() and torch.allclose(lengths[horizontal], lengths.max().expand(int(horizontal.sum())))


def test_segment_distance_and_the_nearest_segment():
    a = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 1.0], [-1.0, 0.0], [3.0, 4.0]])
    assert mixtures.segment_distance(x, a, b)[:, 0].tolist() == pytest.approx([1.0, 1.0, math.sqrt(17)])
    gm = mixtures.mixture([[0, 0], [1, 0], [0, 1], [1, 1]], 0.01)
    seg = mixtures.nearest_segment(gm, torch.tensor([[0.5, 0.02], [0.5, 0.5]]), 1.5)
    assert seg.length.tolist() == pytest.approx([1.0, math.sqrt(2)]) and seg.distance.tolist() == pytest.approx([0.02, 0.0])
    assert seg.a[0].tolist() == [0.0, 0.0] and seg.b[0].tolist() == [1.0, 0.0]  # the bottom edge
    assert gm.nearest_spacing == pytest.approx(1.0)


@pytest.mark.parametrize("means", [[0.0, 1.0, 3.0, 6.0], [6.0, 0.0, 3.0, 1.0]], ids=["sorted", "unsorted"])
def test_points_are_counted_in_every_gap_between_neighbouring_means(means):
    """Four means, three gaps of widths 1, 2 and 3 (in any order given): each gap's count, its ends, the
    narrowest and widest gap, and the line that names them."""
    gm = mixtures.mixture(means, 0.05)
    per_gap = {(0.0, 1.0): 2, (1.0, 3.0): 0, (3.0, 6.0): 4}
    inside = [0.5, 0.9, 3.1, 4.0, 5.5, 5.999]
    on_or_outside = [0.0, 1.0, 3.0, 6.0, -2.0, 7.5]  # the means themselves are in no gap
    x = torch.tensor(inside + on_or_outside, dtype=torch.float32)[:, None]
    gaps = gm.gaps(x)
    assert [((g.low, g.high), g.count) for g in gaps] == list(per_gap.items())
    assert sum(g.count for g in gaps) == len(inside) == int(gm.between_modes(x).sum()) - 2  # less the inner means
    near, far = mixtures.narrowest_and_widest(gaps)
    assert (near.low, near.high, near.width, far.low, far.high, far.width) == (0, 1, 1, 3, 6, 3)
    assert mixtures.describe_gaps(gaps, "hallucinations") == (
        "2 hallucinations between 0 and 1, 0 between 1 and 3, 4 between 3 and 6")
    with pytest.raises(ValueError, match="1D"):
        mixtures.mixture([[0, 0], [1, 1]], 0.1).gaps(torch.zeros(3, 2))


def test_fig2s_second_mixture_needs_a_nearer_and_a_farther_gap():
    from modeinterp.experiments import toy
    from modeinterp.support.params import ParameterError
    assert toy.check_variant_means([1, 2, 4]) == [1.0, 2.0, 4.0]
    assert toy.check_variant_means([0.5, 4, 2, 3, 7]) == [0.5, 4.0, 2.0, 3.0, 7.0]
    for bad, allowed in [([1, 2], "at least 3"), ([1, 2, 3], "not all equally wide"), ([3, 1, 2, 0], "not all equally"),
                         ("[1, 2, 4]", "-y")]:
        with pytest.raises(ParameterError, match=f"parameter 'variant_means' must be .*{allowed}"):
            toy.check_variant_means(bad)
