"""Claims and the formatting of the rendered conclusions."""
import json
import math

import pytest
from modeinterp.support import claims


def test_a_claim_without_se_is_exactly_as_before_and_with_se_carries_it(tmp_path):
    assert claims.claim("auroc", 0.735, None, "x") == {"name": "auroc", "ours": 0.735, "paper": None, "what": "x"}
    c = claims.claim("auroc", 0.735, None, "x", se=0.028123)
    assert list(c) == ["name", "ours", "paper", "what", "se"] and c["se"] == 0.0281
    assert claims.claim("rate", 0.007, 0.05, "y", se=0.00264)["se"] == 0.0026  # a trailing zero of ours aside
    claims.write([c], tmp_path / "claims.json")
    assert json.loads((tmp_path / "claims.json").read_text())[0]["se"] == 0.0281


def test_formatting_helpers():
    assert claims.percent(0.246) == "24.6%" and claims.percent(0.0319, 2) == "3.19%"
    assert claims.pm(0.7351, 0.0283) == "0.735 +- 0.028" and claims.pm(0.7351, None) == "0.735"
    assert claims.span([0.69, 0.82, 0.75]) == "0.69-0.82" and claims.span([1.0, 0.9999], 3) == "1.000"
    assert claims.binomial_se(0.25, 100) == pytest.approx(math.sqrt(0.25 * 0.75 / 100))
    assert math.isnan(claims.binomial_se(0.5, 0))


@pytest.mark.parametrize("auroc, se, word", [(0.538, None, "close to chance"), (0.60, 0.06, "close to chance"),
                                             (0.735, 0.028, "above chance"), (0.373, 0.028, "below chance")])
def test_versus_chance(auroc, se, word):
    assert claims.versus_chance(auroc, se) == word


@pytest.mark.parametrize("auroc, se, removed, word", [(0.52, 0.05, 0.1, "No"), (0.735, 0.028, 0.179, "Partly"),
                                                      (0.99, 0.01, 0.96, "Yes")])
def test_detects(auroc, se, removed, word):
    assert claims.detects(auroc, se, removed, 0.95) == word


def test_differ():
    assert claims.differ(0.735, 0.028, 0.662, 0.091) is False
    assert claims.differ(0.9, 0.01, 0.6, 0.02) is True
