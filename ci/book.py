"""Build the static book of the executed notebooks into build/book/, never executing them (`make book`).

    python ci/book.py                  # build/book/: index.html, notebooks/NN_name.html, results.html
    python ci/book.py --out DIR        # elsewhere

Front page: the verdict table between README.md's `<!-- verdict:start -->` and `<!-- verdict:end -->` (else its
results table between the `results` markers). Results page: RESULTS.md, else a table made from
figures/*/claims.json, else the README's results table. One page per notebook, as committed (outputs included).
Widget outputs (tqdm's progress bars) become their final text, read from the widget state saved in the notebook,
so the book loads no widget JavaScript. Links to notebooks/*.ipynb#anchor lead to the notebook pages (an anchor
in JupyterLab's style is matched to MkDocs' heading id) and RESULTS.md to the results page; images the pages link
to are copied in; other repository paths, and the README's own #anchors, link to GitHub (ci/links.yaml). The site
is built in a temporary folder beside the output, then renamed over it; MkDocs runs --strict (a link to a missing
file fails the build; `make browser-check` checks anchors too).

The tool was chosen by measurement on this 2-core machine (one core busy with another job; Python 3.11; each tool
into a fresh venv, then `pip install --dry-run` into the project's venv for what it adds; build of the six
notebooks, warm, after a first cold run):

    tool                                   adds to .venv          fresh venv        build (warm)
    mkdocs 1.6.1 + mkdocs-jupyter 0.26.3   19 packages, 38 MB     78 pkgs, 271 MB   1.9-2.3 s (13 s cold)
    Sphinx 9.0.4 + myst-nb 1.4.0           20 packages, 58 MB     72 pkgs, 244 MB   4.2-4.8 s (11 s cold)
    jupyter-book 1.0.4 (Sphinx, myst-nb)   37 packages, 77 MB     91 pkgs, 267 MB   4.8-7.3 s
    jupyter-book 2.1.7 (mystmd on Node)    2 packages, 13 MB      80 pkgs, 168 MB   fails offline: fetches its
                                                                                    theme from api.mystmd.org

Rendering, read off headless-Chromium screenshots of notebook 03: the three that build show every figure (mkdocs
inlines the PNGs as data URIs, Sphinx copies them to _images/) and equivalent code, text and headings (ids like
GitHub's). None shows ipywidgets progress bars without network: each loads the widget manager from a CDN
(mkdocs-jupyter from unpkg, myst-nb from jsdelivr) and hides the text fallback, so the bars are blank offline;
hence the conversion to text above, which works the same in any tool. Math needs MathJax from a CDN in all of
them. With the rendering equal, mkdocs + mkdocs-jupyter adds the fewest, lightest dependencies and builds fastest.
"""
import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import readme as make_readme  # noqa: E402  (RESULTS.md's table, as `make readme` writes it)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "book"
VERDICT = ("<!-- verdict:start -->", "<!-- verdict:end -->")
RESULTS = ("<!-- results:start -->", "<!-- results:end -->")
MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
IMAGE = re.compile(r"\.(png|jpe?g|gif|svg)$", re.IGNORECASE)
LINK = re.compile(r"(\]\(|<img [^>]*src=\"|href=\")([^)\"\s]+)")  # a markdown link/image target or an HTML one
CSS = "td code { overflow-wrap: anywhere; }\ntd, th { padding: 0.2rem 0.5rem !important; }\n"  # wide tables fit
INSTALL = "run `make env` (ci/requirements.txt pins mkdocs and mkdocs-jupyter)"


def between(text: str, markers: tuple[str, str]) -> str | None:
    """The text between the two markers, stripped; None if either is missing."""
    start, end = markers
    if start not in text or end not in text:
        return None
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def front_block(readme: str) -> str:
    """The README's verdict table, else its results table."""
    block = between(readme, VERDICT) or between(readme, RESULTS)
    if block is None:
        sys.exit(f"README.md has neither {' '.join(VERDICT)} nor {' '.join(RESULTS)}: nothing for the front page")
    return block


