"""Windows of the reverse process: visited timesteps, last steps, translations, the decision window."""
import numpy as np
import pytest

from modeinterp.method import diffusion, windows


def test_strided_timesteps():
    assert windows.timesteps(1000, 250)[:3] == [999, 995, 991] and windows.timesteps(1000, 250)[-1] == 0
    assert len(windows.timesteps(1000, 250)) == 250
    assert windows.timesteps(10) == list(range(9, -1, -1))


def test_last_visited_window_holds_exactly_k_strided_steps():
    ts = windows.timesteps(1000, 250)
    lo, hi = windows.last_visited(1000, 250, 10)
    assert sum(lo <= t <= hi for t in ts) == 10
    assert windows.last_visited(100, None, 5) == (0, 4)
    with pytest.raises(ValueError, match="k must be"):
        windows.last_visited(100, 10, 11)


def test_window_steps():
    assert windows.window_steps(1000, 100, 150, 10) == [100, 106, 111, 117, 122, 128, 133, 139, 144, 150]
    with pytest.raises(ValueError, match="window must satisfy"):
        windows.window_steps(100, 50, 150, 10)


def test_matching_window_translates_the_papers_window_by_noise_level():
    paper = diffusion.linear_schedule(1000)
    assert windows.matching_window(paper, paper, 15) == (0, 14)
    lo, hi = windows.matching_window(diffusion.linear_schedule(100), paper, 15)
    ab = diffusion.linear_schedule(100).alpha_bar
    assert lo == 0 and ab[hi] >= paper.alpha_bar[14] > ab[hi + 1]


def test_decision_window_where_agreement_rises():
    ts = np.arange(9, -1, -1)  # reverse process: t = 9 .. 0
    r = np.array([0.0, 0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 1.0, 1.0])
    assert windows.decision_window(ts, r, 0.25, 0.75) == (4, 6)
    jump = np.array([0.0] * 5 + [1.0] * 5)  # no step inside: the two around the jump
    assert windows.decision_window(ts, jump, 0.25, 0.75) == (4, 5)
    with pytest.raises(ValueError, match="below"):
        windows.decision_window(ts, r, 0.8, 0.2)
