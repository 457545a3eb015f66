import pytest

from modeinterp import setup


from modeinterp.method.train import CACHE_ENV


@pytest.fixture(autouse=True)
def _seeded(monkeypatch):
    """Every test starts from the same seeds and one thread, with a writable cache of its own."""
    monkeypatch.delenv(CACHE_ENV, raising=False)  # `make test` sets it for nbval; unit tests use tmp caches
    setup(0, 1)
