"""Figures of ``convexlab check --out``: what each kind of check shows, the slide style (fonts,
dpi, provenance in the title), the file formats, and one-line errors for a bad --format/--dpi."""

import math
import struct

import pytest

from convexlab import cli
from convexlab.plotting import MIN_FONT_PT, SPREAD_SUFFIX, check_figure, figure_bytes, loglog_fit
from convexlab.theory.registry import (
    REGISTRY,
    Check,
    CheckResult,
    Outcome,
    effect_result,
    identity_result,
    upper_result,
    zscore_result,
)

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}
HORIZONS = [100, 200, 400, 800, 1600, 3200]
CALLS: list[str] = []


def _sweep(ctx):
    """A measured curve over t with its band and seed range, a bound curve, judged at T = 3200."""
    CALLS.append("sweep")
    rows = [dict(series="E f(x̄_t) − f*", x=t, y=2 / math.sqrt(t), lo=1.8 / math.sqrt(t), hi=2.2 / math.sqrt(t))
            for t in HORIZONS]
    rows += [dict(series="E f(x̄_t) − f*" + SPREAD_SUFFIX, x=t, y=2 / math.sqrt(t), lo=1 / math.sqrt(t),
                  hi=3 / math.sqrt(t)) for t in HORIZONS]
    rows += [dict(series="bound 5/√t", x=t, y=5 / math.sqrt(t)) for t in HORIZONS]
    out = upper_result(2 / math.sqrt(3200), 5 / math.sqrt(3200), 0.2 / 3 / math.sqrt(3200), T=3200, seeds=8)
    return out.with_series(rows, xlabel="t", ylabel="gap", logx=True, logy=True)


def _rate(ctx):
    """A rate check with its own fit series (the slope in the series name)."""
    rows = [dict(series="measured", x=t, y=3 * t**-0.5, lo=2.9 * t**-0.5, hi=3.1 * t**-0.5) for t in HORIZONS]
    rows += [dict(series="fit p = -0.500 ± 0.010", x=t, y=3 * t**-0.5) for t in HORIZONS]
    out = identity_result(-0.5, -0.5, 0.03, seeds=16)
    return out.with_series(rows, xlabel="T", ylabel="gap", logx=True, logy=True)


@pytest.fixture
def fig_checks():
    scalar = Check("zz.fig.bound", "Paper (arXiv 0000.00000) Thm 1", "P", "upper", "a scalar bound",
                   lambda ctx: upper_result(0.3, 1.0, 0.02))
    checks = [
        Check("zz.fig.sweep", "Paper (arXiv 0000.00000) Thm 4", "R", "upper", "a sweep", _sweep),
        Check("zz.fig.rate", "Paper (arXiv 0000.00000) rate", "D", "rate", "a rate", _rate),
        scalar,
        Check("zz.fig.identity", "Paper (arXiv 0000.00000) eq. 3", "DER", "identity", "an identity",
              lambda ctx: identity_result(1.0 + 3e-13, 1.0, 1e-10)),
        Check("zz.fig.zscore", "Paper (arXiv 0000.00000) Prop. 1", "P", "zscore", "a z-test",
              lambda ctx: zscore_result(1.5, 4.0)),
    ]
    for c in checks:
        REGISTRY[c.name] = c
    CALLS.clear()
    yield {c.name: c for c in checks}
    for c in checks:
        del REGISTRY[c.name]


def _outcome(check):
    return Outcome(check, check.func(None), None, 0.0)


def _png_size_and_dpi(data: bytes):
    """(width, height) from IHDR and dots per inch from pHYs."""
    assert data[:8] == MAGIC["png"]
    width, height = struct.unpack(">II", data[16:24])
    i = data.index(b"pHYs")
    ppm_x, _ppm_y, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    assert unit == 1  # metres
    return (width, height), ppm_x * 0.0254


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_out_writes_every_figure_in_the_format_with_its_magic_bytes(fmt, fig_checks, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["check", "--only", "zz.fig.", "--no-progress", "--out", str(out), "--format", fmt]) == 0
    files = sorted(p.name for p in (out / "figures").iterdir())
    assert files == sorted(f"{name}.{fmt}" for name in fig_checks)
    for f in files:
        data = (out / "figures" / f).read_bytes()
        if fmt == "svg":
            assert data.lstrip().startswith(b"<?xml") and b"<svg" in data[:1000], f
        else:
            assert data.startswith(MAGIC[fmt]), f


