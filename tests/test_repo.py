"""The repository's promises: pinned environments agree, the README table and links are generated, figures are
stable."""
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import yaml  # noqa: E402

from modeinterp.interfaces import plots  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import readme_table  # noqa: E402

BINDER_OR_COLAB = re.compile(r"https://(?:mybinder\.org/v2|colab\.research\.google\.com/github)/[^\s)\"\\]+")


def pins(lines):
    return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))


def test_binder_environment_pins_what_the_makefile_installs():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    binder = pins(s.strip() for s in pip_section)
    lock = pins((ROOT / "ci" / "requirements.txt").read_text().splitlines())
    for name in ("torch", "accelerate", "numpy", "matplotlib", "seaborn", "papermill", "nbval", "jupyterlab",
                 "ipywidgets", "tqdm", "scikit-learn", "scipy"):
        assert name in binder, f"environment.yml does not pin {name}"
        assert binder[name].split("+")[0] == lock[name], f"{name}: {binder[name]} vs {lock[name]}"
    assert "pip install" in (ROOT / "postBuild").read_text(), "Binder installs the library in postBuild"


def test_readme_results_table_is_generated_from_the_claims():
    r = subprocess.run([sys.executable, str(ROOT / "ci" / "readme_table.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_binder_colab_and_clone_links_are_the_ones_ci_links_yaml_makes():
    config = readme_table.link_config()
    made = set(BINDER_OR_COLAB.findall(readme_table.links(config)))
    assert len(made) == 2, "a Binder link and a Colab link"
    assert set(BINDER_OR_COLAB.findall((ROOT / "README.md").read_text())) == made, "run `make readme`"
    for path in readme_table.NOTEBOOKS:
        text = path.read_text()
        assert set(BINDER_OR_COLAB.findall(text)) <= made, path.name
        clones = set(readme_table.CLONE.findall(text))
        assert clones == {readme_table.clone(config)}, f"{path.name}: run `make readme`"


def test_another_repository_in_ci_links_yaml_leaves_the_readme_and_notebooks_stale(tmp_path):
    (tmp_path / "links.yaml").write_text("repository: someone/fork\nbranch: dev\n")
    fork = readme_table.link_config(tmp_path / "links.yaml")
    readme = (ROOT / "README.md").read_text()
    assert readme_table.render(readme, fork) != readme
    assert "mybinder.org/v2/gh/someone/fork/dev?" in readme_table.render(readme, fork)
    notebook = readme_table.NOTEBOOKS[0].read_text()
    assert "--branch dev https://github.com/someone/fork " in readme_table.render_notebook(notebook, fork)


def test_ci_links_yaml_is_checked(tmp_path):
    bad = [("repository: not-a-repo\nbranch: main\n", "repository"), ("repository: a/b\n", "branch")]
    for text, key in bad:
        (tmp_path / "links.yaml").write_text(text)
        with pytest.raises(SystemExit, match=key):
            readme_table.link_config(tmp_path / "links.yaml")


def test_readme_leads_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first = readme.index("make reproduce"), readme.index("make test")
    assert max(first) < readme.index("<!-- results:start -->")
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_savefig_is_byte_stable(tmp_path):
    plots.style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    for fmt in (".png", ".pdf", ".svg"):
        a = plots.savefig(fig, tmp_path / "a", (fmt,))[0].read_bytes()
        b = plots.savefig(fig, tmp_path / "b", (fmt,))[0].read_bytes()
        assert a == b, fmt
    plt.close(fig)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png", "a.svg", "b.pdf", "b.png", "b.svg"]
