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
import readme as make_readme  # noqa: E402

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


def test_readme_and_results_page_are_generated_from_the_claims():
    r = subprocess.run([sys.executable, str(ROOT / "ci" / "readme.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_binder_colab_and_clone_links_are_the_ones_ci_links_yaml_makes():
    config = make_readme.link_config()
    made = set(BINDER_OR_COLAB.findall(make_readme.links(config)))
    assert len(made) == 2, "a Binder link and a Colab link"
    assert set(BINDER_OR_COLAB.findall((ROOT / "README.md").read_text())) == made, "run `make readme`"
    for path in make_readme.NOTEBOOKS:
        text = path.read_text()
        assert set(BINDER_OR_COLAB.findall(text)) <= made, path.name
        clones = set(make_readme.CLONE.findall(text))
        assert clones == {make_readme.clone(config)}, f"{path.name}: run `make readme`"


def test_another_repository_in_ci_links_yaml_leaves_the_readme_and_notebooks_stale(tmp_path):
    (tmp_path / "links.yaml").write_text("repository: someone/fork\nbranch: dev\n")
    fork = make_readme.link_config(tmp_path / "links.yaml")
    template, readme = make_readme.TEMPLATE.read_text(), (ROOT / "README.md").read_text()
    assert make_readme.render(template, fork) != readme
    assert "mybinder.org/v2/gh/someone/fork/dev?" in make_readme.render(template, fork)
    notebook = make_readme.NOTEBOOKS[0].read_text()
    assert "--branch dev https://github.com/someone/fork " in make_readme.render_notebook(notebook, fork)


def test_ci_links_yaml_is_checked(tmp_path):
    bad = [("repository: not-a-repo\nbranch: main\n", "repository"), ("repository: a/b\n", "branch")]
    for text, key in bad:
        (tmp_path / "links.yaml").write_text(text)
        with pytest.raises(SystemExit, match=key):
            make_readme.link_config(tmp_path / "links.yaml")


def test_readme_leads_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first = readme.index("make reproduce"), readme.index("make test")
    assert max(first) < readme.index("| the paper's claim |"), "the two commands come before the verdict table"
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


def test_the_readme_is_short_enough_to_read():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 250, f"README.md has {lines} lines; the reader's README holds at most 250"


def test_a_number_written_by_hand_in_the_readme_template_is_caught():
    constants = yaml.safe_load(make_readme.CONSTANTS.read_text())["constants"]
    clean = "The AUROC is {{03.paper_window_auroc:.3f}} in t=850..700 (Fig 7c), at 95% kept; `-p n 2000`."
    assert make_readme.hard_coded(clean, constants) == []
    planted = clean.replace("{{03.paper_window_auroc:.3f}}", "0.735")
    assert [s for s in make_readme.hard_coded(planted, constants) if "0.735" in s], "a literal result passed"
    assert make_readme.hard_coded("of 1,234 samples", constants), "a number with a thousands separator passed"


def test_every_number_in_the_readme_prose_is_a_claim_a_timing_or_a_listed_constant():
    constants = yaml.safe_load(make_readme.CONSTANTS.read_text())["constants"]
    assert make_readme.hard_coded(make_readme.TEMPLATE.read_text(), constants) == []
    rows = yaml.safe_load(make_readme.VERDICTS.read_text())["rows"]
    for row in rows:
        for key in ("claim", "ours", "scale"):
            assert make_readme.hard_coded(row[key], constants) == [], (row["claim"], key)


def test_template_fields_read_claims_their_errors_and_timings():
    claims = {"03.x": {"ours": 0.7354, "se": 0.0281, "paper": 0.95, "what": "w"}, "03.n": {"ours": 500, "paper": None,
                                                                                          "what": "v"}}
    timings = {"notebooks": {"03_simple_shapes": {"warm": 16.53}}}
    text = "{{03.x:.3f±}}; {{03.x.paper:.0%}}; {{03.n:,}}{{03.n:.0f±}}; {{timings.notebooks.03_simple_shapes.warm:.1f}}"
    assert make_readme.fill(text, claims, timings) == "0.735 ± 0.028; 95%; 500500; 16.5"
    with pytest.raises(KeyError, match="03.missing"):
        make_readme.fill("{{03.missing}}", claims, timings)


def test_a_verdict_follows_its_rule_and_its_vocabulary():
    row = {"claim": "x", "verdict": [["c['03.x'] >= paper['03.x'] - 0.05", "reproduces"],
                                     ["c['03.x'] >= paper['03.x'] / 2", "partly"], [True, "does not"]]}
    claims = lambda v: {"03.x": {"ours": v, "paper": 0.95, "what": ""}}  # noqa: E731
    assert [make_readme.verdict(row, claims(v)) for v in (0.93, 0.6, 0.1)] == ["reproduces", "partly", "does not"]
    with pytest.raises(ValueError, match="vocabulary|not one of"):
        make_readme.verdict({"claim": "y", "verdict": [[True, "mostly"]]}, claims(0.5))


def test_every_verdict_row_links_a_heading_its_notebook_has():
    rules = yaml.safe_load(make_readme.VERDICTS.read_text())
    assert 15 <= len(rules["rows"]) <= 25
    for row in rules["rows"]:
        stem, heading = row["where"]
        assert heading in make_readme.headings(ROOT / "notebooks" / f"{stem}.ipynb"), (stem, heading)


def test_the_cold_training_cost_is_the_benchmarks_seconds_per_step_times_the_notebooks_steps(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "03_shapes.ipynb").write_text('{"source": ["small_train_steps: int = 5\\n", '
                                                            '"train_steps: int = 7200  # Adam steps"]}')
    bench = ("notebook 03 (64x64, fold 2, base 32)'s U-Net training (its batch), one thread:\n"
             "  plain           0.50 s/step = 178.7 GFLOP/s\n  channels-last   0.44 s/step\n")
    assert make_readme.cold_training(bench, tmp_path) == "notebook 03 about 1.0 hours (0.50 s per step, 7,200 steps)"
    assert "make benchmark" in make_readme.cold_training("", tmp_path)
