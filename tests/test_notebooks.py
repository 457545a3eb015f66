"""The notebooks: their anatomy, their parameters, and their claims. (nbval re-executes them separately.)"""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
REQUIRED_CLAIMS = {
    "01_gaussian_1d": {"interpolated_fraction", "exact_score_interpolated_fraction", "auroc",
                       "removed_at_retention", "retention"},
    "02_gaussian_2d": {"interpolated_fraction", "nearest_neighbour_share", "exact_score_interpolated_fraction",
                       "auroc", "removed_at_retention", "retention", "ddpm_interpolated_fraction",
                       "ddim_interpolated_fraction"},
    "03_simple_shapes": {"hallucination_rate", "auroc", "removed_at_retention", "retention", "auroc_equal_shape_count",
                         "pixel_count_auroc", "strip_pixel_count_auroc", "paper_window_auroc"},
    "04_hands": {"hallucination_rate", "auroc", "removed_at_retention", "retention", "pixel_count_auroc"},
    "05_recursive_training": {"hallucinated_last_none", "hallucinated_last_random", "hallucinated_last_variance",
                              "fid_last_random", "fid_last_variance"},
    "06_training_budget": {"study_steps", "study_paper_window_auroc_last", "study_best_auroc_last",
                           "study_paper_window_auroc_slope", "study_paper_window_auroc_slope_se",
                           "study_best_auroc_slope", "study_best_auroc_slope_se"},
}


def cells(path):
    return nbformat.read(path, as_version=4).cells


