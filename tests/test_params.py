"""Parameter validation: one clear error naming the parameter and what is allowed."""
import pytest

from modeinterp.support import params
from modeinterp.support.runtime import device, setup


@pytest.mark.parametrize("call, message", [
    (lambda: params.integer("T", -5, low=10), "parameter 'T' must be an integer in [10, inf]; got -5"),
    (lambda: params.integer("T", 1.5), "parameter 'T' must be an integer; got 1.5"),
    (lambda: params.integer("T", True), "parameter 'T' must be an integer; got True"),
    (lambda: params.real("lr", "1e-3"), "parameter 'lr' must be a number; got '1e-3'"),
    (lambda: params.real("lr", 0, low=0, low_open=True), "parameter 'lr' must be a number in (0, inf]; got 0"),
    (lambda: params.real("lr", 5, low=0, high=1, low_open=True), "parameter 'lr' must be a number in (0, 1]; got 5"),
    (lambda: params.choice("schedule", "x", ["linear", "cosine"]), "must be one of 'linear', 'cosine'; got 'x'"),
    (lambda: params.reals("means", [1, 1], distinct=True), "parameter 'means' must be a list of distinct numbers"),
    (lambda: params.integers("sizes", [10, -1], low=1), "parameter 'sizes' must be a list of at least 1 integers each >= 1"),
    (lambda: params.boolean("shared_blocks", "yes"), "parameter 'shared_blocks' must be True or False"),
    (lambda: device("gpu0"), "parameter 'device' must be"),
    (lambda: setup(0, 0), "threads must be a positive integer"),
])
def test_errors_name_the_parameter_and_what_is_allowed(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_good_values_pass():
    assert params.integer("T", 100, low=10) == 100
    assert params.real("lr", 1e-3, low=0, low_open=True) == 1e-3
    assert params.reals("means", [1, 2.5]) == [1.0, 2.5]


def test_intervals():
    assert params.interval("w", [0.7, 0.85]) == (0.7, 0.85)
    assert params.interval("w", [100, 150], 0, 499) == (100, 150)
    for bad in ([0.85, 0.7], [0.5], [0, 2], "x", [True, 1]):
        with pytest.raises(params.ParameterError, match="parameter 'w' must be"):
            params.interval("w", bad)
    assert params.intervals("c", [[0, 0.1], [0.1, 0.2]]) == [(0, 0.1), (0.1, 0.2)]
    assert params.intervals("c", [[0.5, 0.6], (0.0, 0.02)]) == [(0.5, 0.6), (0.0, 0.02)]  # the order given
    for bad, allowed in [([0, 0.1, 0.1, 0.2], "a list of pairs [[a1, b1], [a2, b2], ...]"),  # the old flat form
                         ([[0, 0.1], [0.2]], "a list of pairs"), ([], "a list of pairs"), ("[[0, 0.1]]", "a list of pairs"),
                         ([[0, 0.1], [0.2, 0.1]], "pairs [a, b] with 0.0 <= a < b <= 1.0"),
                         ([[0, 1.5]], "pairs [a, b] with 0.0 <= a < b <= 1.0")]:
        with pytest.raises(params.ParameterError) as e:
            params.intervals("c", bad)
        assert str(e.value).startswith(f"parameter 'c' must be {allowed}") and "\n" not in str(e.value)


def test_recipes_name_the_bad_parameter():
    from modeinterp.experiments import images, toy
    ok = dict(T=100, train_steps=10, batch=8, lr=0.001)
    toy.check_recipe(**ok, width=16)
    toy.check_recipe(**ok, width=16, low_t_share=0.5, low_t_max=50)
    images.check_recipe(**ok, size=32, fold=2, n_train=100, ema=0.99, base=8)
    with pytest.raises(params.ParameterError, match="lr"):
        toy.check_recipe(**{**ok, "lr": 0.0}, width=16)
    with pytest.raises(params.ParameterError, match="low_t_max"):
        toy.check_recipe(**ok, width=16, low_t_share=0.5, low_t_max=101)
    with pytest.raises(params.ParameterError, match="base"):
        images.check_recipe(**ok, size=32, fold=2, n_train=100, ema=0.99, base=4)
    with pytest.raises(params.ParameterError, match="train_steps"):
        images.check_recipe(**{**ok, "train_steps": 0}, size=32, fold=2, n_train=100, ema=0.99, base=8)


@pytest.mark.parametrize("size, fold, base, mults, message", [
    (36, 2, 32, None, "parameter 'size' must be a multiple of fold * 2**(len(mults) - 1) = 2 * 4 = 8; got 36"),
    (48, 4, 32, None, None),  # 48 = 3 * 16: fits
    (40, 4, 32, None, "parameter 'size' must be a multiple of fold * 2**(len(mults) - 1) = 4 * 4 = 16; got 40"),
    (40, 4, 32, [1, 2], None),  # two levels: 40 = 5 * 8 fits
    (64, 2, 12, None, "parameter 'base' must be a multiple of groups = 8; got 12"),
    (64, 2, 32, [1, 0], "parameter 'mults' must be"),
])
def test_the_image_recipe_checks_that_the_unet_can_be_built_before_any_compute(size, fold, base, mults, message):
    """What the U-Net would reject when built (after the training images were drawn) is rejected by the check."""
    from modeinterp.experiments import images
    from modeinterp.method.nets import UNet
    recipe = dict(size=size, fold=fold, n_train=100, T=100, train_steps=10, batch=8, lr=0.001, ema=0.99, base=base,
                  mults=mults)
    if message is None:
        images.check_recipe(**recipe)
        UNet(1, size, 100, fold, base, tuple(mults or (1, 2, 4)))  # and it builds
        return
    with pytest.raises(params.ParameterError) as e:
        images.check_recipe(**recipe)
    assert message in str(e.value)


def test_a_list_or_a_number_given_as_text_says_how_to_give_it():
    with pytest.raises(params.ParameterError) as e:
        params.interval("paper_window", "[0.5, 1.5]")  # papermill -p paper_window '[0.5, 1.5]'
    assert str(e.value) == ("parameter 'paper_window' must be [a, b] with 0.0 <= a < b <= 1.0; got '[0.5, 1.5]' "
                            "(text, not a list: papermill's -p passes text; give a list with -y \"paper_window: "
                            "[0.5, 1.5]\")")
    with pytest.raises(params.ParameterError, match=r"-y \"sizes: \[1, 2\]\""):
        params.integers("sizes", "[1, 2]")
    with pytest.raises(params.ParameterError, match=r"got '1e-3' \(text, not a number: YAML reads 1e-3 as text; "
                                                    r"write 0.001\)$"):
        params.real("lr", "1e-3")
    with pytest.raises(params.ParameterError, match=r"got 'gpu'$"):  # other text: no hint
        params.choice("device", "gpu", ["cpu"])


def test_increasing_integers():
    assert params.integers("steps", [50, 200, 1000], increasing=True) == [50, 200, 1000]
    for bad in ([200, 50, 1000], [50, 50]):
        with pytest.raises(params.ParameterError, match="parameter 'steps' must be a list of increasing integers"):
            params.integers("steps", bad, increasing=True)


def test_a_notebook_starts_on_a_checked_device_and_says_so(tmp_path, capsys):
    from modeinterp.interfaces import notebook
    dev, out = notebook.start(3, "cpu", tmp_path / "figs")
    assert dev.type == "cpu" and out == tmp_path / "figs" and "parameters ok" in capsys.readouterr().out
    with pytest.raises(ValueError, match="device"):
        notebook.start(3, "gpu", tmp_path)
    notebook.start(3, "cpu", tmp_path, processes=0)  # 0: every free core
    with pytest.raises(params.ParameterError, match="processes"):
        notebook.start(3, "cpu", tmp_path, processes=-1)
