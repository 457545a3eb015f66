"""Validation of notebook parameters: one clear error naming the parameter and what is allowed."""
from collections.abc import Iterable
from numbers import Integral, Real


class ParameterError(ValueError):
    """A parameter value that is not allowed."""


def fail(name: str, allowed: str, value, because: str = "") -> None:
    """Raise the one-line error for parameter `name` (with why `value` is not allowed, where that helps)."""
    why = f" ({because})" if because else _text_hint(name, value)
    raise ParameterError(f"parameter '{name}' must be {allowed}; got {value!r}{why}")


def _text_hint(name: str, value) -> str:
    """What to do when a list or a number arrived as text (papermill's -p passes lists as text; YAML reads 1e-3
    as text)."""
    text = value.strip() if isinstance(value, str) else ""
    if not any(c.isdigit() for c in text):
        return ""
    if text.startswith("["):
        return f" (text, not a list: papermill's -p passes text; give a list with -y \"{name}: {text}\")"
    try:
        number = float(text)
    except ValueError:
        return ""
    return f" (text, not a number: YAML reads {text} as text; write {number!r})"


def integer(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """Check an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        fail(name, "an integer", value)
    _in_range(name, value, low, high, "an integer")
    return int(value)


def real(name: str, value, low: float | None = None, high: float | None = None,
         low_open: bool = False) -> float:
    """Check a real number in [low, high] (or (low, high] with low_open)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, "a number", value)
    if low_open and low is not None and (value <= low or (high is not None and value > high)):
        fail(name, f"a number in ({low}, {'inf' if high is None else high}]", value)
    _in_range(name, value, low, high, "a number")
    return float(value)


def choice(name: str, value, allowed: Iterable) -> object:
    """Check a value from a fixed set."""
    allowed = list(allowed)
    if value not in allowed:
        fail(name, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value


def boolean(name: str, value) -> bool:
    """Check a bool."""
    if not isinstance(value, bool):
        fail(name, "True or False", value)
    return value


def reals(name: str, value, min_len: int = 1, distinct: bool = False) -> list[float]:
    """Check a list of numbers."""
    if (not isinstance(value, (list, tuple)) or len(value) < min_len
            or not all(isinstance(v, Real) and not isinstance(v, bool) for v in value)):
        fail(name, f"a list of at least {min_len} numbers", value)
    if distinct and len(set(value)) != len(value):
        fail(name, "a list of distinct numbers", value)
    return [float(v) for v in value]


def integers(name: str, value, low: int | None = None, min_len: int = 1, increasing: bool = False) -> list[int]:
    """Check a list of integers, each >= low (and each larger than the one before, with increasing)."""
    if (not isinstance(value, (list, tuple)) or len(value) < min_len
            or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)
            or (low is not None and min(value) < low)):
        bound = f" each >= {low}" if low is not None else ""
        fail(name, f"a list of at least {min_len} integers{bound}", value)
    if increasing and any(b <= a for a, b in zip(value, value[1:])):
        fail(name, "a list of increasing integers", value)
    return [int(v) for v in value]


def interval(name: str, value, low: float = 0.0, high: float = 1.0) -> tuple[float, float]:
    """Check a pair [a, b] of numbers with low <= a < b <= high (e.g. a window as fractions of T)."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, Real) and not isinstance(v, bool) for v in value)
            or not low <= value[0] < value[1] <= high):
        fail(name, f"[a, b] with {low} <= a < b <= {high}", value)
    return value[0], value[1]


def intervals(name: str, value, low: float = 0.0, high: float = 1.0) -> list[tuple[float, float]]:
    """Check a list of pairs [[a1, b1], [a2, b2], ...], each an interval (see interval); return the pairs as tuples,
    in the order given."""
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value)):
        fail(name, "a list of pairs [[a1, b1], [a2, b2], ...]", value)
    for pair in value:
        if not all(isinstance(v, Real) and not isinstance(v, bool) for v in pair) or not low <= pair[0] < pair[1] <= high:
            fail(name, f"pairs [a, b] with {low} <= a < b <= {high}", value, f"not so: {list(pair)!r}")
    return [(pair[0], pair[1]) for pair in value]


def training(*, train_steps, batch, lr) -> None:
    """Check the optimisation parameters every notebook names alike: Adam steps, batch size, peak learning rate."""
    integer("train_steps", train_steps, low=1)
    integer("batch", batch, low=1)
    real("lr", lr, low=0, high=1, low_open=True)


def _in_range(name, value, low, high, what):
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        fail(name, f"{what} in [{lo}, {hi}]", value)
