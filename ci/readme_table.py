"""Generate the README's results table (paper vs ours) from figures/*/claims.json, its benchmark figures, and
its Binder and Colab links (with the notebooks' Colab clone command) from ci/links.yaml.

    python ci/readme_table.py           # rewrite README.md between its markers and the notebooks' clone
    python ci/readme_table.py --check   # exit 1 if README.md or a notebook is out of date
"""
import json
import re
import sys
from pathlib import Path

import yaml

from modeinterp.support.files import atomic

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
BENCH_START, BENCH_END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
LINKS_START, LINKS_END = "<!-- links:start -->", "<!-- links:end -->"
LINKS = ROOT / "ci" / "links.yaml"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
CLONE = re.compile(r'!git clone [^"\\]*? (?=/content/)')  # a notebook's Colab clone command, up to its target
NAME = re.compile(r"[\w.-]+/[\w.-]+")  # GitHub's owner/name


def fmt(value) -> str:
    """A claim's value as the table shows it."""
    if value is None:
        return "not stated"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table() -> str:
    """The markdown table of every section's claims."""
    rows = ["| section | claim | ours | paper | what it measures |", "|---|---|---|---|---|"]
    for path in sorted(ROOT.glob("figures/*/claims.json")):
        section = path.parent.name
        for c in json.loads(path.read_text()):
            rows.append(f"| {section} | `{c['name']}` | {fmt(c['ours'])} | {fmt(c['paper'])} | {c['what']} |")
    return "\n".join(rows)


def benchmark() -> str:
    """The last benchmark's output (figures/benchmark.txt) as a code block."""
    path = ROOT / "figures" / "benchmark.txt"
    text = path.read_text().rstrip() if path.exists() else "no benchmark has been run yet: `make benchmark`"
    return f"```\n{text}\n```"


def link_config(path: Path = LINKS) -> dict:
    """The repository (GitHub owner/name) and branch in ci/links.yaml, checked."""
    config = yaml.safe_load(path.read_text()) or {}
    repository, branch = config.get("repository"), config.get("branch")
    if not isinstance(repository, str) or not NAME.fullmatch(repository):
        sys.exit(f"{path.name}: repository must be a GitHub owner/name; got {repository!r}")
    if not isinstance(branch, str) or not re.fullmatch(r"[\w./-]+", branch):
        sys.exit(f"{path.name}: branch must be a branch name; got {branch!r}")
    return {"repository": repository, "branch": branch}


def links(config: dict) -> str:
    """The README's Binder badge (JupyterLab on notebooks/) and Colab badge (the first notebook)."""
    repo, branch = config["repository"], config["branch"]
    binder = f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/notebooks"
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{NOTEBOOKS[0].name}"
    return (f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})\n"
            f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})")


def clone(config: dict) -> str:
    """The notebooks' Colab clone command, up to its target folder."""
    return f"!git clone --depth 1 --branch {config['branch']} https://github.com/{config['repository']} "


def render_notebook(text: str, config: dict) -> str:
    """A notebook's text (its JSON) with its Colab clone command regenerated."""
    return CLONE.sub(clone(config), text)


def replace_between(text: str, start: str, end: str, body: str) -> str:
    """text with what lies between the markers start and end replaced by body."""
    if start not in text or end not in text:
        sys.exit(f"README.md lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(readme: str, config: dict) -> str:
    """README text with the links, the results table and the benchmark figures regenerated."""
    readme = replace_between(readme, LINKS_START, LINKS_END, links(config))
    return replace_between(replace_between(readme, START, END, table()), BENCH_START, BENCH_END, benchmark())


def main() -> None:
    config = link_config()
    readme = ROOT / "README.md"
    new = {readme: render(readme.read_text(), config)}
    new |= {p: render_notebook(p.read_text(), config) for p in NOTEBOOKS}
    stale = [p for p, text in new.items() if text != p.read_text()]
    names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
    if "--check" in sys.argv:
        if stale:
            sys.exit(f"out of date (results, benchmark or ci/links.yaml's links): {names}; run `make readme`")
        print("README.md and the notebooks' links are up to date")
    else:
        for path in stale:
            with atomic(path) as tmp:
                tmp.write_text(new[path])
        print(f"updated: {names}" if stale else "README.md and the notebooks' links were up to date")


if __name__ == "__main__":
    main()
