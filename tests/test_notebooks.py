"""The notebooks: their anatomy, their parameters, and their claims. (nbval re-executes them separately.)"""
import json
import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
import papermill as pm
import pytest
import yaml

from modeinterp.support import claims
from modeinterp.support.params import ParameterError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
from run_notebooks import AWAITING_FIRST_RUN, NOT_REEXECUTED_BY_TESTS, REUSES_MODELS  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
REQUIRED_CLAIMS = {
    "01_gaussian_1d": {"interpolated_fraction", "exact_score_interpolated_fraction", "auroc",
                       "removed_at_retention", "retention"},
    "02_gaussian_2d": {"interpolated_fraction", "nearest_neighbour_share", "exact_score_interpolated_fraction",
                       "auroc", "removed_at_retention", "retention", "ddpm_interpolated_fraction",
                       "ddim_interpolated_fraction"},
    "03_simple_shapes": {"hallucination_rate", "auroc", "removed_at_retention", "retention", "auroc_equal_shape_count",
                         "pixel_count_auroc", "strip_pixel_count_auroc", "paper_window_auroc", "fork_auroc",
                         "fork_change_hallucinated", "fork_change_in_support", "paper_window_reverse_reading_auroc",
                         "paper_window_auroc_32"},
    "04_hands": {"hallucination_rate", "auroc", "removed_at_retention", "retention", "pixel_count_auroc",
                 "counter_cross_check_agreement", "hallucination_rate_four", "hallucination_rate_six", "fork_auroc",
                 "paper_range_auroc_32", "unreadable_rate", "disagree_rate"},
    "05_recursive_training": {"hallucinated_last_none", "hallucinated_last_random", "hallucinated_last_variance",
                              "fid_last_random", "fid_last_variance"},
    "06_training_budget": {"study_steps", "study_paper_window_auroc_last", "study_best_auroc_last",
                           "study_paper_window_auroc_slope", "study_best_auroc_slope", "study_verdict",
                           "study_hands_steps", "study_hands_paper_window_auroc_slope", "study_hands_verdict"},
    "07_detectors": {f"{s}_{c}" for s in ("gauss1d", "grid2d", "shapes", "hands")
                     for c in ("hallucination_rate", "summary")},  # the README's detectors table
}


def cells(path):
    return nbformat.read(path, as_version=4).cells


def test_there_are_notebooks():
    assert [p.stem for p in NOTEBOOKS] == ["01_gaussian_1d", "02_gaussian_2d", "03_simple_shapes", "04_hands",
                                           "05_recursive_training", "06_training_budget", "07_detectors"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_anatomy(path):
    cs = cells(path)
    code = [c for c in cs if c.cell_type == "code"]
    assert cs[0].cell_type == "markdown" and cs[0].source.startswith("# ")
    assert "google.colab" in code[0].source, "the first code cell installs the library on Colab"
    assert "parameters" in code[1].metadata.get("tags", []), "the second code cell holds the parameters"
    assert "params." in code[2].source, "the parameters are validated right after they are set"
    assert code[-1].source.startswith("# NBVAL_CHECK_OUTPUT") and "claims.write" in code[-1].source
    if path.stem not in AWAITING_FIRST_RUN:
        assert all(c.outputs for c in code[2:]), "committed with the outputs of the default run"
    else:
        assert not any(c.outputs for c in code), "a notebook awaiting its first default run holds no partial outputs"
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
    if path.stem in AWAITING_FIRST_RUN:
        pytest.skip("no default run yet: its claims are written when it is first run")
    claims = json.loads((ROOT / "figures" / path.stem / "claims.json").read_text())
    assert all(set(c) >= {"name", "ours", "paper", "what"} for c in claims)
    assert REQUIRED_CLAIMS.get(path.stem, set()) <= {c["name"] for c in claims}


def test_the_notebook_lists_of_the_runner_name_notebooks():
    stems = {p.stem for p in NOTEBOOKS}
    assert set(AWAITING_FIRST_RUN) | set(NOT_REEXECUTED_BY_TESTS) | set(REUSES_MODELS) <= stems


@pytest.mark.parametrize("stem", NOT_REEXECUTED_BY_TESTS)
def test_a_notebook_nbval_does_not_rerun_stores_the_claims_of_its_claims_file(stem):
    """nbval would compare its claims cell with a rerun; instead its stored table must be its claims file's."""
    stored = "".join(o.get("text", "") for o in cells(ROOT / "notebooks" / f"{stem}.ipynb")[-1].outputs)
    assert stored.strip() == claims.table(claims.read(ROOT / "figures" / stem / "claims.json")).strip()


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
    assert c["second_counter_accuracy_training"] == c["second_counter_accuracy_4"] == c["second_counter_accuracy_6"] == 1
    rates = [c[f"hallucination_rate_{k}"] for k in ("four", "six", "other")]
    assert abs(sum(rates) - c["hallucination_rate"]) < 2e-4  # the split adds up (rounded to 4 places)
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
    assert all(sum(r["step"] == step for r in study["records"]) == study["settings"]["seeds"] for step in steps)
    se = {x["name"]: x.get("se") for x in json.loads((ROOT / "figures" / "06_training_budget" / "claims.json").read_text())}
    assert 0 < se["study_paper_window_auroc_slope"] < 1 and 0 <= c["study_best_auroc_last"] <= 1
    hands = json.loads((ROOT / "figures" / "06_training_budget" / "study_hands.json").read_text())
    assert c["study_hands_steps"] == f"{hands['settings']['checkpoints'][0]}..{hands['settings']['checkpoints'][-1]}"


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


def run_check_cell(stem: str, tmp_path, **overrides) -> None:
    """A notebook's parameters cell, the overrides (as papermill injects them) and its check cell, run here."""
    code = [c.source for c in cells(ROOT / "notebooks" / f"{stem}.ipynb") if c.cell_type == "code"]
    namespace = {}
    exec(code[1], namespace)
    namespace.update(out_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), **overrides)
    with matplotlib.rc_context():  # the check cell sets the plotting style: not for the tests that follow
        exec(code[2], namespace)


