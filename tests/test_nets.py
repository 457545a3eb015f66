"""The toy MLP."""
import torch

from modeinterp.nets import ToyMLP


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_shared_blocks_share_weights_and_separate_blocks_do_not():
    shared, separate = ToyMLP(1, 100, shared_blocks=True), ToyMLP(1, 100)
    assert shared.blocks[0] is shared.blocks[2]
    assert len({id(b) for b in separate.blocks}) == 3
    block = n_params(separate.blocks[0])
    assert n_params(separate) - n_params(shared) == 2 * block


def test_one_t_for_all_rows_equals_a_t_per_row():
    torch.manual_seed(0)
    m = ToyMLP(2, 50)
    x = torch.randn(64, 2)
    with torch.no_grad():
        assert torch.allclose(m(x, 7), m(x, torch.full((64,), 7)), atol=1e-6)
        per_row = m(x, torch.arange(64) % 50)
        assert torch.allclose(per_row[3], m(x[3:4], 3)[0], atol=1e-6)
