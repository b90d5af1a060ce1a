r"""Benchmarks that print ratio tables against a reference measured in the same run (README, "Speed and state memory").

Modules
-------
optim_speed   step time and optimizer-state bytes per parameter of every registry optimizer, as a
              ratio to ``torch.optim.AdamW(foreach=True)`` (and, for matrix optimizers, to
              ``torch.optim.Muon``) on a GPT-2-small-like set of parameter shapes; also the one
              ``state_bytes`` both benchmarks count optimizer state with.
              Run: ``convexlab bench optim``.
compare       every registry optimizer on the problem suite (:mod:`~convexlab.bench.suite`) with fair
              lr tuning, performance profiles and the survey taxonomy (:mod:`~convexlab.bench.taxonomy`).
              Run: ``convexlab bench compare``.
sim_speed     the simulator's throughput. Run: ``convexlab bench sim``.

A new registry optimizer needs one entry in each of ``taxonomy.TAXONOMY_PLACEMENT``,
``optim_speed.BENCH_KWARGS`` and ``compare.BENCH_SETTINGS``: a missing one is an error naming the
optimizer, and ``tests/test_bench_entries.py`` fails. Both benchmarks route parameters with
:func:`convexlab.optim.split_params` (matrix-only optimizers get the hidden 2-D weights).
"""
