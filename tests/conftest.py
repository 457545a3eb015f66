import pytest

from modeinterp import setup


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same seeds and one thread."""
    setup(0, 1)
