"""The detectors' comparison on a toy whose model is a wider mixture than the labels' (so that it draws between
the modes): every detector is scored, chosen on one half and reported on the other, with its costs."""
import numpy as np
import pytest
import torch

from modeinterp.experiments import compare
from modeinterp.method import diffusion, mixtures, samplers
from modeinterp.support.runtime import generator

T = 100


@pytest.fixture(scope="module")
def toy():
    schedule = diffusion.linear_schedule(T)
    truth = mixtures.mixture([[-1.0], [1.0]], 0.05)
    model = mixtures.ExactEps(mixtures.mixture([[-1.0], [1.0]], 0.4), schedule)
    step = samplers.DDPMStep(model=model, alpha_bar=schedule.alpha_bar.tolist())

    def sample(n, ws, statistics):
        return samplers.reverse(step, list(range(T - 1, -1, -4)), n, (1,), generator(0), windows=ws,
                                statistics=statistics, chunk=16, progress=False)

    def label(x0):
        x = x0.double()
        return dict(hal=truth.hallucinated(x).numpy(), keep=np.ones(len(x), bool), groups=None,
                    baselines={"distance to the nearest mode (oracle)": truth.sigmas_to_nearest(x).numpy()},
                    counts=(x.numpy() > 0).astype(int))

    def read(x0):
        c = (x0.double().numpy() > 0).astype(int)
        return c, np.where(truth.hallucinated(x0.double()).numpy(), "hallucinated", "in_support")

    return schedule, model, step, sample, label, read


SETTINGS = dict(n_samples=96, n_stream=32, n_rerun=24, candidate_windows=[[0.0, 0.1], [0.1, 0.5]],
                loss_t=[0.02, 0.1], rho=[0.05], beta=[0.1], fork_at=[0.5, 0.2], M=2, k=2, probes=1, reruns=2,
                continuations=2, chunk=16)


def test_every_detector_is_scored_chosen_on_one_half_and_costed(toy):
    schedule, model, step, sample, label, read = toy
    c = compare.run("toy", sample, label, model, schedule.alpha_bar.tolist(), schedule, T,
                    compare.Settings(**SETTINGS), step=step, read=read)
    names = {s.name for s in c.scored}
    assert names == {compare.PAPER, compare.RENOISING, compare.CURVATURE, compare.LOSS, compare.POSTERIOR,
                     compare.INITIAL, compare.FORK, "distance to the nearest mode (oracle)"}
    assert 10 < c.hallucinated.sum() < 86
    by = {s.name: s for s in c.scored}
    assert len(by[compare.PAPER].candidates[next(iter(by[compare.PAPER].candidates))]) == 96
    assert len(next(iter(by[compare.RENOISING].candidates.values()))) == 32
    assert len(next(iter(by[compare.FORK].candidates.values()))) == 24
    assert by[compare.RENOISING].nfe == 2 * len([t for t in range(T - 1, -1, -4) if t <= 49])
    rows = {r.name: r for r in c.rows}
    oracle = rows["distance to the nearest mode (oracle)"]
    assert oracle.detection.auroc == 1.0  # the labelling rule itself: a check, not evidence
    for r in c.rows:
        assert r.chosen in by[r.name].candidates and set(r.ranking) == set(by[r.name].candidates)
        assert r.detection.se > 0 or r.detection.auroc in (0.0, 1.0)
        assert r.n_hallucinated >= 2 and r.n_in_support >= 2 and 0 < r.detectable() < 1
    n = len(c.hallucinated)
    assert oracle.n_hallucinated + oracle.n_in_support == n // 2  # the odd-indexed half (every sample readable)
    assert "AUROC" in compare.table(c)


def test_a_subset_that_cannot_replay_is_refused_before_compute(toy):
    schedule, model, step, sample, label, read = toy
    with pytest.raises(ValueError, match="n_stream"):
        compare.Settings(**{**SETTINGS, "n_stream": 30}).check(T)
    with pytest.raises(ValueError, match="rho"):
        compare.Settings(**{**SETTINGS, "rho": [0.0]}).check(T)


def test_the_sampler_redraws_the_same_first_samples_and_the_labels_hold_the_oracle(toy):
    """compare.Sampler is the section's notebook's sampler (a fresh generator at every call: the first n samples
    are always the same), its step that sampler's rule; MixtureLabels' oracle is the labelling rule itself."""
    schedule, model, *_ = toy
    sampler = compare.Sampler(model, schedule, (1,), 3, options=dict(n_steps=25, chunk=16, progress=False))
    first, more = sampler(16, [], {}), sampler(48, [(0, 10)], {})
    notebook = samplers.ddpm(model, schedule, 48, (1,), generator(3), n_steps=25, chunk=16, progress=False)
    assert torch.equal(first.x0, more.x0[:16]) and torch.equal(more.x0, notebook.x0)
    assert sampler.step() == samplers.DDPMStep(model=model, alpha_bar=schedule.alpha_bar.tolist())
    truth = mixtures.mixture([[-1.0], [1.0]], 0.05)
    lab = compare.MixtureLabels(truth)(more.x0)
    assert lab["keep"].all() and lab["groups"] is None and 0 < lab["hal"].sum() < 48
    assert set(lab["baselines"]) == {compare.ORACLE}
    assert np.array_equal(lab["baselines"][compare.ORACLE] > 6, lab["hal"])


def test_a_detector_without_candidates_is_left_out(toy):
    """Empty candidate lists (Settings allows them) leave their detector out instead of failing after sampling."""
    schedule, model, step, sample, label, read = toy
    c = compare.run("toy", sample, label, model, schedule.alpha_bar.tolist(), schedule, T,
                    compare.Settings(**{**SETTINGS, "beta": [], "rho": [], "loss_t": [], "n_stream": 0}),
                    step=step, read=read)
    assert {s.name for s in c.scored} == {compare.PAPER, compare.FORK, "distance to the nearest mode (oracle)"}


def test_a_subset_whose_groups_never_hold_both_kinds_has_no_auroc_within_groups():
    """Where no group of the reporting half holds both kinds (a small scored subset), the row has no AUROC within
    groups instead of failing after all its compute; where one does, it has one."""
    hal = np.array([True, True, False, False] * 4)
    keep = np.ones(16, bool)
    s = compare.Scored("x", {"": np.arange(16.0)}, 0.0)
    apart = np.where(hal, 1, 2)  # every group one kind only
    assert compare._row(s, hal, keep, apart, 0.95).detection.within is None
    mixed = np.arange(16) // 4  # groups of four, both kinds in each
    assert compare._row(s, hal, keep, mixed, 0.95).detection.within is not None