@pytest.mark.parametrize("stem, overrides, message", [
    ("05_recursive_training", {"dataset": "mnist", "mnist_dir": "{empty}"},
     "parameter 'mnist_dir' must be a folder holding MNIST's IDX files"),
    ("03_simple_shapes", {"size": 36}, "parameter 'size' must be a multiple of fold * 2**(len(mults) - 1) = 2 * 4 = 8"),
    ("04_hands", {"size": 48, "fold": 8}, "parameter 'size' must be a multiple of fold * 2**(len(mults) - 1) = 8 * 4"),
    ("04_hands", {"size": 40}, "parameter 'size' must be a multiple of 16"),
    ("04_hands", {"dataset": "11k", "hands_dir": "{empty}"}, "parameter 'hands_dir' must be a folder holding 11k Hands"),
    ("04_hands", {"labels_file": "{empty}/labels.csv"}, "parameter 'labels_file' must be a CSV 'sample,fingers'"),
    ("03_simple_shapes", {"paper_window": "[0.5, 1.5]"}, "give a list with -y \"paper_window: [0.5, 1.5]\""),
    ("01_gaussian_1d", {"variant_means": [1.0, 2.0]}, "parameter 'variant_means' must be a list of at least 3 numbers"),
    ("01_gaussian_1d", {"variant_means": [1.0, 2.0, 3.0]}, "parameter 'variant_means' must be at least three"),
    ("02_gaussian_2d", {"sampler_steps": [200, 50, 1000]}, "parameter 'sampler_steps' must be a list of increasing"),
    ("01_gaussian_1d", {"sweep_sizes": [50000]}, "parameter 'sweep_sizes' must be at least two distinct training-set sizes"),
    ("01_gaussian_1d", {"sweep_sizes": [50000, 50000]}, "parameter 'sweep_sizes' must be at least two distinct"),
    ("02_gaussian_2d", {"sampler_steps": [1000]}, "parameter 'sampler_steps' must be a list of at least 2 integers"),
    ("03_simple_shapes", {"candidate_windows": [0.0, 0.02, 0.1, 0.2]},
     "parameter 'candidate_windows' must be a list of pairs [[a1, b1], [a2, b2], ...]"),
    ("04_hands", {"candidate_windows": [[0.0, 0.02], [0.3, 0.2]]}, "parameter 'candidate_windows' must be pairs [a, b]"),
    ("03_simple_shapes", {"sampling_seed": -1}, "parameter 'sampling_seed' must be an integer in [0, inf]"),
    ("07_detectors", {"shapes_stream": 40}, "parameter 'shapes_stream' must be a multiple of chunk (16)"),
    ("07_detectors", {"sections": ["shapes", "fingers"]}, "parameter 'sections' must be one of 'gauss1d', 'grid2d'"),
    ("07_detectors", {"sampling_steps": 10, "hands_windows": [[0.01, 0.05]]},
     "parameter 'hands_windows' must be windows that each hold a timestep the sampler visits"),
], ids=["empty mnist_dir", "shapes size and fold", "hands size and fold", "hands size", "empty hands_dir",
        "missing labels", "list as text", "two variant means", "equal gaps", "unsorted sampler steps",
        "one training-set size", "one size twice", "one sampler step count", "flat windows", "reversed window",
        "negative sampling seed", "a stream that cannot replay", "an unknown section", "a window between steps"])
