"""Samplers driven by the exact denoiser of a mixture: they must reproduce the mixture."""
import math
from dataclasses import dataclass
from functools import partial

import numpy as np
import pytest
import torch

from modeinterp.method import diffusion, metric, mixtures, samplers
from modeinterp.support.runtime import generator

WEIGHTS = [0.5, 0.3, 0.2]


@pytest.fixture(scope="module")
def oracle():
    gm = mixtures.mixture([1, 2, 3], 0.05, WEIGHTS)
    schedule = diffusion.linear_schedule(1000)
    return gm, schedule, mixtures.ExactEps(gm, schedule)


def assert_reproduces(gm, x, spread=True, strays=0):
    n = len(x)
    weights = np.bincount(gm.mode_of(x).numpy(), minlength=3) / n
    se = np.sqrt(np.array(WEIGHTS) * (1 - np.array(WEIGHTS)) / n)
    assert np.all(np.abs(weights - WEIGHTS) < 4 * se), (weights, se)
    assert gm.hallucinated(x).sum().item() <= strays
    if not spread:
        return
    # within a mode the samples have the data's spread
    for k, mu in enumerate([1, 2, 3]):
        xs = x[gm.mode_of(x) == k, 0].double()
        assert xs.std().item() == pytest.approx(0.05, rel=0.1)


# Steps fine enough for this schedule's discretization error to vanish; coarser strides (250 of 1000 and below)
# put a few samples past 6 std even with the exact score: that is the sampler, and the notebooks measure it.
@pytest.mark.parametrize("n_steps", [None, 500])
def test_ddpm_with_the_exact_score_reproduces_the_mixture(oracle, n_steps):
    gm, schedule, eps = oracle
    assert_reproduces(gm, samplers.ddpm(eps, schedule, 20_000, (1,), generator(0), n_steps=n_steps, progress=False).x0)


# Deterministic DDIM at 500 of 1000 steps puts about 6 samples in a million past 6 std even with the exact score
# (3 of 500,000 over seeds 0-24, with this noise and with the earlier per-sample torch generators alike): 0.12
# expected among 20,000, so up to 2 are allowed there. The other cases drew none of 160,000 (seeds 0-7).
@pytest.mark.parametrize("eta, n_steps, strays", [(0.0, None, 0), (0.0, 500, 2), (1.0, 500, 0)])
def test_ddim_with_the_exact_score_reproduces_the_mixture(oracle, eta, n_steps, strays):
    gm, schedule, eps = oracle
    # DDIM's last step returns E[x0 | x_0], narrower than the data when beta_1 (0.001) is not small against
    # std^2 (0.0025): the within-mode spread is not checked here
    assert_reproduces(gm, samplers.ddim(eps, schedule, 20_000, (1,), generator(0), n_steps=n_steps, eta=eta,
                                        progress=False).x0, spread=False, strays=strays)


def test_streaming_variance_equals_the_variance_of_stored_trajectories(oracle):
    gm, _, _ = oracle
    schedule = diffusion.linear_schedule(100)
    eps = mixtures.ExactEps(gm, schedule)
    windows = [(0, 4), (0, 14), (10, 30)]
    run = samplers.ddpm(eps, schedule, 500, (1,), generator(1), windows=windows, n_trajectories=500,
                        chunk=500, progress=False)
    steps = np.array(run.timesteps)
    for lo, hi in windows:
        stored = run.x0_hat[(steps >= lo) & (steps <= hi)]
        assert torch.allclose(run.variance[(lo, hi)], metric.trajectory_variance(stored), rtol=1e-5, atol=1e-12)


def test_chunking_does_not_change_the_metric_definition(oracle):
    gm, schedule, eps = oracle
    a = samplers.ddpm(eps, schedule, 300, (1,), generator(2), n_steps=50, windows=[(0, 100)], chunk=300, progress=False)
    assert a.variance[(0, 100)].shape == (300,) and a.x0.shape == (300, 1)


