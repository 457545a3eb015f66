"""The training-budget study: known answers for its statistics, and the study's run on tiny settings (training,
checkpoints, records, rerun, errors)."""
import json
import shutil
from pathlib import Path

import numpy as np
import torch
import pytest

from modeinterp.method import detection
from modeinterp.experiments import budget, study

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SHAPES = ROOT / "models" / "shapes-6d2d92b173b6171d.pt"  # notebook 03's 32x32 model (3,000 steps)


def test_slope_with_equal_errors_is_ordinary_least_squares():
    rng = np.random.default_rng(0)
    x = np.log10([750, 1500, 3000, 6000, 12000])
    y = 0.5 + 0.1 * x + rng.normal(0, 0.01, len(x))
    b, se = budget.slope(x, y, np.full(len(x), 0.01))
    assert b == pytest.approx(np.polyfit(x, y, 1)[0])
    assert se == pytest.approx(0.01 / np.sqrt(np.sum((x - x.mean()) ** 2)))
    with pytest.raises(ValueError, match="two distinct"):
        budget.slope([1, 1], [0.5, 0.6], [0.1, 0.1])


def test_study_settings_are_checked():
    with pytest.raises(ValueError, match="unknown study setting"):
        budget.study_config(n_sample=10)
    with pytest.raises(ValueError, match="increasing"):
        budget.study_config(checkpoints=[100, 50])
    assert budget.model_config(budget.study_config()).extra["decay"] == "constant"
    with pytest.raises(ValueError, match="series must be one of"):
        budget.study_config("faces")
    hands = budget.study_config("hands")
    assert hands["series"] == "hands" and budget.model_config(hands).name == "hands-study"
    assert budget.model_config(hands).extra["min_gap"] == hands["min_gap"]


TINY = dict(checkpoints=[2, 4], n_train=200, n_samples=100, sampling_steps=20, n_trajectories=4, chunk=50, fork_pairs=0,
            last_k=3, seeds=2)


def test_a_tiny_study_records_every_checkpoint_and_reruns_without_work(tmp_path):
    s = budget.study_config(**TINY)
    results, work = tmp_path / "study.json", tmp_path / "work"
    records = budget.run_study(s, work, results)
    assert [(r["step"], r["seed"]) for r in records] == [(2, 0), (2, 1), (4, 0), (4, 1)]  # each seed at every checkpoint
    assert sorted(p.name for p in work.glob("*/step-*.pt")) == ["step-2.pt", "step-4.pt"]
    saved = json.loads(results.read_text())
    assert saved["settings"] == s and len(saved["loss"]) == 4
    stamp = results.stat().st_mtime_ns
    assert budget.run_study(s, work, results) == records and results.stat().st_mtime_ns == stamp
    fresh = tmp_path / "again.json"  # evaluating only what is saved: the same records, no training
    again = budget.run_study(s, work, fresh, workers=1, train_too=False)
    assert [{**r, "minutes": 0} for r in again] == [{**r, "minutes": 0} for r in records]
    with pytest.raises(ValueError, match="other settings"):
        budget.run_study(budget.study_config(**{**TINY, "n_samples": 120}), work, results)


def test_a_tiny_hands_study_labels_by_both_finger_counters(tmp_path):
    s = budget.study_config("hands", **{**TINY, "checkpoints": [2], "seeds": 1})
    records = budget.run_study(s, tmp_path / "work", tmp_path / "hands.json")
    (r,) = records
    assert r["hallucinated"] + r["in_support"] + r["invalid"] == s["n_samples"]
    assert set(r["kinds"]) == {"four", "six", "other"} and sum(r["kinds"].values()) == r["hallucinated"]


