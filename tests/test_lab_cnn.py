"""The Figure-5 stand-in (notebook 18): the CNN's shape, one run's curves and its cosine schedule, the lr
picked on validation loss, the verdict rule on synthetic results (all three statuses), bad input."""

import math

import numpy as np
import pytest
import torch

from convexlab.lab import cnn as C
from convexlab.problems.digits import digits_splits
from convexlab.theory import claims

KEYS = ("val_loss", "val_acc", "test_loss", "test_acc")


def test_small_cnn_maps_8x8_images_to_ten_logits():
    model = C.small_cnn(4)
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    assert sum(p.numel() for p in model.parameters()) == (1 * 9 + 1) * 4 + (4 * 9 + 1) * 8 + (8 * 16 + 1) * 10
    with pytest.raises(ValueError, match="channels"):
        C.small_cnn(0)


def test_one_run_gives_curves_from_a_shared_initialisation():
    data = digits_splits()
    a = C.train_curves("StoSignSGD", 1e-2, data, seed=1, epochs=2, channels=2)
    b = C.train_curves("AdamW", 3e-3, data, seed=1, epochs=2, channels=2)
    again = C.train_curves("StoSignSGD", 1e-2, data, seed=1, epochs=2, channels=2)
    for k in KEYS:
        assert a[k].shape == (3,) and np.isfinite(a[k]).all()
        assert a[k][0] == b[k][0]  # epoch 0: the same seeded initialisation for every optimizer
        assert np.array_equal(a[k], again[k])  # a seed fixes the run
    assert a["test_loss"][-1] < a["test_loss"][0] - 0.5 and a["test_acc"][-1] > 0.5  # it learns
    # the recorded numbers are the model's cross-entropy and accuracy on the split
    torch.manual_seed(1)
    X, y = data["test"]
    with torch.no_grad():
        logits = C.small_cnn(2)(X.reshape(-1, 1, 8, 8))
    assert a["test_loss"][0] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-6)
    assert a["test_acc"][0] == pytest.approx(float((logits.argmax(1) == y).double().mean()))


def test_the_cosine_schedule_and_the_decay_reach_the_optimizer(monkeypatch):
    seen = []

    class Recorder(torch.optim.SGD):
        def __init__(self, params, lr, weight_decay):
            seen.append(("wd", weight_decay))
            super().__init__(params, lr=lr)

        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])

    monkeypatch.setitem(C.REGISTRY, "StoSignSGD", Recorder)
    data = digits_splits()
    C.train_curves("StoSignSGD", 0.4, data, seed=0, epochs=2, batch=256, channels=1)
    T = 2 * math.ceil(data["train"][1].numel() / 256)
    assert seen[0] == ("wd", C.WEIGHT_DECAY)
    lrs = seen[1:]
    assert len(lrs) == T
    assert lrs == pytest.approx([0.4 * 0.5 * (1 + math.cos(math.pi * t / T)) for t in range(T)], rel=1e-12)


def _fake(val_best, test_best):
    """A stand-in trainer: validation loss lowest at lr ``val_best``, test loss lowest at ``test_best``;
    lr 99 diverges (inf loss)."""
    def trainer(name, lr, data, seed, epochs, batch, channels):
        e = np.arange(epochs + 1, dtype=float)
        if lr == 99:
            return {k: np.full(epochs + 1, np.inf if "loss" in k else 0.1) for k in KEYS}
        val = (0.1 if lr == val_best else 0.5) + 0.01 * seed + 1.0 / (1 + e)
        test = (0.2 if lr == test_best else 0.05) + 0.01 * seed + 1.0 / (1 + e)
        return dict(val_loss=val, test_loss=test, val_acc=0.9 - 0 * e, test_acc=0.8 + 0.01 * seed - 0 * e)
    return trainer


def test_the_pick_follows_validation_loss_even_against_test():
    r = C.sweep(digits_splits(), optimizers=("StoSignSGD", "AdamW"), seeds=3, epochs=2, trainer=_fake(0.2, 0.1),
                lr_grids={"StoSignSGD": (0.1, 0.2, 99), "AdamW": (0.2, 0.1)})
    assert r["lr"] == [0.2, 0.2] and r["best"].tolist() == [1, 0]
    assert r["curves"]["val_loss"].shape == (2, 3, 3, 3) and np.isnan(r["curves"]["val_loss"][1, 2]).all()
    assert r["at_best"]["test_loss"].shape == (2, 3, 3)
    assert r["at_best"]["test_loss"][0, :, -1] == pytest.approx([0.05 + 1 / 3, 0.06 + 1 / 3, 0.07 + 1 / 3])
    assert r["edge"] == ["AdamW"]  # the middle of StoSignSGD's grid; the diverged lr 99 is never picked
    assert torch.get_num_threads() >= 1


