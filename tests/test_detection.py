"""Detection statistics on hand-made inputs: operating points, AUROC (within groups, its standard error), the
comparison of windows."""
import numpy as np
import pytest

from modeinterp.method import detection


def test_operating_point_on_a_hand_made_list():
    inside = np.arange(1, 21, dtype=float)  # 20 in-support scores 1..20
    hal_scores = np.array([5.0, 25.0, 30.0, 40.0])
    score = np.concatenate([inside, hal_scores])
    hal = np.r_[np.zeros(20, bool), np.ones(4, bool)]
    op = detection.operating_point(score, hal, 0.95)
    assert (op.threshold, op.retention, op.removed) == (19.0, 0.95, 0.75)
    op = detection.operating_point(score, hal, 1.0)
    assert (op.threshold, op.retention, op.removed) == (20.0, 1.0, 0.75)
    # AUROC: 3 of 4 hallucinations beat all 20; the one at 5 beats 4 of 20 and ties one (counts a half)
    assert detection.auroc(score, hal) == pytest.approx((3 * 20 + 4 + 0.5) / 80)


def test_operating_point_with_ties_keeps_at_least_the_retention():
    score = np.array([1, 1, 1, 1, 2, 3, 3])
    hal = np.array([0, 0, 0, 0, 0, 1, 1], bool)
    op = detection.operating_point(score, hal, 0.5)
    assert op.retention >= 0.5 and op.threshold == 1 and op.removed == 1.0


def test_detection_needs_both_kinds():
    with pytest.raises(ValueError, match="both hallucinated and in-support"):
        detection.auroc([1, 2], [False, False])


def test_auroc_within_groups_sees_through_a_confounder():
    # the score only tells the groups apart: perfect overall, at chance within each group
    groups = np.repeat([2, 3], 200)
    hallucinated = np.r_[np.zeros(180), np.ones(20), np.zeros(20), np.ones(180)].astype(bool)
    score = groups + np.random.default_rng(0).normal(0, 0.01, 400)
    assert detection.auroc(score, hallucinated) > 0.85
    mean, per = detection.auroc_within(score, hallucinated, groups)
    assert set(per) == {2, 3} and abs(mean - 0.5) < 0.15
    with pytest.raises(ValueError, match="no group"):
        detection.auroc_within(score, hallucinated, np.where(hallucinated, 1, 0))


def test_detection_bundles_auroc_operating_point_and_the_control():
    hallucinated = np.r_[np.zeros(50), np.ones(50)].astype(bool)
    score = np.r_[np.arange(50), np.arange(40, 90)].astype(float)
    d = detection.detection(score, hallucinated, 0.9, groups=np.arange(100) % 2)
    assert d.auroc == detection.auroc(score, hallucinated)
    assert d.op == detection.operating_point(score, hallucinated, 0.9)
    assert d.within is not None and detection.detection(score, hallucinated).within is None


def test_compare_windows_selects_on_one_half_and_reports_on_the_other():
    rng = np.random.default_rng(0)
    hallucinated = rng.random(400) < 0.3
    good, bad = hallucinated + rng.normal(0, 0.5, 400), rng.normal(0, 1, 400)
    variance = {(0, 1): bad, (0, 5): good, (5, 9): bad}
    rows, best = detection.compare_windows(variance, hallucinated, {"paper": (5, 9)}, [(0, 1), (0, 5)])
    assert best == (0, 5)
    odd = np.arange(400) % 2 == 1
    assert rows[detection.BEST].auroc == detection.auroc(good[odd], hallucinated[odd])
    assert rows["paper"].auroc == detection.auroc(bad, hallucinated)


def test_auroc_standard_error_matches_the_spread_of_resampled_aurocs():
    rng = np.random.default_rng(1)
    n1, n0 = 40, 800
    aurocs = []
    for _ in range(400):
        score = np.r_[rng.normal(1, 1, n1), rng.normal(0, 1, n0)]
        aurocs.append(detection.auroc(score, np.r_[np.ones(n1, bool), np.zeros(n0, bool)]))
    se = detection.auroc_se(float(np.mean(aurocs)), n1, n0)
    assert se == pytest.approx(np.std(aurocs), rel=0.2)


def test_the_best_window_is_reported_on_the_held_out_half():
    assert detection.held_out(5).tolist() == [False, True, False, True, False]
    rng = np.random.default_rng(0)
    hal = rng.random(400) < 0.3
    good, bad = hal + rng.normal(0, 0.5, 400), rng.normal(0, 1, 400)
    rows, best = detection.compare_windows({(0, 1): bad, (0, 2): good}, hal, {"a": (0, 1)}, [(0, 1), (0, 2)])
    odd = detection.held_out(400)
    assert best == (0, 2)
    assert rows[detection.BEST].auroc == pytest.approx(detection.auroc(good[odd], hal[odd]))


def test_each_detection_carries_the_standard_error_of_its_own_counts():
    rng = np.random.default_rng(2)
    hal = rng.random(300) < 0.2
    score = hal + rng.normal(0, 1, 300)
    rows, _ = detection.compare_windows({(0, 1): score}, hal, {"a": (0, 1)}, [(0, 1)])
    a, odd = rows["a"], detection.held_out(300)
    assert a.se == detection.auroc_se(a.auroc, int(hal.sum()), int((~hal).sum()))
    b = rows[detection.BEST]  # measured on the held-out half: fewer samples, a larger error
    assert b.se == detection.auroc_se(b.auroc, int(hal[odd].sum()), int((~hal[odd]).sum())) and b.se > a.se * 1.2