def results_page(root: Path, readme: str) -> str:
    """RESULTS.md, else a page with the claims table, else with the README's results table."""
    if (root / "RESULTS.md").is_file():
        return (root / "RESULTS.md").read_text()
    claims = make_readme.load_claims(root)
    if claims:
        return make_readme.results_page(claims)
    table = between(readme, RESULTS)
    if table is None:
        sys.exit("no RESULTS.md, no figures/*/claims.json and no results block in README.md: no results page")
    return f"# Results: the paper's numbers and ours\n\n{table}\n"


def repository_url(root: Path) -> str:
    """The repository's GitHub URL for browsing files at its branch (ci/links.yaml), or '' without that file."""
    links = root / "ci" / "links.yaml"
    if not links.is_file():
        return ""
    config = yaml.safe_load(links.read_text())
    return f"https://github.com/{config['repository']}/blob/{config['branch']}"


def rewrite(target: str, root: Path, docs: Path, repo: str) -> str:
    """A link target from a repository-root markdown file as the book's pages need it (see the module doc)."""
    if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target, re.IGNORECASE):
        return target  # a URL, an anchor on the same page, or a site-absolute path
    path, _, anchor = target.partition("#")
    path = path.removeprefix("./")
    anchor = f"#{anchor}" if anchor else ""
    if path == "RESULTS.md":
        return f"results.md{anchor}"
    if path == "README.md":  # the front page holds only the README's table: its other sections are on GitHub
        return f"{repo}/README.md{anchor}" if repo else f"index.md{anchor}"
    if path.startswith("notebooks/") and (docs / path).is_file():
        return path + anchor
    if IMAGE.search(path) and (root / path).is_file():
        (docs / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / path, docs / path)
        return path + anchor
    return f"{repo}/{path}{anchor}" if repo else target


def rewrite_links(markdown: str, root: Path, docs: Path, repo: str) -> str:
    """Every link and image target in `markdown` rewritten by rewrite()."""
    return LINK.sub(lambda m: m.group(1) + rewrite(m.group(2), root, docs, repo), markdown)


def widget_text(states: dict, model_id: str) -> str:
    """A widget's visible text from the saved widget state: labels and HTML as text, progress bars drawn as tqdm
    draws them, boxes as their children's texts side by side."""
    model = states.get(model_id, {})
    state, name = model.get("state", {}), model.get("model_name", "")
    if name.endswith("ProgressModel"):
        done = (state.get("value") or 0) / (state.get("max") or 1)
        filled = min(10, int(10 * done))
        return "|" + "█" * filled + " " * (10 - filled) + "|"
    if "children" in state:
        return "".join(widget_text(states, c.removeprefix("IPY_MODEL_")) for c in state["children"])
    return html.unescape(re.sub(r"<[^>]+>", "", str(state.get("value", ""))))


