r"""The headline claims of the three method papers, and the evidence convexlab holds for each.

A notebook records its verdict on a claim with :func:`record` (when its ``CLAIMS_PATH`` parameter
is set, as ``convexlab reproduce`` does); ``convexlab check`` verdicts are the other source of
evidence. ``convexlab reproduce`` merges both into ``results/CLAIMS.md``.

Status vocabulary. A notebook records one of :data:`STATUSES`: ``supported`` (the evidence at our
scale agrees with the claim), ``not supported`` (it disagrees), ``inconclusive`` (the evidence is
too weak either way, or the claim is out of reach at our scale). The claims table adds a fourth,
:data:`NOT_RUN` (``not run``): none of the claim's notebooks or checks ran in this run (a partial
``convexlab reproduce``: ``--fast``, ``--only``, ``--no-checks``, ...), so the run says nothing
about it. A claim marked ``pending`` (no experiment of convexlab tests it yet) is :data:`NOT_RUN`
too, never ``inconclusive``: *inconclusive* means evidence was produced and is too weak. A claim
that no notebook or check tests and that is not pending is ``inconclusive`` (out of reach at our
scale), and one whose notebook ran but recorded no verdict (it failed first) is ``inconclusive``
too. The merge rule is :func:`status_of` (reconstructed: convexlab's own convention).

Every claim about language-model training (``Claim.llm``) and every pending claim states what
would settle it (``Claim.settle``: the experiment, its size and seeds), shown in its details
section with related evidence elsewhere (``Claim.note``). The verdict rules of the rows computed
from measurements (:func:`schedule_linear_verdict`, :func:`sign_updates_bounded_verdict`,
:func:`momentum_flush_verdict`, :func:`fp8_speedup_verdict`, :func:`improves_over_adamw_verdict`,
:func:`alpha_sign_ablation_verdict`, :func:`tmax_training_verdict`) live here, fixed before the runs, and the
notebooks call them; the verdicts of the newer experiments live beside their sweeps in :mod:`convexlab.lab`
(``cnn_verdict``, ``charlm_verdict``, ``node_verdict``, the sign-conversion and anytime verdicts, ...).

The table (:func:`claims_markdown`; convexlab's own layout). One row per claim: the statement,
paper and place, provenance tag, status, a short evidence summary (at most :data:`SUMMARY_MAX`
characters: each notebook's verdict with the start of its numbers, how many checks passed and the
failing or tightest one with its measurement and the criterion it applied, :func:`criterion`)
linked to the claim's section under "Evidence details", and the scale of the evidence
(:func:`scale_cell`: a record's ``scale``, else the sizes its numbers state, :func:`scale_from_text`;
the sizes in the checks' details, :func:`check_scale`; else "scale not recorded"). The details
section lists every piece of evidence in full with its scale and criterion, and what would settle
the claim.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from convexlab import _validation as V
from convexlab._io import atomic_write

STATUSES = ("supported", "not supported", "inconclusive")
#: The claims-table status of a claim none of whose evidence was produced in the run.
NOT_RUN = "not run"
#: Every status the claims table can show.
TABLE_STATUSES = STATUSES + (NOT_RUN,)


def record(path: str | Path | None, claim_id: str, status: str, numbers: str, scale: str | None = None,
           criterion: str | None = None) -> dict:
    """Record ``status`` (one of :data:`STATUSES`) and the ``numbers`` behind it for ``claim_id``
    in the JSON file ``path`` (merged with what is there; written atomically). ``scale``: a short
    statement of the size of the evidence (``"toy GPT: 115k params, 1 seed, 400 steps"``); without
    it the claims table reads the scale from ``numbers`` where they state it
    (:func:`scale_from_text`), else says "scale not recorded". ``criterion``: the rule the verdict
    applied, fixed before the run (``"SF/cosine ratio <= 1.25 at every horizon"``); without it the
    table shows the ``criterion ...`` phrase of ``numbers`` if there is one. With ``path=None`` (a
    notebook run by hand) nothing is written. Returns the record."""
    V.one_of("status", status, STATUSES)
    if not isinstance(claim_id, str) or not claim_id:
        raise ValueError(f"claim_id must be a non-empty string, got {claim_id!r}")
    if scale is not None and (not isinstance(scale, str) or not scale.strip()):
        raise ValueError(f"scale must be None or a non-empty string, got {scale!r}")
    if criterion is not None and (not isinstance(criterion, str) or not criterion.strip()):
        raise ValueError(f"criterion must be None or a non-empty string, got {criterion!r}")
    rec = {"claim": claim_id, "status": status, "numbers": str(numbers)}
    if scale is not None:
        rec["scale"] = " ".join(scale.split())
    if criterion is not None:
        rec["criterion"] = " ".join(criterion.split())
    if path is not None:
        p = Path(path)
        data = json.loads(p.read_text()) if p.exists() else {}
        data[claim_id] = rec
        atomic_write(p, json.dumps(data, indent=2) + "\n")
    return rec


class Claim:
    """One headline claim: where it is stated, its provenance, and the evidence that tests it
    (``checks``: ``convexlab check`` name patterns; ``notebooks``: notebooks that record it).

    ``settle``: what experiment would settle the claim at the scale the paper states it (shown in the
    claim's details section; every LLM row has one). ``llm``: the claim is about language-model
    training, so toy-scale evidence cannot decide it alone. ``pending``: no notebook or check of
    convexlab tests the claim yet; its status is :data:`NOT_RUN` (not "inconclusive", which means
    that evidence was produced and is too weak), and it needs ``settle``. ``note``: related evidence
    elsewhere in the ledger (another row, a README table), shown in the details."""

    def __init__(self, id: str, paper: str, where: str, provenance: str, statement: str,
                 checks: tuple[str, ...] = (), notebooks: tuple[str, ...] = (), *, settle: str | None = None,
                 llm: bool = False, pending: bool = False, note: str | None = None):
        for name, text in (("settle", settle), ("note", note)):
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise ValueError(f"{name} must be None or a non-empty string, got {text!r}")
        if pending and (checks or notebooks):
            raise ValueError(f"pending must be False for a claim with evidence sources, got pending={pending!r} with "
                             f"checks={tuple(checks)!r}, notebooks={tuple(notebooks)!r}")
        if pending and settle is None:
            raise ValueError("settle must be a non-empty string for a pending claim (what would settle it), got None")
        self.id, self.paper, self.where, self.provenance = id, paper, where, provenance
        self.statement, self.checks, self.notebooks = statement, tuple(checks), tuple(notebooks)
        self.settle, self.llm, self.pending, self.note = settle, bool(llm), bool(pending), note

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
    * no evidence produced: the claim is ``pending`` (no experiment of convexlab tests it yet) →
      :data:`NOT_RUN`; no notebook or check tests the claim → ``inconclusive`` (out of reach at
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
        if claim.pending:
            return NOT_RUN, ["no experiment of convexlab tests this claim yet (see what would settle it)"]
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


#: The most characters of a claim's evidence summary in the claims table (the link to its details
#: section not counted); the full evidence sits in the details section below the table.
SUMMARY_MAX = 200
#: The most characters of the table's scale cell (the details section states each piece's scale).
SCALE_MAX = 120
#: What the table says where neither the record nor the check states a size.
NO_SCALE = "scale not recorded"


def _num(x) -> str:
    """A number in at most 3 significant digits (integers as they are)."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"


def criterion(kind: str, result) -> str:
    r"""The pass criterion a check of ``kind`` applied, written from its result (the verdict rules of
    :mod:`convexlab.theory.registry`; ``x`` is the measured value):

    * ``identity``, ``tight``, ``rate``: ``|x − expected| ≤ tolerance``;
    * ``upper``: ``x − 3se ≤ bound`` (``x ≤ bound`` without sampling; ``+ slack`` when a round-off
      allowance is set); ``lower`` the mirror image;
    * ``zscore``: ``|z| ≤ z_crit`` (the tolerance is the critical value; the recorded ``expected``
      0 is not the criterion);
    * ``counterexample``: an effect that must be confidently present, ``x − 3se > 0``
      (``expected`` = 0), or, where the check carries a bound, the subject meets it (``x − 3se ≤ bound``)
      while the counterexample exceeds it.
    """
    e, tol, ci = result.expected, result.tolerance, getattr(result, "ci", None)
    se = "x − 3se" if ci is not None else "x"
    if kind == "zscore":
        return f"|z| ≤ {_num(tol)}"
    if kind in ("upper", "lower"):
        if kind == "lower":
            se = "x + 3se" if ci is not None else "x"
        op = "≤" if kind == "upper" else "≥"
        slack = "" if not tol else (f" + {_num(tol)}" if kind == "upper" else f" − {_num(tol)}")
        return f"{se} {op} {_num(e)}{slack}"
    if kind == "counterexample":
        if e == 0 and not tol:
            return f"{se} > 0"
        return f"{se} ≤ {_num(e)}, counterexample above it"
    if e == 0:
        return f"|x| ≤ {_num(tol)}"
    return f"|x − ({_num(e)})| ≤ {_num(tol)}" if e < 0 else f"|x − {_num(e)}| ≤ {_num(tol)}"


def _measured(kind: str, result) -> str:
    return f"|z| = {_num(result.measured)}" if kind == "zscore" else f"x = {_num(result.measured)}"


def _closeness(o) -> float:
    """How near a passing check came to failing (larger is nearer), for picking the row's example."""
    r, kind = o.result, o.check.kind
    if r is None or not r.passed:
        return math.inf
    try:
        if kind in ("upper", "lower"):
            ratio = o.ratio
            if ratio is None or ratio == 0:
                return 0.0
            return ratio if kind == "upper" else 1.0 / ratio
        if kind == "zscore" or kind in ("identity", "tight", "rate"):
            dev = abs(r.measured) if kind == "zscore" else abs(r.measured - r.expected)
            return dev / r.tolerance if r.tolerance else 0.0
    except (TypeError, ZeroDivisionError):
        return 0.0
    return 0.0


#: (details key, how the scale cell writes it) for the sizes checks report in their details
_CHECK_SCALE_KEYS = [("d", "d={}"), ("shape", "shape {}"), ("T", "T={}"), ("steps", "{} steps"), ("N", "N={}"),
                     ("K", "K={}"), ("seeds", "{} seeds"), ("samples_per_point", "{} samples/point"),
                     ("pairs_per_point", "{} pairs/point"), ("grid", "{} grid points"), ("n_points", "{} points"),
                     ("n_pairs", "{} pairs"), ("n_matrices", "{} matrices")]


def _scale_value(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return "×".join(str(x) for x in v)
    return None


def check_scale(outcomes) -> str:
    """The sizes the checks state in their details (``d``, ``T``, ``steps``, ``seeds``, samples per
    point, ...), a range where they differ (``"T=2000–20000, 16–64 seeds"``); :data:`NO_SCALE` when
    none states one."""
    parts = []
    for key, fmt in _CHECK_SCALE_KEYS:
        vals = [v for o in outcomes if o.result is not None
                and (v := _scale_value(o.result.details.get(key))) is not None]
        if not vals:
            continue
        nums = [v for v in vals if not isinstance(v, str)]
        if nums and len(nums) == len(vals):
            lo, hi = min(nums), max(nums)
            parts.append(fmt.format(_num(lo) if lo == hi else f"{_num(lo)}–{_num(hi)}"))
        else:
            parts.append(fmt.format("/".join(dict.fromkeys(str(v) for v in vals))))
    return ", ".join(parts) or NO_SCALE


_N = r"\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?(?:e[+-]?\d+)?"
#: a list of numbers (``250, 500, 1000`` or ``[250, 1000]``); an item followed by a word (``64 seeds``)
#: is the next quantity, not a member
_LIST = rf"\[?(?:{_N})(?:,\s+(?:{_N})(?![\d,.]*\s*[A-Za-z(]))*\]?"
#: sizes a notebook's record states in its ``numbers`` text: (pattern, template); the first match of each
_TEXT_SCALE = [
    (rf"({_N}\s*[kMB]?)\s+(?:params|parameters)\b", "{} params"),
    (rf"\bd\s*=\s*({_N})", "d={}"),
    (rf"(?<![/\w])T\s*=\s*({_LIST})", "T={}"),
    (rf"\bn\s*=\s*({_N})", "n={}"),
    (rf"\bK\s*=\s*({_N})", "K={}"),
    (rf"\b({_N})\s+problems\b", "{} problems"),
    (rf"\b({_N})\s+(?:draws|samples)\b", "{} draws"),
    (rf"\b({_N})\s+points\b", "{} points"),
    (rf"\b({_N})\s+steps\b", "{} steps"),
    (rf"\b({_N})\s+(?:fresh\s+)?seeds\b", "{} seeds"),
    (r"\bseed\s+\d+\b", "1 seed"),
    (rf"\b({_N})\s+runs\b", "{} runs"),
]


def scale_from_text(numbers: str) -> str | None:
    """The sizes a notebook's verdict text states (``"T=100000, 64 seeds"``; a list of horizons as
    its range), or None when it states none. Only what the text says literally is read."""
    parts = []
    for pattern, fmt in _TEXT_SCALE:
        m = re.search(pattern, numbers)
        if not m:
            continue
        if not m.groups():
            parts.append(fmt)
            continue
        value = m.group(1).strip("[]")
        items = [s.strip() for s in re.split(r",\s+", value)]
        if len(items) > 1:
            value = f"{items[0]}…{items[-1]}"
        parts.append(fmt.format(value))
    return ", ".join(dict.fromkeys(parts)) or None


def record_scale(rec: dict) -> str:
    """The scale of one notebook record: its ``scale`` field, else what its numbers state, else
    :data:`NO_SCALE`."""
    return rec.get("scale") or scale_from_text(str(rec.get("numbers", ""))) or NO_SCALE


def record_criterion(rec: dict) -> str | None:
    """The criterion a notebook's verdict applied: the record's ``criterion`` field, else the
    ``criterion[:] ...`` phrase of its numbers (up to ``;`` or a closing parenthesis), else None."""
    if rec.get("criterion"):
        return rec["criterion"]
    m = re.search(r"\bcriterion:?\s+([^;()]+?)\s*(?:[;)]|$)", " ".join(str(rec.get("numbers", "")).split()))
    return m.group(1) if m else None


class _Slugger:
    """Heading anchors as GitHub writes them (github-slugger): lower case; characters other than
    letters, digits, ``_``, ``-`` and spaces dropped; spaces become ``-``; a repeated anchor gets
    ``-1``, ``-2``, ... in document order."""

    def __init__(self):
        self.occurrences: dict[str, int] = {}

    def __call__(self, heading: str) -> str:
        base = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        result = base
        while result in self.occurrences:
            self.occurrences[base] += 1
            result = f"{base}-{self.occurrences[base]}"
        self.occurrences[result] = 0
        return result


def anchor(heading: str) -> str:
    """The anchor GitHub gives a (first) heading with this text."""
    return _Slugger()(heading)


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters at a word boundary, ``…`` marking the cut."""
    if len(text) <= width:
        return text
    cut = text[: max(width - 1, 0)]
    if " " in cut[width // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:—\\") + "…"


def _gather(claim: Claim, records: dict, checks: dict, ran_notebooks):
    """The pieces of evidence for ``claim`` in this run: its records, the matched check outcomes,
    and the sources that did not run."""
    from convexlab.theory.registry import name_matches

    recs = list(records.get(claim.id, []))
    matched = _matching(claim.checks, checks) if claim.checks else []
    nb_missing = [n for n in claim.notebooks if not notebook_ran(n, ran_notebooks)]
    ck_missing = [p for p in claim.checks if not any(name_matches(name, (p,)) for name in checks)]
    return recs, matched, [f"notebook {n}" for n in nb_missing] + [f"check {p}" for p in ck_missing]


def _check_piece(matched) -> str:
    """The checks' part of a summary: how many passed, and the failing or the tightest one with its
    measurement and criterion."""
    if not matched:
        return ""
    passed = sum(o.verdict == "pass" for o in matched)
    worst = max(matched, key=_closeness)
    if worst.result is None:
        what = f"{worst.check.name}: error"
    else:
        what = (f"{worst.check.name}: {worst.verdict}, {_measured(worst.check.kind, worst.result)}, "
                f"criterion {criterion(worst.check.kind, worst.result)}")
    if len(matched) == 1:
        return f"check {what}"
    label = "failing" if passed < len(matched) else "tightest"
    return f"checks {passed}/{len(matched)} pass; {label} {what}"


def _esc(text) -> str:
    """Text for a markdown table cell: ``|`` and ``*`` escaped (``f − f*`` is no emphasis), on one line."""
    return " ".join(str(text).replace("|", "\\|").replace("*", "\\*").split())


def evidence_summary(claim: Claim, records: dict, checks: dict, ran_notebooks=(), width: int = SUMMARY_MAX) -> str:
    """The claims-table summary of ``claim``'s evidence as table-cell text (``|`` escaped), at most
    ``width`` characters: each notebook's verdict with the start of its numbers, the checks passed
    with the failing or the tightest one (its measurement and the criterion it applied), and what
    did not run. The numbers are shortened first; the check's criterion is kept whole."""
    status, notes = status_of(claim, records, checks, ran_notebooks)
    recs, matched, missing = _gather(claim, records, checks, ran_notebooks)
    if not recs and not matched:
        return _clip(_esc("; ".join(notes)), width)
    labels = [_esc(f"{r['notebook']}: {r['status']}" + (f" (criterion {c})" if (c := record_criterion(r)) else ""))
              for r in recs]
    tail = [_esc(p) for p in (_check_piece(matched), "not run: " + ", ".join(missing) if missing else "") if p]
    fixed = len("; ".join(labels + tail)) + 3 * len(recs)
    budget = (width - fixed) // max(len(recs), 1)
    if budget >= 24:
        labels = [f"{lab} — {_clip(_esc(r['numbers']), budget)}" for lab, r in zip(labels, recs)]
    return _clip("; ".join(labels + tail), width)


def _scale_label(scale: str) -> str:
    return scale if scale == NO_SCALE else f"scale: {scale}"


def _mode(rec: dict, fast: bool, overrides: dict | None, suffix: str = "") -> str:
    """``FAST`` or ``full`` (+ ``suffix``), with the ``--set`` overrides that reached the record's notebook."""
    extra = (overrides or {}).get(rec.get("notebook"))
    return ("FAST" if fast else "full") + suffix + (f", --set {extra}" if extra else "")


def _details(claim: Claim, status: str, notes: list[str], recs, matched, missing, fast: bool,
             checks_full: bool, overrides: dict | None = None) -> list[str]:
    lines = [f"**{status}**: {claim.statement} ({claim.paper}, {claim.where}; provenance {claim.provenance})", ""]
    if claim.settle:
        lines.append(f"- what would settle it: {' '.join(claim.settle.split())}")
    if claim.note:
        lines.append(f"- related evidence: {' '.join(claim.note.split())}")
    for r in recs:
        crit = "" if r.get("criterion") is None else f" (criterion {r['criterion']})"
        lines.append(f"- notebook **{r['notebook']}** ({_mode(r, fast, overrides, ' sizes')}; "
                     f"{_scale_label(record_scale(r))}): {r['status']}{crit} — "
                     f"{' '.join(str(r['numbers']).replace('*', chr(92) + '*').split())}")
    for o in matched:
        c, r = o.check, o.result
        head = (f"- check `{c.name}` ({c.kind}, {'--full' if checks_full else 'default'} size; "
                f"{_scale_label(check_scale([o]))})")
        if r is None:
            lines.append(f"{head}: error — {o.error}")
            continue
        ci = "" if r.ci is None else f", 3se interval [{_num(r.ci[0])}, {_num(r.ci[1])}]"
        ratio = o.ratio
        ratio = "" if ratio is None else f", measured/bound {_num(ratio)}"
        lines.append(f"{head}: {o.verdict} — {_measured(c.kind, r)}{ci}{ratio}; criterion "
                     f"{criterion(c.kind, r)}")
    if not recs and not matched:
        lines += [f"- {n}" for n in notes]
    elif missing:
        lines.append("- not run in this run: " + ", ".join(missing))
    return lines + [""]


def scale_cell(recs, matched, fast: bool, checks_full: bool, width: int = SCALE_MAX,
               overrides: dict | None = None) -> str:
    """The table's scale cell: each notebook record's scale (FAST or full sizes) and the checks'
    sizes (:func:`check_scale`); cut to ``width`` characters (the details section has all)."""
    parts = [f"{r['notebook'][:2]} ({_mode(r, fast, overrides)}): {record_scale(r)}" for r in recs]
    if matched:
        parts.append(f"checks ({'--full' if checks_full else 'default'}): {check_scale(matched)}")
    return _clip("; ".join(parts), width) if parts else "—"


def claims_markdown(records: dict, checks: dict, notebooks: list[dict], fast: bool = False,
                    partial: str | None = None, checks_full: bool = False, overrides: dict | None = None) -> str:
    """``CLAIMS.md``: every claim of :data:`CLAIMS`, its status at our scale (:func:`status_of`; the
    notebooks that ran are the ``notebooks`` rows), a short evidence summary (at most
    :data:`SUMMARY_MAX` characters, the failing or tightest check with the criterion it applied:
    :func:`criterion`) linked to the claim's section under "Evidence details" (every piece of
    evidence in full), and the scale of the evidence (:func:`scale_cell`). ``fast``: the notebooks
    ran at FAST sizes; ``checks_full``: the checks ran at ``--full`` size; ``partial``: a
    description of a partial run's selection (``"--fast --only 04"``), stated in the header;
    ``overrides``: notebook stem → the ``--set`` overrides its parameters cell received
    (``"SEEDS=8"``), stated with the sizes of that notebook's evidence."""
    esc = _esc
    ran = [r["notebook"] for r in notebooks]
    slug = _Slugger()
    title = "Claims of the three method papers, tested at our scale"
    slug(title)
    details_slug = slug("Evidence details")
    claim_slugs = {c.id: slug(c.id) for c in CLAIMS}
    slug("Notebooks")
    head = (f"Generated by `convexlab reproduce{' ' + partial if partial else ''}`: "
            f"{len(notebooks)} notebook{'' if len(notebooks) == 1 else 's'} ({'FAST' if fast else 'full'} sizes"
            f"{', with --set overrides' if overrides else ''}), {len(checks)} check{'' if len(checks) == 1 else 's'} "
            f"({'--full' if checks_full else 'default'} size). Status: supported / not supported / inconclusive / "
            "not run (see convexlab/theory/claims.py for the rule). Provenance tags as in docs/statements.md (P paper, R reconstructed, "
            f"...). Each row summarizes its evidence; the full evidence, and for every LLM or not-yet-tested claim "
            f"what would settle it, is under [Evidence details](#{details_slug}).")
    lines = [f"# {title}", "", head]
    if partial:
        lines += ["", "**Partial run**: only the evidence produced in this run is shown; a claim none of whose "
                  "notebooks or checks ran is *not run*. The committed results/CLAIMS.md comes from a full run."]
    lines += ["", "| claim | paper, where | provenance | status | evidence | scale |", "|---|---|---|---|---|---|"]
    counts = {s: 0 for s in TABLE_STATUSES}
    details = ["## Evidence details", ""]
    for c in CLAIMS:
        status, notes = status_of(c, records, checks, ran)
        counts[status] += 1
        recs, matched, missing = _gather(c, records, checks, ran)
        summary = evidence_summary(c, records, checks, ran)
        cell = f"{summary} [details](#{claim_slugs[c.id]})"
        lines.append(f"| **{esc(c.id)}**: {esc(c.statement)} | {esc(c.paper)}, {esc(c.where)} | {esc(c.provenance)} | "
                     f"{status} | {cell} | {esc(scale_cell(recs, matched, fast, checks_full, overrides=overrides))} |")
        details += [f"### {c.id}", ""] + _details(c, status, notes, recs, matched, missing, fast, checks_full, overrides)
    known = {c.id for c in CLAIMS}
    extra = sorted(set(records) - known)
    if extra:
        lines += ["", "Verdicts recorded by notebooks for claims not in the list: " + ", ".join(extra)]
    lines += ["", "Totals: " + ", ".join(f"{n} {s}" for s, n in counts.items()), ""]
    nb_lines = ["## Notebooks", "", "| notebook | seconds | verdict |", "|---|---|---|"]
    nb_lines += [f"| {r['notebook']} | {r['seconds']} | {r['verdict']}{'' if not r.get('error') else ': ' + esc(r['error'])} |"
                 for r in notebooks]
    return "\n".join(lines + details + nb_lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Criteria of the rows whose verdicts are computed from measurements (fixed before the runs; [D]
# convexlab's own rules unless a docstring says otherwise). Each returns (status, ...) and is
# called by the notebook that records the row, so the rule is tested on synthetic inputs.
# ---------------------------------------------------------------------------------------------
#: a validation-loss difference (nats) below this is not read as an effect at CPU scale [D]
#: (the value of ``convexlab.llm.experiments.EFFECT_TOL``)
LOSS_TOL = 0.01
#: float32 round-off allowed on a sign step's max |update|/lr (a sign step is exactly lr) [D]
SIGN_BOUND_TOL = 1e-3
#: the smaller of the paper's two tokens-to-target speedups (StoSignSGD abstract, Fig. 2 [P])
PAPER_SPEEDUP = 1.44
#: the paper's speedup baselines: Alg. 5 SignSGD (Signum) and Lion (StoSignSGD [SSG-SPEEDUP, SSG-Q14])
SPEEDUP_BASELINES = ("Signum", "Lion")
#: the Soft* optimizers of the Softsign paper's LLM claims
SOFT_OPTIMIZERS = ("SoftSignum", "SoftMuon")


def _finite_number(name: str, value, low: float = -math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
        raise ValueError(f"{name} must be a finite number >= {low}, got {value!r}")
    return float(value)


def _mapping(name: str, value) -> dict:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{name} must be a non-empty dict, got {value!r}")
    return value


def schedule_linear_verdict(deviations: dict, allowance: float) -> tuple[str, str]:
    r"""``softsign.quantile_schedule_linear`` (Softsign [SS-SCHED], official code [CODE]): the
    folded-Cauchy quantile schedule is designed so that the saturated fraction falls linearly,
    1 − j/T, *under the Cauchy law fitted to the update entries*. Real updates need not be Cauchy,
    so the claim is judged on every sample given, on-model (Cauchy) and off-model (Laplace,
    Gaussian, same median |z|): ``deviations`` maps a sample's name to max_j |fraction_j − (1 − j/T)|;
    ``allowance`` is the sampling allowance of the on-model sample (fitted-law gap + DKW bound,
    :func:`convexlab.lab.maps.cauchy_fit_gap`, :func:`convexlab.lab.maps.dkw_epsilon`).

    *supported* iff every deviation ≤ ``allowance``; else *not supported*. Returns (status, criterion)."""
    deviations = _mapping("deviations", deviations)
    devs = {str(k): _finite_number(f"deviations[{k!r}]", v, 0.0) for k, v in deviations.items()}
    allowance = _finite_number("allowance", allowance, 0.0)
    status = "supported" if all(v <= allowance for v in devs.values()) else "not supported"
    return status, (f"max |fraction − (1 − j/T)| ≤ sampling allowance {allowance:.4f} on every sample "
                    f"({', '.join(devs)})")


def sign_updates_bounded_verdict(max_update_over_lr: dict, final_loss: dict,
                                 tol: float = SIGN_BOUND_TOL) -> tuple[str, str]:
    r"""``stosignsgd.fp8_sign_updates_unaffected`` read as the paper states it (StoSignSGD §3.1 [P]):
    a sign update is ±lr per coordinate whatever the stored state magnitudes, so FP8 (E4M3) state
    storage cannot blow it up the way it blows up AdamW's m̂/(√v̂ + ε). ``max_update_over_lr``: sign
    method → the largest |update|/lr over coordinates and gradient scales with E4M3 states;
    ``final_loss``: sign method → its loss at the end of FP8-emulated training.

    *supported* iff every sign method has max |update|/lr ≤ 1 + ``tol`` and a finite final loss;
    else *not supported*. Returns (status, criterion)."""
    bounds = {str(k): _finite_number(f"max_update_over_lr[{k!r}]", v, 0.0)
              for k, v in _mapping("max_update_over_lr", max_update_over_lr).items()}
    final_loss = _mapping("final_loss", final_loss)
    if set(map(str, final_loss)) != set(bounds):
        raise ValueError(f"final_loss must have the keys of max_update_over_lr {sorted(bounds)}, got {sorted(final_loss)}")
    tol = _finite_number("tol", tol, 0.0)
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in final_loss.values())
    status = "supported" if finite and all(b <= 1 + tol for b in bounds.values()) else "not supported"
    return status, f"max |update|/lr ≤ 1 + {tol:g} for every sign method at every gradient scale, FP8 training loss finite"


def momentum_flush_verdict(m_zeros: float, changed: dict, zero_share: float = 0.5,
                           changed_share: float = 0.01) -> tuple[str, str]:
    r"""``stosignsgd.fp8_momentum_flush`` (our finding [D], notebook 11): at the model's own gradient
    scale E4M3 storage flushes most of the momentum m to exact zeros, so it does change the sign
    methods' next update (where m is 0 Signum's step is 0 and StoSignSGD's is a fair coin).
    ``m_zeros``: share of m coordinates stored as 0; ``changed``: sign method → share of its next
    update's coordinates that E4M3 storage flips, zeros or changes by more than 2×.

    *supported* iff ``m_zeros`` > ``zero_share`` and every share in ``changed`` > ``changed_share``;
    else *not supported*. Returns (status, criterion)."""
    m_zeros = _finite_number("m_zeros", m_zeros, 0.0)
    shares = {str(k): _finite_number(f"changed[{k!r}]", v, 0.0) for k, v in _mapping("changed", changed).items()}
    zero_share, changed_share = _finite_number("zero_share", zero_share, 0.0), _finite_number("changed_share", changed_share, 0.0)
    status = ("supported" if m_zeros > zero_share and all(v > changed_share for v in shares.values())
              else "not supported")
    return status, f"m zeros > {100 * zero_share:g} % and > {100 * changed_share:g} % of each sign method's update changed"


def _fmt(v, nd: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.{nd}g}"
    return str(v)


def runs_scale(runs: list[dict]) -> str:
    r"""The size of a set of GPT runs (``convexlab.llm.experiments.load_runs`` dicts): model, its
    parameter count, seeds, runs, the longest run's steps and tokens (``"toy GPT: 115k params,
    1 seed, 5 runs, ≤ 300 steps, ≤ 153,600 tokens per run"``)."""
    if not isinstance(runs, list) or not runs:
        raise ValueError(f"runs must be a non-empty list of run dicts, got {runs!r}")
    cfgs = [r["config"] for r in runs]
    params = sorted({c.get("num_params") for c in cfgs if c.get("num_params")})
    seeds = {c.get("seed") for c in cfgs}
    steps = max((c.get("max_steps") or 0) for c in cfgs)
    tokens = max((r["val"][-1][1] if r.get("val") else 0) for r in runs)
    p = "/".join(f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k" for n in params) or "? "
    models = "/".join(sorted({str(c.get("model", "?")) for c in cfgs}))
    return (f"{models} GPT: {p} params, {len(seeds)} seed{'' if len(seeds) == 1 else 's'}, {len(runs)} runs, "
            f"≤ {steps} steps, ≤ {tokens:,} tokens per run")


def _iv_text(d: dict | None, nd: int = 3) -> str:
    """``mean [lo, hi] (n=..)`` of an interval dict (``mean``, ``lo``, ``hi``, ``n``)."""
    if not d or d.get("mean") is None:
        return "n/a"
    return f"{_fmt(d['mean'], nd)} [{_fmt(d.get('lo'), nd)}, {_fmt(d.get('hi'), nd)}] (n={d.get('n')})"


def _summary_of(summary, kind: str) -> dict:
    if not isinstance(summary, dict) or summary.get("experiment") != kind:
        raise ValueError(f"summary must be a {kind} experiment summary, got "
                         f"{summary.get('experiment') if isinstance(summary, dict) else type(summary).__name__!r}")
    return summary


def _min_seeds(min_seeds) -> int:
    V.integer("min_seeds", min_seeds, 1)
    return int(min_seeds)


def _reduce(status: str, numbers: str, reduced: bool) -> tuple[str, str]:
    if reduced:
        return "inconclusive", f"reduced-size runs (the criterion alone gives {status!r}): " + numbers
    return status, numbers


def fp8_speedup_verdict(summary: dict, runs: list[dict] | None = None, reduced: bool = False,
                        paper: float = PAPER_SPEEDUP, min_seeds: int = 3, min_lrs: int = 3) -> tuple[str, str, str]:
    r"""``stosignsgd.fp8_speedup`` (StoSignSGD abstract, Fig. 2 [P]; ratio as [SSG-SPEEDUP, SSG-Q14]):
    from the ``fp8`` experiment's summary (``convexlab.llm.experiments.summarize_fp8``; ``runs`` is
    accepted for the older call and not read). The paper's protocol: each method at its own best lr;
    target = the baseline's final validation loss; ratio = tokens the baseline needs ÷ tokens
    StoSignSGD needs. The summary gives it per seed (baseline and StoSignSGD paired by seed) with
    mean ± 3 s.e. over seeds (a seed where StoSignSGD never reaches the target enters as the upper
    bound tokens_baseline / its tokens: "censored").

    Criterion, against each of :data:`SPEEDUP_BASELINES` in FP8: *supported* iff for both the
    interval's lower end is > 1 (StoSignSGD faster, the interval excluding equality), the mean is
    ≥ ``paper`` and no seed is censored; *not supported* iff for one the interval's upper end is
    < ``paper`` (the speedup the paper reports is excluded); otherwise *inconclusive*, and
    *inconclusive* as well without a sweep of ≥ ``min_lrs`` lrs for StoSignSGD and both baselines,
    with fewer than ``min_seeds`` paired seeds, or with ``reduced`` runs. Returns (status, numbers,
    criterion)."""
    _summary_of(summary, "fp8")
    min_seeds = _min_seeds(min_seeds)
    V.integer("min_lrs", min_lrs, 1)
    paper = _finite_number("paper", paper, 1.0)
    crit = (f"iso-loss tokens ratio (baseline/StoSignSGD, each at its best lr, mean ± 3 s.e. over ≥ {min_seeds} "
            f"paired seeds) against {' and '.join(SPEEDUP_BASELINES)} in FP8: lower end > 1 and mean ≥ {paper:g} "
            f"for both (supported); upper end < {paper:g} for one (not supported); needs ≥ {min_lrs} lrs per method")
    arms = {r["run"]: r for r in summary["runs"]}
    sto = [r for r in summary["runs"] if r["optimizer"] == "StoSignSGD" and r.get("precision") == "fp8"]
    if not sto:
        return "inconclusive", "no StoSignSGD fp8 arm in the fp8 experiment", crit
    m = sto[0]
    got, parts = {}, []
    for t in summary["tokens_to_target"]:
        b = arms.get(t["baseline"])
        if t["method"] != m["run"] or b is None or b.get("precision") != "fp8":
            continue
        iv = {"mean": t["ratio"], "lo": t.get("ratio_lo"), "hi": t.get("ratio_hi"), "n": t.get("n")}
        parts.append(f"{t['baseline']} (lr {_fmt(t.get('baseline_lr'))}{', grid edge' if b.get('at_grid_edge') else ''}): "
                     f"{_iv_text(iv)}" + (f", {t['censored']} censored" if t.get("censored") else "")
                     + (f" ({t['note']})" if t.get("note") and not t.get("censored") else ""))
        if b["optimizer"] in SPEEDUP_BASELINES:
            got[b["optimizer"]] = t
    lr_counts = {o: max((len(r.get("lrs", [])) for r in summary["runs"] if r["optimizer"] == o and r.get("precision") == "fp8"),
                        default=0) for o in ("StoSignSGD",) + SPEEDUP_BASELINES}
    swept = all(v >= min_lrs for v in lr_counts.values())
    enough = all(o in got and (got[o].get("n") or 0) >= min_seeds for o in SPEEDUP_BASELINES)
    status = "inconclusive"
    if swept and enough:
        ts = [got[o] for o in SPEEDUP_BASELINES]
        if all(t["ratio_lo"] is not None and t["ratio_lo"] > 1 and t["ratio"] >= paper and not t.get("censored") for t in ts):
            status = "supported"
        elif any(t.get("ratio_hi") is not None and t["ratio_hi"] < paper for t in ts):
            status = "not supported"
    numbers = (f"{m['run']} at lr {_fmt(m.get('best_lr'))}{' (grid edge)' if m.get('at_grid_edge') else ''}, final val loss "
               f"{_fmt(m['final_val_loss'])}; ratio mean [± 3 s.e.] against: " + "; ".join(parts)
               + "; lrs per method: " + ", ".join(f"{o} {n}" for o, n in lr_counts.items())
               + ("" if swept else f" (fewer than {min_lrs}: no per-method sweep)")
               + ("" if enough else f" (a speedup baseline missing or fewer than {min_seeds} paired seeds)")
               + f"; paper: {paper:g}-2.14x against Alg. 5 SignSGD and Lion at 124M, 13.1B tokens")
    status, numbers = _reduce(status, numbers, reduced)
    return status, numbers, crit


def improves_over_adamw_verdict(summary: dict, reduced: bool = False, tol: float = LOSS_TOL,
                                min_seeds: int = 3, min_lrs: int = 3) -> tuple[str, str, str]:
    r"""``softsign.improves_over_adamw`` (Softsign [SS-EXP] [REV]/[3P]: SoftSignum / SoftMuon beat or
    match AdamW in LLM pretraining), from the ``softstar`` summary's ``vs_adamw`` entries
    (``convexlab.llm.experiments.summarize_softstar``: Soft* at its best lr − AdamW at its best lr,
    final validation loss paired by seed, mean ± 3 s.e.). *supported* iff for every Soft* arm the
    interval's upper end is ≤ ``tol`` (not worse than AdamW by more than ``tol`` nats); *not
    supported* iff for one its lower end is > ``tol`` (worse by more than ``tol``); otherwise
    *inconclusive*, and *inconclusive* as well without AdamW or a Soft* arm, with an lr grid of fewer
    than ``min_lrs`` values for AdamW or a Soft* arm, with fewer than ``min_seeds`` paired seeds, or
    with ``reduced`` runs. Returns (status, numbers, criterion)."""
    _summary_of(summary, "softstar")
    tol = _finite_number("tol", tol, 0.0)
    min_seeds = _min_seeds(min_seeds)
    V.integer("min_lrs", min_lrs, 1)
    crit = (f"Soft* − AdamW final val loss, each at its best of ≥ {min_lrs} lrs, paired over ≥ {min_seeds} seeds, "
            f"mean ± 3 s.e.: upper end ≤ {tol:g} nats for every Soft* (supported); lower end > {tol:g} for one "
            "(not supported)")
    arms = {r["run"]: r for r in summary["runs"]}
    es = summary.get("vs_adamw", [])
    grids = {e["soft"]: len(arms.get(e["soft"], {}).get("lrs", [])) for e in es}
    if es:
        grids[es[0]["adamw"]] = len(arms.get(es[0]["adamw"], {}).get("lrs", []))
    usable = bool(es) and all(e["n"] >= min_seeds for e in es) and all(v >= min_lrs for v in grids.values())
    status = "inconclusive"
    if usable:
        if all(e["hi"] is not None and e["hi"] <= tol for e in es):
            status = "supported"
        elif any(e["lo"] is not None and e["lo"] > tol for e in es):
            status = "not supported"
    numbers = (f"final val loss AdamW {_fmt(summary.get('adamw_final'))}; Soft* − AdamW mean [± 3 s.e.]: "
               + ("; ".join(f"{e['soft']} (lr {_fmt(e['lr'])}) − {e['adamw']} (lr {_fmt(e['adamw_lr'])}): {_iv_text(e)}"
                            for e in es) or "no Soft* and AdamW arms")
               + "; lr grid sizes " + ", ".join(f"{k} {v}" for k, v in grids.items())
               + f"; effect threshold {tol:g} nats" + ("" if usable else f" (needs ≥ {min_lrs} lrs and ≥ {min_seeds} seeds)"))
    status, numbers = _reduce(status, numbers, reduced)
    return status, numbers, crit


def _equivalence(entries: list[dict], tol: float) -> str:
    """*supported* iff every interval lies inside [−tol, tol]; *not supported* iff one lies wholly
    outside it; else *inconclusive* (the two one-sided reading of "the same up to tol")."""
    if all(e["lo"] is not None and e["hi"] is not None and -tol <= e["lo"] and e["hi"] <= tol for e in entries):
        return "supported"
    if any((e["lo"] is not None and e["lo"] > tol) or (e["hi"] is not None and e["hi"] < -tol) for e in entries):
        return "not supported"
    return "inconclusive"


#: the α_sign values of the Softsign ablation (§5.1 [REV]); 0.9 is the reference arm
ALPHA_SIGN_VALUES = (0.3, 0.5, 0.7)


def alpha_sign_ablation_verdict(summary: dict, reduced: bool = False, tol: float = LOSS_TOL,
                                min_seeds: int = 3) -> tuple[str, str, str]:
    r"""``softsign.alpha_sign_ablation`` (Softsign §5.1 [REV]: α_sign ∈ [0.3, 0.9] gives stable
    metrics), from the ``softstar`` summary's ``alpha_ablation`` entries: SoftSignum with α_sign = S/T_total
    ∈ :data:`ALPHA_SIGN_VALUES` minus SoftSignum with α_sign = 0.9 at the same lr, final validation
    loss paired by seed, mean ± 3 s.e. *supported* iff every interval lies inside [−``tol``, ``tol``];
    *not supported* iff one lies wholly outside it (that α changes the loss by more than ``tol``);
    otherwise *inconclusive*, and *inconclusive* as well with an α value missing, fewer than
    ``min_seeds`` seeds, or ``reduced`` runs. Returns (status, numbers, criterion)."""
    _summary_of(summary, "softstar")
    tol = _finite_number("tol", tol, 0.0)
    min_seeds = _min_seeds(min_seeds)
    es = summary.get("alpha_ablation", [])
    crit = (f"SoftSignum(α_sign) − SoftSignum(0.9), paired over ≥ {min_seeds} seeds, mean ± 3 s.e., for α_sign ∈ "
            f"{{{', '.join(f'{a:g}' for a in ALPHA_SIGN_VALUES)}}}: every interval inside ±{tol:g} nats (supported); "
            f"one wholly outside ±{tol:g} (not supported)")
    have = {round(e["alpha_sign"], 3) for e in es if e.get("alpha_sign") is not None}
    usable = all(round(a, 3) in have for a in ALPHA_SIGN_VALUES) and all(e["n"] >= min_seeds for e in es)
    status = _equivalence(es, tol) if usable else "inconclusive"
    numbers = ("SoftSignum final val loss, α_sign − 0.9 mean [± 3 s.e.]: "
               + ("; ".join(f"α {e['alpha_sign']:.2g} at lr {_fmt(e['lr'])} (final {_fmt(e['final'])}): {_iv_text(e)}"
                            for e in es) or "no ablation arms")
               + f"; tolerance {tol:g} nats" + ("" if usable else f" (needs α ∈ {ALPHA_SIGN_VALUES} and ≥ {min_seeds} seeds)"))
    status, numbers = _reduce(status, numbers, reduced)
    return status, numbers, crit


def tmax_training_verdict(summary: dict, reduced: bool = False, tol: float = LOSS_TOL,
                          min_seeds: int = 3) -> tuple[str, str, str]:
    r"""``softsign.tmax_training`` (official code's cap tmax = 20 against the paper's uncapped
    schedule [SS-SCHED, SS-Q2]; "train alike" is our reading [D]), from the ``softstar`` summary's
    ``tmax`` entries: SoftSignum with the other cap minus SoftSignum with tmax = 20 at the same lr,
    final validation loss paired by seed, mean ± 3 s.e. *supported* iff every interval lies inside
    [−``tol``, ``tol``]; *not supported* iff one lies wholly outside it; otherwise *inconclusive*,
    and *inconclusive* as well without a tmax arm, with fewer than ``min_seeds`` seeds, or with
    ``reduced`` runs. Returns (status, numbers, criterion)."""
    _summary_of(summary, "softstar")
    tol = _finite_number("tol", tol, 0.0)
    min_seeds = _min_seeds(min_seeds)
    es = summary.get("tmax", [])
    crit = (f"SoftSignum(tmax = 1e9) − SoftSignum(tmax = 20), paired over ≥ {min_seeds} seeds, mean ± 3 s.e.: "
            f"inside ±{tol:g} nats (supported); wholly outside (not supported)")
    usable = bool(es) and all(e["n"] >= min_seeds for e in es)
    status = _equivalence(es, tol) if usable else "inconclusive"
    numbers = ("SoftSignum final val loss, other cap − tmax 20 mean [± 3 s.e.]: "
               + ("; ".join(f"tmax {e['tmax']:g} vs {e['reference_tmax']:g} at lr {_fmt(e['lr'])} (final "
                            f"{_fmt(e['final'])}): {_iv_text(e)}" for e in es) or "no tmax arm")
               + f"; tolerance {tol:g} nats" + ("" if usable else f" (needs a tmax arm and ≥ {min_seeds} seeds)"))
    status, numbers = _reduce(status, numbers, reduced)
    return status, numbers, crit


#: the size at which the FP8 rows could be settled (StoSignSGD §3.1: 124M, 13.1B tokens) [D]
_FP8_GPU = "the fp8 GPU preset (configs/fp8_gpu.json) at 124M parameters for ≥ 1B tokens (the paper: 13.1B), ≥ 3 seeds"
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
          "with E4M3 optimizer states, AdamW's second moments underflow to exact zeros", notebooks=("11",), llm=True,
          settle=f"Table 12's per-layer zero shares logged at step 103 of an FP8 AdamW run of {_FP8_GPU} "
                 "(notebook 11 measures a 98k-parameter bigram MLP)"),
    Claim("stosignsgd.fp8_sign_updates_unaffected", S, "§3.1", "P",
          "sign-based updates stay bounded (|update| ≤ lr per coordinate) whatever FP8 storage does to the state "
          "magnitudes, unlike AdamW's m̂/(√v̂ + ε)", notebooks=("11",), llm=True,
          settle=f"max |update|/lr of StoSignSGD and Signum logged every step of {_FP8_GPU}; the bound is exact "
                 "arithmetic, so the open question is only whether training notices the flushed momentum "
                 "(row stosignsgd.fp8_momentum_flush)"),
    Claim("stosignsgd.fp8_momentum_flush", S, "§3.1 (our finding)", "D",
          "at the model's own gradient scale E4M3 storage flushes most of the momentum m to zero, so it does change "
          "the sign methods' next update (> 1 % of coordinates flipped, zeroed or changed > 2×)", notebooks=("11",),
          llm=True,
          settle=f"the m-zero share and the changed-update share logged in {_FP8_GPU}, with StoSignSGD under E4M3 "
                 "states against the same run with fp32 states (does the flush cost validation loss?)"),
    Claim("stosignsgd.fp8_pretraining_stability", S, "§3.1, Tables 10–11", "P",
          "in FP8 pretraining AdamW collapses while StoSignSGD trains stably", notebooks=("12",), llm=True,
          settle=f"{_FP8_GPU}: fp8 AdamW diverging and StoSignSGD not, in every seed, with the lr swept per method"),
    Claim("stosignsgd.fp8_speedup", S, "abstract, Fig. 2", "P",
          "under FP8, StoSignSGD reaches the baselines' (Alg. 5 SignSGD, Lion) final validation loss with 1.44–2.14× "
          "fewer tokens", notebooks=("12",), llm=True,
          settle=f"an lr sweep per method (StoSignSGD, Signum, Lion, AdamW) on {_FP8_GPU}; the iso-loss tokens ratio "
                 "against each baseline with an interval over seeds"),
    Claim("stosignsgd.dimension_factor", S, "§2, Theorem 4 and App. D [SSG-LB]", "P",
          "the (ℓ1, ℓ∞) guarantees improve the dimension factor of Euclidean methods: ‖L‖₁D∞ in place of "
          "√d‖L‖₂D∞, never worse and up to √d better under heterogeneous L", notebooks=("15",),
          settle="notebook 15 tests Euclidean O2NC (ℓ2 ball of matched radius) against StoSignSGD-O2NC for "
                 "d ∈ {2, 8, 32, 128} with homogeneous L (heterogeneous L and projected SGD on a box: row "
                 "stosignsgd.projected_sgd_heterogeneous); still open: the non-convex comparison under heterogeneous "
                 "L and d up to 10⁴, ≥ 3 seeds with intervals"),
    Claim("stosignsgd.sign_conversion_ablation", S, "§3.2, App. B.3–B.5 [SSG-FT]", "P",
          "in LLM fine-tuning StoSignSGD matches or beats AdamW and beats SignSGD (GSM8K, MATH), with the sign "
          "conversions of Algs. 5–11 compared under shared fixed betas and a per-method lr search",
          notebooks=("19",), llm=True,
          settle="each of Algs. 5–11 against its original with shared fixed betas and a per-method lr search, "
                 "fine-tuning a pretrained model (the paper: Qwen2.5-7B on NuminaMath-CoT, GSM8K and MATH), ≥ 3 "
                 "seeds; notebook 19 is a CPU stand-in: fine-tuning the toy GPT on held-out text"),
    Claim("stosignsgd.structural_noise", S, "Fig. 4 [P caption; R metric], App. B.5", "P/R",
          "[P] Fig. 4 compares the structural noise of the unbiased sign conversions and supports that σ ⪰ |m| "
          "usually holds; [R] the expected order (our reading of the figure): StoSignSGD (σ = G) has the most noise "
          "(mean 1 − (m/σ)²) and no violations, sign-AdamW the least noise and occasional violations",
          notebooks=("19",), llm=True,
          settle="mean |m|/σ, mean 1 − (m/σ)² and the share of |m| > σ per parameter group, logged through a 124M "
                 "pretraining or 7B fine-tuning run for sign-AdamW, sign-AdaMax and StoSignSGD, ≥ 3 seeds"),
    Claim("stosignsgd.update_rms", S, "§3, update-RMS figure [P]", "P",
          "AdamW's update before the learning rate has RMS ≈ 0.2 while a pure sign update has RMS 1, which is why "
          "the sign methods' learning rates are 'sign-aligned'", notebooks=("19",), llm=True,
          settle="RMS of the pre-lr update per parameter group over the first 1250 steps of a 124M pretraining run "
                 "of AdamW and its sign conversion, ≥ 3 seeds"),
    Claim("stosignsgd.cnn_test_loss", S, "Fig. 5 (ResNet18 on CIFAR-10) [P]", "P/D",
          "[P] on image classification StoSignSGD converges fastest and reaches a markedly lower final test loss than "
          "SignSGD and AdamW at comparable test accuracy; [D] tested with a small CNN on scikit-learn's digits",
          notebooks=("18",),
          settle="ResNet18 on CIFAR-10 for 100 epochs with the lr swept per method, ≥ 3 seeds, test loss and "
                 "accuracy curves with intervals"),
    Claim("stosignsgd.projected_sgd_heterogeneous", S, "§2, Theorem 4 against projected SGD [SSG-LB]", "P/D",
          "[P] on a box with heterogeneous Lipschitz constants the (ℓ1, ℓ∞) rate ‖L‖₁D∞ beats the Euclidean "
          "√d‖L‖₂D∞ of projected subgradient descent; [D] measured on a convex non-smooth box problem with a "
          "heterogeneous L across d, both methods with their theory steps and a tuned step",
          notebooks=("15",),
          settle="the same comparison at d up to 10⁴ with the step of each method tuned, ≥ 3 seeds, the gap growing "
                 "like √d‖L‖₂/‖L‖₁"),
    # ---- Softsign --------------------------------------------------------------------------------
    Claim("softsign.geometry_family", SS, "[SS-FAMILY]", "THR",
          "tanh, the algebraic soft sign and SoftMuon's Φ_τ are gradients of the stated Fenchel conjugates of "
          "1-strongly convex regularizers (Fenchel–Young equality)",
          checks=("geometry.", "spectral.", "proofs.entropic_conjugate", "proofs.algebraic_conjugate",
                  "proofs.huber_clip"), notebooks=("01",)),
    Claim("softsign.tau_limits", SS, "[SS-LIMITS]", "DER",
          "τ → ∞ recovers sign / polar (Signum / Muon); τ → 0 recovers momentum SGD with step δτ",
          checks=("softsign.tau_limits", "softsign.trajectory_limit", "proofs.sign_limits"), notebooks=("01",)),
    Claim("softsign.quantile_schedule_linear", SS, "[SS-SCHED] (official code)", "CODE",
          "the folded-Cauchy quantile schedule makes the saturated fraction fall linearly over the transition "
          "(judged on update samples from the fitted Cauchy law and off it: Laplace, Gaussian)",
          notebooks=("07",)),
    Claim("softsign.quantile_schedule_linear[tmax=20]", SS, "[SS-SCHED, SS-Q2] (official default tmax = 20)", "CODE",
          "the same holds with the official code's temperature cap tmax = 20", notebooks=("07",)),
    Claim("softsign.regns_accuracy", SS, "[SS-REGNS]", "DER",
          "the official 5-step coupled Newton–Schulz inverse root approximates Φ_τ to the tabulated accuracy",
          checks=("newton_schulz.regns_table",), notebooks=("02",)),
    Claim("softsign.convergence_bounds", SS, "[SS-R1, SS-R2, SS-R3]", "DER",
          "the one-step descent inequality (τδ ≤ μ/L) and its averaged forms (deterministic, stochastic, EMA "
          "momentum) hold in the V* stationarity measure",
          checks=("softsign.r1", "softsign.r2", "softsign.r3"), notebooks=("08",)),
    Claim("softsign.heterogeneity", SS, "§1 [SS-HET, SS-EXP]", "REV",
          "on heterogeneous noisy problems Signum plateaus at an lr-sized floor while SoftSignum keeps decreasing "
          "after its transition", checks=("softsign.heterogeneity",), notebooks=("08",)),
    Claim("softsign.softmuon_matrix_toy", SS, "[SS-PLAN] (our matrix toy)", "D",
          "with Muon's hyperparameters, SoftMuon's transition ends below Muon on a noisy matrix least-squares "
          "problem", notebooks=("08",)),
    Claim("softsign.llm_transition", SS, "[SS-EXP]", "PAPER",
          "SoftSignum / SoftMuon improve on Signum / Muon in LLM pretraining around the transition",
          notebooks=("12",), llm=True,
          settle="the softstar GPU preset at 130M–720M (the paper's sizes), ≥ 3 seeds, with a hard-switch baseline "
                 "(sign for S steps, then SGD-momentum): a gap after the transition whose interval excludes "
                 "±0.01 nats"),
    Claim("softsign.improves_over_adamw", SS, "[SS-EXP]", "REV",
          "SoftSignum / SoftMuon match or beat AdamW in LLM pretraining", notebooks=("12",), llm=True,
          settle="SoftSignum, SoftMuon and AdamW with the lr tuned per method at ≥ 130M parameters, ≥ 3 seeds, "
                 "final validation loss with an interval",
          note="`convexlab bench compare --quick` (README, \"Comparing optimizers\": tuned lr grid, 9 small "
               "problems) ranks SoftSignum below AdamW on the final metric"),
    Claim("softsign.imbalanced_classification", SS, "[SS-EXP] imbalanced CIFAR; our stand-in [SS-PLAN] E2", "REV/D",
          "[REV] on imbalanced classification SoftSignum matches or beats Signum and AdamW; [D] tested on sklearn "
          "digits with a small MLP over imbalance k ∈ {1, 10, 50, 100, 200}, lr tuned on validation per (optimizer, "
          "k), balanced test accuracy (SoftSignum − baseline, paired over seeds, mean − 3se ≥ −0.01 at every k > 1)",
          notebooks=("14",),
          settle="the paper's imbalanced CIFAR-10/100 (long-tailed, k up to 200) with a ResNet, SoftSignum, Signum, "
                 "SGD-momentum and AdamW with the lr tuned per (method, k), ≥ 3 seeds, balanced accuracy with an "
                 "interval"),
    Claim("softsign.char_level_prediction", SS, "[SS-EXP] next-character prediction; our stand-in [SS-PLAN] E1",
          "REV/D",
          "[REV] on next-character prediction SoftSignum is the best coordinate-wise optimizer (Transformer: "
          "SoftSignum 57.05 %, AdamW 56.91 %, Signum 56.17 %, hard switch 56.17 %); [D] tested with a small char-level "
          "LSTM and Transformer on Python standard-library source bytes (the default corpus), held-out next-character "
          "accuracy", notebooks=("16",),
          settle="the paper's multilingual text with its LSTM and Transformer, every optimizer tuned (lr, decay, "
                 "momentum), ≥ 3 seeds, accuracy with an interval"),
    Claim("softsign.node_prediction", SS, "[SS-EXP] node property prediction; our stand-in [SS-PLAN] E3", "REV/D",
          "[REV] on node property prediction (7 GraphLand datasets) SoftMuon has the best average rank; [D] tested "
          "with a small GCN on synthetic stochastic-block-model graphs, average rank over graph families",
          notebooks=("17",),
          settle="the 7 GraphLand datasets with a graph transformer, every optimizer tuned, ≥ 3 seeds, average rank "
                 "with its spread"),
    Claim("softsign.alpha_sign_ablation", SS, "§5.1 α_sign ablation [REV]", "REV",
          "α_sign ∈ [0.3, 0.9] gives stable metrics (the 130M LLM and next-character prediction)",
          notebooks=("12",), llm=True,
          settle="SoftSignum with α_sign ∈ {0.3, 0.5, 0.7, 0.9} at 130M, ≥ 3 seeds, final validation loss with "
                 "an interval"),
    Claim("softsign.tmax_training", SS, "[SS-SCHED, SS-Q2] temperature cap in training", "CODE/D",
          "the official code's temperature cap tmax = 20 and the paper's uncapped schedule (tmax = 10⁹) train alike "
          "(SS-Q2: the code caps τ, the paper states no cap)", notebooks=("12",), llm=True,
          settle="SoftSignum with tmax = 20 and 10⁹ at 130M, ≥ 3 seeds, final validation loss with an interval",
          note="with tmax = 10⁹ the quantile schedule's τ stays so large that tanh(τm) ≈ sign(m) and SoftSignum "
               "tracks Signum; the cap is what makes the transition soft (notebook 12's numbers)"),
    # ---- SF-NorMuon -------------------------------------------------------------------------------
    Claim("sf_normuon.lemma32_steady_state", SF, "Lemma 3.2, Fig. 4", "P",
          "the steady-state weight RMS satisfies λρ = 0.1[−α + √(α² + 2ηλ)] (decay at the fast iterate z)",
          checks=("sf_normuon.lemma32", "sf_normuon.hypothesis31", "sf_normuon.decay_at_z"), notebooks=("09",)),
    Claim("sf_normuon.decay_at_fast_iterate", SF, "Fig. 2 [SFN-DECAY, SFN-FIG2]", "P/DER",
          "[P] weight decay at the fast iterate z keeps the weights bounded, decay at the slow iterate x does not; "
          "[DER] the mechanism tested, z growing like a √t random walk under decay at x, is our derivation, not a "
          "paper statement (measured on SF-NorMuon under pure gradient noise)",
          checks=("sf_normuon.decay_at_x", "sf_normuon.spectral_ball"), notebooks=("09",),
          settle="weight RMS of SF-NorMuon with decay at z, y, x and none over a GPT run of ≥ 1× Chinchilla at "
                 "124M, ≥ 3 seeds",
          note="on the toy GPT, decay at z, y and x gave the same validation loss (row "
               "sf_normuon.decay_placement_llm, notebook 12)"),
    Claim("sf_normuon.decay_placement_llm", SF, "Fig. 2 [SFN-FIG2]", "P",
          "in GPT pretraining, decay at the fast iterate z keeps long runs stable while decay at x lets them degrade",
          notebooks=("20",), llm=True,
          settle="SF-NorMuon with decay at z, y, x, none (and all, with decay_lr = base) at 124M on horizons up to "
                 "≥ 1× Chinchilla, ≥ 3 seeds: validation loss and weight RMS per placement"),
    Claim("sf_normuon.stationarity_rate", SF, "Theorem 3.1 (as reconstructed) [SFN-T31]", "DER",
          "schedule-free spectral dynamics reach stationarity (Frank–Wolfe gap) at rate Õ(T^{-1/4})",
          notebooks=("09",),
          settle="the theorem's explicit constants (to compare the gap with a bound), or horizons long enough "
                 "(T ≥ 10⁶) that a T^(-1/4) decay separates from a flat curve; a flat curve over a finite range "
                 "cannot refute an Õ bound with unknown constants"),
    Claim("sf_normuon.anytime_single_configuration", SF, "[SFN-RESULTS] (our SF-AdamW proxy)", "D",
          "SF-AdamW (the schedule-free rule with the Adam direction, not SF-NorMuon) run once with one lr matches "
          "AdamW + cosine tuned per horizon at every horizon, on a noisy quadratic; the paper itself reports "
          "SF-AdamW lagging tuned AdamW, so this tests the schedule-free rule, not the paper's SF-NorMuon claim",
          notebooks=("10",),
          note="the SF-NorMuon claim is row sf_normuon.anytime_llm (notebook 12's toy GPT anytime runs)"),
    Claim("sf_normuon.anytime_llm", SF, "Fig. 1 [SFN-RESULTS]", "P",
          "one SF-NorMuon configuration, read at x at 1–8× horizons, matches or beats AdamW + cosine tuned per "
          "horizon in GPT pretraining", notebooks=("20",), llm=True,
          settle="the anytime GPU preset at 124M with horizons up to ≥ 1× Chinchilla (≈ 2.5B tokens), ≥ 3 seeds, "
                 "with NorMuon + cosine tuned per horizon as the control (row sf_normuon.gap_to_cosine_normuon)"),
    Claim("sf_normuon.momentum_ablation", SF, "[SFN-RESULTS]", "P",
          "μ = 0 (no momentum) raises SF-NorMuon's final loss (the paper: 3.14 → 3.28)", notebooks=("20",), llm=True,
          settle="SF-NorMuon with μ = 0.8 and μ = 0 at 124M on the anytime horizons, ≥ 3 seeds, final validation "
                 "loss with an interval"),
    Claim("sf_normuon.rownorm_ablation", SF, "[SFN-PLAN] ablation", "I",
          "NorMuon's row normalization matters inside SF-NorMuon: removing it raises the final loss", notebooks=("20",),
          llm=True,
          settle="SF-NorMuon with and without row normalization at 124M on the anytime horizons, ≥ 3 seeds"),
    Claim("sf_normuon.sf_adamw_diverges_without_decay", SF, "Fig. 2 [SFN-FIG2]", "P",
          "without weight decay, a long schedule-free run (SF-AdamW) diverges", notebooks=("20",), llm=True,
          settle="SF-AdamW (and SF-NorMuon) with weight decay 0 against decay at z over the longest anytime "
                 "horizon (≥ 1× Chinchilla at 124M), ≥ 3 seeds: divergence or weight-RMS growth"),
    Claim("sf_normuon.gap_to_cosine_normuon", SF, "Figs. 6–7 [SFN-BASELINES]", "I",
          "one SF-NorMuon configuration matches NorMuon + cosine tuned per horizon (the paper's baseline), so that "
          "its gain over tuned AdamW is the schedule-free rule's and not only the Muon family's (our reading of what "
          "the baseline must show)", notebooks=("20",), llm=True,
          settle="NorMuon + cosine with the lr tuned per horizon next to SF-NorMuon and AdamW + cosine at 124M, "
                 "horizons 1–8× up to ≥ 1× Chinchilla, ≥ 3 seeds, gap per horizon with an interval"),
    Claim("sf_normuon.lr_robustness", SF, "Fig. 5 [SFN-RESULTS]", "P",
          "SF-NorMuon is robust to the learning rate: over an lr sweep (×1/4 … ×4 of the default) its final loss "
          "varies less than SF-AdamW's (a flatter curve)", notebooks=("20",), llm=True,
          settle="SF-NorMuon and SF-AdamW at lr × {1/4, 1/2, 1, 2, 4} at 124M on the 1× horizon, ≥ 3 seeds: the spread "
                 "of final validation loss over the sweep, paired by seed, with an interval (the CPU preset sweeps "
                 "at its longest horizon, 160 steps of the toy GPT)"),
    Claim("survey.no_single_optimizer_wins_every_dimension", "LLM-optimizer survey (arXiv 2605.09176)",
          "benchmark methodology", "P",
          "no optimizer is best on every benchmark dimension (convergence, wall-clock, memory, complexity) at once",
          notebooks=("13",)),
    Claim("muon.ns5_band", "Muon (Jordan 2024)", "reference code", "EXT",
          "five quintic Newton–Schulz steps map singular values into a band around 1 (≈ [0.7, 1.2])",
          checks=("newton_schulz.quintic_band",), notebooks=("02",)),
]