def test_evaluating_a_trained_checkpoint_reports_every_aggregation_with_controls(tmp_path):
    """Notebook 03's shipped model as a checkpoint: 300 samples of 50 steps hold a few hallucinations."""
    shutil.copy(SHIPPED_SHAPES, tmp_path / "step-3000.pt")
    s = budget.study_config(size=32, checkpoints=[3000], n_samples=300, sampling_steps=50, last_k=5, chunk=150,
                            fork_pairs=3, fork_continuations=2)
    r = budget.evaluate(s, tmp_path, 3000, 0)
    assert r["hallucinated"] >= 2 and r["hallucinated"] + r["in_support"] + r["invalid"] == 300
    assert set(r["detection"]) == {study.MEAN, "largest 4x4 patch", "per foreground pixel", "largest strip",
                                   "no trajectory"}
    labels = study.window_labels(5)
    assert list(r["detection"][study.MEAN]) == list(r["windows"][study.MEAN]) == labels.values()  # the JSON's keys
    row = r["detection"][study.MEAN][labels.paper]
    assert labels.paper == "paper's window" and labels.last == "last 5 steps"  # as in the committed study.json
    assert 0 <= row["auroc"] <= 1 and 0 < row["auroc_se"] < 0.5 and row["within"] is not None
    assert tuple(r["windows"][study.MEAN][labels.paper]) == (700, 850)
    f = r["fork"]  # the fork test at notebook 03's timesteps, on 3 pairs
    assert f["pairs"] == 3 and len(f["timesteps"]) == len(f["changed_hallucinated"]) == len(f["changed_in_support_se"])
    assert f["best_t"] in f["timesteps"] and 0 <= f["auroc"] <= 1 and f["detectable"] > 0.5  # 3 pairs detect little


def test_the_committed_study_is_read_by_the_window_labels():
    """Notebook 06 finds each window's numbers in the committed results under study.window_labels."""
    results = budget.load(ROOT / "figures" / "06_training_budget" / "study.json")
    labels = study.window_labels(results["settings"]["last_k"])
    rows = [r for r in results["records"] if r["detection"]]
    assert rows and all(list(r["detection"][study.MEAN]) == labels.values() for r in rows)
    steps, v, se = budget.series(rows, study.MEAN, labels.paper)
    assert list(steps) == [r["step"] for r in rows] and np.all((0 <= v) & (v <= 1)) and np.all(se > 0)


def _record(step, invalid, seed=0, n=100):
    return dict(step=step, seed=seed, invalid=invalid, n_samples=n)


def test_first_usable_checkpoint_is_the_first_from_which_on_all_are_readable():
    records = [_record(750, 48), _record(1500, 16), _record(3000, 4), _record(6000, 1), _record(12000, 2),
               _record(12000, 6, seed=1)]
    assert budget.invalid_share(records, 12000) == 0.06  # the worst seed counts
    with pytest.raises(ValueError, match="unreadable"):
        budget.first_usable(records)  # a late checkpoint with a bad seed leaves none
    assert budget.first_usable(records[:5]) == 3000
    assert budget.first_usable(records[:5], max_invalid=0.2) == 1500
    assert budget.first_usable([_record(750, 1), _record(1500, 9), _record(3000, 1)]) == 3000  # from then on


def test_trend_from_a_step_leaves_out_the_earlier_checkpoints():
    rows = [dict(step=s, seed=0, detection={"m": {"w": {"auroc": a, "auroc_se": 0.01}}})
            for s, a in [(100, 0.9), (1000, 0.5), (10000, 0.5)]]
    assert budget.trend(rows, "m", "w")[0] < -0.1  # the first point drives a fall
    assert budget.trend(rows, "m", "w", from_step=1000)[0] == pytest.approx(0.0, abs=1e-12)  # flat without it


def test_values_at_gives_every_seeds_number_at_the_checkpoints():
    rows = [dict(_record(s, inv, seed=k), hallucination_rate=h,
                 detection={"m": {"w": {"auroc": a, "auroc_se": 0.01}}} if a is not None else {})
            for s, k, inv, h, a in [(100, 0, 50, 0.3, 0.9), (100, 1, 40, 0.2, None), (1000, 0, 2, 0.1, 0.6)]]
    assert budget.values_at(rows, [100], field="invalid") == [0.5, 0.4]
    assert budget.values_at(rows, [100, 1000], field="hallucination_rate") == [0.3, 0.2, 0.1]
    assert budget.values_at(rows, [100, 1000], "m", "w") == [0.9, 0.6]  # a record too few to detect left out


def test_the_study_windows_are_pairs_in_the_committed_order():
    windows = budget.STUDY["candidate_windows"]
    assert all(len(w) == 2 for w in windows)
    assert [x for w in windows for x in w] == [0.0, 0.02, 0.0, 0.05, 0.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5,
                                               0.5, 0.6, 0.6, 0.7, 0.7, 0.85, 0.85, 1.0]  # the values before pairs
    committed = budget.load(ROOT / "figures" / "06_training_budget" / "study.json")["settings"]
    assert committed["candidate_windows"] == windows


