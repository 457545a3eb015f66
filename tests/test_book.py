"""The static book (ci/book.py) built from a tiny made-up repository: pages, front page, links, widgets."""
import base64
import io
import json
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import book
import browser_check

pytest.importorskip("mkdocs_jupyter", reason="the book needs mkdocs-jupyter (ci/requirements.txt)")

README = """# A repo

<!-- verdict:start -->
| section | verdict |
|---|---|
| [tiny](notebooks/01_tiny.ipynb#The-heading) | VERDICT-ROW, [speed](#speed) |
<!-- verdict:end -->

## Speed

See [the results](RESULTS.md) and [the code](lib/x.py).

<!-- results:start -->
| claim | ours |
|---|---|
| RESULTS-ROW | 1 |
<!-- results:end -->
"""
WIDGET_STATE = {  # what tqdm.notebook saves: an HBox of an HTML label, a progress bar and an HTML label
    "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_a", "IPY_MODEL_bar", "IPY_MODEL_b"]}},
    "a": {"model_name": "HTMLModel", "state": {"value": "sampling: 100%"}},
    "bar": {"model_name": "FloatProgressModel", "state": {"value": 500, "max": 500}},
    "b": {"model_name": "HTMLModel", "state": {"value": " 500/500 [00:01&lt;00:00]"}},
}


def png() -> str:
    """A 4x3 PNG, base64-encoded as in a notebook's output."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def notebook(title: str, widget: bool = False) -> nbformat.NotebookNode:
    """A notebook with a title, a heading, and a code cell with an image (and a progress-bar widget) output."""
    outputs = [nbformat.v4.new_output("display_data", {"image/png": png(), "text/plain": "<Figure>"})]
    if widget:
        view = {"model_id": "box", "version_major": 2, "version_minor": 0}
        outputs.insert(0, nbformat.v4.new_output("display_data", {
            "application/vnd.jupyter.widget-view+json": view, "text/plain": "sampling:   0%|"}))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\n## The heading\n\ntext"),
                                         nbformat.v4.new_code_cell("plot()", outputs=outputs, execution_count=1)])
    if widget:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": WIDGET_STATE}}
    return nb


def make_repo(path: Path, readme: str = README) -> Path:
    """A repository layout with a README, two notebooks and one section's claims."""
    (path / "notebooks").mkdir(parents=True)
    nbformat.write(notebook("Tiny", widget=True), path / "notebooks" / "01_tiny.ipynb")
    nbformat.write(notebook("Other"), path / "notebooks" / "02_other.ipynb")
    (path / "figures" / "01_tiny").mkdir(parents=True)
    claims = [{"name": "CLAIM-NAME", "ours": 0.25, "paper": None, "what": "a fraction"}]
    (path / "figures" / "01_tiny" / "claims.json").write_text(json.dumps(claims))
    (path / "README.md").write_text(readme)
    (path / "ci").mkdir()
    (path / "ci" / "links.yaml").write_text("repository: someone/repo\nbranch: main\n")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The book of the made-up repository, built once."""
    repo = make_repo(tmp_path_factory.mktemp("repo"))
    return book.build(repo, repo / "build" / "book")


def test_one_page_per_notebook_plus_front_and_results_pages(site):
    pages = set(browser_check.book_pages(site))
    assert {"index.html", "results.html", "notebooks/01_tiny.html", "notebooks/02_other.html"} <= pages
    assert "The heading" in (site / "notebooks" / "02_other.html").read_text()


def test_front_page_is_the_verdict_table_linking_to_the_notebook_pages(site):
    front = (site / "index.html").read_text()
    assert "<table" in front and "VERDICT-ROW" in front
    assert "RESULTS-ROW" not in front, "the verdict markers win over the results markers"
    assert 'href="notebooks/01_tiny.html#the-heading"' in front, "JupyterLab's anchor made MkDocs' heading id"
    assert 'href="notebooks/02_other.html"' in front and 'href="results.html"' in front
    assert 'href="https://github.com/someone/repo/blob/main/README.md#speed"' in front, "the README's own anchors"


def test_results_page_without_results_md_is_made_from_the_claims(site):
    results = (site / "results.html").read_text()
    assert "CLAIM-NAME" in results and "not stated" in results
    assert 'href="notebooks/01_tiny.html"' in results


def test_built_book_has_no_broken_link_image_or_anchor(site):
    assert browser_check.site_problems(site) == []


def test_widgets_become_their_final_text_and_no_widget_script_is_loaded(site):
    page = (site / "notebooks" / "01_tiny.html").read_text()
    assert "sampling: 100%|██████████| 500/500 [00:01&lt;00:00]" in page
    assert "sampling:   0%" not in page and "widget-view+json" not in page and "unpkg" not in page


def test_a_rebuild_replaces_the_book_and_leaves_no_temporary_folder(tmp_path):
    repo = make_repo(tmp_path / "repo")
    out = tmp_path / "out" / "book"
    out.mkdir(parents=True)
    (out / "stale.html").write_text("old")
    (repo / "RESULTS.md").write_text("# Full results\n\nFROM-RESULTS-MD, back to [the README](README.md)\n")
    book.build(repo, out)
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    assert "FROM-RESULTS-MD" in (out / "results.html").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["book"]


def test_front_block_falls_back_to_the_results_markers_and_names_what_is_missing():
    readme = README.replace("<!-- verdict:start -->", "")
    assert "RESULTS-ROW" in book.front_block(readme) and "VERDICT-ROW" not in book.front_block(readme)
    with pytest.raises(SystemExit, match="verdict:start.*results:start"):
        book.front_block("# no markers")


def test_links_lead_to_book_pages_copied_images_or_the_repository(tmp_path):
    docs, root = tmp_path / "docs", tmp_path / "root"
    (docs / "notebooks").mkdir(parents=True)
    (docs / "notebooks" / "03_x.ipynb").write_text("{}")
    (root / "figures").mkdir(parents=True)
    (root / "figures" / "a.png").write_bytes(b"png")
    text = ("[n](notebooks/03_x.ipynb#sec) [r](RESULTS.md) [m](notebooks/09_gone.ipynb) ![f](figures/a.png) "
            "[w](https://example.org/a) [s](#here) [c](ci/book.py)")
    assert book.rewrite_links(text, root, docs, "https://github.com/o/r/blob/main") == (
        "[n](notebooks/03_x.ipynb#sec) [r](results.md) [m](https://github.com/o/r/blob/main/notebooks/09_gone.ipynb)"
        " ![f](figures/a.png) [w](https://example.org/a) [s](#here) [c](https://github.com/o/r/blob/main/ci/book.py)")
    assert (docs / "figures" / "a.png").read_bytes() == b"png"


def test_a_repository_without_notebooks_is_an_error_naming_the_folder(tmp_path):
    (tmp_path / "README.md").write_text(README)
    with pytest.raises(SystemExit, match="no notebooks in .*notebooks"):
        book.build(tmp_path, tmp_path / "out")
