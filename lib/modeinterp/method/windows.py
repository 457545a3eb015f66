"""Windows of the reverse process: which timesteps the metric's variance is taken over.

A window (t_lo, t_hi) holds the timesteps t_lo..t_hi inclusive, 0-indexed (t = 0 is the last step of the reverse
process). The paper's window is the last steps; the others are translations of it between schedules, the steps
where a model decides what it draws, fractions of T, and the steps of the post-hoc metric.
"""
import numpy as np

from .diffusion import Schedule

Window = tuple[int, int]  # (t_lo, t_hi): timesteps t_lo..t_hi inclusive, 0-indexed


def timesteps(T: int, n_steps: int | None = None) -> list[int]:
    """The timesteps a sampler visits, noisiest first: all T, or n_steps evenly spaced from T-1 down to 0."""
    if n_steps is None or n_steps == T:
        return list(range(T - 1, -1, -1))
    if not 1 <= n_steps <= T:
        raise ValueError(f"n_steps must be in [1, T={T}]; got {n_steps}")
    return sorted(set(np.linspace(0, T - 1, n_steps).round().astype(int).tolist()), reverse=True)


def last_steps(k: int) -> Window:
    """The window of the last k timesteps of the reverse process: t = 0..k-1."""
    if k < 2:
        raise ValueError(f"a window needs at least 2 steps; got {k}")
    return (0, k - 1)


def last_visited(T: int, n_steps: int | None, k: int) -> Window:
    """The window of the last k timesteps a sampler with n_steps (strided) steps visits."""
    ts = timesteps(T, n_steps)
    if not 2 <= k <= len(ts):
        raise ValueError(f"k must be in [2, {len(ts)}] visited steps; got {k}")
    return (0, ts[-k])


def matching_window(schedule: Schedule, reference: Schedule, reference_steps: int) -> Window:
    """The last steps of `schedule` whose noise is no larger than in the last `reference_steps` of `reference`.

    Translates a window between schedules by noise level: e.g. the paper's last 15 of T=1000 steps becomes
    the last 5 of T=100 under the same beta range. Returns (0, k - 1), at least two steps.
    """
    bound = float(reference.alpha_bar[reference_steps - 1])
    k = int((schedule.alpha_bar >= bound).sum())
    return (0, max(k, 2) - 1)


def decision_window(timesteps, agreement, low: float, high: float) -> Window:
    """The timesteps (t_lo, t_hi) over which the agreement of x0_hat with the final sample (see
    metric.agreement) rises from `low` to `high`: where the model decides what it draws. If fewer than two
    visited steps lie in that range, the two steps around the crossing of its midpoint."""
    ts, r = np.asarray(timesteps), np.asarray(agreement)
    if ts.shape != r.shape or len(ts) < 2:
        raise ValueError(f"timesteps and agreement must be 1-d of equal length >= 2; got {ts.shape}, {r.shape}")
    if not low < high:
        raise ValueError(f"low must be below high; got {low}, {high}")
    inside = ts[(r >= low) & (r <= high)]
    if len(inside) >= 2:
        return int(inside.min()), int(inside.max())
    order = np.argsort(-ts)  # noisiest first: the order of the reverse process
    i = int(np.argmax(r[order] >= (low + high) / 2))
    i = min(max(i, 1), len(ts) - 1)
    return int(ts[order][i]), int(ts[order][i - 1])


def windows_from_fractions(pairs, T: int) -> list[Window]:
    """Windows (t_lo, t_hi) from pairs of fractions of T (t_hi at most T - 1)."""
    return [(int(round(a * T)), min(int(round(b * T)), T - 1)) for a, b in pairs]


def window_steps(T: int, t_lo: int, t_hi: int, k: int) -> list[int]:
    """k timesteps evenly spaced over [t_lo, t_hi] (inclusive, 0-indexed), for the post-hoc metric."""
    if not 0 <= t_lo <= t_hi < T:
        raise ValueError(f"window must satisfy 0 <= t_lo <= t_hi < T={T}; got ({t_lo}, {t_hi})")
    if k < 2:
        raise ValueError(f"k must be at least 2 timesteps for a variance; got {k}")
    return sorted(set(np.linspace(t_lo, t_hi, k).round().astype(int).tolist()))
