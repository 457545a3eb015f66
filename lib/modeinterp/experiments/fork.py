"""The fork test: when does the reverse process decide how many shapes (or fingers) a sample holds?

For a set of samples (every hallucinated one up to a number, and as many in-support ones matched on their shape
count), the sampling run is replayed to keep x_t at a few fork timesteps; from each, `continuations` runs go on to
t = 0 with fresh noise, and each is read by the same counter as the samples. Per class and fork timestep: the share
of continuations whose counts differ from the sample's own, the share that come out hallucinated, and the AUROC of
that disagreement (per sample: the share of its continuations that change) as a detector of the hallucinated
samples. If both classes stop changing at the same timesteps, the count is decided at the same time for both, and
a statistic of the trajectory inside a window before that cannot tell them apart by when they decide.
"""
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..method import detection, samplers
from ..method.detection import Detection
from ..support import claims, params

CLASSES = ("hallucinated", "in_support")


@dataclass(frozen=True)
class ForkTest:
    """What a fork test measured. Arrays are per tested sample (index order of `index`), fork timestep (in
    `timesteps` order, noisiest first) and continuation."""

    timesteps: list[int]  # fork timesteps, noisiest first
    index: np.ndarray  # the run's sample indices tested
    hallucinated: np.ndarray  # per tested sample: its own label
    changed: np.ndarray  # samples x forks x continuations: the continuation's counts differ from the sample's
    label: np.ndarray  # samples x forks x continuations: the continuation's label
    replayed: float  # share of tested samples whose replay (same noise, another batch) gave the same counts

    def _rows(self, kind: str) -> np.ndarray:
        """Per tested sample: whether it is of class `kind` (CLASSES)."""
        return self.hallucinated if params.choice("kind", kind, CLASSES) == "hallucinated" else ~self.hallucinated

    def share(self, kind: str, what: str = "changed") -> np.ndarray:
        """Per fork timestep, the share of the continuations of class `kind` (CLASSES) that `what`: 'changed'
        (counts differ from the sample's) or a label ('hallucinated', 'invalid', ...)."""
        rows = self._rows(kind)
        hit = self.changed if what == "changed" else self.label == what
        return hit[rows].mean(axis=(0, 2)) if rows.any() else np.full(len(self.timesteps), np.nan)

    def detections(self, retention: float = 0.95) -> list[Detection]:
        """Per fork timestep, the share of a sample's continuations that change, as a detector of hallucination."""
        score = self.changed.mean(axis=2)
        return [detection.detection(score[:, f], self.hallucinated, retention) for f in range(len(self.timesteps))]

    def selection_half(self) -> np.ndarray:
        """Per tested sample: True for the half the best fork timestep is chosen on: the samples of even rank
        within their class, so that a matched pair (see matched: pairs in order) stays on one side."""
        rank = np.empty(len(self.hallucinated), dtype=int)
        for rows in (self.hallucinated, ~self.hallucinated):
            rank[rows] = np.arange(rows.sum())
        return rank % 2 == 0

    def best(self, retention: float = 0.95) -> tuple[int, Detection]:
        """The fork timestep whose disagreement has the highest AUROC on the selection half, and its detection
        on the other half (held out, as the windows are chosen: see detection.compare_windows)."""
        half, score = self.selection_half(), self.changed.mean(axis=2)
        ranked = [detection.auroc(score[half, f], self.hallucinated[half]) for f in range(len(self.timesteps))]
        f = int(np.argmax(ranked))
        return self.timesteps[f], detection.detection(score[~half, f], self.hallucinated[~half], retention)

    def detectable_difference(self, level: float = 0.05, held_out: bool = False) -> float:
        """The smallest AUROC difference from chance its samples (all of them, or the held-out half) could find
        at `level` (detection.detectable_auroc_difference)."""
        rows = ~self.selection_half() if held_out else np.ones(len(self.hallucinated), dtype=bool)
        return detection.detectable_auroc_difference(int(self.hallucinated[rows].sum()),
                                                     int((~self.hallucinated[rows]).sum()), level)

    def share_se(self, kind: str, what: str = "changed") -> np.ndarray:
        """Per fork timestep, the standard error of share(kind, what), the samples being the units: the spread
        of each sample's own share over its continuations, divided by the root of the number of samples."""
        rows = self._rows(kind)
        hit = (self.changed if what == "changed" else self.label == what)[rows].mean(axis=2)
        if len(hit) < 2:
            return np.full(len(self.timesteps), np.nan)
        return hit.std(axis=0, ddof=1) / np.sqrt(len(hit))

    def settled(self) -> int | None:
        """The first fork timestep from which on no continuation of either class changes its counts (None when
        some still change at the last fork timestep)."""
        changing = np.flatnonzero(np.maximum(*(self.share(kind) for kind in CLASSES)) > 0)
        if len(changing) and changing[-1] == len(self.timesteps) - 1:
            return None
        return self.timesteps[changing[-1] + 1 if len(changing) else 0]

    def rows(self) -> list[dict]:
        """One row per fork timestep: the shares per class with their standard errors and the disagreement's
        AUROC (+- SE) on all tested samples."""
        out = []
        for f, (t, d) in enumerate(zip(self.timesteps, self.detections())):
            out.append({"t": t, **{f"{what} ({kind})": float(self.share(kind, what)[f])
                                   for what in ("changed", "hallucinated") for kind in CLASSES},
                        **{f"changed ({kind}) SE": float(self.share_se(kind)[f]) for kind in CLASSES},
                        "AUROC": d.auroc, "SE": d.se})
        return out


