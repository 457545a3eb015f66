"""The browser check's logic on made-up cell states (no browser, no JupyterLab)."""
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import browser_check  # noqa: E402


def cell(index, count, outputs=(), rendered=(), type_="code"):
    return {"index": index, "type": type_, "first_line": f"line {index}", "execution_count": count,
            "outputs": list(outputs), "rendered_stderr": list(rendered)}


ERROR = {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero"}
WARNING = {"output_type": "stream", "name": "stderr", "text": "UserWarning: something\n"}
TRACEBACK = {"output_type": "stream", "name": "stderr",
             "text": "Traceback (most recent call last):\n  ...\nOSError: x\n"}


def test_errors_name_the_cell_and_ignore_warnings():
    rendered = ["Traceback (most recent call last):\nValueError: y"]
    cells = [cell(0, None, type_="markdown"), cell(1, 1, [WARNING]), cell(2, 2, [ERROR]),
             cell(3, 3, [TRACEBACK]), cell(4, 4, rendered=rendered)]
    assert browser_check.errors(cells) == ["cell 3 ('line 2'): ZeroDivisionError: division by zero",
                                           "cell 4 ('line 3'): OSError: x",
                                           "cell 5 ('line 4'): ValueError: y"]
    assert browser_check.errors(cells[:2]) == []


def test_finished_when_idle_and_every_code_cell_ran_or_one_failed():
    ran = [cell(0, None, type_="markdown"), cell(1, 1), cell(2, 2)]
    assert browser_check.finished({"kernel": "idle", "cells": ran})
    assert not browser_check.finished({"kernel": "busy", "cells": ran})
    waiting = [cell(1, 1), cell(2, None)]
    assert not browser_check.finished({"kernel": "idle", "cells": waiting})
    assert browser_check.not_run({"kernel": "idle", "cells": waiting}) == ["cell 3 ('line 2')"]
    assert browser_check.finished({"kernel": "idle", "cells": [cell(1, 1, [ERROR]), cell(2, None)]})
    assert browser_check.finished({"kernel": "dead", "cells": waiting})


def test_a_missing_chromium_names_the_binary_and_how_to_install_it():
    with pytest.raises(SystemExit, match="no-such-chromium.*apt-get install chromium"):
        browser_check.find_chromium("no-such-chromium")


def test_arguments_are_checked(capsys):
    with pytest.raises(SystemExit):
        browser_check.main(["--timeout", "0"])
    assert "--timeout: must be above 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        browser_check.main(["--notebook", "no-such.ipynb"])
    assert "--notebook: no-such.ipynb is not a file" in capsys.readouterr().err


def test_the_copy_is_cleared_and_its_paths_point_at_the_repository(tmp_path):
    notebook = ROOT / "notebooks" / "01_gaussian_1d.ipynb"
    copy = nbformat.read(browser_check.prepare_copy(notebook, tmp_path), as_version=4)
    assert all(not c.outputs and c.execution_count is None for c in copy.cells if c.cell_type == "code")
    injected = next(c.source for c in copy.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f'cache_dir = "{ROOT / "models"}"' in injected
    assert f'out_dir = "{tmp_path / "figures" / notebook.stem}"' in injected