def test_same_seed_same_samples(oracle):
    gm, schedule, eps = oracle
    a = samplers.ddpm(eps, schedule, 200, (1,), generator(5), n_steps=50, windows=[(0, 100)], progress=False)
    b = samplers.ddpm(eps, schedule, 200, (1,), generator(5), n_steps=50, windows=[(0, 100)], progress=False)
    c = samplers.ddpm(eps, schedule, 200, (1,), generator(6), n_steps=50, progress=False)
    assert torch.equal(a.x0, b.x0) and torch.equal(a.variance[(0, 100)], b.variance[(0, 100)])
    assert not torch.equal(a.x0, c.x0)


def test_a_window_the_sampler_never_visits_is_an_error(oracle):
    gm, schedule, eps = oracle
    with pytest.raises(ValueError, match="holds no timestep"):
        samplers.ddpm(eps, schedule, 10, (1,), generator(0), n_steps=10, windows=[(1, 100)], progress=False)


def test_ddpm_noise_is_beta_t():
    """One step from x_t with eps = 0: x_prev has variance beta_t around x_t / sqrt(alpha_t)."""
    schedule = diffusion.linear_schedule(10)
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    n = 100_000
    # two steps from T-1: the first step's noise is the only randomness besides x_T
    run = samplers.ddpm(zero, schedule, n, (1,), generator(0), n_steps=2, progress=False)
    ab = schedule.alpha_bar
    beta = 1 - ab[9].item() / ab[0].item()
    # x_prev = x_T / sqrt(1 - beta) + sqrt(beta) z; the last step divides by sqrt(alpha_bar_0)
    expected = (1 / (1 - beta) + beta) / ab[0].item()
    assert run.x0.var().item() == pytest.approx(expected, rel=4 * math.sqrt(2 / n))


def test_ddim_eta_may_depend_on_the_step(oracle):
    gm, schedule, eps = oracle
    det = samplers.ddim(eps, schedule, 100, (1,), generator(0), n_steps=50, eta=0.0, progress=False).x0
    same = samplers.ddim(eps, schedule, 100, (1,), generator(0), n_steps=50, eta=lambda t: 0.0, progress=False).x0
    late = samplers.ddim(eps, schedule, 100, (1,), generator(0), n_steps=50, eta=lambda t: float(t < 100),
                         progress=False).x0
    assert torch.equal(det, same) and not torch.equal(det, late)
    with pytest.raises(ValueError, match="eta must be in"):
        samplers.ddim(eps, schedule, 10, (1,), generator(0), n_steps=5, eta=lambda t: 2.0, progress=False)


def test_clip_bounds_x0_hat_and_is_inert_when_wide(oracle):
    gm, schedule, eps = oracle
    kw = dict(n_steps=50, windows=[(0, 100)], n_trajectories=20, progress=False)
    plain = samplers.ddpm(eps, schedule, 200, (1,), generator(0), **kw)
    wide = samplers.ddpm(eps, schedule, 200, (1,), generator(0), clip=1e6, **kw)
    tight = samplers.ddim(eps, schedule, 200, (1,), generator(0), clip=2.5, **kw)
    assert torch.allclose(plain.x0, wide.x0, atol=1e-5)
    assert tight.x0_hat.abs().max() <= 2.5 and tight.x0.abs().max() <= 2.5 + 1e-4


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samples_and_metric_do_not_depend_on_the_chunk_size(oracle, sampler):
    gm, schedule, eps = oracle
    fn = partial(getattr(samplers, sampler), eps, schedule, 150, (1,), n_steps=50, windows=[(0, 40), (100, 400)],
                 progress=False, **({"eta": 1.0} if sampler == "ddim" else {}))
    a, b = fn(generator=generator(3), chunk=7, n_trajectories=20), fn(generator=generator(3), chunk=64, n_trajectories=20)
    torch.testing.assert_close(a.x0, b.x0, rtol=0, atol=0)
    assert a.x_t.shape == (50, 20, 1) and torch.equal(a.x_t, b.x_t) and torch.equal(a.x0_hat, b.x0_hat)  # across chunks
    for w in a.variance:
        torch.testing.assert_close(a.variance[w], b.variance[w], rtol=0, atol=0)
    assert a.variance[(0, 40)].std() > 0 and a.x0.std() > 0.5  # not a degenerate run


