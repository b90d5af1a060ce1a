r"""The headline claims of the three method papers, and the evidence convexlab holds for each.

A notebook records its verdict on a claim with :func:`record` (when its ``CLAIMS_PATH`` parameter
is set, as ``convexlab reproduce`` does); ``convexlab check`` verdicts are the other source of
evidence. ``convexlab reproduce`` merges both into ``results/CLAIMS.md``.

Status vocabulary. A notebook records one of :data:`STATUSES`: ``supported`` (the evidence at our
scale agrees with the claim), ``not supported`` (it disagrees), ``inconclusive`` (the evidence is
too weak either way, or the claim is out of reach at our scale). The claims table adds a fourth,
:data:`NOT_RUN` (``not run``): none of the claim's notebooks or checks ran in this run (a partial
``convexlab reproduce``: ``--fast``, ``--only``, ``--no-checks``, ...), so the run says nothing
about it. A claim that no notebook or check tests at all is ``inconclusive`` (out of reach at our
scale), and one whose notebook ran but recorded no verdict (it failed first) is ``inconclusive``
too. The merge rule is :func:`status_of` (reconstructed: convexlab's own convention).
"""

from __future__ import annotations

import json
from pathlib import Path

from convexlab._io import atomic_write

STATUSES = ("supported", "not supported", "inconclusive")
#: The claims-table status of a claim none of whose evidence was produced in the run.
NOT_RUN = "not run"
#: Every status the claims table can show.
TABLE_STATUSES = STATUSES + (NOT_RUN,)