def test_there_are_notebooks():
    assert [p.stem for p in NOTEBOOKS] == ["01_gaussian_1d", "02_gaussian_2d", "03_simple_shapes", "04_hands",
                                           "05_recursive_training", "06_training_budget"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_anatomy(path):
    cs = cells(path)
    code = [c for c in cs if c.cell_type == "code"]
    assert cs[0].cell_type == "markdown" and cs[0].source.startswith("# ")
    assert "google.colab" in code[0].source, "the first code cell installs the library on Colab"
    assert "parameters" in code[1].metadata.get("tags", []), "the second code cell holds the parameters"
    assert "params." in code[2].source, "the parameters are validated right after they are set"
    assert code[-1].source.startswith("# NBVAL_CHECK_OUTPUT") and "claims.write" in code[-1].source
    assert all(c.outputs for c in code[2:]), "committed with the outputs of the default run"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert not any(s in c.source for c in code for s in ("def ", "class ", "lambda ")), "helpers belong in lib/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_is_documented_with_the_papers_value(path):
    lines = [line for line in cells(path)[2].source.splitlines() if line.strip() and not line.startswith("#")]
    inferred = pm.inspect_notebook(str(path))
    assert len(inferred) == len(lines), "papermill could not parse every line (an '=' in a help text?)"
    for name, p in inferred.items():
        assert p["inferred_type_name"] != "None", f"{name} has no type annotation"
        assert p["help"], f"{name} has no help text"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_paper_scale_file_names_only_real_parameters(path):
    paper = ROOT / "ci" / "paper" / f"{path.stem}.yaml"
    values = yaml.safe_load(paper.read_text())
    known = pm.inspect_notebook(str(path))
    assert set(values) <= set(known), set(values) - set(known)
    assert not any(isinstance(v, str) and v.replace(".", "").replace("e-", "").isdigit() for v in values.values())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_claims_file_holds_the_required_claims(path):
    claims = json.loads((ROOT / "figures" / path.stem / "claims.json").read_text())
    assert all(set(c) >= {"name", "ours", "paper", "what"} for c in claims)
    assert REQUIRED_CLAIMS.get(path.stem, set()) <= {c["name"] for c in claims}


def ours(section):
    return {x["name"]: x["ours"] for x in json.loads((ROOT / "figures" / section / "claims.json").read_text())}


def test_section_1_claims_hold():
    c = ours("01_gaussian_1d")
    assert c["interpolated_fraction"] > 0
    assert c["exact_score_interpolated_fraction"] == 0
    assert c["retention"] >= 0.95 and c["removed_at_retention"] >= 0.90


def test_section_2_claims_hold():
    c = ours("02_gaussian_2d")
    assert c["interpolated_fraction"] > 0
    assert c["nearest_neighbour_share"] >= 0.9
    assert c["exact_score_interpolated_fraction"] == 0
    assert c["retention"] >= 0.95 and c["removed_at_retention"] >= 0.90


def test_section_3_claims_hold():
    c = ours("03_simple_shapes")
    assert c["counter_agreement_train"] == 1
    assert c["hallucination_rate"] > 0
    assert c["retention"] >= 0.95


def test_section_4_claims_hold():
    c = ours("04_hands")
    assert c["counter_accuracy_training"] == c["counter_accuracy_4"] == c["counter_accuracy_6"] == 1
    assert c["hallucination_rate"] > 0
    assert c["retention"] >= 0.95


def test_section_5_claims_hold():
    c = ours("05_recursive_training")
    assert c["hallucinated_last_none"] > c["hallucinated_first"]  # hallucinations compound without a filter
    assert c["hallucinated_last_variance"] < c["hallucinated_last_random"]
    assert c["fid_last_variance"] < c["fid_last_random"]


def test_the_study_claims_come_from_the_committed_study():
    c = ours("06_training_budget")
    study = json.loads((ROOT / "figures" / "06_training_budget" / "study.json").read_text())
    steps = study["settings"]["checkpoints"]
    assert c["study_steps"] == f"{steps[0]}..{steps[-1]}"
    assert {r["step"] for r in study["records"]} == set(steps)
    assert sum(r["step"] == steps[-1] for r in study["records"]) == study["settings"]["seeds_last"]
    assert 0 < c["study_paper_window_auroc_slope_se"] < 1 and 0 <= c["study_best_auroc_last"] <= 1


def test_a_bad_parameter_stops_before_any_compute(tmp_path):
    nb = ROOT / "notebooks" / "01_gaussian_1d.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), cwd=str(nb.parent), kernel_name="python3",
                            parameters={"T": -5, "cache_dir": str(tmp_path), "out_dir": str(tmp_path)},
                            progress_bar=False)
    assert e.value.ename == "ParameterError"
    assert "parameter 'T' must be an integer in [10, 100000]; got -5" in e.value.evalue
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("stem, parameters, message", [
    ("03_simple_shapes", {"paper_window": [0.85, 0.7]}, "parameter 'paper_window' must be [a, b] with 0.0 <= a < b"),
    ("04_hands", {"dataset": "11k", "hands_dir": "/nonexistent"}, "parameter 'hands_dir' must be a folder holding 11k"),
    ("05_recursive_training", {"dataset": "mnist", "mnist_dir": "/nonexistent"},
     "parameter 'mnist_dir' must be a folder holding MNIST"),
    ("06_training_budget", {"results_file": "/nonexistent.json"}, "parameter 'results_file' must be the study's results"),
], ids=["bad window", "no 11k Hands", "no MNIST", "no study"])
def test_missing_data_or_a_bad_window_stops_before_any_compute(tmp_path, stem, parameters, message):
    nb = ROOT / "notebooks" / f"{stem}.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), cwd=str(nb.parent), kernel_name="python3",
                            parameters={**parameters, "cache_dir": str(tmp_path), "out_dir": str(tmp_path)},
                            progress_bar=False)
    assert e.value.ename == "ParameterError" and message in e.value.evalue
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.png"))


def test_the_batch_runner_rejects_an_unknown_parameter(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "ci" / "run_notebooks.py"), "notebooks/01_gaussian_1d.ipynb",
                        "-p", "n_sampels", "10", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0
    assert "unknown parameter(s) n_sampels" in r.stderr and "n_samples" in r.stderr
    assert not list(tmp_path.iterdir())


def test_timings_are_recorded_per_notebook_and_kind(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "ci"))
    import run_notebooks

    monkeypatch.setattr(run_notebooks, "ROOT", tmp_path)
    (tmp_path / "figures").mkdir()
    run_notebooks.record_timings({"01_a": 1.234}, "cold", 1.3, 1)
    run_notebooks.record_timings({"01_a": 0.5, "02_b": 2.0}, "warm", 2.1, 2)
    assert json.loads((tmp_path / "figures" / "timings.json").read_text()) == {
        "notebooks": {"01_a": {"cold": 1.23, "warm": 0.5}, "02_b": {"warm": 2.0}},
        "runs": {"cold": {"minutes": 1.3, "jobs": 1}, "warm": {"minutes": 2.1, "jobs": 2}}}
    assert run_notebooks.longest_first(["x", "01_a", "03_new", "02_b"], lambda s: None if s == "x" else s) == [
        "03_new", "02_b", "01_a", "x"]