def _result(sto_loss, base_loss, sto_acc, base_acc):
    """A sweep-shaped result with per-seed final test losses and accuracies for StoSignSGD and Signum."""
    loss = np.array([sto_loss, base_loss], dtype=float)
    acc = np.array([sto_acc, base_acc], dtype=float)
    at_best = {"test_loss": np.stack([loss + 0.5, loss], axis=2), "test_acc": np.stack([acc - 0.5, acc], axis=2)}
    at_best["val_loss"], at_best["val_acc"] = at_best["test_loss"], at_best["test_acc"]
    return dict(optimizers=("StoSignSGD", "Signum"), seeds=loss.shape[1], epochs=1, lr=[1e-2, 1e-3],
                lr_grids={"StoSignSGD": (1e-2,), "Signum": (1e-3,)}, at_best=at_best, edge=[])


@pytest.mark.parametrize("sto_loss, base_loss, sto_acc, base_acc, expected", [
    ([0.10, 0.11, 0.12], [0.20, 0.22, 0.21], [0.96, 0.96, 0.965], [0.95, 0.955, 0.96], "supported"),
    # lower loss, but the accuracy falls short by more than 0.01: not "comparable"
    ([0.10, 0.11, 0.12], [0.20, 0.22, 0.21], [0.90, 0.91, 0.90], [0.95, 0.955, 0.96], "inconclusive"),
    ([0.30, 0.31, 0.32], [0.20, 0.22, 0.21], [0.95, 0.96, 0.95], [0.95, 0.955, 0.96], "not supported"),
    ([0.10, 0.30, 0.20], [0.20, 0.22, 0.21], [0.95, 0.96, 0.95], [0.95, 0.955, 0.96], "inconclusive"),
])
def test_the_verdict_rule(sto_loss, base_loss, sto_acc, base_acc, expected):
    r = _result(sto_loss, base_loss, sto_acc, base_acc)
    status, numbers, crit = C.cnn_verdict(r)
    assert status == expected and "vs Signum: Δloss" in numbers and "mean + 3se < 0" in crit
    d = np.array(sto_loss) - np.array(base_loss)
    assert f"Δloss {d.mean():+.4f} ± {3 * d.std(ddof=1) / math.sqrt(3):.4f}" in numbers
    reduced = C.cnn_verdict(r, reduced=True)
    assert reduced[0] == "inconclusive" and reduced[1].startswith(f"reduced-size runs (the criterion alone gives {expected!r})")


def test_paired_differences_final_and_area():
    r = _result([0.1, 0.2, 0.3], [0.3, 0.3, 0.3], [0.9] * 3, [0.9] * 3)
    assert C.paired(r, "Signum") == pytest.approx((-0.1, 0.1 / math.sqrt(3)))
    # the mean over epochs 1..E (here E = 1: the final epoch itself); epoch 0 = the +0.5 offset row
    assert C.paired(r, "Signum", epoch="mean") == pytest.approx(C.paired(r, "Signum"))
    assert C.paired(r, "Signum", epoch=0) == pytest.approx(C.paired(r, "Signum"))
    with pytest.raises(ValueError, match="AdamW"):
        C.paired(r, "AdamW")
    with pytest.raises(ValueError, match="key"):
        C.paired(r, "Signum", key="train_loss")
    with pytest.raises(ValueError, match="epoch"):
        C.paired(r, "Signum", epoch=5)


def test_the_ledger_row_names_notebook_18():
    row = {c.id: c for c in claims.CLAIMS}["stosignsgd.cnn_test_loss"]
    assert row.notebooks == ("18",) and row.settle


def test_scale_text_states_the_size():
    data = digits_splits()
    r = C.sweep(data, optimizers=("StoSignSGD", "Signum"), seeds=2, epochs=1, channels=1, trainer=_fake(1e-2, 1e-2))
    text = C.scale_text(r)
    assert r["n_params"] == sum(p.numel() for p in C.small_cnn(1).parameters())
    assert f"({r['n_params']} params)" in text
    assert "2 seeds" in text and f"{math.ceil(r['n_train'] / 32)} steps of batch 32" in text


@pytest.mark.parametrize("kw, match", [
    (dict(optimizers=("Nope",)), "optimizers"), (dict(optimizers=()), "optimizers"), (dict(seeds=1), "seeds"),
    (dict(epochs=0), "epochs"), (dict(batch=0), "batch"), (dict(channels=0), "channels"), (dict(threads=0), "threads"),
    (dict(lr_grids={"StoSignSGD": (1e-3,)}), "lr_grids"), (dict(lr_grids={"StoSignSGD": (-1.0,), "Signum": (1.0,),
                                                                         "AdamW": (1.0,)}), "lr"),
    (dict(data={"train": None}), "data"),
])
def test_bad_input_raises_value_error_naming_it(kw, match):
    args = dict(data=digits_splits(), seeds=2, epochs=1, trainer=_fake(1e-2, 1e-2))
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        C.sweep(**args)


def test_bad_run_and_verdict_input():
    data = digits_splits()
    for kw, match in ((dict(name="Adam"), "name"), (dict(lr=0.0), "lr"), (dict(epochs=0), "epochs"),
                      (dict(batch=0), "batch")):
        args = dict(name="AdamW", lr=1e-3, data=data, seed=0, epochs=1)
        args.update(kw)
        with pytest.raises(ValueError, match=match):
            C.train_curves(**args)
    with pytest.raises(ValueError, match="tol"):
        C.cnn_verdict(_result([0.1] * 3, [0.1] * 3, [0.9] * 3, [0.9] * 3), tol=-1)
