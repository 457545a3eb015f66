"""The notebooks' anatomy beyond their first cells (tests/test_notebooks.py): no cell twice, no figure that
nothing writes, no path that leaves the repository, conclusions rendered from the run, the model's seed apart from
the sampling seed."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
WRITERS = sorted((ROOT / "ci").glob("*.py")) + sorted((ROOT / "lib").rglob("*.py"))  # code that writes figures/
OUTSIDE = re.compile(r"\.\./shared|/work/|/home/|/Users/|/root/|(?<![\w~])~/|[A-Z]:\\Users")  # paths of one machine
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
RELATIVE_PATH = re.compile(r"""["'](\.\./[^"']*)["']""")  # a quoted relative path in code, e.g. "../models"


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def normalised(source: str) -> str:
    return "\n".join(line.strip() for line in source.strip().splitlines() if line.strip())


def duplicated_cells(path) -> list[str]:
    """Code cells whose source (whitespace aside) appears twice in the notebook; trivial cells (one short line
    such as a bare `fig`, or nothing) aside."""
    seen, twice = set(), []
    for c in code_cells(path):
        src = normalised(c.source)
        if "\n" not in src and len(src) < 30:
            continue
        if src in seen:
            twice.append(src.splitlines()[0])
        seen.add(src)
    return twice


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_code_cell_is_there_twice(path):
    assert not duplicated_cells(path), f"cells there twice: {duplicated_cells(path)}"


def unwritten_figures(root: Path = ROOT) -> list[str]:
    """Files under figures/ whose name no notebook or script writes: a file in figures/<notebook>/ must be named
    (quoted, with or without its extension) in that notebook's code or in ci/ or lib/ code that also names the
    folder; a file directly in figures/ must be named in ci/ or lib/ code."""
    writers = {p: p.read_text() for p in WRITERS}
    notebooks = {p.stem: "\n".join(c.source for c in code_cells(p)) for p in NOTEBOOKS}
    out = []
    for f in sorted(p for p in (root / "figures").rglob("*") if p.is_file()):
        rel = f.relative_to(root / "figures")
        folder = rel.parts[0] if len(rel.parts) > 1 else None
        names = (f'"{f.name}"', f'"{f.stem}"')
        in_notebook = folder is not None and any(n in notebooks.get(folder, "") for n in names)
        in_code = any(f.name in text and (folder is None or folder in text) for text in writers.values())
        if not (in_notebook or in_code):
            out.append(str(rel))
    return out


def test_every_figure_file_is_written_by_a_notebook_or_a_script():
    assert not unwritten_figures(), f"files under figures/ that nothing writes (stale?): {unwritten_figures()}"


def texts(path: Path) -> list[str]:
    """What a reader sees of a file: a notebook's markdown and code sources and its outputs' text; a text file."""
    if path.suffix != ".ipynb":
        return [path.read_text()]
    nb = nbformat.read(path, as_version=4)
    out = [c.source for c in nb.cells]
    for c in nb.cells:
        for o in c.get("outputs", []):
            out += [o.get("text", "")] + [v for k, v in o.get("data", {}).items() if k.startswith("text/") and isinstance(v, str)]
            out += o.get("traceback", [])
    return out


def documents(root: Path = ROOT) -> list[Path]:
    return (sorted((root / "notebooks").glob("*.ipynb")) + sorted(root.glob("*.md"))
            + sorted(p for p in (root / "docs").rglob("*") if p.is_file() and p.suffix in (".md", ".ipynb", ".txt")))


def links_outside(path: Path, root: Path = ROOT) -> list[str]:
    """Paths in `path` that point outside the repository: one machine's absolute paths (OUTSIDE), and markdown links
    or quoted relative paths ("../x") that resolve, from the file's folder, outside `root`. http(s) links are
    allowed."""
    bad = []
    for text in texts(path):
        bad += [m.group(0) for m in OUTSIDE.finditer(text)]
        for target in MARKDOWN_LINK.findall(text) + RELATIVE_PATH.findall(text):
            if re.match(r"[a-z]+:|#", target):  # http(s), mailto, an anchor
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(root.resolve()):
                bad.append(target)
    return bad


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_no_link_or_path_points_outside_the_repository(path):
    assert not links_outside(path), f"{path.name}: {links_outside(path)}"


def test_notebook_04_shows_its_local_aggregations():
    cells = [c for c in code_cells(ROOT / "notebooks" / "04_hands.ipynb")
             if "comparison.summary()" in c.source and "plots.aggregation_bars" in c.source]
    assert cells, "a cell prints comparison.summary() and draws plots.aggregation_bars"
    assert all(c.outputs for c in cells)


CONCLUDED = [p for p in NOTEBOOKS if p.stem[:2] in ("03", "04", "05", "06", "07")]  # 01 and 02 end with their claims


@pytest.mark.parametrize("path", CONCLUDED, ids=lambda p: p.stem)
def test_the_conclusion_is_rendered_from_the_run(path):
    cells = nbformat.read(path, as_version=4).cells
    rendered = [i for i, c in enumerate(cells) if c.cell_type == "code" and "notebook.conclusion(" in c.source]
    assert len(rendered) == 1, "one code cell renders the conclusion (notebook.conclusion)"
    heading = cells[rendered[0] - 1]
    assert heading.cell_type == "markdown" and heading.source.startswith("## ")
    assert not re.search(r"\d", heading.source), "the heading holds no number: the numbers come from the run"
    assert not any("Read the numbers above" in c.source or "What the default run shows" in c.source for c in cells)


def calls(source: str, name: str) -> list[str]:
    """The text of every call `name(...)` in `source` (parentheses balanced)."""
    out = []
    for m in re.finditer(re.escape(name) + r"\(", source):
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(source)):
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            if depth == 0:
                break
        out.append(source[m.start():i + 1])
    return out


SAMPLED = [p for p in NOTEBOOKS if p.stem[:2] in ("01", "02", "03", "04")]  # 05 samples its next training sets


@pytest.mark.parametrize("path", SAMPLED, ids=lambda p: p.stem)
def test_the_sampling_seed_seeds_the_samples_and_no_model(path):
    code = [c.source for c in code_cells(path)]
    parameters = dict(re.findall(r"^(\w+): \w+ = (.*?)  #", code[1], re.MULTILINE))
    assert parameters["sampling_seed"] == parameters["seed"], "by default the samples are those `seed` drew"
    assert code[1].index("\nsampling_seed:") > code[1].index("\n# The analysis") > code[1].index("\nseed:")
    source = "\n".join(code[3:])
    configs = calls(source, "Config")
    samplers = (calls(source, "generator") + calls(source, "window_study") + calls(source, "fork_test"))
    assert configs and samplers
    assert not any("sampling_seed" in c for c in configs), "a model's cache key holds no sampling seed"
    for call in samplers:
        seeds = re.findall(r"(?:generator\(|seed=)(\w+)", call)
        assert seeds and all(s == "sampling_seed" for s in seeds), call


def test_claims_carry_standard_errors_where_the_notebook_has_them():
    """The claims cell passes se= for each of these claims (claims.claim writes it as the claim's "se")."""
    wanted = {"02_gaussian_2d": {"interpolated_fraction", "auroc", "removed_at_retention"},
              "03_simple_shapes": {"hallucination_rate", "auroc", "paper_window_auroc", "paper_window_removed_at_retention",
                                   "pixel_count_auroc", "fork_auroc"},
              "04_hands": {"hallucination_rate", "auroc", "paper_range_auroc", "paper_range_removed_at_paper_retention",
                           "pixel_count_auroc", "fork_auroc"},
              "05_recursive_training": {"hallucinated_last_none", "hallucinated_last_random", "hallucinated_last_variance"}}
    for stem, names in wanted.items():
        source = code_cells(ROOT / "notebooks" / f"{stem}.ipynb")[-1].source
        made = {m.group(1): c for c in calls(source, "claims.claim") if (m := re.match(r'claims\.claim\("(\w+)"', c))}
        missing = sorted(n for n in names if "se=" not in made[n])
        assert not missing, f"{stem}: no se= for {missing}"


def test_notebook_07_samples_with_the_sampling_seed_and_marks_its_checks():
    """The comparison samples from `sampling_seed` (compare.Sampler; no model's key holds it), builds notebooks 01-04's
    model configurations with `seed`, and marks the rows that restate the labelling rule as checks."""
    source = "\n".join(c.source for c in code_cells(ROOT / "notebooks" / "07_detectors.ipynb")[3:])
    samplers = calls(source, "compare.Sampler")
    configs = calls(source, "Config")
    assert samplers and all("sampling_seed" in s for s in samplers)
    assert len(configs) == 4 and all("seed=seed" in c and "sampling_seed" not in c for c in configs)
    assert "CHECKS = [compare.ORACLE, \"largest strip's foreground pixels\"]" in source
