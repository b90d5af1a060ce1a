"""The next-character sweep (notebook 16): the split, the models, the lr picked on validation (seed 0), the
hard switch's sign lr, the intervals, the verdict rule, bad input."""

import math

import numpy as np
import pytest
import torch

from convexlab.lab import charlm as C
from convexlab.optim import NonFiniteGradientError
from convexlab.theory import claims

#: a small periodic text (period 7) with a different block per split: learnable in a few steps
TEXT = (b"abcdefg" * 300) + (b"abcdefg" * 40) + (b"abcdefg" * 40)
SPLITS = C.corpus_splits(TEXT, 0.1, 0.1)


def _tiny(**kw):
    args = dict(splits=SPLITS, models=("LSTM", "Transformer"), optimizers=("SoftSignum", "Signum", "HardSwitch"),
                seeds=2, steps=4, batch=2, context=8, sizes={"LSTM": 8, "Transformer": 8}, eval_windows=4,
                lr_grids={"SoftSignum": (1e-3, 1e-2), "Signum": (1e-3, 1e-2), "HardSwitch": (0.1,)})
    args.update(kw)
    return C.sweep(**args)


def test_the_split_is_contiguous_and_fixed():
    s = C.corpus_splits(bytes(range(200)), 0.05, 0.1)
    assert [len(s[k]) for k in ("train", "val", "test")] == [170, 10, 20]
    assert torch.equal(torch.cat([s["train"], s["val"], s["test"]]), torch.arange(200))
    default = C.corpus_splits()
    n = sum(len(default[k]) for k in ("train", "val", "test"))
    assert len(default["test"]) == int(0.05 * n) and len(default["val"]) == int(0.05 * n)


def test_the_transformer_is_causal_and_both_models_give_byte_logits():
    torch.manual_seed(0)
    for name in C.MODELS:
        net = C.make_model(name, 8, 6).eval()
        x = torch.randint(0, 256, (2, 6))
        y = x.clone()
        y[:, 4] = (y[:, 4] + 1) % 256  # change a later byte
        a, b = net(x), net(y)
        assert a.shape == (2, 6, 256)
        assert torch.allclose(a[:, :4], b[:, :4]) and not torch.allclose(a[:, 4:], b[:, 4:])
    assert C.n_params("LSTM", 8, 6) == sum(p.numel() for p in C.CharLSTM(32, 8).parameters())


def test_training_learns_a_periodic_text():
    """AdamW on the period-7 text: test accuracy far above chance (1/7 of the bytes are predictable only from
    context, all of them once the period is seen)."""
    before = C.accuracy(C.make_model("LSTM", 16, 14), SPLITS["test"], 14, 8)
    val, test = C.train_once("AdamW", "LSTM", 3e-2, SPLITS, 0, 60, batch=8, context=14, size=16, eval_windows=8)
    assert before < 0.3 and val > 0.8 and test > 0.8


def test_a_diverged_run_scores_zero(monkeypatch):
    """A non-finite loss (Signum at lr 1e30 on the Transformer) and a non-finite gradient reported by the
    optimizer both end the run with accuracy 0 on both splits."""
    kw = dict(batch=2, context=8, size=8, eval_windows=4)
    assert C.train_once("Signum", "Transformer", 1e30, SPLITS, 0, 4, **kw) == (0.0, 0.0)

    class Raises:
        def zero_grad(self, set_to_none=True):
            pass

        def step(self):
            raise NonFiniteGradientError("non-finite gradient")

    monkeypatch.setattr(C, "_optimizer", lambda *a: Raises())
    assert C.train_once("AdamW", "LSTM", 1e-3, SPLITS, 0, 3, **kw) == (0.0, 0.0)


