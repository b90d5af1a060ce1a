r"""The GPT harness: a LLaMA-style GPT, offline token data, and a trainer for any registry optimizer.

- :mod:`convexlab.llm.model`: :class:`GPT`, :class:`GPTConfig`, :data:`PRESETS` ("toy", "small",
  "124m", "350m"); RoPE, parameter-free RMSNorm, QK-norm, ReLU², no biases, tied or untied head
  (SF-NorMuon [SFN-MODEL]).
- :mod:`convexlab.llm.data`: the offline default corpus (byte-level tokens of a fixed list of
  stdlib modules, sha256 recorded per Python version), ``.bin`` shard and text loaders, a fixed
  validation split, deterministic batches with an exact-resume state.
- the trainer (``convexlab train``, ``python -m convexlab.llm.train``; imported on demand, not here), read in
  this order: :mod:`convexlab.llm.config` (:class:`~convexlab.llm.config.TrainConfig`, the command line,
  presets, the config of ``--resume``), :mod:`convexlab.llm.build` (process group, device, data, model,
  optimizer routing, schedule), :mod:`convexlab.llm.train` (the loop and ``main``),
  :mod:`convexlab.llm.checkpoint` (atomic, verified checkpoints) and :mod:`convexlab.llm.runlog`
  (``log.jsonl``, ``summary.json``, the console lines).

Parameter routing for Muon-type optimizers is :func:`convexlab.optim.split_params`.
"""

from convexlab.llm.data import (DEFAULT_CORPUS_FILES, DEFAULT_CORPUS_SHA256, BatchSampler, TokenData, corpus_info,
                                decode, default_corpus, encode, get_batch, load_bin, load_text)
from convexlab.llm.model import GPT, PRESETS, GPTConfig

__all__ = ["GPT", "GPTConfig", "PRESETS", "TokenData", "BatchSampler", "get_batch", "default_corpus", "corpus_info",
           "load_bin", "load_text", "encode", "decode", "DEFAULT_CORPUS_FILES", "DEFAULT_CORPUS_SHA256"]
