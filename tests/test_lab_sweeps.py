"""The pieces every lab sweep shares (convexlab.lab.sweeps): the interval over seeds, the lr grids, and
the last steps of a verdict."""

import math

import numpy as np
import pytest

from convexlab.lab import sweeps as SW


def test_interval_is_the_mean_and_the_standard_error():
    x = np.array([1.0, 2.0, 4.0])
    m, se = SW.interval(x)
    assert m == pytest.approx(7 / 3) and se == pytest.approx(np.std(x, ddof=1) / math.sqrt(3))
    assert SW.interval(x[None, :]) == (m, se)  # any shape, flattened
    m1, se1 = SW.interval([5.0])
    assert m1 == 5.0 and math.isnan(se1)


def test_lr_grids_default_given_and_refused():
    default = {"A": (1e-3, 1e-2), "B": (0.1,)}
    assert SW.lr_grids(["A"], None, default) == default
    assert SW.lr_grids(["B"], {"B": (0.5,)}, default) == {"B": (0.5,)}
    with pytest.raises(ValueError, match="lr_grids has no learning rates for 'C'"):
        SW.lr_grids(["C"], None, default)
    with pytest.raises(ValueError, match="lr must be"):
        SW.lr_grids(["A"], {"A": (1e-3, -1.0)}, default)


def test_grid_sizes():
    assert SW.grid_sizes({"lr_grids": {"A": (1, 2, 3), "B": (4, 5, 6)}}) == "3-point"
    assert SW.grid_sizes({"lr_grids": {"A": (1,), "B": (4, 5)}}) == "1–2-point"


def test_finish_verdict_notes_grid_ends_and_makes_a_reduced_run_inconclusive():
    assert SW.finish_verdict("supported", "x 1", [], False) == ("supported", "x 1")
    assert SW.finish_verdict("supported", "x 1", ["A k=1"], False) == \
        ("supported", "x 1; chosen lr at a grid end: A k=1")
    status, numbers = SW.finish_verdict("not supported", "x 1", ["d = 8"], True, what="step")
    assert status == "inconclusive"
    assert numbers == "reduced-size runs (the criterion alone gives 'not supported'): x 1; chosen step at a grid end: d = 8"


def test_names_and_the_paired_difference():
    assert SW.names("optimizers", ["A"], ("A", "B")) == ("A",)
    with pytest.raises(ValueError, match=r"optimizers must name at least one of \('A', 'B'\), got \(\)"):
        SW.names("optimizers", [], ("A", "B"))
    with pytest.raises(ValueError, match="optimizers must be one of"):
        SW.names("optimizers", ["C"], ("A", "B"))
    values = np.array([[1.0, 2.0], [0.5, 0.5]])
    np.testing.assert_array_equal(SW.difference(values, ("A", "B"), "A", "B"), [0.5, 1.5])
    with pytest.raises(ValueError, match="method 'C' was not run; the sweep ran \\('A', 'B'\\)"):
        SW.difference(values, ("A", "B"), "C", "B", what="method")


def test_train_step_steps_or_reports_a_diverged_run():
    import torch

    from convexlab.optim import REGISTRY

    p = torch.nn.Parameter(torch.tensor([1.0, 4.0]))
    opt = REGISTRY["AdamW"]([p], lr=0.1)
    assert SW.train_step(opt, (p ** 2).sum()) and not torch.equal(p.detach(), torch.tensor([1.0, 4.0]))
    before = p.detach().clone()
    assert not SW.train_step(opt, (p * float("inf")).sum())  # a non-finite loss: nothing stepped
    assert torch.equal(p.detach(), before)
    q = torch.nn.Parameter(torch.tensor([0.0, 1.0]))
    opt = REGISTRY["AdamW"]([q], lr=0.1)
    assert not SW.train_step(opt, q.sqrt().sum())  # finite loss, infinite gradient at 0: the optimizer refuses
    assert torch.equal(q.detach(), torch.tensor([0.0, 1.0]))