def matched(labels, groups, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to n hallucinated samples (in index order) and, for each, the first unused in-support sample with the
    same group (e.g. total shape count); hallucinated samples whose group no in-support sample is left in are
    skipped. Returns (hallucinated indices, in-support indices), of equal length."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    pool = {g: list(np.flatnonzero((labels == "in_support") & (groups == g))) for g in np.unique(groups)}
    hal, inside = [], []
    for i in np.flatnonzero(labels == "hallucinated"):
        if len(hal) == n:
            break
        if pool[groups[i]]:
            hal.append(i)
            inside.append(pool[groups[i]].pop(0))
    return np.array(hal, dtype=int), np.array(inside, dtype=int)


def fork_timesteps(visited: Sequence[int], fractions: Sequence[float], T: int) -> list[int]:
    """The visited timesteps nearest to each fraction of T, noisiest first, without repeats."""
    visited = np.asarray(visited)
    picked = {int(visited[np.argmin(np.abs(visited - f * T))]) for f in fractions}
    return sorted(picked, reverse=True)


def fork_test(step: Callable, timesteps: Sequence[int], run_seed: int, index, hallucinated, counts,
              read: Callable, shape, *, forks: Sequence[int], continuations: int, seed: int, chunk: int = 256,
              device="cpu") -> ForkTest:
    """Replay the samples `index` of the run seeded `run_seed` (their `counts` and `hallucinated` labels as read
    there) to keep x_t at each timestep in `forks`, then run `continuations` continuations from each with fresh
    noise (streams of a run seeded `seed`); `read(x0)` -> (counts, labels) reads images as the samples were read.
    step and timesteps: as the run sampled (see samplers.resume)."""
    params.integer("continuations", continuations, low=1)
    ts, index = list(timesteps), np.asarray(index, dtype=int)
    if not len(index):
        raise ValueError("the fork test needs at least one sample; none given")
    x0, kept = samplers.resume(step, ts, run_seed, index, shape, keep=forks, chunk=chunk, device=device)
    replayed = float((read(x0)[0] == np.asarray(counts)).all(1).mean())
    n, k = len(index), continuations
    changed = np.zeros((n, len(forks), k), dtype=bool)
    label = np.empty((n, len(forks), k), dtype=object)
    for f, t in enumerate(forks):
        start = torch.as_tensor(kept[t]).repeat_interleave(k, 0)
        streams = (np.arange(n)[:, None] * len(forks) * k + f * k + np.arange(k)).ravel()
        out, _ = samplers.resume(step, ts[ts.index(t):], seed, streams, shape, x_t=start, chunk=chunk,
                                 device=device)
        c, lab = read(out)
        changed[:, f] = (c != np.repeat(np.asarray(counts), k, 0)).any(1).reshape(n, k)
        label[:, f] = np.asarray(lab).reshape(n, k)
    return ForkTest(list(forks), index, np.asarray(hallucinated, dtype=bool), changed, label.astype(str), replayed)


def conclusion(ft: ForkTest, other: str, window: Sequence[int], window_auroc: Detection, level: float = 0.05) -> str:
    """The fork test's reading, rendered from its numbers (a notebook's conclusion): per fork timestep the share of
    continuations that change in each class (+- a standard error over samples) and where the classes differ (by
    more than two standard errors of the difference); the disagreement's AUROC at the fork timestep chosen on half
    of the pairs, reported on the other half, beside the smallest difference from chance that half could detect at
    `level`; and how this bears on the paper's `window` (t low, high), where the variance scores `window_auroc`.
    other: what the in-support class is called ('in-support samples', 'five-finger hands')."""
    h, i = ft.share("hallucinated"), ft.share("in_support")
    hs, i_s = ft.share_se("hallucinated"), ft.share_se("in_support")
    pairs, k = int(ft.hallucinated.sum()), ft.changed.shape[2]
    per = "; ".join(f"from t = {t}: {claims.percent(a, 0)} +- {claims.percent(sa, 0)} and {claims.percent(b, 0)} +- "
                    f"{claims.percent(sb, 0)}" for t, a, sa, b, sb in zip(ft.timesteps, h, hs, i, i_s))
    apart = [(t, a - b) for t, a, sa, b, sb in zip(ft.timesteps, h, hs, i, i_s) if claims.differ(a, sa, b, sb)]
    differs = ("The classes differ by more than two standard errors of the difference at " + ", ".join(
        f"t = {t} (hallucinated {'more' if d > 0 else 'less'} often, by {abs(d) * 100:.0f} points)" for t, d in apart)
        if apart else "At no fork timestep do the classes differ by more than two standard errors of the difference")
    settled = ft.settled()
    t_best, best = ft.best()
    dd, dd_all = ft.detectable_difference(level, held_out=True), ft.detectable_difference(level)
    seen = abs(best.auroc - 0.5) > dd
    inside = [t for t in ft.timesteps if window[0] <= t <= window[1]]
    return (
        f"The share of continuations whose count changes, hallucinated samples against {other} ({pairs} pairs, {k} "
        f"continuations each, +- a standard error over samples): {per}. {differs}"
        + ("." if settled is None else f"; from t = {settled} on neither class changes.")
        + f" The share of a sample's continuations that change, as a detector at the fork timestep chosen on half of "
        f"the pairs (t = {t_best}), scores AUROC {claims.pm(best.auroc, best.se)} on the other half. On that half an AUROC "
        f"within {dd:.2f} of 0.5 is no evidence of a difference at the {level:.0%} level (on all {pairs} pairs, per "
        f"timestep: {dd_all:.2f}), so "
        + (f"*when* the count is decided separates the classes here, by more than this sample's threshold."
           if seen else
           f"the held-out half is too small to confirm that difference (one smaller than {dd:.2f} in AUROC goes unseen "
           f"there): the shares per timestep above, on all {pairs} pairs, are the only evidence of it."
           if apart else f"this test finds no difference in *when* the count is decided; a difference smaller than "
           f"{dd:.2f} in AUROC would have gone unseen.")
        + f" The paper's window (t = {window[0]}..{window[1]}) holds "
        + ("the fork timesteps " + ", ".join(f"t = {t}" for t in inside) if inside else "none of the fork timesteps")
        + f"; the variance of x0_hat scores AUROC {claims.pm(window_auroc.auroc, window_auroc.se)} there.")
