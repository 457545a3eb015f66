"""The repository's promises: pinned environments agree, the README table is generated, figures are stable."""
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import yaml  # noqa: E402

from modeinterp import plots  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


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
