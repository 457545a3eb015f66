"""The fork test: replayed samples, continuations from kept states with fresh noise, shares and AUROC per fork."""
import numpy as np
import pytest
import torch

from modeinterp.experiments import fork
from modeinterp.support.runtime import generator
from modeinterp.method import detection, samplers

TS = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]


def coin_step(x_t, t, t_prev, z):
    """A toy reverse process in 1D: large noise at t >= 5 (the sign, hence the 'count', is open), none after."""
    return x_t, x_t + (0 if z is None else (2.0 if t >= 5 else 0.0) * z)


def read(x0):
    """Count 1 where x > 0; label 'hallucinated' there, 'in_support' elsewhere."""
    positive = (x0[:, 0] > 0).numpy()
    return positive[:, None].astype(int), np.where(positive, "hallucinated", "in_support")


def test_continuations_change_only_while_the_noise_can_still_flip_the_count():
    run = samplers.reverse(coin_step, TS, 40, (1,), generator(0), progress=False)
    counts, labels = read(run.x0)
    hal, inside = fork.matched(labels, np.zeros(40, int), 8)
    index = np.r_[hal, inside]
    test = fork.fork_test(coin_step, TS, run.seed, index, labels[index] == "hallucinated", counts[index], read,
                          (1,), forks=[9, 6, 4, 1], continuations=16, seed=123)
    assert test.replayed == 1.0 and test.timesteps == [9, 6, 4, 1]
    early, late = test.changed[:, :2].mean(), test.changed[:, 2:].mean()
    assert early > 0.2 and late == 0.0  # after t = 5 nothing can change the sign
    for kind in fork.CLASSES:
        assert test.share(kind)[2:].tolist() == [0.0, 0.0]
    assert [r["t"] for r in test.rows()] == [9, 6, 4, 1] and test.detections()[3].auroc == 0.5
    t, best = test.best()
    half, score = test.selection_half(), test.changed.mean(axis=2)
    assert half.sum() == 8 and half[test.hallucinated].sum() == 4  # half of each class, pairs kept together
    assert half[:8].tolist() == half[8:].tolist()  # pair i: hallucinated sample i and in-support sample i
    f = test.timesteps.index(t)
    assert t in (9, 6) and detection.auroc(score[half, f], test.hallucinated[half]) == max(
        detection.auroc(score[half, g], test.hallucinated[half]) for g in range(4))  # chosen on one half ...
    assert best.auroc == detection.auroc(score[~half, f], test.hallucinated[~half])  # ... reported on the other
    se = test.share_se("hallucinated")
    assert se[2:].tolist() == [0.0, 0.0] and (se[:2] > 0).all()
    assert test.detectable_difference(held_out=True) > test.detectable_difference()


def test_the_detectable_auroc_difference_is_the_standard_error_at_chance_times_the_normal_quantile():
    assert detection.detectable_auroc_difference(32, 32) == pytest.approx(1.959964 * np.sqrt(65 / (12 * 32 * 32)))
    assert detection.detectable_auroc_difference(32, 32) < 0.15 < detection.detectable_auroc_difference(16, 16)
    assert detection.detectable_auroc_difference(32, 32, level=0.01) > detection.detectable_auroc_difference(32, 32)
    with pytest.raises(ValueError, match="at least one"):
        detection.detectable_auroc_difference(0, 5)


def test_matched_pairs_share_their_group_and_skip_unmatched():
    labels = np.array(["hallucinated", "in_support", "hallucinated", "in_support", "invalid", "hallucinated"])
    groups = np.array([2, 3, 3, 2, 2, 4])
    hal, inside = fork.matched(labels, groups, 5)
    assert hal.tolist() == [0, 2] and inside.tolist() == [3, 1]  # sample 5 (group 4) has no match
    assert fork.matched(labels, groups, 1)[0].tolist() == [0]


def test_fork_timesteps_are_visited_ones_noisiest_first():
    assert fork.fork_timesteps([999, 750, 500, 250, 0], [0.85, 0.7, 0.1, 0.05], 1000) == [750, 0]
    with pytest.raises(ValueError, match="at least one sample"):
        fork.fork_test(coin_step, TS, 0, [], [], np.zeros((0, 1)), read, (1,), forks=[5], continuations=2, seed=0)
    with pytest.raises(ValueError, match="parameter 'continuations' must be an integer in \\[1, inf\\]; got 0"):
        fork.fork_test(coin_step, TS, 0, [0], [True], np.ones((1, 1)), read, (1,), forks=[5], continuations=0, seed=0)


def test_settled_is_the_first_fork_from_which_on_nothing_changes():
    def forked(changed):  # samples x forks x continuations; the first sample hallucinated
        changed = np.array(changed, bool)
        return fork.ForkTest([900, 600, 300], np.arange(2), np.array([True, False]), changed,
                             np.full(changed.shape, "in_support"), 1.0)
    assert forked([[[1], [0], [0]], [[1], [1], [0]]]).settled() == 300
    assert forked([[[0], [0], [0]], [[0], [0], [0]]]).settled() == 900
    assert forked([[[1], [0], [1]], [[0], [0], [0]]]).settled() is None  # still changing at the last fork


def test_the_fork_conclusion_states_where_the_classes_differ_and_what_the_sample_could_detect():
    rng = np.random.default_rng(0)
    n, k = 40, 3  # 20 pairs
    hallucinated = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    changed = np.zeros((n, 3, k), bool)
    changed[:20, 0] = rng.random((20, k)) < 0.9  # at the first fork hallucinated samples change far more often
    changed[20:, 0] = rng.random((20, k)) < 0.1
    changed[:, 1] = rng.random((n, k)) < 0.3  # at the second, alike
    test = fork.ForkTest([800, 700, 500], np.arange(n), hallucinated, changed, np.full((n, 3, k), "x"), 1.0)
    text = fork.conclusion(test, "in-support samples", (700, 850), detection.detection(rng.random(n), hallucinated))
    assert "differ by more than two standard errors of the difference at t = 800 (hallucinated more often" in text
    assert "t = 700 (" not in text and "from t = 500 on neither class changes" in text
    assert f"within {test.detectable_difference(held_out=True):.2f} of 0.5" in text
    assert "separates the classes here" in text and "holds the fork timesteps t = 800, t = 700" in text
    few = fork.ForkTest([800, 700, 500], np.arange(6), hallucinated[17:23], changed[17:23], np.full((6, 3, k), "x"), 1.0)
    text = fork.conclusion(few, "in-support samples", (700, 850), detection.detection(rng.random(6), hallucinated[17:23]))
    assert "the held-out half is too small to confirm that difference" in text  # 3 pairs that differ at t = 800