def test_the_check_cell_rejects_data_and_shapes_that_would_fail_later(tmp_path, stem, overrides, message):
    """Each of these failed only after compute (images drawn, figures written, sections run): the check cell
    (run here, without a kernel) rejects them, and nothing is written."""
    (tmp_path / "empty").mkdir()
    overrides = {k: v.format(empty=tmp_path / "empty") if isinstance(v, str) else v for k, v in overrides.items()}
    with pytest.raises(ParameterError) as e:
        run_check_cell(stem, tmp_path, **overrides)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_the_check_cells_accept_the_defaults_and_other_lengths_of_list_parameters(tmp_path, capsys):
    run_check_cell("01_gaussian_1d", tmp_path, variant_means=[1.0, 2.0, 4.0, 5.5], means=[0.0, 1.0, 2.0, 3.0])
    run_check_cell("02_gaussian_2d", tmp_path, named_windows=[10], sampler_steps=[20, 1000])
    for path in NOTEBOOKS[:5] + [ROOT / "notebooks" / "07_detectors.ipynb"]:
        run_check_cell(path.stem, tmp_path)
    assert capsys.readouterr().out.count("parameters ok") == 8


@pytest.mark.parametrize("args, message", [
    (["--params", "{tmp}/list.yaml"], "parameter file {tmp}/list.yaml must hold 'name: value' lines (a YAML mapping); "
                                      "it holds a list"),
    (["--params", "{tmp}/bad.yaml"], "parameter file {tmp}/bad.yaml is not valid YAML: expected ',' or ']'"),
    (["--params", "missing.yaml"], f"parameter file {ROOT}/missing.yaml does not exist"),
    (["-p", "means", "[1, 2"], "-p means [1, 2 is not valid YAML: expected ',' or ']'"),
    (["{tmp}/notes.txt"], "{tmp}/notes.txt is not a notebook (.ipynb file)"),
    (["{tmp}/empty.ipynb"], "{tmp}/empty.ipynb is not a readable notebook: "),
    (["--processes", "two"], "--processes must be a positive integer or auto; got 'two'"),
], ids=["list file", "malformed file", "missing file", "malformed value", "not a notebook", "broken notebook",
        "processes"])
def test_the_batch_runner_explains_bad_input_in_one_line(tmp_path, monkeypatch, args, message):
    sys.path.insert(0, str(ROOT / "ci"))
    import run_notebooks

    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "bad.yaml").write_text("means: [1, 2\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "empty.ipynb").write_text("{}\n")
    monkeypatch.chdir(ROOT)
    args = [a.format(tmp=tmp_path) for a in args]
    if not any(a.startswith(str(tmp_path)) and not a.endswith(".yaml") for a in args):
        args = ["notebooks/01_gaussian_1d.ipynb"] + args
    with pytest.raises(SystemExit) as e:
        run_notebooks.main(args + ["--out", str(tmp_path / "out")])
    assert isinstance(e.value.code, str) and e.value.code.startswith(message.format(tmp=tmp_path))
    assert "\n" not in e.value.code and not (tmp_path / "out").exists()


def test_the_runner_measures_a_kernels_peak_memory_with_the_processes_it_starts(tmp_path):
    sys.path.insert(0, str(ROOT / "ci"))
    import run_notebooks

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import time"),
        nbformat.v4.new_code_cell("import subprocess, sys\n"
                                  "p = subprocess.Popen([sys.executable, '-c', "
                                  "'import time; b = bytearray(300_000_000); time.sleep(3)'])\n"
                                  "p.wait()"),
        nbformat.v4.new_code_cell("time.sleep(0.5)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "memory.ipynb"
    nbformat.write(nb, path)
    out, mb, parts = run_notebooks.run(path, {}, tmp_path / "out.ipynb")
    assert out.exists() and 300 < mb < 1000  # the child's 300 MB, plus two Python processes
    assert parts == {}  # no fork test in it


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
    run_notebooks.record_timings({"01_a": (1.234, 812.4)}, "cold", 1.3, 1)
    run_notebooks.record_timings({"01_a": (0.5, 700.0), "02_b": (2.0, 1500.6, {"fork test": 0.456})}, "warm", 2.1, 2)
    run_notebooks.record_timings({"02_b": (1.0, 900.0)}, "warm", None, 1)  # one notebook: not a whole run
    assert json.loads((tmp_path / "figures" / "timings.json").read_text()) == {
        "notebooks": {"01_a": {"cold": 1.23, "cold_peak_mb": 812, "warm": 0.5, "warm_peak_mb": 700},
                      "02_b": {"warm": 1.0, "warm_peak_mb": 900}},  # its fork test's minutes went with the rerun
        "runs": {"cold": {"minutes": 1.3, "jobs": 1}, "warm": {"minutes": 2.1, "jobs": 2}}}
    assert run_notebooks.longest_first(["x", "01_a", "03_new", "02_b"], lambda s: None if s == "x" else s) == [
        "03_new", "02_b", "01_a", "x"]


def test_the_runner_times_the_fork_test_apart(tmp_path):
    sys.path.insert(0, str(ROOT / "ci"))
    import run_notebooks

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("ft = fork.fork_test(...)"),
                                         nbformat.v4.new_code_cell("y = 2")])
    for cell, seconds in zip(nb.cells, (6.0, 90.0, 3.0)):
        cell.metadata["papermill"] = {"duration": seconds}
    nbformat.write(nb, tmp_path / "nb.ipynb")
    assert run_notebooks.part_minutes(tmp_path / "nb.ipynb") == {"fork test": 1.5}
