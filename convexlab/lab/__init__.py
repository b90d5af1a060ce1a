r"""The lab: everything behind the notebooks, one module per notebook family.

============================  ====================================================================
module                        notebooks
============================  ====================================================================
:mod:`.maps`                  01 geometry relaxation, 02 polar / Newton–Schulz, 03 stochastic sign,
                              07 temperature schedule (the maps and their error curves)
:mod:`.nonconvex`             04 SignSGD on a non-smooth toy, 06 O2NC, 09 SF-NorMuon weight decay
:mod:`.convex`                05 StoSignSGD's convex rate (Theorems 1 and 4)
:mod:`.softsign`              08 Softsign convergence (R1–R3)
:mod:`.anytime`               10 schedule-free anytime comparison
:mod:`.fp8_states`            11 FP8 optimizer states (Table 12)
:mod:`.imbalance`             14 Softsign's imbalanced classification (digits MLP, imbalance k = 1–200)
:mod:`.dimension`             15 StoSignSGD's dimension factor (Euclidean vs StoSignSGD O2NC across d;
                              projected SGD vs StoSignSGD under heterogeneous L)
:mod:`.charlm`                16 Softsign's next-character prediction (char-level LSTM and Transformer)
:mod:`.graphs`                17 Softsign's node prediction (GCN on stochastic-block-model graphs)
:mod:`.cnn`                   18 StoSignSGD's Figure 5 stand-in (small CNN on digits)
:mod:`.sign_conversion`       19 StoSignSGD's sign-conversion ablation (toy GPT fine-tuning, Algs. 5–11)
:mod:`.anytime_llm`           20 SF-NorMuon's GPT anytime experiment and its controls
:mod:`.threads`               one torch thread for a sweep (results that do not depend on the core count)
:mod:`.notebooks`             the notebook linter and runner (parameter injection)
:mod:`.reproduce`             ``convexlab reproduce``: every notebook, then the checks and CLAIMS.md
============================  ====================================================================

Notebooks 12 and 20 read :mod:`convexlab.llm` (the GPT harness, ``convexlab experiment``) and notebook 13
:mod:`convexlab.bench.compare`; the claims ledger the notebooks write into is
:mod:`convexlab.theory.claims`. A new notebook's code goes into the module of its family (or a new
module here); the notebook itself holds no algorithm code (:func:`.notebooks.lint`).
"""
