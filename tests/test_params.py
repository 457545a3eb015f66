"""Parameter validation: one clear error naming the parameter and what is allowed."""
import pytest

from modeinterp import params
from modeinterp.runtime import device, setup


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
    assert params.intervals("c", [0, 0.1, 0.1, 0.2]) == [(0, 0.1), (0.1, 0.2)]
    for bad in ([0, 0.1, 0.2], [0.2, 0.1], [0, 1.5]):
        with pytest.raises(params.ParameterError, match="parameter 'c' must be"):
            params.intervals("c", bad)
