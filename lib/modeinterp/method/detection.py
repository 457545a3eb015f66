"""How well a score detects hallucinated samples: ROC, AUROC (with its standard error, and within groups as a
control), operating points at a retention, and the comparison of windows with the best chosen on held-out samples.
"""
import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


@dataclass(frozen=True)
class OperatingPoint:
    """Detection at a threshold: samples with score > threshold are removed."""

    threshold: float
    retention: float  # fraction of in-support samples kept
    removed: float  # fraction of hallucinated samples removed


def operating_point(score, hallucinated, retention: float = 0.95) -> OperatingPoint:
    """The smallest threshold keeping at least `retention` of in-support samples, and what it removes."""
    score, hallucinated = _check_scores(score, hallucinated)
    if not 0 < retention <= 1:
        raise ValueError(f"retention must be in (0, 1]; got {retention}")
    inside = np.sort(score[~hallucinated])
    threshold = inside[int(np.ceil(retention * len(inside))) - 1]
    return OperatingPoint(float(threshold), float(np.mean(inside <= threshold)),
                          float(np.mean(score[hallucinated] > threshold)))


def auroc(score, hallucinated) -> float:
    """Area under the ROC curve of `score` as a detector of hallucinated samples."""
    score, hallucinated = _check_scores(score, hallucinated)
    return float(roc_auc_score(hallucinated, score))


def auroc_se(auroc: float, n_hallucinated: int, n_in_support: int) -> float:
    """The standard error of an AUROC from n_hallucinated and n_in_support samples (Hanley & McNeil, 1982)."""
    a, n1, n0 = auroc, n_hallucinated, n_in_support
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return float(math.sqrt(max(a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a), 0.0) / (n1 * n0)))


def detectable_auroc_difference(n_hallucinated: int, n_in_support: int, level: float = 0.05) -> float:
    """The smallest distance of an AUROC from chance (0.5) that a two-sided test at `level` finds with these
    sample sizes: the normal quantile times the AUROC's standard error at 0.5 (Hanley & McNeil). A measured AUROC
    closer to 0.5 than this is no evidence of a difference; a smaller true difference would mostly go unseen."""
    from scipy.stats import norm
    if min(n_hallucinated, n_in_support) < 1 or not 0 < level < 1:
        raise ValueError(f"need at least one sample of each kind and a level in (0, 1); got {n_hallucinated}, "
                         f"{n_in_support}, {level}")
    return float(norm.ppf(1 - level / 2) * auroc_se(0.5, n_hallucinated, n_in_support))


def roc(score, hallucinated) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve: (fraction of in-support removed, fraction of hallucinated removed) per threshold."""
    score, hallucinated = _check_scores(score, hallucinated)
    fpr, tpr, _ = roc_curve(hallucinated, score)
    return fpr, tpr


@dataclass(frozen=True)
class Detection:
    """How well a score detects hallucinations: AUROC, an operating point, the AUROC within groups, and the
    AUROC's standard error."""

    auroc: float
    op: OperatingPoint
    within: float | None  # AUROC within groups (see auroc_within), if groups were given
    se: float | None = None  # the AUROC's standard error (auroc_se) from the counts it was measured on


def detection(score, hallucinated, retention: float = 0.95, groups=None) -> Detection:
    """The AUROC of `score` (with its standard error), its operating point at `retention`, and (with `groups`)
    its AUROC within groups."""
    within = None if groups is None else auroc_within(score, hallucinated, groups)[0]
    a, n_hal = auroc(score, hallucinated), int(np.sum(hallucinated))
    return Detection(a, operating_point(score, hallucinated, retention), within,
                     auroc_se(a, n_hal, len(np.asarray(hallucinated)) - n_hal))


def describe(name: str, window, d: Detection, within: str = "within groups") -> str:
    """One line for a detection: its name, its window (t_lo, t_hi) or None (a score without a trajectory), the
    AUROC (+- its standard error), the AUROC within groups (so named) if measured, and the operating point."""
    where = "no trajectory" if window is None else f"t={window[0]}..{window[1]}"
    se = "" if d.se is None else f" +- {d.se:.3f}"
    groups = "" if d.within is None else f", {within} {d.within:.3f}"
    return (f"{name:>34} ({where}): AUROC {d.auroc:.3f}{se}{groups}; "
            f"at {d.op.retention:.1%} kept, {d.op.removed:.1%} removed")


BEST = "best candidate (held-out half)"


def held_out(n: int) -> np.ndarray:
    """The half of n samples that compare_windows reports its best window on (the odd-indexed ones); the other
    half ranks the candidates."""
    return np.arange(n) % 2 == 1


def choose(scores: dict, hallucinated, retention: float = 0.95, groups=None) -> tuple[object, Detection, dict]:
    """The best of several candidate scores (key -> score per sample, e.g. windows or a detector's settings):
    ranked by AUROC on the even-indexed samples, its detection reported on the odd-indexed ones (held_out), so
    that its numbers are not fitted to the samples they are measured on. Returns (the best key, its held-out
    Detection, every candidate's AUROC on the ranking half)."""
    hallucinated = np.asarray(hallucinated, dtype=bool)
    half = ~held_out(len(hallucinated))
    ranking = {key: auroc(np.asarray(score)[half], hallucinated[half]) for key, score in scores.items()}
    best = max(scores, key=ranking.get)
    d = detection(np.asarray(scores[best])[~half], hallucinated[~half], retention,
                  None if groups is None else np.asarray(groups)[~half])
    return best, d, ranking


def compare_windows(variance: dict, hallucinated, named: dict, candidates, retention: float = 0.95,
                    groups=None) -> tuple[dict, tuple[int, int]]:
    """Detection by the metric over each named window (name -> window) on all samples, and over the best of
    `candidates` (as BEST, see choose). variance: window -> metric per sample. Returns ({name: Detection}, the
    best window)."""
    rows = {name: detection(np.asarray(variance[w]), hallucinated, retention, groups) for name, w in named.items()}
    best, rows[BEST], _ = choose({w: variance[w] for w in candidates}, hallucinated, retention, groups)
    return rows, best


def auroc_within(score, hallucinated, groups) -> tuple[float, dict]:
    """AUROC within each group holding both kinds (e.g. images with equal shape counts), and their mean
    weighted by group size: a control that the score does not just tell the groups apart."""
    score, hallucinated = _check_scores(score, hallucinated)
    groups = np.asarray(groups)
    per = {g.item(): auroc(score[groups == g], hallucinated[groups == g]) for g in np.unique(groups)
           if 0 < hallucinated[groups == g].sum() < (groups == g).sum()}
    if not per:
        raise ValueError("no group holds both hallucinated and in-support samples")
    sizes = {g: int((groups == g).sum()) for g in per}
    return float(sum(per[g] * sizes[g] for g in per) / sum(sizes.values())), per


def _check_scores(score, hallucinated):
    score = np.asarray(score, dtype=np.float64)
    hallucinated = np.asarray(hallucinated, dtype=bool)
    if score.shape != hallucinated.shape or score.ndim != 1:
        raise ValueError(f"score and labels must be 1-d of equal length; got {score.shape} and {hallucinated.shape}")
    if hallucinated.all() or not hallucinated.any():
        raise ValueError("detection needs both hallucinated and in-support samples; got only one kind")
    return score, hallucinated
