r"""Optimizers: every algorithm of the three papers as a ``torch.optim.Optimizer``.

Each is composed from a geometry (its direction ∇ψ*), a momentum rule, an iterate rule (plain,
box-projected, schedule-free) and a named weight-decay placement (:mod:`convexlab.optim.base`).
:data:`REGISTRY` maps names to classes; the tests, simulator, GPT harness and benchmarks read it.
"""

from convexlab.optim.base import ComposedOptimizer, NonFiniteGradientError
from convexlab.optim.general import AdaMax, AdamW, GeneralOptimizer, IEStoSignSGD, SignConverted, StoSignSGD
from convexlab.optim.schedule_free import SFAdamW, ScheduleFreeMixin, schedule_free
from convexlab.optim.sign import Lion, SignSGD, Signum
from convexlab.optim.soft_sign import SoftSignum
from convexlab.optim.spectral import Muon, NorMuon, SoftMuon
from convexlab.optim.sf_normuon import SFNorMuon
from convexlab.optim.routing import MatrixAndAdamW, is_matrix_param, split_params
from convexlab.optim.recombined import AlgebraicSoftSignum, HardSwitch, NesterovStoSignSGD, SFLion, SGDMomentum

REGISTRY: dict[str, type] = {
    "SignSGD": SignSGD,
    "Signum": Signum,
    "Lion": Lion,
    "StoSignSGD": StoSignSGD,
    "IEStoSignSGD": IEStoSignSGD,
    "SignConverted": SignConverted,
    "AdamW": AdamW,
    "AdaMax": AdaMax,
    "SFAdamW": SFAdamW,
    "SoftSignum": SoftSignum,
    "Muon": Muon,
    "NorMuon": NorMuon,
    "SoftMuon": SoftMuon,
    "SFNorMuon": SFNorMuon,
    # recombinations of existing parts (convexlab.optim.recombined)
    "NesterovStoSignSGD": NesterovStoSignSGD,
    "SFLion": SFLion,
    "AlgebraicSoftSignum": AlgebraicSoftSignum,
    "SGDMomentum": SGDMomentum,
    "HardSwitch": HardSwitch,
}

#: the registry entries that recombine existing parts (not algorithms of the papers); the comparison
#: benchmark leaves them out by default
RECOMBINED: tuple[str, ...] = ("NesterovStoSignSGD", "SFLion", "AlgebraicSoftSignum", "SGDMomentum", "HardSwitch")

__all__ = [
    "NonFiniteGradientError",
    "RECOMBINED",
    "REGISTRY",
    "ComposedOptimizer",
    "GeneralOptimizer",
    "ScheduleFreeMixin",
    "schedule_free",
    "split_params",
    "is_matrix_param",
    "MatrixAndAdamW",
    *REGISTRY,
]
