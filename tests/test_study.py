"""The window study's comparison: windows by name, the labelled samples only, the best window on the held-out half,
and the tables, curves and claims built from it."""
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
import torch

from modeinterp.experiments import study
from modeinterp.method import detection, metric, samplers

PAPER, LAST, DECISION, CANDIDATES = (6, 8), (0, 1), (3, 5), [(0, 1), (0, 2), (6, 8)]


def fake_study(n=40, seed=0) -> tuple[study.WindowStudy, np.ndarray]:
    """A window study whose metric in window (0, 2) and in the local aggregation follows the labels."""
    rng = np.random.default_rng(seed)
    hal = np.arange(n) % 3 == 0
    noise = {w: torch.from_numpy(rng.random(n)) for w in [PAPER, LAST, DECISION, (0, 2)]}
    variance = {**noise, (0, 2): noise[(0, 2)] + torch.from_numpy(hal.astype(float))}
    stats = {**{metric.WindowKey(metric.VARIANCE, w): v for w, v in variance.items()},
             **{metric.WindowKey("largest 4x4 patch", w): 2 * v for w, v in variance.items()}}
    run = samplers.Samples(x0=torch.zeros(n, 1), timesteps=list(range(9, -1, -1)), stats=stats)
    ws = study.WindowStudy(list(range(9, -1, -1)), np.linspace(0, 1, 10),
                           study.Named(paper=PAPER, last=LAST, decision=DECISION), study.window_labels(2), CANDIDATES,
                           run)
    return ws, hal


def test_named_windows_keep_their_order_and_labels():
    w = study.Named(paper=PAPER, last=LAST, decision=DECISION)
    labels = study.window_labels(10, "paper's range")
    assert w.values() == [PAPER, LAST, DECISION] and labels.values()[-1] == detection.BEST
    assert w.labelled(labels) == {"paper's range": PAPER, "last 10 steps": LAST, "decision window": DECISION}
    with pytest.raises(FrozenInstanceError):
        w.paper = (0, 0)


def test_compare_measures_the_kept_samples_only_and_finds_the_informative_window():
    ws, hal = fake_study()
    keep = np.ones(len(hal), bool)
    keep[[1, 2]] = False  # e.g. unreadable samples
    fg = np.arange(len(hal), dtype=float)
    c = study.compare(ws, hal, keep, 0.9, groups=np.arange(len(hal)) % 2, baselines={"pixels": fg})
    assert list(c.detections) == [study.MEAN, "largest 4x4 patch"] and len(c.hallucinated) == keep.sum()
    for name in c.detections:
        assert c.windows[name] == study.Named(paper=PAPER, last=LAST, decision=DECISION, best=(0, 2))
        assert c.detections[name].best.auroc == 1.0 and c.detections[name].paper.auroc < 1
    direct = detection.detection(ws.run.variance[PAPER].numpy()[keep], hal[keep], 0.9, (np.arange(len(hal)) % 2)[keep])
    assert c.detections[study.MEAN].paper == direct
    assert c.baselines["pixels"] == detection.detection(fg[keep], hal[keep], 0.9, (np.arange(len(hal)) % 2)[keep])


def test_curves_rows_and_table_follow_the_labels():
    ws, hal = fake_study()
    c = study.compare(ws, hal, np.ones(len(hal), bool), baselines={"pixels": np.arange(len(hal), dtype=float)})
    labels = ["paper's window", "last 2 steps", "decision window", detection.BEST]
    assert list(c.curves()) == labels + ["pixels"] and [r[0] for r in c.rows()] == labels + ["pixels"]
    assert [r[1] for r in c.rows()] == [PAPER, LAST, DECISION, (0, 2), None]
    score, held_out_hal, auroc, dashed = c.curves()[detection.BEST]
    assert len(score) == len(hal) // 2 and auroc == 1.0 and not dashed and c.curves()["pixels"][3]
    assert list(c.table()) == [study.MEAN, "largest 4x4 patch"] and list(c.table()[study.MEAN]) == labels


def test_claims_name_each_local_aggregation():
    ws, hal = fake_study()
    c = study.compare(ws, hal, np.ones(len(hal), bool), groups=np.arange(len(hal)) % 2)
    claims = c.claims("paper", "paper_window", within="equal shape count")
    assert [x["name"] for x in claims] == ["largest_4x4_patch_paper_window_auroc", "largest_4x4_patch_best_auroc",
                                           "largest_4x4_patch_best_auroc_equal_shape_count"]
    assert claims[0]["what"] == "ours: largest 4x4 patch, paper's window" and "t=0..2" in claims[1]["what"]
    assert claims[1]["ours"] == 1.0 and len(c.claims("paper", "paper_window")) == 2


def test_summary_prints_each_auroc_with_its_standard_error():
    ws, hal = fake_study()
    c = study.compare(ws, hal, np.ones(len(hal), bool))
    text = c.summary()
    best = c.detections[study.MEAN].best
    assert text.splitlines()[0] == study.MEAN and len(text.splitlines()) == 2 * 5
    assert f"(t=0..2): AUROC {best.auroc:.3f} +- {best.se:.3f};" in text and "(t=6..8): AUROC" in text


def test_every_candidate_window_is_reported_on_all_kept_samples():
    ws, hal = fake_study()
    keep = np.arange(len(hal)) != 4
    c = study.compare(ws, hal, keep, 0.9)
    rows = c.candidate_rows()
    assert [w for w, _ in rows] == CANDIDATES
    for w, d in rows:
        assert d == detection.detection(ws.run.variance[w].numpy()[keep], hal[keep], 0.9)
    local = dict(c.candidate_rows("largest 4x4 patch"))
    assert local[(0, 2)].auroc == 1.0 and local[(0, 2)].se is not None
