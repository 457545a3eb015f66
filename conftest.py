"""pytest settings shared by the library tests and nbval."""


def pytest_collection_modifyitems(items):
    """nbval waits only 5 s for each output message once a cell has finished; allow a loaded machine more."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 120
