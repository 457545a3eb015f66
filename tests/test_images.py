"""Image models: configuration checks, training on given images, cache round trip."""
import pytest
import torch

from modeinterp.method import train
from modeinterp.experiments import images
from modeinterp.support import params
from modeinterp.support.runtime import generator

TINY = dict(size=8, T=20, steps=5, batch=8, lr=1e-3, seed=0, arch=dict(fold=1, base=8, mults=[1, 2]))


def test_bad_settings_name_the_parameter():
    with pytest.raises(params.ParameterError, match="'steps'"):
        images.ImageConfig("x", **{**TINY, "steps": 0})
    with pytest.raises(params.ParameterError, match="'ema'"):
        images.ImageConfig("x", **TINY, ema=1.5)


def test_train_cache_and_reload(tmp_path):
    config = images.ImageConfig("tiny", **TINY, extra=dict(n_train=16))
    data = {"tiny": torch.rand(16, 1, 8, 8, generator=generator(0)) * 2 - 1}
    (model, payload), = train.models([config], tmp_path, data=data)
    (again, _), = train.models([config], tmp_path)  # from the cache: no data needed
    x = torch.randn(4, 1, 8, 8, generator=generator(1))
    assert torch.equal(model(x, 3), again(x, 3)) and model(x, 3).shape == x.shape
    assert len(payload["loss"]) == 5
    assert train.config_key(config) == "dfab797dd6fc4684"  # the key it had as a plain dict
    assert payload["config"] == config.to_dict() and images.ImageConfig.from_dict(payload["config"]) == config


def test_training_images_are_checked(tmp_path):
    config = images.ImageConfig("tiny", **TINY)
    with pytest.raises(ValueError, match="N x"):
        train.models([config], tmp_path, data={"tiny": torch.zeros(4, 1, 16, 16)})
    with pytest.raises(ValueError, match="no training images"):
        train.models([config], tmp_path, data={})


def test_mlp_for_tiny_images_and_arch_checks(tmp_path):
    config = images.ImageConfig("mlp", **{**TINY, "arch": dict(width=32)}, net="mlp")
    assert config.arch == dict(width=32, n_blocks=3)
    (model, _), = train.models([config], tmp_path, data={"mlp": torch.zeros(8, 1, 8, 8)})
    assert model(torch.randn(3, 1, 8, 8), 2).shape == (3, 1, 8, 8)
    with pytest.raises(params.ParameterError, match="'arch'"):
        images.ImageConfig("x", **{**TINY, "arch": dict(width=32)})  # a U-Net has no width
    with pytest.raises(params.ParameterError, match="'net'"):
        images.ImageConfig("x", **TINY, net="vit")


def test_an_arch_setting_at_its_optional_default_leaves_the_configuration_and_key_unchanged():
    plain = images.ImageConfig("x", **{**TINY, "arch": dict(fold=2)})
    same = images.ImageConfig("x", **{**TINY, "arch": dict(fold=2, stem=0)})
    stem = images.ImageConfig("x", **{**TINY, "arch": dict(fold=2, stem=8)})
    assert same.arch == plain.arch and "stem" not in plain.arch and train.config_key(same) == train.config_key(plain)
    assert stem.arch["stem"] == 8 and train.config_key(stem) != train.config_key(plain)
    assert stem.build().stem is not None
