"""CLAIMS.md reads well (issue 13): each claim row has a short evidence summary (no <br>) linked to a
details section that holds the full evidence, the criterion each check actually applied (|z| <= z_crit
for z-score checks, never "expected 0"), and the scale of each piece of evidence."""

import re

import pytest

from convexlab.theory import claims
from convexlab.theory.registry import (Check, Outcome, effect_result, identity_result, lower_result, upper_result,
                                       zscore_result)

LONG = "; ".join(f"case {i}: |g| = {i}.5 vs bound {i + 1} (ratio 0.{i})\nnext line" for i in range(400))


def _check(name, kind):
    return Check(name, "Paper (arXiv 0000.00000) Thm 1", "P", kind, "a statement", lambda ctx: None)


def _outcome(name, kind, result):
    return Outcome(_check(name, kind), result, None, 0.1)


OUTCOMES = {o.check.name: o for o in [
    _outcome("demo.zscore[a]", "zscore", zscore_result(2.39, 4.164160673543728, samples_per_point=20000, grid=21)),
    _outcome("demo.zscore[b]", "zscore", zscore_result(3.9, 4.164160673543728, samples_per_point=40000, grid=21)),
    _outcome("demo.effect", "counterexample", effect_result(1.0016, 0.1, steps=4000, seeds=8)),
    _outcome("demo.stall", "counterexample", upper_result(0.0484, 0.759, stderr=0.006, T=2000, seeds=16)),
    _outcome("demo.upper", "upper", upper_result(0.31, 0.759, stderr=0.01, d=2, T=2000, seeds=32)),
    _outcome("demo.lower", "lower", lower_result(1.0, 1.0, slack=1e-6)),
    _outcome("demo.identity", "identity", identity_result(1e-15, 0.0, 1e-10)),
    _outcome("demo.rate", "rate", identity_result(-0.488, -0.5, 0.0494, seeds=128)),
    _outcome("demo.broken", "upper", None),
]}

CLAIMS = [
    claims.Claim("demo.z_claim", "Paper", "Prop. 1", "P", "a sign is unbiased", checks=("demo.zscore",),
                 notebooks=("03",)),
    claims.Claim("demo.counterexample", "Paper", "Figure 1", "P", "signSGD stalls", checks=("demo.stall",)),
    claims.Claim("demo.effect", "Paper", "§8", "REV", "a gap opens", checks=("demo.effect",)),
    claims.Claim("demo.long[tmax=20]", "Paper", "§3", "CODE", "a long notebook verdict", notebooks=("07",)),
    claims.Claim("demo.mixed", "Paper", "Thm 4", "P", "a rate", checks=("demo.upper", "demo.lower", "demo.identity",
                                                                        "demo.rate", "demo.missing"),
                 notebooks=("04", "05")),
    claims.Claim("demo.error", "Paper", "Thm 5", "P", "a check that crashed", checks=("demo.broken",)),
    claims.Claim("demo.llm", "Paper", "§5", "P", "an LLM claim", notebooks=("12",)),
    claims.Claim("demo.unrun", "Paper", "§6", "P", "not run here", notebooks=("09",)),
    claims.Claim("demo.out_of_reach", "Paper", "§9", "P", "needs a cluster"),
]

RECORDS = {
    "demo.z_claim": [dict(claim="demo.z_claim", status="supported", notebook="03_sign",
                          numbers="1,000,000 draws at 31 points: max |z| 1.81 vs critical 4.04")],
    "demo.long[tmax=20]": [dict(claim="demo.long[tmax=20]", status="not supported", notebook="07_temp",
                                numbers=LONG)],
    "demo.mixed": [dict(claim="demo.mixed", status="supported", notebook="04_fig1", numbers="T=100000, 64 seeds: " + LONG),
                   dict(claim="demo.mixed", status="supported", notebook="05_rate",
                        numbers="separate runs at T = 250, 500, 1000, 2000, 512 seeds each")],
    "demo.llm": [dict(claim="demo.llm", status="inconclusive", notebook="12_gpt", numbers="final val loss 2.1 vs 2.2",
                      scale="toy GPT: 115k params, 1 seed, 400 steps")],
}
NOTEBOOK_ROWS = [dict(notebook=n, seconds=1.0, verdict="pass", error=None)
                 for n in ("03_sign", "04_fig1", "05_rate", "07_temp", "12_gpt")]


