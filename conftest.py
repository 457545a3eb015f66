"""pytest settings shared by the library tests and nbval."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "ci"))
from run_notebooks import AWAITING_FIRST_RUN, NOT_REEXECUTED_BY_TESTS, longest_first  # noqa: E402

collect_ignore = [f"notebooks/{stem}.ipynb" for stem in AWAITING_FIRST_RUN]  # no stored outputs for nbval yet
collect_ignore += [f"notebooks/{stem}.ipynb" for stem in NOT_REEXECUTED_BY_TESTS]  # too long for the test budget


def _notebook_stem(item):
    """The notebook an nbval item belongs to, or None for a library test."""
    path = Path(str(item.fspath))
    return path.stem if path.suffix == ".ipynb" else None


def pytest_collection_modifyitems(items):
    """Notebooks first, the longest first (by their recorded warm minutes), then the library tests: with
    `pytest -n 2 --dist loadfile --no-loadscope-reorder` (the test command) both workers finish together.
    nbval waits only 5 s for each output message once a cell has finished; allow a loaded machine more."""
    items[:] = longest_first(items, _notebook_stem)
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 120