def test_sweep_shapes_lr_pick_sign_lr_and_intervals():
    threads = torch.get_num_threads()
    r = _tiny()
    assert torch.get_num_threads() == threads  # restored after the one-thread sweep
    assert r["val_grid"].shape == (3, 2, 2) and r["test"].shape == r["val"].shape == (3, 2, 2)
    assert np.isnan(r["val_grid"][2, :, 1]).all()  # the one-point grid is padded
    for i, name in enumerate(r["optimizers"]):
        for j in range(2):
            a = r["best"][i, j]
            assert a == np.nanargmax(r["val_grid"][i, j]) and r["val"][i, j, 0] == r["val_grid"][i, j, a]
            assert r["lr"][i][j] == r["lr_grids"][name][a]
            x = r["test"][i, j]
            se = x.std(ddof=1) / math.sqrt(2)
            assert r["mean"][i, j] == pytest.approx(x.mean()) and r["se"][i, j] == pytest.approx(se)
            assert r["lo"][i, j] == pytest.approx(x.mean() - 3 * se)
    for j, m in enumerate(r["models"]):  # the hard switch's sign phase runs at Signum's picked lr
        assert r["sign_lr"][m] == r["lr"][1][j]
    assert ((r["test"] >= 0) & (r["test"] <= 1)).all()
    assert r["tokens"] == 4 * 2 * 8 and r["eval_tokens"] == 4 * 8
    assert "HardSwitch" not in " ".join(r["edge"])  # a one-point grid is never a grid end
    assert "stdlib" in C.scale_text(r) and "1–2-point" in C.scale_text(r)


def test_the_pick_follows_validation_on_seed_0_even_against_test(monkeypatch):
    calls = []

    def fake(name, model, lr, splits, seed, steps, batch, context, size, eval_windows, sign_lr=None):
        calls.append((name, lr, seed, sign_lr))
        return (0.9 if lr == 0.2 else 0.5) + 0.01 * seed, (0.3 if lr == 0.2 else 0.8) + 0.01 * seed

    monkeypatch.setattr(C, "train_once", fake)
    r = C.sweep(SPLITS, models=("LSTM",), optimizers=("HardSwitch", "Signum"), seeds=3, steps=2, context=8,
                lr_grids={"Signum": (0.1, 0.2, 0.4), "HardSwitch": (0.2, 0.1)})
    assert r["lr"] == [[0.2], [0.2]] and r["mean"] == pytest.approx(np.full((2, 1), 0.31))
    assert r["edge"] == ["HardSwitch LSTM"]
    # grid on seed 0 only, then seeds 1, 2 at the pick; Signum first, its pick handed to the hard switch
    assert calls[:5] == [("Signum", 0.1, 0, None), ("Signum", 0.2, 0, None), ("Signum", 0.4, 0, None),
                         ("Signum", 0.2, 1, None), ("Signum", 0.2, 2, None)]
    assert [c for c in calls if c[0] == "HardSwitch"] == [("HardSwitch", 0.2, 0, 0.2), ("HardSwitch", 0.1, 0, 0.2),
                                                          ("HardSwitch", 0.2, 1, 0.2), ("HardSwitch", 0.2, 2, 0.2)]


def test_the_hard_switch_gets_its_sgd_lr_as_a_scale_of_the_sign_lr():
    opt = C._optimizer("HardSwitch", C.make_model("LSTM", 4, 4), 0.3, 10, 3e-3)
    g = opt.param_groups[0]
    assert g["lr"] == 3e-3 and g["sgd_lr_scale"] == pytest.approx(100.0) and g["switch_iters"] == 5
    soft = C._optimizer("SoftSignum", C.make_model("LSTM", 4, 4), 1e-2, 11, None).param_groups[0]
    assert (soft["sign_iters"], soft["transition_iters"], soft["momentum_form"]) == (5, 6, "ema")


def _result(soft, base, seeds=None):
    """A sweep-shaped result with per-seed test accuracies [model][seed] for SoftSignum and Signum."""
    t = np.array([soft, base], dtype=float)
    return dict(models=("LSTM", "Transformer")[:t.shape[1]], optimizers=("SoftSignum", "Signum"),
                seeds=t.shape[2] if seeds is None else seeds, test=t, mean=t.mean(2),
                se=t.std(2, ddof=1) / math.sqrt(t.shape[2]), edge=[])