@pytest.fixture
def md(monkeypatch):
    monkeypatch.setattr(claims, "CLAIMS", CLAIMS)
    return claims.claims_markdown(RECORDS, OUTCOMES, NOTEBOOK_ROWS)


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` is not a separator)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _table(md: str) -> tuple[list[str], list[list[str]]]:
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| claim |"))
    header = _cells(lines[start])
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, _cells(line))))
    return header, rows


def _row(md: str, claim_id: str) -> dict:
    return next(r for r in _table(md)[1] if r["claim"].startswith(f"**{claim_id}**"))


def _github_anchor(heading: str) -> str:
    # GitHub's rule: lower case, drop everything but letters, digits, "_", "-" and spaces, spaces -> "-"
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _summary(cell: str) -> str:
    m = re.fullmatch(r"(.*) \[details\]\(#([^)]+)\)", cell)
    assert m, cell
    return m.group(1)


def test_every_row_has_a_short_summary_without_br_and_a_scale_column(md):
    header, rows = _table(md)
    assert header == ["claim", "paper, where", "provenance", "status", "evidence", "scale"]
    assert len(rows) == len(CLAIMS)
    table = md[md.index("| claim |"):md.index("## Evidence details")]
    assert "<br>" not in table and LONG[:200] not in table
    for r in rows:
        assert len(_summary(r["evidence"])) <= claims.SUMMARY_MAX, r["evidence"]
        assert r["scale"] and len(r["scale"]) <= claims.SCALE_MAX
    assert "<br>" not in md


def test_every_row_links_to_a_details_heading_holding_the_full_evidence(md):
    headings = [line[4:] for line in md.splitlines() if line.startswith("### ")]
    anchors = {_github_anchor(h): h for h in headings}
    assert len(anchors) == len(headings) == len(CLAIMS)
    for c, r in zip(CLAIMS, _table(md)[1]):
        target = re.search(r"\[details\]\(#([^)]+)\)$", r["evidence"]).group(1)
        assert anchors.get(target) == c.id
    assert _github_anchor("demo.long[tmax=20]") == "demolongtmax20" and "(#demolongtmax20)" in md
    # the details section keeps every number of the notebook's verdict (on one line)
    section = md[md.index("### demo.long[tmax=20]"):md.index("### demo.mixed")]
    assert " ".join(LONG.split()) in section
    assert "[Evidence details](#evidence-details)" in md and "\n## Evidence details\n" in md


def test_z_score_and_counterexample_rows_print_the_criterion_actually_used(md):
    z = _row(md, "demo.z_claim")["evidence"]
    assert r"criterion \|z\| ≤ 4.16" in z and "expected" not in z
    # the tightest of the two z checks is named, with its |z|
    assert r"tightest demo.zscore[b]: pass, \|z\| = 3.9" in z and "checks 2/2 pass" in z
    stall = _row(md, "demo.counterexample")["evidence"]
    assert "criterion x − 3se ≤ 0.759, counterexample above it" in stall and "expected" not in stall
    effect = _row(md, "demo.effect")["evidence"]
    assert "criterion x − 3se > 0" in effect and "expected 0" not in md
    details = md[md.index("### demo.z_claim"):md.index("### demo.counterexample")]
    assert details.count("criterion |z| ≤ 4.16") == 2 and "(zscore, default size; scale: 40000 samples/point" in details


def test_mixed_rows_name_the_tightest_check_what_did_not_run_and_each_scale(md):
    row = _row(md, "demo.mixed")
    assert row["status"] == "supported"
    ev = _summary(row["evidence"])
    assert "04_fig1: supported" in ev and "05_rate: supported" in ev and "checks 4/4 pass" in ev
    assert "not run: check demo.missing" in ev
    assert row["scale"].startswith("04 (full): T=100000, 64 seeds; 05 (full): T=250…2000, 512 seeds; checks")
    details = md[md.index("### demo.mixed"):md.index("### demo.error")]
    for line in ["check `demo.upper` (upper, default size; scale: d=2, T=2000, 32 seeds): pass — x = 0.31, "
                 "3se interval [0.28, 0.34], measured/bound 0.408; criterion x − 3se ≤ 0.759",
                 "check `demo.lower` (lower, default size; scale not recorded): pass — x = 1, measured/bound 1; "
                 "criterion x ≥ 1 − 1e-06",
                 "criterion |x| ≤ 1e-10", "criterion |x − (-0.5)| ≤ 0.0494",
                 "- not run in this run: check demo.missing"]:
        assert line in details, line


def test_scale_from_the_record_the_text_or_not_recorded(md):
    assert _row(md, "demo.llm")["scale"] == "12 (full): toy GPT: 115k params, 1 seed, 400 steps"
    assert _row(md, "demo.z_claim")["scale"].startswith("03 (full): 1,000,000 draws, 31 points; checks (default): "
                                                        "20000–40000 samples/point, 21 grid points")
    assert _row(md, "demo.error")["scale"] == "checks (default): scale not recorded"
    assert "check failing demo.broken: error" not in md and "check demo.broken: error" in md
    assert _row(md, "demo.error")["status"] == "not supported"
    assert _row(md, "demo.out_of_reach")["scale"] == "—"
    assert _row(md, "demo.unrun")["status"] == "not run"


@pytest.mark.parametrize("text, scale", [
    ("T=100000, 64 seeds: signSGD stalls", "T=100000, 64 seeds"),
    ("SignGame (d = 4, q = 1/2), runs at T = 250, 500, 1000, 512 seeds each", "d=4, T=250…1000, 512 seeds"),
    ("at FW horizons T = [250, 1000, 4000, 16000] (4 seeds)", "T=250…16000, 4 seeds"),
    ("max deviation from 1 − j/T = 0.997 > allowance", None),
    ("a 115k params model, seed 0, 400 steps", "115k params, 400 steps, 1 seed"),
    ("final val loss 2.1 vs 2.2", None),
])
def test_scale_from_text(text, scale):
    assert claims.scale_from_text(text) == scale


@pytest.mark.parametrize("outcome, text", [
    (OUTCOMES["demo.zscore[a]"], "|z| ≤ 4.16"),
    (OUTCOMES["demo.effect"], "x − 3se > 0"),
    (_outcome("e", "counterexample", effect_result(1.0)), "x > 0"),
    (OUTCOMES["demo.upper"], "x − 3se ≤ 0.759"),
    (_outcome("u", "upper", upper_result(0.5, 1.0, slack=1e-12)), "x ≤ 1 + 1e-12"),
    (_outcome("l", "lower", lower_result(2.0, 1.0, stderr=0.1)), "x + 3se ≥ 1"),
    (_outcome("t", "tight", identity_result(0.998, 1.0, 0.05)), "|x − 1| ≤ 0.05"),
    (OUTCOMES["demo.rate"], "|x − (-0.5)| ≤ 0.0494"),
])
def test_criterion_follows_the_verdict_rule_of_each_kind(outcome, text):
    assert claims.criterion(outcome.check.kind, outcome.result) == text


def test_record_stores_a_scale(tmp_path):
    path = tmp_path / "claims.json"
    rec = claims.record(path, "x.y", "supported", "1 < 2", scale="toy GPT:  115k params,\n1 seed")
    assert rec["scale"] == "toy GPT: 115k params, 1 seed" and claims.record_scale(rec) == rec["scale"]
    assert "scale" not in claims.record(None, "x.y", "supported", "1 < 2")
    with pytest.raises(ValueError, match="scale must be None or a non-empty string, got ''"):
        claims.record(None, "x.y", "supported", "1 < 2", scale="")
    assert claims.record_scale(dict(numbers="nothing sized")) == claims.NO_SCALE


def test_a_notebook_verdict_shows_its_criterion(monkeypatch):
    rec = claims.record(None, "x.y", "supported", "1 < 2", criterion="ratio <= 1.25\n at every horizon")
    assert rec["criterion"] == "ratio <= 1.25 at every horizon" == claims.record_criterion(rec)
    with pytest.raises(ValueError, match="criterion must be None or a non-empty string, got 3"):
        claims.record(None, "x.y", "supported", "1 < 2", criterion=3)
    text = "32 seeds; ratio per horizon {500: 1.07, 4000: 1.90}; criterion <= 1.25 at every horizon; best lr 0.024"
    assert claims.record_criterion(dict(numbers=text)) == "<= 1.25 at every horizon"
    assert claims.record_criterion(dict(numbers="zeros 100 % of v (criterion: v > 50 %); per layer")) == "v > 50 %"
    assert claims.record_criterion(dict(numbers="no rule stated")) is None
    monkeypatch.setattr(claims, "CLAIMS", [claims.Claim("x.y", "P", "§5", "P", "one config", notebooks=("10",))])
    md = claims.claims_markdown({"x.y": [dict(rec, notebook="10_anytime")]}, {},
                                [dict(notebook="10_anytime", seconds=1.0, verdict="pass", error=None)])
    assert "10_anytime: supported (criterion ratio <= 1.25 at every horizon) — 1 < 2 [details](#xy)" in md
    assert "- notebook **10_anytime** (full sizes; scale not recorded): supported (criterion ratio <= 1.25 at every " \
           "horizon) — 1 < 2" in md


def test_the_header_states_the_sizes_and_a_partial_run(monkeypatch):
    monkeypatch.setattr(claims, "CLAIMS", CLAIMS)
    md = claims.claims_markdown(RECORDS, OUTCOMES, NOTEBOOK_ROWS, fast=True, partial="--fast --set SEEDS=2",
                                checks_full=True)
    assert "`convexlab reproduce --fast --set SEEDS=2`: 5 notebooks (FAST sizes), 9 checks (--full size)" in md
    assert _row(md, "demo.llm")["scale"].startswith("12 (FAST): ") and "**Partial run**" in md
    assert "(zscore, --full size; scale:" in md
