"""The GPT experiments' figure panels read what the training log holds: StoSignSGD's Fig. 3 momentum
distribution from the logged log10 |m| histograms (issue 15, item 1), and the panel grid grows with the panels."""

import json

import pytest

from convexlab.llm import plots


def _run(root, name, optimizer, precision, hist, lr=1e-3, seed=0):
    d = root / name
    d.mkdir(parents=True)
    cfg = {"run_name": name, "optimizer": optimizer, "precision": precision, "lr": lr, "seed": seed,
           "max_steps": 10, "batch_size": 2, "block_size": 8}
    (d / "config.json").write_text(json.dumps(cfg))
    noise = None if hist is None else {"matrix": {"m_abs_hist": hist}, "other": {"m_abs_hist": hist}}
    recs = [{"step": 10, "tokens": 160, "loss": 2.0, "val_loss": 2.0, "diagnostics": {"noise": noise}}]
    (d / "log.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    (d / "summary.json").write_text(json.dumps({"status": "done"}))


def test_the_last_histogram_sums_the_groups_and_counts_zeros_and_overflow(tmp_path):
    hist = {"edges": [-3.0, -2.0, -1.0], "counts": [3, 1], "zeros": 2, "below": 1, "above": 1}
    _run(tmp_path, "stosignsgd", "StoSignSGD", "fp8", hist)
    from convexlab.llm import experiments as ex

    edges, shares, zeros = plots._last_histogram(ex.load_run(tmp_path / "stosignsgd"))
    # per group 3 + 1 binned, 2 zeros, 1 below, 1 above: 8 coordinates, twice
    assert edges == [-3.0, -2.0, -1.0] and shares == pytest.approx([6 / 16, 2 / 16]) and zeros == pytest.approx(4 / 16)


def test_momentum_panel_draws_one_curve_per_arm_with_its_zero_share(tmp_path):
    hist = {"edges": [-3.0, -2.0, -1.0], "counts": [3, 1], "zeros": 0, "below": 0, "above": 0}
    _run(tmp_path, "stosignsgd", "StoSignSGD", "fp8", hist)
    _run(tmp_path, "adamw_bf16", "AdamW", "bf16", hist)
    _run(tmp_path, "lion", "Lion", "fp8", None)  # Lion logs no (m, σ) statistics: no curve
    fig = plots.momentum_panel(tmp_path)
    ax = fig.axes[0]
    labels = sorted(t.get_text() for t in ax.get_legend().get_texts())
    assert labels == ["adamw_bf16 bf16 (zeros 0 %)", "stosignsgd fp8 (zeros 0 %)"]


def test_momentum_panel_says_when_nothing_was_logged(tmp_path):
    _run(tmp_path, "lion", "Lion", "fp8", None)
    fig = plots.momentum_panel(tmp_path)
    assert "no |m| histogram logged" in fig.axes[0].texts[0].get_text()


def test_experiments_figure_has_two_panels_per_row(tmp_path):
    hist = {"edges": [-3.0, -2.0, -1.0], "counts": [3, 1], "zeros": 0, "below": 0, "above": 0}
    _run(tmp_path / "fp8", "stosignsgd", "StoSignSGD", "fp8", hist)
    fig = plots.experiments_figure({"fp8": tmp_path / "fp8"})
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(fig.axes) == 4 and len(visible) == 3  # curves, Table 12, Fig. 3; the fourth slot is off