def test_a_smaller_run_draws_the_first_samples_of_a_larger_one(oracle):
    gm, schedule, eps = oracle
    fn = partial(samplers.ddpm, eps, schedule, shape=(1,), n_steps=50, windows=[(0, 40)], chunk=16, progress=False)
    small, large = fn(n=40, generator=generator(5)), fn(n=100, generator=generator(5))
    torch.testing.assert_close(small.x0, large.x0[:40], rtol=0, atol=0)
    torch.testing.assert_close(small.variance[(0, 40)], large.variance[(0, 40)][:40], rtol=0, atol=0)


def test_posthoc_variance_does_not_depend_on_the_chunk_size(oracle):
    gm, schedule, eps = oracle
    x0 = gm.sample(100, generator(4)).float()
    a, b = (metric.posthoc_variance(eps, schedule, x0, [10, 50, 100], generator(5), chunk=c) for c in (7, 64))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a.std() > 0


def test_a_sampler_reports_local_aggregations_of_the_same_variance_map():
    schedule = diffusion.cosine_schedule(50)
    model = lambda x, t: 0.1 * x  # noqa: E731  (any eps model of the image's shape)
    aggregations = {"mean": lambda v, x0: v.flatten(1).mean(1), "patch": metric.largest_patch(2)}
    run = samplers.ddpm(model, schedule, 5, (1, 4, 4), generator(0), windows=[(0, 9)], clip=1.0, chunk=2,
                        aggregations=aggregations, progress=False)
    torch.testing.assert_close(run.local["mean"][(0, 9)], run.variance[(0, 9)])
    assert (run.local["patch"][(0, 9)] >= run.variance[(0, 9)]).all()


def test_one_loop_runs_any_step_rule_with_noise_at_every_step_but_the_last():
    """reverse hands a step (x_t, t, t_prev, z): t_prev the next visited timestep (None at the last), z a draw
    from the sample's stream at every step but the last (unless asked); the step's x0_hat feeds the metric."""
    calls = []

    def step(x_t, t, t_prev, z):
        calls.append((t, t_prev, z is None))
        return torch.full_like(x_t, float(t)), 0.5 * x_t + (0 if z is None else z)

    run = samplers.reverse(step, [9, 6, 3, 0], 5, (2,), generator(0), windows=[(3, 9)], n_trajectories=2,
                           progress=False)
    assert calls == [(9, 6, False), (6, 3, False), (3, 0, False), (0, None, True)]
    torch.testing.assert_close(run.variance[(3, 9)], torch.full((5,), 6.0, dtype=torch.float64))  # var of 9, 6, 3
    assert run.x0_hat.shape == run.x_t.shape == (4, 2, 2) and run.x0_hat[:, 0, 0].tolist() == [9, 6, 3, 0]
    calls.clear()
    samplers.reverse(step, [9, 6, 3, 0], 5, (2,), generator(0), last_step_noise=True, progress=False)
    assert calls[-1] == (0, None, False)


def test_the_reverse_loop_takes_its_options_by_keyword():
    step = samplers.DDPMStep(model=lambda x, t: 0 * x, alpha_bar=diffusion.linear_schedule(10).alpha_bar.tolist())
    with pytest.raises(TypeError):
        samplers.reverse(step, [9, 0], 4, (1,), generator(0), [(0, 9)])  # windows only by name
    with pytest.raises(TypeError):
        samplers.DDPMStep(lambda x, t: x, [0.5])  # a step's fields only by name


