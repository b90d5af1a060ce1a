r"""Linear online-convex-optimisation games on a box (StoSignSGD Theorem 1, [SSG-T1, SSG-PROTO]).

The learner plays x_t ∈ X = [−D∞/2, D∞/2]^d, then suffers ℓ_t(x) = ⟨c_t, x⟩ with |c_{t,i}| ≤ L_i
(Assumption A2 of StoSignSGD [SSG-A] [R]; for linear losses the subgradient is c_t itself). Games are
batched like problems: row s of x_t is the play of an independent run (seed) s, and the loss
sequence returns one c_t row per run.

* :class:`AdaptiveSignAdversary` reacts to the learner's current play x_t and to the running sum
  of its own past losses (an *adaptive* adversary: c_t depends on the learner's coins).
* :class:`ObliviousCoinLosses` draws the whole sequence in advance, independently of the learner,
  identical in every row (an *oblivious* adversary).

Both exploit the one weakness of a deterministic sign learner: it moves by η_t whatever |c_{t,i}|,
so a loss of size L_i pushing one way and a loss of size εL_i pushing back cancel for it while
their sum drifts by (1 − ε)L_i; the best fixed point in hindsight then gains (D∞/2)(1 − ε)L_i
per pair of rounds, and a deterministic sign learner's regret grows linearly in T. An unbiased
stochastic sign learner moves by η_t c_{t,i}/G_{t,i} in expectation and does not suffer this [R].
"""

from __future__ import annotations

import math

import torch

from convexlab import _validation as V
from convexlab.problems.base import sign_plus


class LinearLosses:
    r"""A sequence of linear losses c_t (rows = runs) on the box [−D∞/2, D∞/2]^d with |c_{t,i}| ≤ L_i.

    Args:
        L: the coordinate bounds (tensor of shape (d,), positive).
        D_inf: the ℓ∞ diameter of the box, > 0.
        eps: the ratio ε ∈ [0, 1) of the small losses to the large ones (class docstring).
        seed: seed of the sequence's own randomness (fixed signs s_i; the oblivious draws).

    Subclasses implement :meth:`loss`; :meth:`reset` restarts the sequence (called by the driver at
    the start of every game, so that a game can be replayed).
    """

    #: True when c_t may depend on the learner's plays (and thus on its coins)
    adaptive: bool = False

    def __init__(self, L, D_inf: float = 2.0, eps: float = 0.25, seed: int = 0, dtype: torch.dtype = torch.float64):
        L = torch.as_tensor(L, dtype=dtype)
        if L.ndim != 1 or L.numel() == 0 or not bool(torch.isfinite(L).all()) or not bool((L > 0).all()):
            raise ValueError(f"L must be a non-empty 1-D tensor of finite positive bounds, got {L!r}")
        eps = float(eps) if not isinstance(eps, bool) else math.nan
        if not (0.0 <= eps < 1.0):
            raise ValueError(f"eps must lie in [0, 1), got {eps!r}")
        seed = V.integer("seed", seed, None)
        self.L, self.D_inf, self.eps, self.seed, self.dtype = L, V.positive_finite("D_inf", D_inf), eps, seed, dtype
        gen = torch.Generator().manual_seed(seed)
        #: fixed orientation of each coordinate's game (seeded)
        self.s = sign_plus(torch.rand(self.dim, generator=gen, dtype=torch.float64) - 0.5).to(dtype)
        self.reset()

    @property
    def dim(self) -> int:
        return self.L.numel()

    @property
    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        half = torch.full((self.dim,), self.D_inf / 2, dtype=self.dtype)
        return -half, half

    def reset(self) -> None:
        """Restart the sequence (its random draws replay identically)."""
        self._gen = torch.Generator().manual_seed(self.seed + 1)

    def loss(self, t: int, x: torch.Tensor, past_sum: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """c_t for every row, given the plays x_t (S, d) and Σ_{s<t} c_s (S, d) → (S, d)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.dim}, D_inf={self.D_inf:g}, eps={self.eps:g})"


class AdaptiveSignAdversary(LinearLosses):
    r"""An adaptive adversary that reads the learner's play x_t and its own running sum S_{t−1}.

    Per coordinate, with the orientation σ_i = sign(S_{t−1,i}) (σ = s_i while S_{t−1,i} = 0, the
    seeded orientation), and u_i = σ_i·x_{t,i}:

        c_{t,i} = σ_i·L_i        if u_i ≥ 0   (the learner is on the side the sum punishes, or
                                               stays at 0: it pays L_i|x_{t,i}| and |S_i| grows by L_i),
        c_{t,i} = −ε·σ_i·L_i     if u_i < 0   (it pays ε L_i|x_{t,i}| > 0 and |S_i| shrinks by εL_i).

    A learner that stays at the box centre is punished every round: ‖S_T‖₁ = ‖L‖₁T and its regret
    (D∞/2)‖L‖₁T is linear (the frozen optimizer fails Theorem 1).

    Every loss is non-negative for the learner (⟨c_t, x_t⟩ ≥ 0), and the best comparator in
    hindsight −(D∞/2)·sign(S_T) gains (D∞/2)‖S_T‖₁. A deterministic sign learner oscillates around 0
    with equal-size steps, spends about half its rounds on the punished side and lets ‖S_T‖₁ grow
    like (1 − ε)‖L‖₁T/2: linear regret. StoSignSGD's expected step ηc/G is small on the rewarded
    side and large on the punished one, so it hides on the rewarded side and ‖S_T‖₁ stays O(√T)
    [D construction; the regret bound it is used against is StoSignSGD SSG-T1, SSG-Q10].
    """

    adaptive = True

    def loss(self, t, x, past_sum):
        sigma = torch.where(past_sum > 0, 1.0, torch.where(past_sum < 0, -1.0, self.s)).to(self.dtype)
        punished = sigma * x >= 0
        return torch.where(punished, sigma * self.L, -self.eps * sigma * self.L)


class ObliviousCoinLosses(LinearLosses):
    r"""Oblivious random losses c_{t,i} = s_i·L_i·ξ_{t,i}, ξ_{t,i} = +1 with probability p and −ε
    otherwise, drawn in advance from the sequence's own generator and identical in every row
    (independent of the learner). E c_{t,i} = s_i L_i (p − (1 − p)ε) > 0 for p > ε/(1 + ε): the
    best comparator −(D∞/2)·s gains ≈ (D∞/2)(p − (1 − p)ε)‖L‖₁T, while a deterministic sign learner
    drifts by (2p − 1)η_t, away from it for p < ½ (at p = ½ it sees symmetric signs): linear regret.
    StoSignSGD drifts at rate η_t(p − (1 − p)ε) towards it [D construction]; noise U[−½, ½] drifts
    at η_t(p − 2(1 − p)ε), away for p < 2ε/(1 + 2ε).

    Args:
        p: the probability of the large loss, in (0, 1) (default ½); the other arguments as in
            :class:`LinearLosses`.
    """

    def __init__(self, L, D_inf: float = 2.0, eps: float = 0.25, seed: int = 0, dtype: torch.dtype = torch.float64,
                 p: float = 0.5):
        p = float(p) if not isinstance(p, bool) else math.nan
        if not (0.0 < p < 1.0):
            raise ValueError(f"p must lie in (0, 1), got {p!r}")
        self.p = p
        super().__init__(L, D_inf, eps, seed, dtype)

    def loss(self, t, x, past_sum):
        up = torch.rand(self.dim, generator=self._gen, dtype=torch.float64) < self.p
        c = self.s * self.L * torch.where(up, 1.0, -self.eps).to(self.dtype)
        return c.expand_as(x).clone()
