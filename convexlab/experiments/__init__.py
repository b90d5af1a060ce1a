r"""Small, seeded experiments behind the notebooks (CPU, seconds at the notebooks' FAST sizes).

* :mod:`convexlab.experiments.anytime`: one schedule-free run against cosine schedules tuned per
  horizon (SF-NorMuon, arXiv 2605.23061, the anytime claim of Fig. 1 [P]), on a noisy quadratic.
* :mod:`convexlab.experiments.fp8_states`: what FP8 E4M3 state storage does to AdamW and to sign
  methods on a tiny next-token model (StoSignSGD, arXiv 2604.15416, §3.1 and Table 12 [P]).

Import the submodules by their full path; this package imports nothing eagerly.
"""