def test_the_work_is_a_picklable_dataclass_whose_model_moves_without_the_callers():
    import pickle
    from dataclasses import FrozenInstanceError, fields
    net = torch.nn.Linear(1, 1)
    step = samplers.DDIMStep(model=net, alpha_bar=[0.9, 0.5], eta=samplers.eta_below(1))
    work = samplers.Work(step=step, timesteps=[1, 0], shape=(1,), seed=7,
                         statistics=metric.window_statistics([(0, 1)]))
    assert {f.name for f in fields(work)} >= {"step", "timesteps", "shape", "seed", "statistics", "chunk"}
    with pytest.raises(FrozenInstanceError):
        work.seed = 8
    again = pickle.loads(pickle.dumps(work))
    assert again.seed == 7 and torch.equal(again.step.model.weight, net.weight)
    moved = work.to("cpu")
    assert moved.step.model is not net and work.step.model is net  # a copy travels; the caller's stays


def test_ddpm_steps_last_step_returns_the_posterior_mean():
    schedule = diffusion.linear_schedule(10)
    ab = schedule.alpha_bar.tolist()
    step = samplers.DDPMStep(model=lambda x, t: 0.3 * x, alpha_bar=ab, noise="posterior")
    x = torch.randn(6, 2, generator=generator(0))
    x0_hat, last, eps = step(x, 4, None, None)
    torch.testing.assert_close(eps, 0.3 * x)  # the model's eps, returned for the streamed statistics
    torch.testing.assert_close(x0_hat, diffusion.predict_x0(x, 0.3 * x, ab[4]))
    torch.testing.assert_close(last, diffusion.posterior(x, x0_hat, ab[4], 1.0)[0])
    z = torch.ones_like(x)
    mean, var = diffusion.posterior(x, x0_hat, ab[4], ab[2])
    torch.testing.assert_close(step(x, 4, 2, z)[1], mean + math.sqrt(var) * z)


def test_resume_replays_any_samples_of_a_run_and_keeps_their_states(oracle):
    """resume draws samples `index` of a run as reverse did (up to a batch's rounding), keeps x_t entering the
    asked timesteps, and from given states runs the remaining steps only."""
    gm, schedule, eps = oracle
    step = samplers.DDPMStep(model=eps, alpha_bar=schedule.alpha_bar.tolist())
    ts = [999, 700, 400, 100, 0]
    run = samplers.reverse(step, ts, 20, (1,), generator(4), n_trajectories=20, progress=False)
    index = [17, 2, 9]
    x0, kept = samplers.resume(step, ts, run.seed, index, (1,), keep=[700, 100], chunk=2)
    torch.testing.assert_close(x0, run.x0[index])
    torch.testing.assert_close(kept[700], run.x_t[1, index])
    torch.testing.assert_close(kept[100], run.x_t[3, index])
    calls = []
    def counting(x_t, t, t_prev, z):
        calls.append(t)
        return step(x_t, t, t_prev, z)
    again, _ = samplers.resume(counting, ts[3:], run.seed, range(3), (1,), x_t=kept[100])
    assert calls == [100, 0] and again.shape == (3, 1)
    with pytest.raises(ValueError, match="keep holds timesteps the sampler does not visit: \\[5\\]"):
        samplers.resume(step, ts, run.seed, index, (1,), keep=[5])
    with pytest.raises(ValueError, match="one row per index: 3; got 2"):
        samplers.resume(step, ts, run.seed, index, (1,), x_t=kept[100][:2])


# ---- the plug-in point: statistics streamed through the reverse loop (metric.Statistic)

@dataclass(frozen=True)
class Record:
    """A statistic that checks what it is fed: per row, the sum over visits of t * mean(x0_hat) + mean(eps)
    ('total'), or the count of visits whose x_t is the x_prev of the visit before ('chained'); module level, so
    that processes can take it."""

    field: str

    def start(self, shared, index):
        return shared.setdefault("recorder", _Recorder())

    def finish(self, acc, x0):
        return getattr(acc, self.field) * torch.ones(len(x0), dtype=torch.float64)


class _Recorder:
    def __init__(self):
        self.total, self.chained, self.last = 0.0, 0, None

    def add(self, visit):
        self.total = self.total + visit.t * visit.x0_hat.flatten(1).mean(1).double() + visit.eps.flatten(1).mean(1)
        self.chained += self.last is not None and torch.equal(self.last, visit.x_t)
        self.last = visit.x_prev


