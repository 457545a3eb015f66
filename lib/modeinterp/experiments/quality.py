"""Sample quality of generated digits in the features of a small classifier: FID, precision and recall.

The paper measures each generation of recursive training by FID in the features of a LeNet trained on MNIST;
here a small LeNet-style CNN is trained on the same data (8x8 digits or 28x28 MNIST) and its penultimate
layer (after the ReLU) is the feature space. FID follows the standard implementation (Heusel et al. 2017;
pytorch-fid); precision and recall are the improved k-NN versions of Kynkaanniemi et al. 2019.
"""
import warnings

import numpy as np
import scipy.linalg
import torch
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import NearestNeighbors
from torch import nn

from ..support import params, runtime

SIZES = (8, 28)
FEATURES = 128


class Classifier(nn.Module):
    """A LeNet-style CNN for 1 x size x size digits in [-1, 1]: convolutions, a 128-unit FC layer, 10 logits.

    size 8: conv3x3(32), conv3x3(64), maxpool -> 64 x 4 x 4. size 28: conv3x3(32), maxpool, conv3x3(64),
    maxpool -> 64 x 7 x 7. Convolutions are padded and followed by ReLU.
    """

    def __init__(self, size: int = 8):
        super().__init__()
        self.size = params.choice("size", size, SIZES)
        pool = nn.MaxPool2d(2)
        convs = [nn.Conv2d(1, 32, 3, padding=1), nn.ReLU()] + ([pool] if size == 28 else [])
        convs += [nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), pool]
        side = size // 2 if size == 8 else size // 4
        self.conv = nn.Sequential(*convs, nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(64 * side * side, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate-layer activations (N x 128)."""
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N x 10)."""
        return self.head(self.features(x))


def train_classifier(images: torch.Tensor, labels: torch.Tensor, seed: int, steps: int = 600,
                     lr: float = 2e-3, batch: int = 64) -> Classifier:
    """A Classifier trained with Adam on random batches (seeded init and draws); returned in eval mode."""
    size = _check_images(images)
    labels = torch.as_tensor(labels)
    if labels.shape != (len(images),) or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"labels must be N = {len(images)} digits 0..9; got shape {tuple(labels.shape)}")
    params.integer("steps", steps, low=1)
    params.real("lr", lr, 0.0, low_open=True)
    params.integer("batch", batch, low=1)
    torch.manual_seed(seed)
    model, draws = Classifier(size), runtime.generator(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = images.float(), labels.long()
    for _ in range(steps):
        idx = torch.randint(len(x), (batch,), generator=draws)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def holdout(images: torch.Tensor, labels: torch.Tensor, seed: int,
            test: float = 0.2) -> tuple[torch.Tensor, ...]:
    """A seeded random split: (train x, train y, test x, test y), with a share `test` of rows held out."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length; got {len(images)} and {len(labels)}")
    params.real("test", test, 0.0, 1.0, low_open=True)
    order = torch.randperm(len(images), generator=runtime.generator(seed))
    n_test = int(round(test * len(images)))
    if not 0 < n_test < len(images):
        params.fail("test", f"a fraction leaving rows on both sides of a split of {len(images)} rows", test)
    held, kept = order[:n_test], order[n_test:]
    return images[kept], labels[kept], images[held], labels[held]


def holdout_accuracy(images: torch.Tensor, labels: torch.Tensor, seed: int, steps: int = 600,
                     test: float = 0.2) -> float:
    """The accuracy, on a seeded share `test` of the images held out, of a classifier trained as train_classifier
    on the rest: how well this recipe's features tell the digits apart (the classifier behind FID trains on all)."""
    x_train, y_train, x_test, y_test = holdout(images, torch.as_tensor(labels), seed, test)
    return accuracy(train_classifier(x_train, y_train, seed, steps=steps), x_test, y_test)


@torch.no_grad()
def accuracy(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of `images` whose predicted class is the label."""
    _check_images(images, classifier.size)
    return float((classifier(images.float()).argmax(1) == torch.as_tensor(labels)).float().mean())


@torch.no_grad()
def features(classifier: Classifier, images: torch.Tensor, chunk: int = 1024) -> np.ndarray:
    """The classifier's penultimate-layer features of `images` (N x 1 x size x size), float64 N x 128."""
    _check_images(images, classifier.size)
    params.integer("chunk", chunk, low=1)
    out = [classifier.features(x.float()).double() for x in images.split(chunk)]
    return torch.cat(out).numpy()


def fid(real_features, fake_features, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N x F, M x F; N, M >= 2).

    Features constant in both sets (dead ReLU units) add only their mean difference and are left out of the
    matrix square root, which is exact; if the covariance product is still singular, a ridge eps * I is added
    to both covariances, as in the standard implementation.
    """
    real, fake = _check_pair(real_features, fake_features, min_rows=2)
    diff = real.mean(0) - fake.mean(0)
    live = (real.std(0) > 0) | (fake.std(0) > 0)
    if not live.any():
        return float(diff @ diff)
    s1 = np.atleast_2d(np.cov(real[:, live], rowvar=False))
    s2 = np.atleast_2d(np.cov(fake[:, live], rowvar=False))
    covmean = _sqrtm(s1 @ s2)
    if covmean is None:
        offset = eps * np.eye(len(s1))
        covmean = _sqrtm((s1 + offset) @ (s2 + offset))
        if covmean is None:
            raise ValueError("FID: the covariance product has no usable square root even with a ridge of "
                             f"eps = {eps}; try a larger eps")
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    return max(float(value), 0.0)  # a distance: tiny negative values are rounding error


def _sqrtm(a: np.ndarray, tol: float = 1e-3) -> np.ndarray | None:
    """Real part of sqrtm(a); None if a is singular or the root is non-finite or has a complex diagonal."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            root = scipy.linalg.sqrtm(a)
        except scipy.linalg.LinAlgWarning:
            return None
    if not np.isfinite(root).all():
        return None
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=tol):
            return None
        root = root.real
    return root


def precision_recall(real_features, fake_features, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN radius manifolds.

    Each set's manifold is the union of balls around its points, of radius the distance to the k-th nearest
    other point of the set. Precision is the share of fake points inside the real manifold; recall the share
    of real points inside the fake manifold. The radii shrink with the sample size, so compare numbers
    computed with real and fake sets of the same size (and the same k).
    """
    params.integer("k", k, low=1)
    real, fake = _check_pair(real_features, fake_features, min_rows=k + 1)
    return _inside(fake, real, _radii(real, k)), _inside(real, fake, _radii(fake, k))


def _radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour among the other points."""
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    return dist[:, k]  # column 0 is the point itself


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Share of `points` within radii[j] of some centres[j] (distances computed in memory-bounded chunks)."""
    def reduce(dist, start):
        return (dist <= radii[None]).any(1)
    return float(np.concatenate(list(pairwise_distances_chunked(points, centres, reduce_func=reduce))).mean())


def _check_images(images, size: int | None = None) -> int:
    """Check a float tensor N x 1 x s x s with s in SIZES (and s == size if given); return s."""
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] != 1 or len(images) == 0 \
            or images.shape[2] != images.shape[3] or images.shape[2] not in SIZES:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"images must be a tensor N x 1 x s x s with N >= 1 and s in {SIZES}; got {shape}")
    if size is not None and images.shape[2] != size:
        raise ValueError(f"the classifier takes {size} x {size} images; got {tuple(images.shape[2:])}")
    return int(images.shape[2])


def _check_pair(real, fake, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Two finite 2-d float64 arrays with the same number of columns and at least `min_rows` rows each."""
    out = []
    for name, a in (("real_features", real), ("fake_features", fake)):
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] == 0:
            raise ValueError(f"{name} must be a 2-d array (samples x features); got shape {a.shape}")
        if len(a) < min_rows:
            raise ValueError(f"{name} needs at least {min_rows} rows here; got {len(a)}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        out.append(a)
    if out[0].shape[1] != out[1].shape[1]:
        raise ValueError(f"real and fake features must have the same width; got {out[0].shape[1]} "
                         f"and {out[1].shape[1]}")
    return out[0], out[1]