def record(path: str | Path | None, claim_id: str, status: str, numbers: str) -> dict:
    """Record ``status`` (one of :data:`STATUSES`) and the ``numbers`` behind it for ``claim_id``
    in the JSON file ``path`` (merged with what is there; written atomically). With ``path=None``
    (a notebook run by hand) nothing is written. Returns the record."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if not isinstance(claim_id, str) or not claim_id:
        raise ValueError(f"claim_id must be a non-empty string, got {claim_id!r}")
    rec = {"claim": claim_id, "status": status, "numbers": str(numbers)}
    if path is not None:
        p = Path(path)
        data = json.loads(p.read_text()) if p.exists() else {}
        data[claim_id] = rec
        atomic_write(p, json.dumps(data, indent=2) + "\n")
    return rec


class Claim:
    """One headline claim: where it is stated, its provenance, and the evidence that tests it
    (``checks``: ``convexlab check`` name patterns; ``notebooks``: notebooks that record it)."""

    def __init__(self, id: str, paper: str, where: str, provenance: str, statement: str,
                 checks: tuple[str, ...] = (), notebooks: tuple[str, ...] = ()):
        self.id, self.paper, self.where, self.provenance = id, paper, where, provenance
        self.statement, self.checks, self.notebooks = statement, tuple(checks), tuple(notebooks)

    def __repr__(self) -> str:
        return f"Claim({self.id!r})"


def _matching(patterns, checks: dict) -> list:
    from convexlab.theory.registry import name_matches

    return [outcome for name, outcome in checks.items() if name_matches(name, patterns)]


def notebook_ran(prefix: str, ran_notebooks) -> bool:
    """Whether a notebook named by its number ``prefix`` (``"04"``) is among the ``ran_notebooks``
    stems (``"04_signsgd_fails_nonsmooth"``)."""
    return any(stem == prefix or stem.startswith(prefix + "_") for stem in ran_notebooks)


def status_of(claim: Claim, records: dict, checks: dict, ran_notebooks=()) -> tuple[str, list[str]]:
    """Merge the evidence for ``claim`` produced in one run into a status and evidence notes.

    ``records``: claim id → the verdicts the notebooks of this run recorded; ``checks``: the check
    outcomes of this run (name → outcome); ``ran_notebooks``: the stems of the notebooks executed in
    this run (whether they passed or not). Rule, in order:

    * any contrary notebook verdict or failing check → ``not supported``;
    * else any inconclusive verdict → ``inconclusive``; else some evidence, all agreeing → ``supported``;
    * no evidence produced: no notebook or check tests the claim → ``inconclusive`` (out of reach at
      our scale); one of its notebooks ran but recorded nothing → ``inconclusive``; none of its
      notebooks or checks ran → :data:`NOT_RUN`.

    When only part of the claim's evidence ran, the status rests on that part and a note names the
    notebooks and check patterns that did not run.
    """
    notes, statuses = [], []
    for rec in records.get(claim.id, []):
        statuses.append(rec["status"])
        notes.append(f"{rec['notebook']}: {rec['status']} — {rec['numbers']}")
    matched = _matching(claim.checks, checks) if claim.checks else []
    for o in matched:
        r = o.result
        statuses.append("supported" if o.verdict == "pass" else "not supported")
        if r is not None:
            ratio = r.details.get("slack_ratio")
            extra = f", measured/bound {ratio:.3g}" if isinstance(ratio, float) else ""
            notes.append(f"check {o.check.name}: {o.verdict} (measured {r.measured:.3g}, "
                         f"{'bound' if o.check.kind in ('upper', 'lower') else 'expected'} {r.expected:.3g}{extra})")
        else:
            notes.append(f"check {o.check.name}: error ({o.error})")
    nb_ran = [n for n in claim.notebooks if notebook_ran(n, ran_notebooks)]
    nb_missing = [n for n in claim.notebooks if n not in nb_ran]
    from convexlab.theory.registry import name_matches

    ck_missing = [p for p in claim.checks if not any(name_matches(name, (p,)) for name in checks)]
    if not statuses:
        if not claim.notebooks and not claim.checks:
            return "inconclusive", ["no notebook or check tests this claim at our scale"]
        if nb_ran:
            return "inconclusive", [f"notebook {', '.join(nb_ran)} ran but recorded no verdict"]
        sources = [f"notebook {n}" for n in claim.notebooks] + [f"check {p}" for p in claim.checks]
        return NOT_RUN, ["not run in this run: " + ", ".join(sources)]
    missing = [f"notebook {n}" for n in nb_missing] + [f"check {p}" for p in ck_missing]
    if missing:
        notes.append("not run in this run: " + ", ".join(missing))
    if "not supported" in statuses:
        return "not supported", notes
    if "inconclusive" in statuses:
        return "inconclusive", notes
    return "supported", notes


def claims_markdown(records: dict, checks: dict, notebooks: list[dict], fast: bool = False,
                    partial: str | None = None) -> str:
    """``CLAIMS.md``: every claim of :data:`CLAIMS`, its evidence in this run and its status at our
    scale (:func:`status_of`; the notebooks that ran are the ``notebooks`` rows). ``partial``: a
    description of a partial run's selection (``"--fast --only 04"``), stated in the header."""
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    ran = [r["notebook"] for r in notebooks]
    head = (f"Generated by `convexlab reproduce{' ' + partial if partial else ''}`: "
            f"{len(notebooks)} notebooks, {len(checks)} checks. Status: supported / not supported / inconclusive / "
            "not run (see convexlab/claims.py for the rule). Provenance tags as in the specs (P paper, R reconstructed, ...).")
    lines = ["# Claims of the three method papers, tested at our scale", "", head]
    if partial:
        lines += ["", "**Partial run**: only the evidence produced in this run is shown; a claim none of whose "
                  "notebooks or checks ran is *not run*. The committed results/CLAIMS.md comes from a full run."]
    lines += ["", "| claim | paper, where | provenance | status | evidence |", "|---|---|---|---|---|"]
    counts = {s: 0 for s in TABLE_STATUSES}
    for c in CLAIMS:
        status, notes = status_of(c, records, checks, ran)
        counts[status] += 1
        lines.append(f"| **{esc(c.id)}**: {esc(c.statement)} | {esc(c.paper)}, {esc(c.where)} | {esc(c.provenance)} | "
                     f"{status} | {'<br>'.join(esc(n) for n in notes)} |")
    known = {c.id for c in CLAIMS}
    extra = sorted(set(records) - known)
    if extra:
        lines += ["", "Verdicts recorded by notebooks for claims not in the list: " + ", ".join(extra)]
    lines += ["", "Totals: " + ", ".join(f"{n} {s}" for s, n in counts.items()), ""]
    nb_lines = ["## Notebooks", "", "| notebook | seconds | verdict |", "|---|---|---|"]
    nb_lines += [f"| {r['notebook']} | {r['seconds']} | {r['verdict']}{'' if not r.get('error') else ': ' + esc(r['error'])} |"
                 for r in notebooks]
    return "\n".join(lines + nb_lines) + "\n"


S, SS, SF = "StoSignSGD (arXiv 2604.15416)", "Softsign (arXiv 2605.31371)", "SF-NorMuon (arXiv 2605.23061)"

