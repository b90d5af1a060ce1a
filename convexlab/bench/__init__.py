r"""Benchmarks that print ratio tables against a reference measured in the same run (design guide §2).

Modules
-------
optim_speed   step time and optimizer-state bytes per parameter of every registry optimizer, as a
              ratio to ``torch.optim.AdamW(foreach=True)`` (and, for matrix optimizers, to
              ``torch.optim.Muon``) on a GPT-2-small-like set of parameter shapes.
              Run: ``convexlab bench optim``.
"""