@pytest.mark.parametrize("soft, base, expected", [
    ([[0.50, 0.51, 0.52], [0.40, 0.41, 0.42]], [[0.50, 0.51, 0.52], [0.402, 0.412, 0.422]], "supported"),  # −0.002
    ([[0.50, 0.51, 0.52], [0.40, 0.41, 0.42]], [[0.50, 0.51, 0.52], [0.42, 0.43, 0.44]], "not supported"),  # −0.02
    ([[0.50, 0.51, 0.52], [0.40, 0.45, 0.41]], [[0.50, 0.51, 0.52], [0.42, 0.43, 0.44]], "inconclusive"),
])
def test_the_verdict_rule(soft, base, expected):
    status, numbers, crit = C.charlm_verdict(_result(soft, base))
    assert status == expected and "Transformer vs Signum" in numbers and "mean − 3se ≥ −0.005" in crit
    reduced = C.charlm_verdict(_result(soft, base), reduced=True)
    assert reduced[0] == "inconclusive"
    assert reduced[1].startswith(f"reduced-size runs (the criterion alone gives {expected!r})")


def test_the_verdict_needs_three_seeds():
    two = _result([[0.5, 0.6], [0.5, 0.6]], [[0.5, 0.6], [0.5, 0.6]])
    assert C.charlm_verdict(two)[0] == "inconclusive"


def test_the_ledger_row_names_notebook_16_and_states_what_settles_it():
    row = {c.id: c for c in claims.CLAIMS}["softsign.char_level_prediction"]
    assert row.notebooks == ("16",) and row.provenance and row.settle and not row.pending


@pytest.mark.parametrize("kw, match", [
    (dict(models=()), "models"), (dict(models=("GRU",)), "models"), (dict(optimizers=()), "optimizers"),
    (dict(optimizers=("Lion",)), "optimizers"), (dict(optimizers=("HardSwitch", "SoftSignum")), "Signum"),
    (dict(seeds=1), "seeds"), (dict(steps=1), "steps"), (dict(batch=0), "batch"), (dict(context=1), "context"),
    (dict(eval_windows=0), "eval_windows"), (dict(sizes={"LSTM": 2}), "sizes"),
    (dict(sizes={"Transformer": 10}), "sizes"), (dict(context=4000), "splits"),
    (dict(lr_grids={"SoftSignum": (1e-3,)}), "lr_grids"),
    (dict(lr_grids={"SoftSignum": (-1.0,), "Signum": (1.0,), "HardSwitch": (1.0,)}), "lr"),
    (dict(splits={"train": TEXT}), "splits"),
])
def test_bad_input_raises_value_error_naming_it(kw, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kw)


@pytest.mark.parametrize("call, match", [
    (lambda: C.corpus_splits("text"), "data"), (lambda: C.corpus_splits(TEXT, 0.5), "val_fraction"),
    (lambda: C.corpus_splits(TEXT, 0.1, 0.0), "test_fraction"), (lambda: C.corpus_splits(b"abc"), "data"),
    (lambda: C.make_model("GRU", 8, 8), "model"), (lambda: C.CharTransformer(10, 4), "d"),
    (lambda: C.train_once("Lion", "LSTM", 1e-3, SPLITS, 0, 2), "name"),
    (lambda: C.train_once("AdamW", "LSTM", 0.0, SPLITS, 0, 2), "lr"),
    (lambda: C.train_once("HardSwitch", "LSTM", 0.1, SPLITS, 0, 2), "sign_lr"),
    (lambda: C.charlm_verdict(_result([[0.5, 0.5]], [[0.5, 0.5]]), tol=-1), "tol"),
    (lambda: C.paired_differences(_result([[0.5, 0.5]], [[0.5, 0.5]]), "AdamW"), "AdamW"),
])
def test_bad_arguments_of_the_helpers(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_doctests():
    import doctest

    result = doctest.testmod(C)
    assert result.attempted >= 1 and result.failed == 0
