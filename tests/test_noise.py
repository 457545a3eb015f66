"""Per-sample random streams: one stream per sample index, independent of how rows are grouped."""
import torch

from modeinterp.method import noise


def test_each_row_sees_its_own_stream_whatever_the_grouping():
    whole = noise.Streams(11, 0, 10, (3,), 5)
    parts = [noise.Streams(11, s, r, (3,), 5) for s, r in ((0, 4), (4, 6))]
    for _ in range(5):
        torch.testing.assert_close(whole.randn(), torch.cat([p.randn() for p in parts]), rtol=0, atol=0)


def test_streams_differ_between_samples_draws_and_runs():
    a = noise.Streams(1, 0, 2, (1000,), 2)
    first, second = a.randn(), a.randn()
    assert not torch.equal(first[0], first[1]) and not torch.equal(first, second)
    assert not torch.equal(first, noise.Streams(2, 0, 2, (1000,), 2).randn())
    assert abs(first.mean().item()) < 0.1 and abs(first.std().item() - 1) < 0.1


def test_sample_seeds_are_distinct_and_fit_a_signed_64_bit_seed():
    seeds = {noise.sample_seed(s, i) for s in range(20) for i in range(500)}
    assert len(seeds) == 20 * 500 and max(seeds) < 2**63


def test_a_run_seed_comes_from_the_generator():
    g = torch.Generator().manual_seed(0)
    first, second = noise.run_seed(g), noise.run_seed(g)
    assert first != second and first == noise.run_seed(torch.Generator().manual_seed(0))
