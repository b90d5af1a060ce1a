"""The anytime experiment (convexlab.lab.anytime): toy objective, runs and the comparison."""

import math

import pytest
import torch

from convexlab.lab.anytime import (anytime_comparison, cosine_factor, noisy_quadratic, run_cosine,
                                           run_schedule_free)
from convexlab.optim import SFAdamW


def test_noisy_quadratic():
    pb = noisy_quadratic(dim=6, cond=50.0, sigma=0.0, seed=3)
    ev = torch.linalg.eigvalsh(pb.H)
    assert ev.min().item() == pytest.approx(1 / 50) and ev.max().item() == pytest.approx(1.0)
    assert torch.allclose(pb.H, pb.H.T)
    x = torch.randn(4, 6, dtype=torch.float64)
    assert torch.allclose(pb.loss(pb.x_star.expand(2, -1)), torch.zeros(2, dtype=torch.float64))
    r = x - pb.x_star
    assert torch.allclose(pb.loss(x), 0.5 * torch.einsum("si,ij,sj->s", r, pb.H, r))
    assert torch.allclose(pb.grad(x, pb.noise(4, torch.Generator().manual_seed(0))), r @ pb.H)
    noisy = noisy_quadratic(dim=6, sigma=2.0, seed=3)
    xi = noisy.noise(4, torch.Generator().manual_seed(0))
    assert torch.allclose(noisy.grad(x, xi) - (x - noisy.x_star) @ noisy.H, 2.0 * xi)
    for kw, name in [({"dim": 0}, "dim"), ({"cond": 0.5}, "cond"), ({"sigma": -1.0}, "sigma")]:
        with pytest.raises(ValueError, match=name):
            noisy_quadratic(**kw)


def test_cosine_factor():
    assert cosine_factor(5, 100, 10) == 0.5
    assert cosine_factor(10, 100, 10) == 1.0
    assert cosine_factor(55, 100, 10) == pytest.approx(0.5)
    assert cosine_factor(100, 100, 10) == pytest.approx(0.0, abs=1e-15)
    assert cosine_factor(1, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 100)))


def test_run_cosine_shapes_and_common_random_numbers():
    pb = noisy_quadratic(dim=5, sigma=0.1)
    steps, loss = run_cosine(pb, [0.01, 0.05], 30, seeds=3, warmup=3, eval_every=7)
    assert steps == [7, 14, 21, 28, 30] and loss.shape == (5, 2, 3)
    _, alone = run_cosine(pb, 0.05, 30, seeds=3, warmup=3, eval_every=7)
    assert torch.equal(alone[:, 0], loss[:, 1])  # every lr sees the same noise
    assert (loss[-1] < pb.loss(pb.x0[None])).all()  # it descends
    with pytest.raises(ValueError, match="lrs"):
        run_cosine(pb, [], 10)
    with pytest.raises(ValueError, match="horizon"):
        run_cosine(pb, 0.1, 0)


def test_run_schedule_free_evaluates_at_x():
    pb = noisy_quadratic(dim=5, sigma=0.1)
    steps, loss = run_schedule_free(pb, [0.05], 12, seeds=2, warmup=2, eval_every=4, checkpoints=[6])
    assert steps == [4, 6, 8, 12]
    # the same run by hand, evaluated at x and at y
    p = torch.nn.Parameter(pb.x0.expand(2, -1).clone())
    opt = SFAdamW([p], lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0, warmup_steps=2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(12):
        p.grad = pb.grad(p.detach(), pb.noise(2, gen))
        opt.step()
    at_y = pb.loss(p.detach())
    opt.eval()
    at_x = pb.loss(p.detach())
    assert torch.allclose(loss[-1, 0], at_x)
    assert not torch.allclose(loss[-1, 0], at_y)  # the y iterate is a different point


def test_anytime_comparison_small():
    pb = noisy_quadratic(dim=5, sigma=0.1)
    grid = [0.01, 0.04, 0.16]
    res = anytime_comparison(pb, 20, (1, 2), grid, seeds=3, evals_per_base=3)
    assert res.horizons == [20, 40]
    assert res.sf_lr == min(res.sf_sweep, key=res.sf_sweep.get)
    for h in res.horizons:
        c = res.cosine[h]
        assert c["lr"] == min(c["sweep"], key=c["sweep"].get) and c["steps"][-1] == h
        assert res.ratio[h] == pytest.approx(res.sf_final[h][0] / c["final"][0])
        assert res.sf_final[h][0] == pytest.approx(res.sf_curve[res.sf_steps.index(h)])
        assert res.edge[h] == (c["lr"] in (grid[0], grid[-1]))
    assert res.worst_ratio == max(res.ratio.values())
    # the criterion can fail: a badly chosen single configuration is far from the tuned cosine
    bad = anytime_comparison(pb, 20, (1, 2), grid, seeds=3, evals_per_base=3, sf_lr=1e-4)
    assert bad.sf_lr == 1e-4 and bad.worst_ratio > 5
    with pytest.raises(ValueError, match="warmup_frac"):
        anytime_comparison(pb, 20, (1,), grid, warmup_frac=1.5)
    with pytest.raises(ValueError, match="multiples"):
        anytime_comparison(pb, 20, (), grid)