def test_dpi_sets_the_png_resolution_and_the_default_is_200(fig_checks, tmp_path, capsys):
    sizes = {}
    for dpi in (None, 100, 300):
        out = tmp_path / f"d{dpi}"
        argv = ["check", "--only", "zz.fig.sweep", "--no-progress", "--out", str(out)]
        assert cli.main(argv + ([] if dpi is None else ["--dpi", str(dpi)])) == 0
        sizes[dpi], recorded = _png_size_and_dpi((out / "figures" / "zz.fig.sweep.png").read_bytes())
        assert recorded == pytest.approx(200 if dpi is None else dpi, rel=1e-3)
    # pixels scale with the dpi (the tight crop rounds to a pixel or two)
    assert sizes[300][0] / sizes[100][0] == pytest.approx(3.0, rel=0.02)
    assert sizes[None][0] / sizes[100][0] == pytest.approx(2.0, rel=0.02)
    assert sizes[None][0] >= 1200  # slide-ready at the default: a 7-inch figure at 200 dpi


def _legend_texts(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_a_sweep_shows_the_curve_the_band_the_bound_and_a_fitted_line_with_its_slope(fig_checks):
    fig = check_figure(_outcome(fig_checks["zz.fig.sweep"]))
    ax = fig.axes[0]
    by_gid = {}
    for line in ax.get_lines():
        by_gid.setdefault(line.get_gid(), []).append(line)
    measured, = by_gid["measured"]
    assert len(set(measured.get_xdata())) >= 2 and list(measured.get_xdata()) == HORIZONS
    assert len(by_gid["bound"][0].get_xdata()) == len(HORIZONS)
    fit, = by_gid["fit"]
    assert len(fit.get_xdata()) >= 2
    from matplotlib.collections import PolyCollection

    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    legend = _legend_texts(fig)
    slope = next(t for t in legend if "slope" in t)
    assert "-0.50" in slope  # y = 2/√t: the least-squares slope over the last decade is −1/2
    assert any("mean of 8 seeds" in t for t in legend) and "±3 s.e. of the mean" in legend
    assert "range over the seeds" in legend and len(bands) == 2  # the ±3 s.e. band and the seed range
    assert not any(SPREAD_SUFFIX in t for t in legend)  # the range is a band, not a curve of its own
    assert any(t.startswith("judged at T = 3200") for t in legend)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_a_check_with_its_own_fit_draws_that_fit_and_no_other(fig_checks):
    fig = check_figure(_outcome(fig_checks["zz.fig.rate"]))
    fits = [line for line in fig.axes[0].get_lines() if line.get_gid() == "fit"]
    assert len(fits) == 1 and fits[0].get_label() == "fit p = -0.500 ± 0.010"


def test_loglog_fit_recovers_a_power_law_and_needs_three_points():
    xs = [10, 20, 50, 100, 200]
    fit = loglog_fit(xs, [7 * x**-0.75 for x in xs])
    assert fit["slope"] == pytest.approx(-0.75, abs=1e-12) and fit["x0"] == 20 and fit["x1"] == 200
    assert loglog_fit([1, 100], [1, 0.1]) is None


def test_a_scalar_bound_is_two_labelled_bars_not_a_dot(fig_checks):
    fig = check_figure(_outcome(fig_checks["zz.fig.bound"]))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["measured (mean ± 3 s.e.)", "bound"]
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == [0.3, 1.0]
    assert ax.get_ylabel() != "upper" and "measured/bound = 0.3" in ax.get_xlabel()


def test_an_identity_shows_its_error_against_the_tolerance(fig_checks):
    fig = check_figure(_outcome(fig_checks["zz.fig.identity"]))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["|measured − expected|", "tolerance"]
    assert ax.get_xscale() == "log"
    right_ends = sorted(p.get_x() + p.get_width() for p in ax.patches)
    assert right_ends[0] == pytest.approx(3e-13, rel=0.01) and right_ends[1] == pytest.approx(1e-10)


@pytest.mark.parametrize("name", ["zz.fig.sweep", "zz.fig.rate", "zz.fig.bound", "zz.fig.identity", "zz.fig.zscore"])
def test_every_text_is_at_least_10_pt_and_the_provenance_is_in_the_title_not_the_legend(name, fig_checks):
    from matplotlib.text import Text

    check = fig_checks[name]
    fig = check_figure(_outcome(check))
    figure_bytes(fig, "png", 60)  # draw: the tick labels exist only once drawn
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert len(texts) >= 5
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < MIN_FONT_PT]
    assert not small
    title = " ".join(fig.axes[0].get_title(loc="left").replace("\u00a0", " ").split())
    assert check.name in title and check.provenance_label in title
    for text in _legend_texts(fig):
        assert check.provenance_label not in text and f"[{check.provenance}]" not in text
        assert "provenance" not in text and "arXiv" not in text


