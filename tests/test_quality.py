"""FID, precision and recall on hand-made feature sets, and the digit classifier whose features they use."""
import numpy as np
import pytest
import torch

from modeinterp import setup
from modeinterp.experiments import digits, quality
from modeinterp.support.params import ParameterError
from modeinterp.support.runtime import generator

from modeinterp.experiments.quality import holdout


def exact_sample(mean, cov, n, rng):
    """n points whose sample mean and (unbiased) sample covariance are exactly `mean` and `cov`."""
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(0)
    chol = np.linalg.cholesky(np.atleast_2d(np.cov(z, rowvar=False)))
    z = z @ np.linalg.inv(chol).T  # the sample covariance is now exactly I
    return mean + z @ np.linalg.cholesky(cov).T


def closed_form_fid(m1, s1, m2, s2):
    """|m1 - m2|^2 + tr(s1 + s2 - 2 (s1^1/2 s2 s1^1/2)^1/2), through symmetric eigendecompositions."""
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(inner.clip(0)).sum())


def random_spd(d, rng):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fid_matches_the_closed_form_for_two_gaussians():
    rng = np.random.default_rng(0)
    m1, m2, s1, s2 = rng.standard_normal(6), rng.standard_normal(6), random_spd(6, rng), random_spd(6, rng)
    a, b = exact_sample(m1, s1, 2000, rng), exact_sample(m2, s2, 1500, rng)
    assert quality.fid(a, b) == pytest.approx(closed_form_fid(m1, s1, m2, s2), rel=1e-8)
    # one dimension by hand: N(0, 1) against N(3, 4) is 3^2 + 1 + 4 - 2 * 2 = 10
    x = exact_sample(np.zeros(1), np.eye(1), 500, rng)
    y = exact_sample(np.full(1, 3.0), 4 * np.eye(1), 700, rng)
    assert quality.fid(x, y) == pytest.approx(10.0, rel=1e-10)


def test_fid_is_zero_for_identical_sets_symmetric_and_grows_with_a_mean_shift():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16)) * 1.2
    assert quality.fid(a, a) == pytest.approx(0, abs=1e-8)
    assert quality.fid(a, b) == pytest.approx(quality.fid(b, a), rel=1e-8)
    shifts = [quality.fid(a, a + s) for s in (0.0, 0.1, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(shifts) > 0)
    assert shifts[-1] == pytest.approx(16 * 2.0**2, rel=1e-8)  # a pure shift adds |shift|^2 only


def test_fid_survives_dead_and_duplicated_features():
    """Constant columns (dead ReLU units) and collinear ones make the covariances singular."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((500, 8))
    a[:, 3], a[:, 5] = 0.0, a[:, 4]
    b = a + np.r_[np.zeros(3), 2.0, np.zeros(4)]  # the dead column moves by 2 in the fake set
    assert quality.fid(a, a) == pytest.approx(0, abs=1e-6)
    assert quality.fid(a, b) == pytest.approx(4.0, abs=1e-5)
    assert quality.fid(np.zeros((5, 2)), np.ones((5, 2))) == pytest.approx(2.0)


def test_precision_and_recall_of_two_samples_of_one_distribution_are_near_one():
    rng = np.random.default_rng(3)
    p, r = quality.precision_recall(rng.standard_normal((1000, 2)), rng.standard_normal((1000, 2)))
    assert p > 0.95 and r > 0.95


def test_precision_and_recall_of_far_apart_clouds_are_zero():
    rng = np.random.default_rng(4)
    p, r = quality.precision_recall(rng.standard_normal((300, 3)), rng.standard_normal((300, 3)) + 100)
    assert (p, r) == (0.0, 0.0)


def test_a_fake_set_covering_half_the_real_set_has_high_precision_and_half_recall():
    rng = np.random.default_rng(5)
    centre = np.array([10.0, 0.0])
    real = np.concatenate([rng.standard_normal((500, 2)) - centre, rng.standard_normal((500, 2)) + centre])
    fake = rng.standard_normal((1000, 2)) + centre
    p, r = quality.precision_recall(real, fake)
    assert p > 0.95 and 0.45 < r < 0.52


def test_feature_sets_are_validated():
    a = np.zeros((10, 4))
    with pytest.raises(ValueError, match="2-d"):
        quality.fid(np.zeros(10), a)
    with pytest.raises(ValueError, match="same width; got 4 and 3"):
        quality.fid(a, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="fake_features needs at least 4 rows here; got 3"):
        quality.precision_recall(a, np.zeros((3, 4)), k=3)
    with pytest.raises(ValueError, match="NaN"):
        quality.fid(a, np.full((10, 4), np.nan))
    with pytest.raises(ParameterError, match="parameter 'k'"):
        quality.precision_recall(a, a, k=0)


@pytest.fixture(scope="module")
def trained():
    """The classifier on 80% of sklearn's digits (seed 0), the held-out 20%, and the features of both."""
    setup(0, 1)
    x_train, y_train, x_test, y_test = holdout(*digits.load_digits(), seed=0)
    model = quality.train_classifier(x_train, y_train, seed=0)
    return model, x_train, x_test, y_test


def test_classifier_reaches_95_percent_on_held_out_digits(trained):
    model, _, x_test, y_test = trained
    assert not model.training
    assert quality.accuracy(model, x_test, y_test) >= 0.95


def test_features_shape_and_chunking(trained):
    model, _, x_test, _ = trained
    f = quality.features(model, x_test)
    assert f.shape == (len(x_test), quality.FEATURES) and f.dtype == np.float64
    assert np.allclose(quality.features(model, x_test, chunk=7), f, rtol=1e-5, atol=1e-5)  # float32 kernels
    with pytest.raises(ValueError, match="the classifier takes 8 x 8 images"):
        quality.features(model, torch.zeros(2, 1, 28, 28))


def test_same_seed_same_classifier():
    x, y = digits.load_digits()
    f1, f2, f3 = (quality.features(quality.train_classifier(x, y, seed=s, steps=20), x[:50])
                  for s in (1, 1, 2))
    assert np.array_equal(f1, f2) and not np.allclose(f1, f3)


def test_real_digits_are_much_closer_to_real_digits_than_noisy_ones(trained):
    model, x_train, x_test, _ = trained
    noisy = (x_test + torch.randn(x_test.shape, generator=generator(1))).clamp(-1, 1)
    real = quality.features(model, x_train)
    clean = quality.fid(real, quality.features(model, x_test))
    degraded = quality.fid(real, quality.features(model, noisy))
    assert degraded > 5 * clean


def test_classifier_sizes():
    assert quality.Classifier(28)(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert quality.Classifier(28).features(torch.zeros(3, 1, 28, 28)).shape == (3, quality.FEATURES)
    with pytest.raises(ParameterError, match="parameter 'size'"):
        quality.Classifier(16)
    with pytest.raises(ValueError, match="labels must be N = 4 digits"):
        quality.train_classifier(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 2, 10]), seed=0)


def test_holdout_accuracy_of_the_digit_classifier_is_high_and_seeded():
    x, y = digits.load_digits()
    a = quality.holdout_accuracy(x, y, seed=0, steps=300)
    assert 0.8 < a <= 1 and a == quality.holdout_accuracy(x, y, seed=0, steps=300)