def _full_record(step, seed, auroc, rate, invalid, fork_auroc=None):
    """A record with every field the reading functions use: one aggregation (the paper's mean) in every window."""
    labels = study.window_labels(10)
    row = dict(auroc=auroc, auroc_se=0.02, within=None, removed=0.3, retention=0.95)
    record = dict(step=step, seed=seed, n_samples=100, invalid=invalid, hallucinated=int(rate * 100),
                  in_support=100 - invalid - int(rate * 100),
                  hallucination_rate=rate, kinds={},
                  detection={study.MEAN: {w: row for w in labels.values()},
                             "no trajectory": {"foreground pixels": dict(row, auroc=0.8)}})
    if fork_auroc is not None:
        record["fork"] = dict(auroc=fork_auroc, auroc_se=0.1, detectable=0.2, best_t=800)
    return record


def test_the_reading_of_a_series_follows_its_numbers():
    """A series whose paper window rises as its rate falls to the paper's reads as recovering; flat, as failing."""
    s = dict(checkpoints=[1000, 10000, 100000], size=64, seeds=1, n_samples=100, retention=0.95)
    labels = study.window_labels(10)
    rising = [_full_record(1000, 0, 0.6, 0.3, 50, 0.5), _full_record(10000, 0, 0.75, 0.1, 4, 0.6),
              _full_record(100000, 0, 0.9, 0.04, 1, 0.7)]
    flat = [_full_record(t, 0, 0.7, 0.2, 2) for t in s["checkpoints"]]
    assert "recovers as hallucinations fall" in budget.verdict("shapes", s, rising, labels)
    assert "fails on models that hallucinate at 20% after 100,000 steps" in budget.verdict("shapes", s, flat, labels)
    assert (f"With 4 hallucinated samples there (every seed), an AUROC within {detection.detectable_auroc_difference(4, 95):.2f} "
            "of 0.5") in budget.verdict("shapes", s, rising, labels)
    above = [dict(r, hallucination_rate=0.2) for r in rising]  # gains, but never reaches the paper's rate
    assert "the paper's rate is not reached within this budget" in budget.verdict("hands", s, above, labels)
    text = budget.conclusion("shapes", s, rising, 10000, labels, 0.05)
    assert "50% at 1,000" in text and "a resolved trend" in text and "0.70 +- 0.10 at 100,000" in text
    assert "no resolved trend" in budget.conclusion("hands", s, flat, 1000, labels, 0.05)
    steps, v, se, detectable = budget.fork_series(rising)
    assert steps.tolist() == s["checkpoints"] and v.tolist() == [0.5, 0.6, 0.7] and detectable.max() == 0.2
    fitted = budget.trends(rising, [(study.MEAN, labels.paper)], usable=10000)[study.MEAN, labels.paper]
    assert fitted["all"][0] == pytest.approx(0.15) and fitted["last"][0] == 0.9
    assert budget.resolved(fitted["usable"]) and not budget.resolved((0.1, 0.06))


def test_training_does_not_depend_on_the_models_name_so_a_study_run_ships_as_a_notebooks_model(tmp_path):
    """Two names, one configuration otherwise: bit-identical weights and losses. ship() stores the run's last
    checkpoint under the other name, and refuses a configuration that would train another model."""
    from modeinterp.experiments import images
    from modeinterp.method import train
    s = budget.study_config("hands", **{**TINY, "checkpoints": [3], "seeds": 1, "n_train": 100})
    run = budget.model_config(s)
    again = images.ImageConfig.from_dict({**run.to_dict(), "name": "hands-procedural"})
    data = {c.name: torch.from_numpy(budget.pixels.to_signed(budget.training_images(s)))[:, None] for c in (run, again)}
    a, b = (train.train_model(c, data, progress=False) for c in (run, again))
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"]) and a["loss"] == b["loss"]
    budget._train(s, tmp_path / "work" / train.config_key(run))
    path = budget.ship(s, tmp_path / "work", again, tmp_path / "models")
    shipped = train.load(path)
    assert shipped["config"] == again.to_dict() and all(torch.equal(shipped["state"][k], a["state"][k]) for k in a["state"])
    other = images.ImageConfig.from_dict({**again.to_dict(), "lr": 0.002})
    with pytest.raises(ValueError, match=r"differs from the hands study's run in \['lr'\]"):
        budget.ship(s, tmp_path / "work", other, tmp_path / "models")
