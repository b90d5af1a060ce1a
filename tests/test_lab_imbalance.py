"""The imbalanced-classification sweep (notebook 14): shapes, the lr picked on validation, the
intervals, the verdict rule, bad input."""

import math

import numpy as np
import pytest
import torch

from convexlab.problems.digits import digits_splits, imbalance_counts
from convexlab.lab import imbalance as I
from convexlab.theory import claims


def _tiny(**kw):
    args = dict(ks=(1, 50), optimizers=("SoftSignum", "Signum"), seeds=2, steps=20, batch=16, hidden=8,
                lr_grids={"SoftSignum": (1e-3, 1e-2), "Signum": (1e-3,)})
    args.update(kw)
    return I.sweep(digits_splits, **args)


def test_sweep_shapes_lr_pick_and_intervals():
    r = _tiny()
    assert r["val"].shape == r["test"].shape == (2, 2, 2, 2)
    assert np.isnan(r["val"][1, :, 1]).all() and not np.isnan(r["val"][1, :, 0]).any()  # a shorter grid is padded
    for i, name in enumerate(r["optimizers"]):
        for j in range(2):
            a = r["best"][i, j]
            assert a == np.nanargmax(r["val"][i, j].mean(axis=1))  # picked on validation, not on test
            assert r["lr"][i][j] == r["lr_grids"][name][a]
            x = r["test"][i, j, a]
            assert r["test_at_best"][i, j].tolist() == x.tolist()
            assert r["mean"][i, j] == pytest.approx(x.mean())
            se = x.std(ddof=1) / math.sqrt(2)
            assert r["se"][i, j] == pytest.approx(se)
            assert r["lo"][i, j] == pytest.approx(x.mean() - 3 * se) and r["hi"][i, j] == pytest.approx(x.mean() + 3 * se)
    assert ((r["test"][~np.isnan(r["test"])] >= 0) & (r["test"][~np.isnan(r["test"])] <= 1)).all()
    # a one-point grid never counts as a grid edge; a two-point grid always does
    assert all(e.startswith("SoftSignum") for e in r["edge"]) and len(r["edge"]) == 2


def test_the_pick_follows_validation_even_against_test(monkeypatch):
    """With a stand-in trainer whose validation prefers lr 0.2 and whose test prefers lr 0.1, lr 0.2 is chosen."""
    def fake(name, lr, data, seed, steps, batch, hidden):
        return (0.9 if lr == 0.2 else 0.5) + 0.01 * seed, (0.3 if lr == 0.2 else 0.8) + 0.01 * seed
    monkeypatch.setattr(I, "train_once", fake)
    r = I.sweep(lambda k: None, ks=(1, 10), optimizers=("SoftSignum", "AdamW"), seeds=3, steps=5,
                lr_grids={"SoftSignum": (0.1, 0.2, 0.4), "AdamW": (0.2, 0.1)})
    assert r["lr"] == [[0.2, 0.2], [0.2, 0.2]]
    assert r["mean"] == pytest.approx(np.full((2, 2), 0.31))
    assert r["edge"] == ["AdamW k=1", "AdamW k=10"]


def _result(soft, base, ks=(1, 50)):
    """A sweep-shaped result with given per-seed test accuracies [k][seed] for SoftSignum and Signum."""
    t = np.array([soft, base], dtype=float)
    return dict(ks=ks, optimizers=("SoftSignum", "Signum"), seeds=t.shape[2], steps=1, batch=1, hidden=4,
                lr_grids={"SoftSignum": (1.0,), "Signum": (1.0,)}, test_at_best=t, mean=t.mean(2),
                se=t.std(2, ddof=1) / math.sqrt(t.shape[2]), edge=[])