@pytest.mark.parametrize("option, value, message", [
    ("--format", "jpg", "--format must be one of png, svg, pdf, got 'jpg'"),
    ("--format", "PNG", "--format must be one of png, svg, pdf, got 'PNG'"),
    ("--dpi", "49", "--dpi must be an integer >= 50, got '49'"),
    ("--dpi", "0", "--dpi must be an integer >= 50, got '0'"),
    ("--dpi", "high", "--dpi must be an integer >= 50, got 'high'"),
    ("--dpi", "150.5", "--dpi must be an integer >= 50, got '150.5'"),
])
def test_a_bad_format_or_dpi_is_one_line_and_exit_2_before_any_check_runs(option, value, message, fig_checks,
                                                                          tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["check", "--only", "zz.fig.sweep", "--no-progress", "--out", str(out), option, value]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [f"convexlab check: {message}"]
    assert CALLS == [] and not (out / "figures").exists()


def test_figure_bytes_rejects_a_bad_format_or_dpi_naming_it():
    fig = check_figure(Outcome(Check("zz.err", "src", "P", "upper", "d", lambda ctx: None), None, "boom", 0.0))
    with pytest.raises(ValueError, match=r"--format must be one of png, svg, pdf, got 'gif'"):
        figure_bytes(fig, "gif")
    with pytest.raises(ValueError, match=r"--dpi must be an integer >= 50, got 10"):
        figure_bytes(fig, "png", 10)
    assert figure_bytes(fig, "png", 50)[:8] == MAGIC["png"]  # an error row still gets a figure


@pytest.mark.parametrize("name", ["stosignsgd.theorem4[sign_game]", "stosignsgd.theorem4_rate_exponent"])
def test_the_theorem4_checks_record_a_curve_over_the_horizon_with_a_bound_and_a_fit(name):
    """The issue: six of the eight Theorem-4 figures were one dot, and the rate figure showed neither
    the sweep nor the fit."""
    from convexlab.theory.registry import CheckContext, run_check

    outcome = run_check(name, CheckContext())
    assert outcome.passed
    fig = check_figure(outcome)
    lines = {line.get_gid(): line for line in fig.axes[0].get_lines()}
    assert len(set(lines["measured"].get_xdata())) >= 6 and len(lines["bound"].get_xdata()) >= 6
    assert "fit" in lines
    slope_texts = [t for t in _legend_texts(fig) if "slope" in t or "p = " in t]
    assert slope_texts
    if name.endswith("rate_exponent"):
        assert f"p = {outcome.measured:.3f}" in slope_texts[0]


@pytest.mark.parametrize("kind, result", [
    ("upper", CheckResult(math.nan, 1.0, 0.0, False, math.nan)),  # a NaN measurement (a failing run)
    ("lower", CheckResult(0.0, 0.0, 1e-10, True, 1e-10)),  # measured = bound = 0
    ("rate", identity_result(math.nan, -0.5, math.nan)),  # no log fit possible
    ("identity", identity_result(1.0, 1.0, 0.0)),  # exact, zero tolerance: no log axis
    ("counterexample", effect_result(0.4, 0.05)),
    ("upper", upper_result(1.0, 2.0).with_series([dict(series="m", x=t, y=0.0) for t in (1, 10, 100)],
                                                 logx=True, logy=True)),  # log asked, nothing positive
])
def test_degenerate_results_still_get_a_figure_without_warnings(kind, result):
    import warnings

    outcome = Outcome(Check("zz.edge", "src", "P", kind, "d", lambda ctx: None), result, None, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert figure_bytes(check_figure(outcome), "png", 60)[:8] == MAGIC["png"]
