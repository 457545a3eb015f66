"""The toy MLP and the image U-Net."""
import pytest
import torch

from modeinterp.method.diffusion import cosine_schedule, eps_loss
from modeinterp.method.nets import ChannelsLast, ToyMLP, UNet, for_sampling
from modeinterp.support.runtime import generator


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


def unet(**kwargs):
    """A U-Net whose zero-initialised output conv is made random, so its outputs depend on x and t."""
    torch.manual_seed(0)
    m = UNet(**kwargs)
    torch.nn.init.normal_(m.out[-1].weight, std=0.05)
    return m.eval()


def test_unet_output_has_the_input_shape_and_about_a_million_parameters():
    with torch.no_grad():
        assert UNet()(torch.randn(3, 1, 64, 64), 5).shape == (3, 1, 64, 64)
        small = UNet(size=32, fold=2, base=16)
        assert small(torch.randn(2, 1, 32, 32), torch.tensor([0, 999])).shape == (2, 1, 32, 32)
    assert 0.5e6 < n_params(UNet()) < 2e6
    assert "temb" not in UNet().state_dict()  # the sinusoidal table is rebuilt, not saved


def test_unet_one_t_for_all_rows_equals_a_t_per_row():
    m = unet(size=32, base=16)
    x = torch.randn(6, 1, 32, 32, generator=generator(1))
    t = torch.tensor([0, 3, 500, 999, 42, 3])
    with torch.no_grad():
        assert torch.allclose(m(x, 7), m(x, torch.full((6,), 7)), atol=1e-5)
        assert torch.allclose(m(x, torch.tensor(7)), m(x, 7), atol=1e-6)
        per_row = m(x, t)
        assert not torch.allclose(per_row[1], m(x[1:2], 4)[0], atol=1e-3)  # t matters
        for i in range(6):
            assert torch.allclose(per_row[i], m(x[i:i + 1], int(t[i]))[0], atol=1e-5)


def test_unet_computes_at_the_folded_resolution():
    m, seen = UNet(fold=4), []
    m.inp.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    with torch.no_grad():
        m(torch.randn(2, 1, 64, 64), 0)
    assert seen == [(2, 16, 16, 16)]


def test_unet_features_are_the_pooled_bottleneck():
    m = unet(size=32, base=16, mults=(1, 2))
    with torch.no_grad():
        assert m.features(torch.randn(5, 1, 32, 32), 10).shape == (5, 32)
        assert UNet().features(torch.randn(2, 1, 64, 64), torch.tensor([1, 2])).shape == (2, 128)
        assert UNet().features(torch.randn(2, 1, 64, 64), 3, pool=False).shape == (2, 128 * 4 * 4)


@pytest.mark.parametrize("kwargs, name", [(dict(size=60), "size"), (dict(fold=0), "fold"),
                                          (dict(base=30), "base"), (dict(mults=()), "mults"), (dict(stem=5), "stem")])
def test_unet_rejects_bad_settings_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        UNet(**kwargs)


def test_unet_training_lowers_the_loss():
    torch.manual_seed(0)
    m, schedule = UNet(size=32, T=100, base=16), cosine_schedule(100)
    x0 = -torch.ones(8, 1, 32, 32)
    for i in range(8):  # fixed images: a bright square at a different place in each
        x0[i, :, 3 * i:3 * i + 8, 20 - 2 * i:28 - 2 * i] = 1.0
    t_eval = torch.arange(8) * 12

    def held_out_loss():
        with torch.no_grad():
            return eps_loss(m, schedule, x0, t_eval, generator(123)).item()

    before, g = held_out_loss(), generator(0)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(30):
        loss = eps_loss(m, schedule, x0, torch.randint(0, 100, (8,), generator=g), g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert held_out_loss() < 0.95 * before  # ~0.90 here, across seeds; 1.0 before (zero output conv)


def test_unet_features_of_no_images_are_no_rows_of_the_same_width():
    model = UNet(T=10, fold=2, base=16).eval()
    with torch.no_grad():
        for pool in (True, False):
            some = model.features(torch.zeros(3, 1, 32, 32), 0, pool=pool)
            none = model.features(torch.zeros(0, 1, 32, 32), 0, pool=pool)
            assert none.shape == (0, some.shape[1])


def test_unet_rows_do_not_depend_on_how_many_are_computed_at_once():
    model = UNet(T=10, fold=2, base=16).eval()
    x = torch.randn(40, 1, 32, 32, generator=generator(0))
    with torch.no_grad():
        whole = model(x, 5)
        for chunk in (1, 7, 16):
            assert torch.equal(torch.cat([model(x[i:i + chunk], 5) for i in range(0, 40, chunk)]), whole)


def test_a_stem_adds_full_resolution_convolutions_around_the_folded_unet():
    m, seen = UNet(fold=4, base=16, stem=8), []
    m.inp.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert m(x, 3).shape == x.shape and m.features(x, 3).shape == (2, 64)
    assert seen[0] == (2, 8 * 16, 16, 16)  # the stem's 8 features, folded 4 x 4
    assert n_params(m) > n_params(UNet(fold=4, base=16)) and UNet().stem is None


def test_the_samplers_channels_last_unet_is_the_same_function_to_float_rounding():
    model = UNet(T=10, fold=2, base=16).eval()
    with torch.no_grad():  # weights away from the zero-initialised output layer, so that outputs are not all 0
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator(1)))
    fast = for_sampling(model)
    x = torch.randn(24, 1, 32, 32, generator=generator(0))
    assert isinstance(fast, ChannelsLast) and fast.model is not model
    assert model.inp.weight.is_contiguous()  # the caller's model keeps its layout (training's)
    assert fast.model.inp.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        plain, last = model(x, 5), fast(x, 5)
        assert plain.abs().max() > 0.1
        torch.testing.assert_close(last, plain, rtol=1e-4, atol=1e-5)
        for chunk in (1, 7, 16):  # its rows depend on how many are computed at once, to rounding only
            torch.testing.assert_close(torch.cat([fast(x[i:i + chunk], 5) for i in range(0, 24, chunk)]), last,
                                       rtol=1e-4, atol=1e-5)
    mlp = ToyMLP(2, 10)
    assert for_sampling(mlp) is mlp