def test_a_statistic_sees_every_visit_and_does_not_depend_on_chunks_or_processes(oracle):
    """Every visited step reaches a plugged-in statistic with its eps and x_prev (x_prev entering the next step);
    its results are joined by name whatever the chunks or processes, beside the paper's variance."""
    gm, _, _ = oracle
    schedule = diffusion.linear_schedule(100)
    eps = mixtures.ExactEps(gm, schedule)
    def run(**options):
        return samplers.ddpm(eps, schedule, 30, (1,), generator(3), n_steps=20, windows=[(0, 40)], progress=False,
                             statistics={"total": Record("total"), "chained": Record("chained")}, **options)

    a, b, c = run(chunk=30), run(chunk=7), run(chunk=7, processes=2)
    assert set(a.stats) == {"total", "chained", metric.WindowKey(metric.VARIANCE, (0, 40))}
    assert a.stats["total"].shape == (30,) and a.stats["total"].std() > 0
    for other in (b, c):
        for name in a.stats:
            torch.testing.assert_close(other.stats[name], a.stats[name], rtol=0, atol=0)
    assert a.stats["chained"].tolist() == [len(a.timesteps) - 1] * 30  # each visit's x_t is the x_prev before


def test_statistics_over_one_window_share_one_accumulator_fed_once():
    stats = metric.window_statistics([(0, 9), (3, 9)], {"patch": metric.largest_patch(1)})
    assert list(stats) == [metric.WindowKey("variance", (0, 9)), metric.WindowKey("patch", (0, 9)),
                           metric.WindowKey("variance", (3, 9)), metric.WindowKey("patch", (3, 9))]
    accumulators = metric.started(stats, torch.arange(4))
    assert len({id(a) for a in accumulators.values()}) == 2
    x = torch.ones(4, 1, 2, 2)
    for t in (9, 6, 3, 0):
        metric.feed(accumulators, metric.Visit(t, x, None, t * x, None))
    out = metric.finished(stats, accumulators, x)
    assert out[metric.WindowKey("variance", (3, 9))].tolist() == [6.0] * 4  # var of 9, 6, 3: each fed once
    with pytest.raises(ValueError, match="names the paper's metric"):
        metric.window_statistics([(0, 9)], {"variance": metric.largest_patch(1)})


def test_a_statistic_that_cannot_be_fed_is_an_error_before_compute():
    calls = []

    def step(x_t, t, t_prev, z):
        calls.append(t)
        return x_t, x_t

    with pytest.raises(ValueError, match="window \\(50, 60\\) holds no timestep"):
        samplers.reverse(step, [9, 0], 3, (1,), generator(0), statistics={"w": metric.WindowVariance((50, 60))})
    assert calls == []


def test_the_posthoc_path_feeds_the_same_statistics():
    """posthoc_variance is the window statistic over the post-hoc visits; a plugged-in statistic sees the model's
    eps there and no x_prev."""
    schedule = diffusion.linear_schedule(100)
    model = lambda x, t: 0.1 * t * x  # noqa: E731
    x0 = torch.randn(9, 2, generator=generator(1))
    steps = [10, 30, 50]
    out = metric.posthoc(model, schedule, x0, steps, generator(2), {"v": metric.WindowVariance((10, 50)),
                                                                    "seen": Seen()}, chunk=4)
    torch.testing.assert_close(out["v"], metric.posthoc_variance(model, schedule, x0, steps, generator(2), chunk=4),
                               rtol=0, atol=0)
    assert out["seen"].tolist() == [90.0] * 9  # 10 + 30 + 50, each visit with eps and without x_prev


class Seen:
    def start(self, shared, index):
        return _Seen()

    def finish(self, acc, x0):
        return acc.t_sum * torch.ones(len(x0))


class _Seen:
    t_sum = 0.0

    def add(self, visit):
        assert visit.eps is not None and visit.x_prev is None
        self.t_sum += visit.t