#: The headline claims of the three method papers and the evidence convexlab holds for each.
CLAIMS: list[Claim] = [
    # ---- StoSignSGD ----------------------------------------------------------------------------
    Claim("stosignsgd.prop1_unbiased", S, "Prop. 1", "P",
          "the structural stochastic sign is unbiased for clip(x/G), with variance 1 − (x/G)², and biased when "
          "saturated", checks=("stochastic_sign.", "proofs.stochastic_sign"), notebooks=("03",)),
    Claim("stosignsgd.signsgd_fails_nonsmooth", S, "Figure 1", "P",
          "signSGD does not converge on the convex non-smooth |x₁+x₂| + 2|x₁−x₂| (it stalls at f ≈ 1.5) while "
          "StoSignSGD converges", checks=("stosignsgd.figure1",), notebooks=("04",)),
    Claim("stosignsgd.convex_rate", S, "Theorem 4", "P",
          "E f(x̄_T) − f* ≤ √2·D∞‖L‖₁/√T for convex f on a box with |g_i| ≤ L_i (anytime step D∞/√(2t))",
          checks=("stosignsgd.theorem4[", "stosignsgd.summed_inequality", "crosscheck.theorem4_adversarial"),
          notebooks=("04", "05")),
    Claim("stosignsgd.rate_exponent", S, "Theorem 4 (minimax rate)", "P",
          "the rate 1/√T is attained: E f(x̄_T) − f* decays with exponent −1/2 on a hard instance",
          checks=("stosignsgd.theorem4_rate_exponent",), notebooks=("05",)),
    Claim("stosignsgd.oco_regret", S, "Theorem 1, App. C.3", "R",
          "expected regret ≤ (2+√2)D∞‖L‖₁√T against an adaptive adversary; pseudo-regret ≤ √2·D∞‖L‖₁√T",
          checks=("stosignsgd.theorem1",), notebooks=("05",)),
    Claim("stosignsgd.o2nc_inequality10", S, "App. D, inequality (10)", "P",
          "(1/K)Σ_k E‖(1/N)Σ_n ∇f(x_{k,n})‖₁ ≤ Δf/(D∞KN) + (5+2√2)‖L‖₁/√N for the O2NC conversion",
          checks=("stosignsgd.o2nc_inequality10",), notebooks=("06",)),
    Claim("stosignsgd.o2nc_guarantee", S, "App. D, O2NC theorem", "R",
          "with the paper's N, K, D∞, the output is (δ, ε)-stationary in the penalized ℓ1 measure",
          checks=("stosignsgd.o2nc_guarantee", "stosignsgd.o2nc_spread", "proofs.stosign_arithmetic"),
          notebooks=("06",)),
    Claim("stosignsgd.sign_conversion", S, "App. B.3–B.5", "P",
          "the sign conversion of AdamW / AdaMax is unbiased for the original step wherever σ ≥ |m|",
          checks=("stosignsgd.sign_conversion",), notebooks=("03",)),
    Claim("stosignsgd.fp8_adamw_states_underflow", S, "§3.1, Table 12", "P",
          "with E4M3 optimizer states, AdamW's second moments underflow to exact zeros", notebooks=("11",)),
    Claim("stosignsgd.fp8_sign_updates_unaffected", S, "§3.1", "P",
          "sign-based updates do not depend on the state magnitudes FP8 storage destroys", notebooks=("11",)),
    Claim("stosignsgd.fp8_pretraining_stability", S, "§3.1, Tables 10–11", "P",
          "in FP8 pretraining AdamW collapses while StoSignSGD trains stably", notebooks=("12",)),
    Claim("stosignsgd.fp8_speedup", S, "abstract, Fig. 2", "P",
          "under FP8, StoSignSGD reaches the baselines' validation loss with 1.44–2.14× fewer tokens (needs the GPU "
          "presets; the CPU toy is recorded in the README)"),
    # ---- Softsign --------------------------------------------------------------------------------
    Claim("softsign.geometry_family", SS, "§6.2", "THR",
          "tanh, the algebraic soft sign and SoftMuon's Φ_τ are gradients of the stated Fenchel conjugates of "
          "1-strongly convex regularizers (Fenchel–Young equality)",
          checks=("geometry.", "spectral.", "proofs.entropic_conjugate", "proofs.algebraic_conjugate",
                  "proofs.huber_clip"), notebooks=("01",)),
    Claim("softsign.tau_limits", SS, "§6.3", "DER",
          "τ → ∞ recovers sign / polar (Signum / Muon); τ → 0 recovers momentum SGD with step δτ",
          checks=("softsign.tau_limits", "softsign.trajectory_limit", "proofs.sign_limits"), notebooks=("01",)),
    Claim("softsign.quantile_schedule_linear", SS, "§3 (official code)", "CODE",
          "the folded-Cauchy quantile schedule makes the saturated fraction fall linearly over the transition",
          notebooks=("07",)),
    Claim("softsign.quantile_schedule_linear[tmax=20]", SS, "§3, Q2 (official default tmax = 20)", "CODE",
          "the same holds with the official code's temperature cap tmax = 20", notebooks=("07",)),
    Claim("softsign.regns_accuracy", SS, "§4.4", "DER",
          "the official 5-step coupled Newton–Schulz inverse root approximates Φ_τ to the tabulated accuracy",
          checks=("newton_schulz.regns_table",), notebooks=("02",)),
    Claim("softsign.convergence_bounds", SS, "§7.3 R1–R3", "DER",
          "the one-step descent inequality (τδ ≤ μ/L) and its averaged forms (deterministic, stochastic, EMA "
          "momentum) hold in the V* stationarity measure",
          checks=("softsign.r1", "softsign.r2", "softsign.r3"), notebooks=("08",)),
    Claim("softsign.heterogeneity", SS, "§8.1", "REV",
          "on heterogeneous noisy problems Signum plateaus at an lr-sized floor while SoftSignum keeps decreasing "
          "after its transition", checks=("softsign.heterogeneity",), notebooks=("08",)),
    Claim("softsign.softmuon_matrix_toy", SS, "§8.2 (our matrix toy)", "D",
          "with Muon's hyperparameters, SoftMuon's transition ends below Muon on a noisy matrix least-squares "
          "problem", notebooks=("08",)),
    Claim("softsign.llm_transition", SS, "§8.1", "PAPER",
          "SoftSignum / SoftMuon improve on Signum / Muon in LLM pretraining around the transition",
          notebooks=("12",)),
    # ---- SF-NorMuon -------------------------------------------------------------------------------
    Claim("sf_normuon.lemma32_steady_state", SF, "Lemma 3.2, Fig. 4", "P",
          "the steady-state weight RMS satisfies λρ = 0.1[−α + √(α² + 2ηλ)] (decay at the fast iterate z)",
          checks=("sf_normuon.lemma32", "sf_normuon.hypothesis31", "sf_normuon.decay_at_z"), notebooks=("09",)),
    Claim("sf_normuon.decay_at_fast_iterate", SF, "§3, Fig. 2", "P",
          "weight decay at the slow iterate x lets the weights grow without bound; decay at z keeps them "
          "bounded (the √t random-walk growth is our inference [DER], measured on SF-NorMuon)", checks=("sf_normuon.decay_at_x", "sf_normuon.spectral_ball"), notebooks=("09",)),
    Claim("sf_normuon.stationarity_rate", SF, "Theorem 3.1 (as reconstructed, spec §4.1)", "DER",
          "schedule-free spectral dynamics reach stationarity (Frank–Wolfe gap) at rate Õ(T^{-1/4})",
          notebooks=("09",)),
    Claim("sf_normuon.anytime_single_configuration", SF, "§5", "P",
          "one schedule-free configuration matches schedules tuned per horizon at every horizon",
          notebooks=("10",)),
    Claim("sf_normuon.anytime_llm", SF, "Fig. 1, §5", "P",
          "one SF-NorMuon configuration, read at x at 1–8× horizons, matches or beats AdamW + cosine tuned per "
          "horizon in GPT pretraining", notebooks=("12",)),
    Claim("survey.no_single_optimizer_wins_every_dimension", "LLM-optimizer survey (arXiv 2605.09176)",
          "benchmark methodology", "P",
          "no optimizer is best on every benchmark dimension (convergence, wall-clock, memory, complexity) at once",
          notebooks=("13",)),
    Claim("muon.ns5_band", "Muon (Jordan 2024)", "reference code", "EXT",
          "five quintic Newton–Schulz steps map singular values into a band around 1 (≈ [0.7, 1.2])",
          checks=("newton_schulz.quintic_band",), notebooks=("02",)),
]
