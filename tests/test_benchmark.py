"""The benchmark compares like with like: its baselines compute what the library computes."""
import sys
from pathlib import Path

import torch

from modeinterp.method import diffusion, samplers
from modeinterp.method.nets import ToyMLP
from modeinterp.support.runtime import generator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ci"))
import benchmark  # noqa: E402


def test_store_everything_is_the_same_sampler_and_metric_as_streaming():
    torch.manual_seed(0)
    model, schedule = ToyMLP(2, 50, width=16).eval(), diffusion.linear_schedule(50)
    window = (0, 9)
    stored, nbytes = benchmark.store_everything(model, schedule, 300, (2,), generator(3), window)
    streamed = samplers.ddpm(model, schedule, 300, (2,), generator(3), windows=[window], progress=False)
    assert torch.allclose(stored, streamed.variance[window], rtol=1e-4, atol=1e-10)
    assert nbytes == 50 * 300 * 2 * 4


def test_the_plain_mlp_is_the_same_function():
    torch.manual_seed(0)
    mlp = ToyMLP(2, 100, width=32).eval()
    x = torch.randn(64, 2)
    with torch.no_grad():
        assert torch.allclose(benchmark.PlainMLP(mlp)(x, 17), mlp(x, 17), atol=1e-6)


def test_the_noise_is_the_samplers_and_its_baseline_draws_as_many_numbers():
    schedule = diffusion.linear_schedule(10)
    run = samplers.ddpm(lambda x, t: torch.zeros_like(x), schedule, 30, (2, 3), generator(0), n_trajectories=30,
                        progress=False)
    ours = torch.stack(list(benchmark.our_noise(30, (2, 3), 10)))
    assert torch.equal(ours[0], run.x_t[0])  # x_T: the sampler's first draw
    plain = benchmark.plain_noise(30, (2, 3), 10)
    assert ours.shape == plain.shape and ours.dtype == plain.dtype


def test_the_op_shares_of_a_unet_sum_to_one():
    from modeinterp.method.nets import UNet

    shares = benchmark.op_shares(UNet(T=1000, fold=2, base=16).eval(), 32, 4, top=3)
    assert len(shares) == 4 and abs(sum(shares.values()) - 1) < 1e-9 and min(shares.values()) >= 0
