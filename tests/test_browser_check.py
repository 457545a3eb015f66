"""The browser check's logic: the JupyterLab check on made-up cell states (no browser, no JupyterLab); the book
check on a tiny generated site (its link and image logic without a browser, the rest in Chromium if installed)."""
import shutil
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
        browser_check.main(["lab", "--timeout", "0"])
    assert "--timeout: must be above 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        browser_check.main(["lab", "--notebook", "no-such.ipynb"])
    assert "--notebook: no-such.ipynb is not a file" in capsys.readouterr().err


def test_the_command_line_chooses_the_check(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["browser_check.py", "lab", "--timeout", "0"])
    with pytest.raises(SystemExit):
        browser_check.main()
    assert "--timeout: must be above 0" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["browser_check.py", "book", "--chromium", "no-such-chromium"])
    with pytest.raises(SystemExit, match="no-such-chromium.*apt-get install chromium"):
        browser_check.main()


def test_the_copy_is_cleared_and_its_paths_point_at_the_repository(tmp_path):
    notebook = ROOT / "notebooks" / "01_gaussian_1d.ipynb"
    copy = nbformat.read(browser_check.prepare_copy(notebook, tmp_path), as_version=4)
    assert all(not c.outputs and c.execution_count is None for c in copy.cells if c.cell_type == "code")
    injected = next(c.source for c in copy.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f'cache_dir = "{ROOT / "models"}"' in injected
    assert f'out_dir = "{tmp_path / "figures" / notebook.stem}"' in injected


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8"
                    "cfc0f01f0005000200a5f5d7a30000000049454e44ae426082")  # 1x1 pixel
PAGE = """<html><head><link rel="stylesheet" href="style.css"></head><body id="top">
<img src="ok.png"> <img src="sub/missing.png"> <img src="data:image/png;base64,AAAA">
<a href="other.html#there">fine</a> <a href="other.html#nowhere">bad anchor</a> <a href="gone.html">gone</a>
<a href="sub/">folder</a> <a href="#top">top</a> <a href="https://example.org/x">external</a>
<a href="mailto:a@b.c">mail</a> <a href="/other.html">absolute</a></body></html>"""


def make_site(path: Path) -> Path:
    """A tiny site: an index with a missing image, a missing anchor and a missing page; two good pages."""
    (path / "sub").mkdir(parents=True)
    (path / "index.html").write_text(PAGE)
    (path / "other.html").write_text('<html><body><h2 id="there">There</h2><a href="index.html">back</a></body></html>')
    (path / "sub" / "index.html").write_text('<html><body><a href="../other.html#there">up</a></body></html>')
    (path / "style.css").write_text("body { margin: 0 }")
    (path / "ok.png").write_bytes(PNG)
    return path


def test_site_problems_name_the_page_and_each_missing_image_link_or_anchor(tmp_path):
    site = make_site(tmp_path)
    assert browser_check.site_problems(site) == [
        "index.html: missing image sub/missing.png",
        "index.html: broken link other.html#nowhere (no #nowhere in other.html)",
        "index.html: broken link gone.html"]
    (site / "sub" / "missing.png").write_bytes(PNG)
    (site / "gone.html").write_text("<html></html>")
    (site / "other.html").write_text('<html><body><a name="there"></a><p id="nowhere"></p></body></html>')
    assert browser_check.site_problems(site) == []


def test_book_pages_put_the_front_page_first(tmp_path):
    assert browser_check.book_pages(make_site(tmp_path)) == ["index.html", "other.html", "sub/index.html"]
    assert browser_check.screenshot_name("notebooks/01_x.html") == "notebooks_01_x.png"


def test_a_missing_book_elsewhere_says_how_to_build_it(tmp_path):
    with pytest.raises(SystemExit, match="no index.html in .*ci/book.py --out"):
        browser_check.book_site(tmp_path)


def test_chromium_flags_images_that_do_not_load_and_404s_and_saves_a_screenshot_per_page(tmp_path):
    if not any(shutil.which(name) for name in browser_check.CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    site = make_site(tmp_path / "site")
    (site / "sub" / "missing.png").write_bytes(b"not a png")  # the file exists: only a browser sees it fail
    (site / "index.html").write_text(PAGE.replace("other.html#nowhere", "other.html#there")
                                     .replace("gone.html", "other.html"))
    (site / "style.css").write_text("body { background: url(nothing.png) }")  # only a request reveals it
    found = browser_check.run_book_check(site, browser_check.find_chromium(None), tmp_path / "shots")
    assert found == ["index.html: image did not load: sub/missing.png",
                     "index.html: image did not load: data:image/png;base64,AAAA",
                     "index.html: 404 for /nothing.png"]
    assert sorted(p.name for p in (tmp_path / "shots").glob("*.png")) == ["index.png", "other.png",
                                                                         "sub_index.png"]
