"""The window study of an image model (notebooks 03 and 04, and each checkpoint of the training-budget study).

`window_study` records a few full trajectories to find where the model decides what it draws (the decision
window), then samples with the metric streamed over the paper's window, the last steps, the decision window and a
list of candidate windows, for the paper's mean over pixels and for local aggregations. `compare` takes the
samples' labels and measures detection for every aggregation in every named window, the best candidate window
chosen on one half of the samples and reported on the other, beside scores that never look at a trajectory.
Results carry the windows by name (`Named`: paper, last, decision, best); `labels` says how each is called in
figures, claims and the training-budget study's records (see budget).
"""
import re
from dataclasses import dataclass, field, fields, replace
from typing import Generic, TypeVar

import numpy as np

from ..method import detection, diffusion, metric, nets, samplers, windows
from ..method.detection import Detection
from ..method.windows import Window
from ..support import claims
from ..support.runtime import generator

MEAN = "mean over pixels (paper)"
SAMPLER = dict(noise="posterior", clip=1.0)  # strided DDPM's settings in every window study

V = TypeVar("V")


@dataclass(frozen=True)
class Named(Generic[V]):
    """One value per named window: the paper's window, the last steps, the decision window, and the best candidate
    (chosen on one half of the samples, reported on the other; None until chosen)."""

    paper: V
    last: V
    decision: V
    best: V | None = None

    def values(self) -> list[V]:
        """The values in the order paper, last, decision, best (best left out while None)."""
        return [getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None]

    def labelled(self, labels: "Named[str]") -> dict[str, V]:
        """{label: value} in the order paper, last, decision, best (best left out while None)."""
        return {getattr(labels, f.name): getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


def window_labels(last_k: int, paper: str = "paper's window") -> Named[str]:
    """How the named windows are called in figures, claims and the study's records."""
    return Named(paper=paper, last=f"last {last_k} steps", decision="decision window", best=detection.BEST)


@dataclass
class WindowStudy:
    """What a window study recorded: the probe's agreement per visited step, the windows, and the run."""

    timesteps: list[int]
    agreement: np.ndarray  # corr(x0_hat, final sample) per visited step, noisiest first
    windows: Named[Window]  # the paper's window, the last steps, the decision window (best: see compare)
    labels: Named[str]  # how they are called
    candidates: list[Window]  # windows the best is selected from
    run: samplers.Samples


def window_study(model, schedule: diffusion.Schedule, n: int, shape, *, sampling_steps: int, paper_window,
                 decision_agreement, last_k: int, candidate_windows, seed: int, device="cpu", chunk: int = 250,
                 n_trajectories: int = 32, aggregations: dict | None = None,
                 paper_name: str = "paper's window", processes: int = 1) -> WindowStudy:
    """Probe n_trajectories full trajectories (seed + 1) for the decision window, then draw n samples (seed) with
    strided DDPM (posterior noise, x0_hat clipped to [-1, 1]) and the metric over every window, split over
    `processes` processes (see samplers.ddpm; the probe runs in this one); a U-Net runs in channels-last memory
    (nets.for_sampling).
    Windows are given as fractions of T: paper_window one pair, candidate_windows a list of pairs; paper_name
    labels the paper's window."""
    T, model = schedule.T, nets.for_sampling(model)
    ts = windows.timesteps(T, sampling_steps)
    options = dict(n_steps=sampling_steps, chunk=chunk, **SAMPLER)
    agreement = _probe(model, schedule, n_trajectories, shape, generator(seed + 1, device), options)
    named = Named(paper=windows.windows_from_fractions([paper_window], T)[0],
                  last=windows.last_visited(T, sampling_steps, last_k),
                  decision=windows.decision_window(ts, agreement, *decision_agreement))
    candidates = windows.windows_from_fractions(candidate_windows, T)
    all_windows = list(dict.fromkeys(named.values() + candidates))
    run = samplers.ddpm(model, schedule, n, shape, generator(seed, device), windows=all_windows,
                        aggregations=aggregations, processes=processes, **options)
    return WindowStudy(ts, agreement, named, window_labels(last_k, paper_name), candidates, run)


def _probe(model, schedule, n: int, shape, generator, options: dict) -> np.ndarray:
    """The agreement of x0_hat with the final sample per visited step (metric.agreement) over n full trajectories,
    which are freed on return."""
    probe = samplers.ddpm(model, schedule, n, shape, generator, n_trajectories=n, **options)
    return metric.agreement(probe.x0_hat, probe.x0)


def sampler_step(model, schedule: diffusion.Schedule) -> samplers.DDPMStep:
    """The step rule window_study samples with (SAMPLER), e.g. to replay or fork its samples (samplers.resume)."""
    return samplers.DDPMStep(model=nets.for_sampling(model), alpha_bar=schedule.alpha_bar.tolist(), **SAMPLER)


def image_aggregations(size: int, n_strips: int | None = None) -> dict:
    """The local aggregations reported beside the paper's mean, fixed before looking at any result: the largest
    (size/8)-pixel patch (about one shape at 32x32), the variance per foreground pixel and, for the shapes,
    the largest of the three strips."""
    out = {f"largest {size // 8}x{size // 8} patch": metric.largest_patch(size // 8),
           "per foreground pixel": metric.per_foreground_pixel}
    if n_strips:
        out["largest strip"] = metric.largest_strip(n_strips)
    return out


def claim_key(aggregation: str) -> str:
    """A claim-name prefix for an aggregation: 'largest 4x4 patch' -> 'largest_4x4_patch'."""
    return re.sub(r"[^a-z0-9]+", "_", aggregation.lower()).strip("_")


@dataclass(frozen=True)
class Comparison:
    """How well a window study's metric detects the hallucinated samples among those kept (labelled either way),
    beside scores that never look at a trajectory. Arrays hold one entry per kept sample."""

    labels: Named[str]
    hallucinated: np.ndarray
    variance: dict[Window, np.ndarray]  # the paper's mean over pixels, per window
    windows: dict[str, Named[Window]]  # aggregation -> the named windows, with that aggregation's best candidate
    detections: dict[str, Named[Detection]]  # aggregation (MEAN first) -> detection in each named window
    baseline_scores: dict[str, np.ndarray]  # name -> a score without a trajectory
    baselines: dict[str, Detection]  # name -> its detection
    candidates: list[Window]  # the windows the best is selected from
    retention: float = 0.95
    local_scores: dict[str, dict[Window, np.ndarray]] = field(default_factory=dict)  # the local aggregations'

    def rows(self) -> list[tuple[str, Window | None, Detection]]:
        """(label, window, detection) for the paper's mean in each named window, then (name, None, detection) for
        each baseline."""
        named = self.windows[MEAN].labelled(self.labels)
        return ([(label, named[label], d) for label, d in self.detections[MEAN].labelled(self.labels).items()]
                + [(name, None, d) for name, d in self.baselines.items()])

    def curves(self) -> dict:
        """ROC curves for plots.roc_curves: label -> (score, hallucinated, AUROC, dashed), for the paper's mean in
        each named window (the best on the held-out half) and for each baseline (dashed)."""
        w, d, hal = self.windows[MEAN], self.detections[MEAN], self.hallucinated
        odd = detection.held_out(len(hal))
        out = {getattr(self.labels, f): (self.variance[getattr(w, f)], hal, getattr(d, f).auroc, False)
               for f in ("paper", "last", "decision")}
        out[self.labels.best] = (self.variance[w.best][odd], hal[odd], d.best.auroc, False)
        out.update({name: (s, hal, self.baselines[name].auroc, True) for name, s in self.baseline_scores.items()})
        return out

    def candidate_rows(self, aggregation: str = MEAN) -> list[tuple[Window, Detection]]:
        """Every candidate window's detection by `aggregation` on all kept samples (the best is selected from these
        on the even-indexed half alone), in the candidates' order."""
        scores = self.variance if aggregation == MEAN else self.local_scores[aggregation]
        return [(w, detection.detection(scores[w], self.hallucinated, self.retention)) for w in self.candidates]

    def table(self) -> dict[str, dict[str, Detection]]:
        """aggregation -> {window label: detection} (for plots.aggregation_bars)."""
        return {name: d.labelled(self.labels) for name, d in self.detections.items()}

    def summary(self) -> str:
        """One line per aggregation and window: AUROC (+- its standard error), AUROC within groups, removed at the
        operating point."""
        lines = []
        for aggregation, d in self.detections.items():
            named = self.windows[aggregation].labelled(self.labels)
            lines.append(aggregation)
            lines += [detection.describe(label, named[label], row) for label, row in d.labelled(self.labels).items()]
        return "\n".join(lines)

    def claims(self, window: str, key: str, within: str | None = None) -> list[dict]:
        """The claims of the local aggregations (ours): AUROC in the named `window` ('paper', 'last' or
        'decision'; claimed as <aggregation>_<key>_auroc) and in the best window on the held-out half, and, if
        `within` names the groups, the best window's AUROC within them."""
        label, out = getattr(self.labels, window), []
        for aggregation, d in self.detections.items():
            if aggregation == MEAN:
                continue
            name, best = claim_key(aggregation), self.windows[aggregation].best
            out += [claims.claim(f"{name}_{key}_auroc", round(getattr(d, window).auroc, 3), None,
                                 f"ours: {aggregation}, {label}"),
                    claims.claim(f"{name}_best_auroc", round(d.best.auroc, 3), None,
                                 f"ours: {aggregation}, best window t={best[0]}..{best[1]}, held-out half")]
            if within:
                out.append(claims.claim(f"{name}_best_auroc_{claim_key(within)}", round(d.best.within, 3), None,
                                        f"ours: {aggregation}, best window, {within}"))
        return out


def compare(ws: WindowStudy, hallucinated, keep, retention: float = 0.95, groups=None,
            baselines: dict | None = None) -> Comparison:
    """Detection of the samples labelled `hallucinated` among those `keep` marks (the others, e.g. unreadable or
    unlabelled, left out): by the paper's mean (MEAN) and each local aggregation in every named window, the best
    candidate ranked on one half and reported on the other (see detection.compare_windows); and by each baseline
    (name -> score, never looking at a trajectory). groups: the AUROC within groups too. hallucinated, keep,
    groups and the baselines hold one entry per sample of the run."""
    keep = np.asarray(keep, dtype=bool)
    hal = np.asarray(hallucinated, dtype=bool)[keep]
    groups = None if groups is None else np.asarray(groups)[keep]
    named = {"paper": ws.windows.paper, "last": ws.windows.last, "decision": ws.windows.decision}
    scores = {aggregation: {w: v.numpy()[keep] for w, v in per_window.items()}
              for aggregation, per_window in {MEAN: ws.run.variance, **ws.run.local}.items()}
    found, detections = {}, {}
    for aggregation, per_window in scores.items():
        rows, best = detection.compare_windows(per_window, hal, named, ws.candidates, retention, groups)
        found[aggregation] = replace(ws.windows, best=best)
        detections[aggregation] = Named(**{f: rows[f] for f in named}, best=rows[detection.BEST])
    plain = {name: np.asarray(b)[keep] for name, b in (baselines or {}).items()}
    return Comparison(ws.labels, hal, scores[MEAN], found, detections, plain,
                      {name: detection.detection(b, hal, retention, groups) for name, b in plain.items()},
                      list(ws.candidates), retention, {a: v for a, v in scores.items() if a != MEAN})
