r"""Run registry optimizers on toy problems for many seeds at once (tidy results)."""

from convexlab.sim.run import SimResult, simulate

__all__ = ["SimResult", "simulate"]
