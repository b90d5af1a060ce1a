r"""scikit-learn's digits as a small classification problem, with the long-tailed imbalance profile
of Softsign's imbalanced-classification experiment (used by ``convexlab bench compare`` and by
notebook 14 through :mod:`convexlab.lab.imbalance`).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def imbalance_counts(counts, ratio: float) -> list[int]:
    r"""Exponential imbalance profile: class c keeps ⌈n_c · ratio^{−c/(C−1)}⌉ of its n_c samples.

    ratio = n_0/n_{C−1} (largest over smallest class, for equal n_c); ratio 1 keeps everything
    (Softsign [SS-PLAN] E2 [D], the long-tailed CIFAR construction).

    >>> imbalance_counts([100, 100, 100], 100)
    [100, 10, 1]
    """
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio >= 1):
        raise ValueError(f"ratio must be a finite number >= 1, got {ratio!r}")
    C = len(counts)
    if C < 2:
        raise ValueError(f"counts must have at least 2 classes, got {len(counts)}")
    return [max(1, math.ceil(n * ratio ** (-c / (C - 1)) - 1e-9)) for c, n in enumerate(counts)]


def balanced_accuracy(pred: torch.Tensor, y: torch.Tensor, classes: int) -> float:
    r"""Mean over classes present in ``y`` of the per-class recall: (1/|C|) Σ_c P(ŷ = c | y = c).

    >>> balanced_accuracy(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), 2)
    0.8333333333333333
    """
    recalls = []
    for c in range(classes):
        mask = y == c
        if bool(mask.any()):
            recalls.append(float((pred[mask] == c).double().mean()))
    return float(np.mean(recalls))


_DIGITS_CACHE: dict = {}


def digits_splits(ratio: float = 1.0, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    r"""scikit-learn's digits (1797 images 8×8, 10 classes), pixels scaled to [0, 1], split once.

    Stratified 25 % test and 15 % validation (both balanced), the rest is the training pool, which
    is then subsampled with :func:`imbalance_counts` (``ratio``). The split is seeded (``seed``) and
    does not depend on the run seed, so every optimizer sees the same data.
    """
    key = (float(ratio), seed)
    if key in _DIGITS_CACHE:
        return _DIGITS_CACHE[key]
    from sklearn.datasets import load_digits

    data = load_digits()
    X = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    pool_sizes = []
    per_class = []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(data.target == c))
        n_test, n_val = round(0.25 * len(idx)), round(0.15 * len(idx))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test:n_test + n_val])
        per_class.append(idx[n_test + n_val:])
        pool_sizes.append(len(per_class[-1]))
    keep = imbalance_counts(pool_sizes, ratio)
    parts["train"] = [idx[:k] for idx, k in zip(per_class, keep)]
    out = {}
    for split, chunks in parts.items():
        ids = torch.as_tensor(np.concatenate(chunks))
        out[split] = (X[ids], y[ids])
    _DIGITS_CACHE[key] = out
    return out