def unwidget(nb: nbformat.NotebookNode) -> int:
    """Replace every widget output of `nb` by plain text (widget_text, else its text/plain); drop the widget state.
    Returns the number of outputs replaced."""
    states = nb.metadata.pop("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
            if view is not None:
                text = widget_text(states, view["model_id"]).strip() or output["data"].get("text/plain", "")
                output["data"] = {"text/plain": text}
                count += 1
    return count


def notebook_pages(root: Path, docs: Path) -> list[str]:
    """Copy every notebooks/*.ipynb into `docs` with its widgets as text; returns their paths in `docs`."""
    pages = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        unwidget(nb)
        target = docs / "notebooks" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        pages.append(f"notebooks/{path.name}")
    if not pages:
        sys.exit(f"no notebooks in {root / 'notebooks'}: nothing to build")
    return pages


def front_page(block: str, pages: list[str]) -> str:
    """The front page: the verdict (or results) table, then links to every notebook and the results page."""
    listing = "\n".join(f"- [{Path(p).stem}]({p})" for p in pages)
    return (f"# Mode interpolation, reproduced\n\nA companion to *Understanding Hallucinations in Diffusion Models "
            f"through Mode Interpolation* (NeurIPS 2024): the executed notebooks, as committed.\n\n{block}\n\n"
            f"## The notebooks\n\n{listing}\n- [All results: the paper's numbers and ours](results.md)\n")


def mkdocs_config(src: Path, site: Path, pages: list[str]) -> dict:
    """The MkDocs configuration: the default theme without its CDN highlighter (CSS for wide tables), notebooks
    in a menu, never executed."""
    plugin = {"execute": False, "include": ["*.ipynb"], "cache": False, "custom_mathjax_url": MATHJAX}
    return {"site_name": "Mode interpolation, reproduced", "docs_dir": str(src), "site_dir": str(site),
            "use_directory_urls": False, "theme": {"name": "mkdocs", "highlightjs": False},
            "plugins": ["search", {"mkdocs-jupyter": plugin}],
            "nav": [{"Verdict": "index.md"}, {"Notebooks": pages}, {"Results": "results.md"}],
            "extra_css": ["book.css"],
            "validation": {"links": {"anchors": "info"}}}


def write_sources(root: Path, src: Path) -> list[str]:
    """The book's markdown pages and notebooks in `src`; returns the notebook pages."""
    readme = (root / "README.md").read_text() if (root / "README.md").is_file() else ""
    if not readme:
        sys.exit(f"{root / 'README.md'} is missing: the front page comes from it")
    pages, repo = notebook_pages(root, src), repository_url(root)
    block = front_block(readme).replace("](#", "](README.md#")  # anchors in the README's other sections
    (src / "index.md").write_text(rewrite_links(front_page(block, pages), root, src, repo))
    (src / "results.md").write_text(rewrite_links(results_page(root, readme), root, src, repo))
    (src / "book.css").write_text(CSS)
    return pages


def run_mkdocs(config: Path) -> None:
    """`mkdocs build --strict` on `config`, in this process; exits naming the problem on an error or a warning."""
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # mkdocs-material's notice about MkDocs 2.0
    try:
        import mkdocs_jupyter  # noqa: F401
        from mkdocs.commands.build import build as mkdocs_build
        from mkdocs.config import load_config
        from mkdocs.exceptions import MkDocsException
    except ImportError as e:
        sys.exit(f"{e.name} is not installed in {sys.executable}: {INSTALL}")
    try:
        mkdocs_build(load_config(str(config), strict=True))
    except MkDocsException as e:
        sys.exit(f"mkdocs build failed: {e} (the warnings above say why)")


def squash(anchor: str) -> str:
    """An anchor compared loosely: lower case, letters and digits only (GitHub's, JupyterLab's and MkDocs' ids
    for a heading then agree)."""
    return re.sub(r"[^0-9a-z]", "", anchor.lower())


def fix_anchors(site: Path, page: str) -> None:
    """Point the links of `page` (front or results) to notebook pages at the heading ids MkDocs wrote, where the
    README's anchor names a heading in another style (JupyterLab's keeps case and punctuation)."""
    def fixed(m: re.Match) -> str:
        target = site / page.rpartition("/")[0] / m.group(1)
        ids = re.findall(r'id="([^"]+)"', target.read_text()) if target.is_file() else []
        match = next((i for i in ids if i == m.group(2)), None) or next(
            (i for i in ids if squash(i) == squash(m.group(2))), m.group(2))
        return f'href="{m.group(1)}#{match}"'

    path = site / page
    path.write_text(re.sub(r'href="(notebooks/[^"#]+\.html)#([^"]+)"', fixed, path.read_text()))


def build(root: Path = ROOT, out: Path = OUT) -> Path:
    """Build the book of `root`'s notebooks into `out` (replaced whole once the new one is complete)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        src, site = work / "src", work / "site"
        src.mkdir()
        pages = write_sources(root, src)
        config = work / "mkdocs.yml"
        config.write_text(yaml.safe_dump(mkdocs_config(src, site, pages), sort_keys=False))
        run_mkdocs(config)
        for page in ("index.html", "results.html"):
            fix_anchors(site, page)
        old = work / "old"
        if out.exists():
            out.rename(old)
        site.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT.relative_to(ROOT)})")
    ap.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    args = ap.parse_args(argv)
    out = build(args.root.resolve(), args.out.resolve())
    print(f"book: {out / 'index.html'} ({len(list(out.rglob('*.html')))} pages)")


if __name__ == "__main__":
    main()