@pytest.mark.parametrize("soft, base, expected", [
    ([[0.5, 0.5, 0.5], [0.80, 0.81, 0.82]], [[0.9, 0.9, 0.9], [0.70, 0.71, 0.72]], "supported"),  # k = 1 is ignored
    ([[0.5, 0.5, 0.5], [0.60, 0.61, 0.62]], [[0.5, 0.5, 0.5], [0.70, 0.71, 0.72]], "not supported"),
    ([[0.5, 0.5, 0.5], [0.60, 0.80, 0.70]], [[0.5, 0.5, 0.5], [0.70, 0.71, 0.72]], "inconclusive"),
])
def test_the_verdict_rule(soft, base, expected):
    status, numbers, crit = I.imbalance_verdict(_result(soft, base))
    assert status == expected and "k=50 vs Signum" in numbers and "mean − 3se" in crit
    reduced = I.imbalance_verdict(_result(soft, base), reduced=True)
    assert reduced[0] == "inconclusive" and reduced[1].startswith(f"reduced-size runs (the criterion alone gives {expected!r})")


def test_the_ledger_row_names_notebook_14_and_states_what_settles_it():
    row = {c.id: c for c in claims.CLAIMS}["softsign.imbalanced_classification"]
    assert row.notebooks == ("14",) and row.provenance and row.settle and not row.pending
    assert claims.status_of(row, {}, {}) == (claims.NOT_RUN, ["not run in this run: notebook 14"])


def test_balanced_accuracy_and_the_imbalance_profile():
    assert I.balanced_accuracy(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), 2) == pytest.approx(5 / 6)
    train = digits_splits(50)["train"][1]
    counts = torch.bincount(train, minlength=10).tolist()
    full = [int((digits_splits(1)["train"][1] == c).sum()) for c in range(10)]
    assert counts == imbalance_counts(full, 50)
    assert min(counts) == math.ceil(full[-1] / 50)  # the ceiling: the realized ratio is below k on ~108 images/class
    r = _tiny(ks=(1, 50), steps=2)
    assert r["realized"] == (max(full) / min(full), max(counts) / min(counts)) and r["n_train"] == (sum(full), sum(counts))


@pytest.mark.parametrize("kw, match", [
    (dict(ks=()), "ks"), (dict(ks=(0.5,)), "ks"), (dict(ks=(float("inf"),)), "ks"),
    (dict(optimizers=("Nope",)), "optimizers"), (dict(optimizers=()), "optimizers"),
    (dict(seeds=1), "seeds"), (dict(steps=0), "steps"), (dict(batch=0), "batch"), (dict(hidden=0), "hidden"),
    (dict(lr_grids={"SoftSignum": (1e-3,)}), "lr_grids"), (dict(lr_grids={"SoftSignum": (-1.0,), "Signum": (1.0,)}), "lr"),
])
def test_bad_input_raises_value_error_naming_it(kw, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kw)


def test_bad_splits_and_verdict_input():
    with pytest.raises(ValueError, match="splits"):
        I.sweep("digits", ks=(1,), optimizers=("Signum",))
    with pytest.raises(ValueError, match="tol"):
        I.imbalance_verdict(_result([[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]]), tol=-1)
    with pytest.raises(ValueError, match="AdamW"):
        I.paired_differences(_result([[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]]), "AdamW")


def test_digits_helpers_doctests():
    import doctest

    from convexlab.problems import digits

    result = doctest.testmod(digits)
    assert result.attempted >= 2 and result.failed == 0


def test_the_sweep_runs_on_one_thread_whatever_the_callers_count(monkeypatch):
    # the numbers must not depend on the machine's core count: every run sees one torch thread, and the
    # caller's count comes back afterwards
    seen = []
    real = I.train_once

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(I, "train_once", spy)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _tiny(ks=(50,))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
    assert seen and set(seen) == {1}


def test_torch_threads_restores_the_count_on_error():
    from convexlab.lab.threads import torch_threads

    saved = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == saved
    with pytest.raises(ValueError, match="n must be"):
        with torch_threads(0):
            pass
