r"""The survey's optimizer taxonomy, with every registry optimizer placed in it.

The seven categories are those of the LLM-optimizer survey (Ranganath, "Navigating LLM Valley:
From AdamW to Memory-Efficient and Matrix-Based Optimizers", arXiv 2605.09176, abstract and §2):
classical first-order, adaptive, memory-efficient, second-order / curvature-aware, sign-based
(and discovered), low-rank / projection-based, and matrix-based. The survey's categories overlap
(Lion is both sign-based and memory-efficient), so each optimizer has one *primary* category (the
one its update rule is defined by) and a tuple of *secondary* ones, each with the reason. The
placement is ours [D]; the reasons name the feature of the update that puts it there.

Categories with no registry optimizer (second-order, low-rank) are listed as empty rather than
left out, so the table shows what the benchmark does not cover. The classical first-order
category's own entry is SGDMomentum (a recombination, left out of ``bench compare`` by default).

>>> sorted(r["optimizer"] for r in placement_table())[0] in TAXONOMY_PLACEMENT
True
"""

from __future__ import annotations

from dataclasses import dataclass

#: category key → (title, what puts an optimizer there); survey arXiv 2605.09176 §2
CATEGORIES: dict[str, tuple[str, str]] = {
    "classical": ("classical first-order", "a step along the (momentum) gradient, one global step size"),
    "adaptive": ("adaptive", "per-coordinate step sizes from running gradient moments (Adam family)"),
    "memory_efficient": ("memory-efficient", "at most one state tensor per parameter (≤ 4 bytes/param in fp32)"),
    "second_order": ("second-order / curvature-aware", "a preconditioner from curvature (Shampoo, Sophia, K-FAC)"),
    "sign_based": ("sign-based / discovered", "the update is the (soft or stochastic) sign of a momentum"),
    "low_rank": ("low-rank / projection-based", "updates or states in a low-rank subspace (GaLore)"),
    "matrix_based": ("matrix-based", "the update is a function of the whole weight matrix (polar factor)"),
}


@dataclass(frozen=True)
class Placement:
    """Where one optimizer sits: its primary category, secondary ones and why."""

    primary: str
    secondary: tuple[str, ...]
    reason: str


#: registry name → placement [D]. Every registry optimizer must have one: :func:`placement_of` raises
#: for one without and ``tests/test_bench_entries.py`` fails (as for the benchmark kwargs of
#: ``bench optim`` and ``bench compare``)
TAXONOMY_PLACEMENT: dict[str, Placement] = {
    "SignSGD": Placement("sign_based", ("memory_efficient",), "d = sign(g); no state"),
    "Signum": Placement("sign_based", ("memory_efficient",), "d = sign(m) with one momentum buffer"),
    "Lion": Placement("sign_based", ("memory_efficient",),
                      "discovered by program search; sign of an interpolated momentum, one buffer"),
    "StoSignSGD": Placement("sign_based", ("memory_efficient",),
                            "unbiased stochastic sign of the momentum (envelope: running max of the magnitude of m), one buffer"),
    "IEStoSignSGD": Placement("sign_based", (), "stochastic sign with an improved (running-max) envelope"),
    "SignConverted": Placement("sign_based", ("adaptive",), "stochastic sign of an AdamW update direction"),
    "AdamW": Placement("adaptive", (), "first and second moments, decoupled weight decay"),
    "AdaMax": Placement("adaptive", (), "first moment and an infinity-norm second moment"),
    "SFAdamW": Placement("adaptive", ("classical",),
                         "Adam second moment, schedule-free averaging in place of first-moment momentum"),
    "SoftSignum": Placement("sign_based", ("classical", "memory_efficient"),
                            "sign phase, then a tanh soft sign whose temperature relaxes it to momentum SGD"),
    "Muon": Placement("matrix_based", ("memory_efficient",), "polar factor of the momentum (Newton–Schulz)"),
    "NorMuon": Placement("matrix_based", ("adaptive",), "polar factor with row-wise second-moment normalisation"),
    "SoftMuon": Placement("matrix_based", ("sign_based",),
                          "soft polar factor: spectral soft sign that relaxes Muon toward momentum SGD"),
    "SFNorMuon": Placement("matrix_based", ("adaptive",), "NorMuon direction with schedule-free averaging"),
    "NesterovStoSignSGD": Placement("sign_based", ("memory_efficient",),
                                    "StoSignSGD's stochastic sign of a Nesterov look-ahead (a recombination)"),
    "SFLion": Placement("sign_based", ("classical",), "Lion's sign with schedule-free averaging (a recombination)"),
    "AlgebraicSoftSignum": Placement("sign_based", ("classical", "memory_efficient"),
                                     "algebraic soft sign τm/√(1+τ²m²) of a momentum, fixed τ (a recombination)"),
    "SGDMomentum": Placement("classical", ("memory_efficient",), "d = heavy-ball momentum (torch SGD), one buffer"),
    "HardSwitch": Placement("sign_based", ("classical", "memory_efficient"),
                            "Signum's sign for S steps, then momentum SGD; one buffer (a recombination)"),
}


def placement_of(name: str) -> Placement:
    """The :class:`Placement` of registry optimizer ``name``.

    Raises:
        ValueError: ``name`` is not placed (an optimizer added to the registry without a placement).
    """
    if name not in TAXONOMY_PLACEMENT:
        raise ValueError(f"name must be a placed optimizer (one of {sorted(TAXONOMY_PLACEMENT)}), got {name!r}; "
                         "add it to convexlab.bench.taxonomy.TAXONOMY_PLACEMENT")
    return TAXONOMY_PLACEMENT[name]


def placement_table(names=None) -> list[dict]:
    """One row per optimizer (default: every registry optimizer): primary, secondary, reason."""
    if names is None:
        from convexlab.optim import REGISTRY

        names = list(REGISTRY)
    rows = []
    for n in names:
        p = placement_of(n)
        rows.append(dict(optimizer=n, primary=CATEGORIES[p.primary][0],
                         secondary=", ".join(CATEGORIES[s][0] for s in p.secondary), reason=p.reason))
    return rows


def category_table(names=None) -> list[dict]:
    """One row per survey category: the optimizers placed there (primary, then secondary), or none."""
    if names is None:
        from convexlab.optim import REGISTRY

        names = list(REGISTRY)
    rows = []
    for key, (title, meaning) in CATEGORIES.items():
        prim = [n for n in names if placement_of(n).primary == key]
        sec = [n for n in names if key in placement_of(n).secondary]
        rows.append(dict(category=title, meaning=meaning, primary=", ".join(prim) or "—",
                         secondary=", ".join(sec) or "—", count=len(prim)))
    return rows
