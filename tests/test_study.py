"""The window study and the training-budget study: known answers for the statistics, and the study's run on tiny
settings (training, checkpoints, records, rerun, errors)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from modeinterp.experiments import study

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SHAPES = ROOT / "models" / "shapes-6d2d92b173b6171d.pt"  # notebook 03's model (3,000 steps)


def test_slope_with_equal_errors_is_ordinary_least_squares():
    rng = np.random.default_rng(0)
    x = np.log10([750, 1500, 3000, 6000, 12000])
    y = 0.5 + 0.1 * x + rng.normal(0, 0.01, len(x))
    b, se = study.slope(x, y, np.full(len(x), 0.01))
    assert b == pytest.approx(np.polyfit(x, y, 1)[0])
    assert se == pytest.approx(0.01 / np.sqrt(np.sum((x - x.mean()) ** 2)))
    with pytest.raises(ValueError, match="two distinct"):
        study.slope([1, 1], [0.5, 0.6], [0.1, 0.1])


def test_study_settings_are_checked():
    with pytest.raises(ValueError, match="unknown study setting"):
        study.study_config(n_sample=10)
    with pytest.raises(ValueError, match="increasing"):
        study.study_config(checkpoints=[100, 50])
    assert study.model_config(study.study_config()).extra["decay"] == "constant"


TINY = dict(checkpoints=[2, 4], n_train=200, n_samples=100, sampling_steps=20, n_trajectories=4, chunk=50,
            last_k=3, seeds_last=2)


def test_a_tiny_study_records_every_checkpoint_and_reruns_without_work(tmp_path):
    s = study.study_config(**TINY)
    results, work = tmp_path / "study.json", tmp_path / "work"
    records = study.run_study(s, work, results)
    assert [(r["step"], r["seed"]) for r in records] == [(2, 0), (4, 0), (4, 1)]
    assert sorted(p.name for p in work.glob("*/step-*.pt")) == ["step-2.pt", "step-4.pt"]
    saved = json.loads(results.read_text())
    assert saved["settings"] == s and len(saved["loss"]) == 4
    stamp = results.stat().st_mtime_ns
    assert study.run_study(s, work, results) == records and results.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings"):
        study.run_study(study.study_config(**{**TINY, "n_samples": 120}), work, results)


def test_evaluating_a_trained_checkpoint_reports_every_aggregation_with_controls(tmp_path):
    """Notebook 03's shipped model as a checkpoint: 300 samples of 50 steps hold a few hallucinations."""
    shutil.copy(SHIPPED_SHAPES, tmp_path / "step-3000.pt")
    s = study.study_config(checkpoints=[3000], n_samples=300, sampling_steps=50, last_k=5, chunk=150)
    r = study.evaluate(s, tmp_path, 3000, 0)
    assert r["hallucinated"] >= 2 and r["hallucinated"] + r["in_support"] + r["invalid"] == 300
    assert set(r["detection"]) == {study.MEAN, "largest 4x4 patch", "per foreground pixel", "largest strip",
                                   "no trajectory"}
    row = r["detection"][study.MEAN]["paper's window"]
    assert 0 <= row["auroc"] <= 1 and 0 < row["auroc_se"] < 0.5 and row["within"] is not None
    assert r["windows"][study.MEAN]["paper's window"] == [700, 850] or r["windows"][study.MEAN]["paper's window"] == (700, 850)


def test_aggregation_claims_name_each_local_aggregation():
    from modeinterp.method import detection

    def row(a, within=None):
        return detection.Detection(a, detection.OperatingPoint(0.1, 0.95, 0.5), within)
    table = {study.MEAN: ({"w": row(0.6)}, (0, 1)),
             "largest 4x4 patch": ({"w": row(0.7), detection.BEST: row(0.8, 0.75)}, (0, 9))}
    claims = study.aggregation_claims(table, "w", "paper_window", within="equal shape count")
    assert [(c["name"], c["ours"]) for c in claims] == [
        ("largest_4x4_patch_paper_window_auroc", 0.7), ("largest_4x4_patch_best_auroc", 0.8),
        ("largest_4x4_patch_best_auroc_equal_shape_count", 0.75)]
    assert "t=0..9" in claims[1]["what"]
    assert len(study.aggregation_claims(table, "w", "paper_window")) == 2


def test_summary_prints_each_auroc_with_its_standard_error():
    from modeinterp.method import detection
    d = detection.Detection(0.7, detection.OperatingPoint(0.1, 0.95, 0.5), None, 0.04)
    text = study.summary({study.MEAN: ({"w": d, detection.BEST: d}, (0, 9))}, {"w": (3, 5)})
    assert "(t=3..5): AUROC 0.700 +- 0.040;" in text and "(t=0..9): AUROC 0.700 +- 0.040;" in text
