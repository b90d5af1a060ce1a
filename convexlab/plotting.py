r"""One figure style for ``convexlab check --out``, the notebooks and the README.

Figures are drawn with matplotlib's object API on the non-interactive Agg canvas (no display
needed) and returned as PNG bytes, or as a :class:`matplotlib.figure.Figure` for notebooks.

Two styles:

* :data:`STYLE` — the notebooks' compact style (gallery figures, ``save_figure``);
* :data:`SLIDE_STYLE` — the style of ``convexlab check --out`` figures (:func:`check_figure`):
  every text at least :data:`MIN_FONT_PT` points at the saved size, saved at :data:`DEFAULT_DPI`
  dots per inch by :func:`figure_bytes` in PNG, SVG or PDF (:data:`FORMATS`); the provenance tag
  sits in the title, never in the legend.

The figure of a check row (:func:`check_figure`) depends on what the check measured:

* a sweep (the check attached ``series`` rows with :meth:`~convexlab.theory.registry.CheckResult.with_series`):
  the measured curve over the horizon with its ±3-standard-error band and the range over the
  seeds, the bound curve (dashed), and a fitted line whose slope is in the legend (the check's own
  fit where it attached one, else a least-squares line through the last decade of a log-log curve);
* a scalar against a bound (``upper``, ``lower``, ``zscore``, ``counterexample`` without series):
  two labelled bars, measured (with its 3-standard-error interval) and the bound or critical value;
* an identity (``identity``, ``tight``, ``rate`` without series): the error |measured − expected|
  against the tolerance.
"""

from __future__ import annotations

import io
import math
import textwrap

STYLE = {
    "figure.figsize": (5.0, 3.4),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
#: the slide style of ``convexlab check --out`` figures: 7.2 × 4.6 in, text 11–13 pt
SLIDE_STYLE = {
    **STYLE,
    "figure.figsize": (7.2, 4.6),
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "lines.linewidth": 2.0,
    "lines.markersize": 5,
    "svg.fonttype": "path",
}
PASS_COLOR, FAIL_COLOR, BOUND_COLOR, FIT_COLOR = "#1b7837", "#b2182b", "#444444", "#2166ac"
#: file formats of :func:`figure_bytes` (``convexlab check --format``)
FORMATS = ("png", "svg", "pdf")
#: ``convexlab check --dpi`` default and minimum
DEFAULT_DPI, MIN_DPI = 200, 50
#: the smallest font size (points, at the saved size) of a check figure
MIN_FONT_PT = 10
_TICK_PT, _LEGEND_PT, _TITLE_PT = 11, 11, 12


def new_figure(style: dict | None = None, **kw):
    """A figure and one axes in the project style (``style``: default :data:`STYLE`; Agg canvas:
    works without a display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    import matplotlib as mpl

    with mpl.rc_context(STYLE if style is None else style):
        fig = Figure(**kw)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    _show_in_notebooks()
    return fig, ax


def _show_in_notebooks() -> None:
    """In a Jupyter kernel, display Figure objects as PNG (without importing pyplot, which is what
    would otherwise register the inline formatter)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebook extras
        return
    ip = get_ipython()
    if ip is None:
        return
    from matplotlib.figure import Figure

    ip.display_formatter.formatters["image/png"].for_type(Figure, png_bytes)


def png_bytes(fig, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def check_format(fmt) -> str:
    """``fmt`` if it is one of :data:`FORMATS`, else ``ValueError`` naming the allowed ones."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def check_dpi(dpi) -> int:
    """``dpi`` as an int if it is an integer >= :data:`MIN_DPI` (an integer string is accepted, for
    the command line), else ``ValueError`` naming the range."""
    value = dpi
    if isinstance(dpi, str):
        try:
            value = int(dpi.strip())
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_DPI:
        raise ValueError(f"--dpi must be an integer >= {MIN_DPI}, got {dpi!r}")
    return value


def figure_bytes(fig, fmt: str = "png", dpi: int = DEFAULT_DPI) -> bytes:
    """``fig`` saved as ``fmt`` (one of :data:`FORMATS`) at ``dpi`` dots per inch (PNG pixels; the
    rasterised parts of SVG/PDF), cropped to its content. SVG/PDF carry no creation date, so equal
    figures give equal bytes."""
    import matplotlib as mpl

    check_format(fmt)
    dpi = check_dpi(dpi)
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}.get(fmt)
    buf = io.BytesIO()
    with mpl.rc_context({"svg.hashsalt": "convexlab", "svg.fonttype": "path"}):
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
    return buf.getvalue()


def _positive(values) -> bool:
    return all(v is not None and math.isfinite(v) and v > 0 for v in values)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


#: what each kind's reference value is called on a figure
_REF_LABEL = {"upper": "bound", "lower": "bound", "zscore": "critical |z|", "counterexample": "bound"}
_KIND_TEXT = {"upper": "upper bound", "lower": "lower bound", "zscore": "Monte-Carlo z-test", "identity": "identity",
              "tight": "tight value", "counterexample": "counterexample", "rate": "rate"}


def _title(ax, outcome) -> None:
    """Title: the check's name and verdict; below it the kind, source and provenance tag (the tag
    lives here, never in the legend)."""
    c, r = outcome.check, outcome.result
    verdict = "ERROR" if r is None else r.verdict.upper()
    head = textwrap.fill(f"{c.name} — {verdict}", 62)
    tag = f"provenance {c.provenance_label}".replace(" ", "\u00a0")  # no line break inside the tag
    sub = textwrap.fill(f"{_KIND_TEXT.get(c.kind, c.kind)} · {c.source} · {tag}", 72)
    ax.set_title(f"{head}\n{sub}", fontsize=_TITLE_PT, loc="left", linespacing=1.3)


#: a series named ``<measured series>`` + this suffix is drawn as a band (``lo``, ``hi``) around
#: that series: the range over the seeds (``convexlab.theory.stosignsgd.SPREAD_SUFFIX``)
SPREAD_SUFFIX = ": range over the seeds"


def _role(name: str, roles: dict) -> str:
    """measured | bound | fit | spread: ``plot["roles"][name]`` when the check gives it, else from
    the name (``…bound…``, ``fit…``, ``…: range over the seeds``)."""
    if name in roles:
        return roles[name]
    if name.endswith(SPREAD_SUFFIX):
        return "spread"
    low = name.lower()
    if "bound" in low:
        return "bound"
    if low.startswith("fit"):
        return "fit"
    return "measured"


def loglog_fit(xs, ys, decades: float = 1.0) -> dict | None:
    """Least-squares line log y = a + p·log x through the points with x ≥ max(x)/10^decades
    (at least 3 positive points), as dict(slope, intercept, x0, x1); None if there are too few.
    A description of the curve's tail, not a verdict: the checks judge their own statistics."""
    pts = [(x, y) for x, y in zip(xs, ys) if _finite(x) and _finite(y) and x > 0 and y > 0]
    if not pts:
        return None
    x1 = max(x for x, _ in pts)
    x0 = min(x for x, _ in pts if x >= x1 / 10**decades)
    tail = [(math.log(x), math.log(y)) for x, y in pts if x >= x1 / 10**decades]
    if len(tail) < 3:
        return None
    n = len(tail)
    mx, my = sum(u for u, _ in tail) / n, sum(v for _, v in tail) / n
    sxx = sum((u - mx) ** 2 for u, _ in tail)
    if sxx == 0:
        return None
    p = sum((u - mx) * (v - my) for u, v in tail) / sxx
    return dict(slope=p, intercept=my - p * mx, x0=x0, x1=x1)


def _sweep(ax, outcome) -> None:
    """The curves a check attached: measured (±3 s.e. band, range over seeds), bound, fit."""
    r = outcome.result
    plot = r.plot or {}
    roles = dict(plot.get("roles", {}))
    seeds = r.details.get("seeds")
    names = list(dict.fromkeys(row["series"] for row in r.series))
    palette = iter(["#1b7837", "#762a83", "#e08214", "#01665e", "#8c510a"])
    has_fit = any(_role(n, roles) == "fit" for n in names)
    n_measured = sum(_role(n, roles) == "measured" for n in names)
    spreads = {n[: -len(SPREAD_SUFFIX)]: [row for row in r.series if row["series"] == n]
               for n in names if _role(n, roles) == "spread" and n.endswith(SPREAD_SUFFIX)}
    for name in names:
        rows = [row for row in r.series if row["series"] == name]
        xs, ys = [row["x"] for row in rows], [row["y"] for row in rows]
        role = _role(name, roles)
        if role == "bound":
            if len(xs) == 1:  # a bound that holds at the horizon only: a bar marker there
                (line,) = ax.plot(xs, ys, ls="none", marker="_", ms=26, mew=3, color=BOUND_COLOR, label=name)
            else:
                (line,) = ax.plot(xs, ys, "--", color=BOUND_COLOR, lw=2, label=name)
            line.set_gid("bound")
        elif role == "spread":
            continue  # drawn with its measured series
        elif role == "fit":
            (line,) = ax.plot(xs, ys, "-", color=FIT_COLOR, lw=2.2, alpha=0.9, label=name)
            line.set_gid("fit")
        else:
            color = next(palette)
            banded = all("lo" in row and "hi" in row for row in rows)  # a mean over seeds, with its s.e.
            label = f"{name} (mean of {seeds} seeds)" if (seeds and banded) else name
            (line,) = ax.plot(xs, ys, "-" if len(xs) > 1 else "none", marker="o", ms=4, color=color, label=label)
            line.set_gid("measured")
            if banded:
                ax.fill_between(xs, [row["lo"] for row in rows], [row["hi"] for row in rows], color=color,
                                alpha=0.3, lw=0, label="±3 s.e. of the mean")
            spread = spreads.get(name)
            if spread and all("lo" in row and "hi" in row for row in spread):
                ax.fill_between([row["x"] for row in spread], [row["lo"] for row in spread],
                                [row["hi"] for row in spread], color=color, alpha=0.1, lw=0,
                                label="range over the seeds")
            if not has_fit and len(names) <= 4 and plot.get("logx") and plot.get("logy", _positive(ys)):
                fit = loglog_fit(xs, ys)
                if fit is not None:
                    fx = [fit["x0"] * (fit["x1"] / fit["x0"]) ** (k / 20) for k in range(21)]
                    fy = [math.exp(fit["intercept"] + fit["slope"] * math.log(x)) for x in fx]
                    (fl,) = ax.plot(fx, fy, ":", color="black" if len(names) <= 2 else color, lw=3,
                                    label=(f"fit on the last decade: slope {fit['slope']:.2f}" if n_measured == 1
                                           else f"{name}: last-decade fit, slope {fit['slope']:.2f}"))
                    fl.set_gid("fit")
    T = r.details.get("T")
    if outcome.check.kind in ("upper", "lower", "counterexample") and _finite(T) and _finite(r.measured):
        # the point the verdict reads: the measured value at the horizon T, with its 3-s.e. interval
        yerr = None if r.ci is None else [[r.measured - r.ci[0]], [r.ci[1] - r.measured]]
        ax.errorbar([T], [r.measured], yerr=yerr, fmt="o", ms=10, mfc="none", mec="black", mew=1.8, ecolor="black",
                    capsize=5, label=f"judged at T = {T:g}: {r.measured:.3g} vs bound {r.expected:.3g}")
    allx = [row["x"] for row in r.series]
    ally = [row["y"] for row in r.series]
    # a log axis where the check asks for one (else where the values span > 50×), if any value is > 0
    if plot.get("logx", _positive(allx) and max(allx) / min(allx) > 50) and any(_finite(x) and x > 0 for x in allx):
        ax.set_xscale("log")
    if plot.get("logy", _positive(ally) and max(ally) / min(ally) > 50) and any(_finite(y) and y > 0 for y in ally):
        ax.set_yscale("log")
    measured_x = sorted({row["x"] for row in r.series if _role(row["series"], roles) == "measured"})
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            _readable_log_ticks(axis)
    if ax.get_xscale() == "log" and 2 <= len(measured_x) <= 10:  # a horizon sweep: tick the horizons run
        ax.set_xticks(measured_x, [f"{x:g}" for x in measured_x])
    ax.set_xlabel(plot.get("xlabel", "x"))
    ax.set_ylabel(plot.get("ylabel", "value"))
    # below the axes: the legend never hides a curve, and long labels (the fit's slope) fit
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16), fontsize=_LEGEND_PT, ncol=1)


def _readable_log_ticks(axis) -> None:
    """Ticks at 1, 2, 5 × 10^k (powers of ten alone over more than 2.5 decades, at most 8 of them)
    labelled as plain numbers (``0.5``, ``2000``, ``1e-12``; no overlapping minor labels, no mathtext)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = (min(axis.get_view_interval()), max(axis.get_view_interval()))
    many = lo > 0 and hi / lo > 10**2.5  # more than 2.5 decades: powers of ten only
    axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if many else (1.0, 2.0, 5.0), numticks=8))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _bars(ax, outcome, color) -> None:
    """A scalar against its reference: two labelled horizontal bars (measured with its 3-s.e.
    interval; the bound, critical value or 0)."""
    c, r = outcome.check, outcome.result
    effect = c.kind == "counterexample" and r.expected == 0 and r.tolerance == 0
    ref = r.tolerance if c.kind == "zscore" else r.expected
    ref_label = "no effect (0)" if effect else _REF_LABEL.get(c.kind, "expected")
    meas_label = {"zscore": "measured max |z|"}.get(c.kind, "measured" + (" (mean ± 3 s.e.)" if r.ci else ""))
    ys = [1, 0]
    ax.barh(ys[0], r.measured if _finite(r.measured) else 0, height=0.5, color=color, alpha=0.85)
    if r.ci is not None:
        ax.errorbar([r.measured], [ys[0]], xerr=[[r.measured - r.ci[0]], [r.ci[1] - r.measured]], fmt="none",
                    ecolor="black", elinewidth=2, capsize=8)
    if not effect:
        ax.barh(ys[1], ref, height=0.5, color=BOUND_COLOR, alpha=0.35, hatch="//", edgecolor=BOUND_COLOR)
    ax.axvline(ref, color=BOUND_COLOR, ls="--", lw=1.5)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(ys, [meas_label, ref_label], fontsize=_TICK_PT)
    ax.set_ylim(-0.6, 1.6)
    values = [v for v in (r.measured, ref, *(r.ci or ())) if _finite(v)]
    span = max([abs(v) for v in values] + [0.0]) or 1.0
    for y, v in ((ys[0], r.measured), (ys[1], None if effect else ref)):
        if v is not None:
            right = max([w for w in (v, 0.0, *(r.ci or ())) if _finite(w)] if y == ys[0] else [v, 0.0])
            ax.text(right + 0.02 * span, y + 0.3, f"{v:.3g}", va="center", fontsize=_TICK_PT)
    ax.set_xlim(min(values + [0.0]) - 0.05 * span, max(values + [0.0]) + 0.25 * span)
    criterion = {"upper": "passes unless measured − 3 s.e. > bound", "lower": "passes unless measured + 3 s.e. < bound",
                 "zscore": "passes iff max |z| ≤ critical |z|",
                 "counterexample": ("passes iff effect − 3 s.e. > 0" if effect else
                                    "passes unless measured − 3 s.e. > bound")}.get(c.kind, "")
    ratio = outcome.ratio
    slack = f" (round-off slack {r.tolerance:.1g})" if c.kind in ("upper", "lower") and r.tolerance > 0 else ""
    ax.set_xlabel(criterion + slack + (f"; measured/bound = {ratio:.3g}" if ratio is not None else ""))
    ax.grid(axis="y", visible=False)


def _error_bars(ax, outcome, color) -> None:
    """An identity: the error |measured − expected| against the tolerance (log scale where both are
    positive)."""
    r = outcome.result
    err = abs(r.measured - r.expected) if _finite(r.measured) and _finite(r.expected) else math.nan
    tol = r.tolerance
    ys = [1, 0]
    log = _finite(err) and err > 0 and _finite(tol) and tol > 0
    base = min(err, tol) / 100 if log else 0.0
    ax.barh(ys[0], (err if _finite(err) else 0) - base, left=base, height=0.5, color=color, alpha=0.85)
    if _finite(tol):
        ax.barh(ys[1], tol - base, left=base, height=0.5, color=BOUND_COLOR, alpha=0.35, hatch="//",
                edgecolor=BOUND_COLOR)
        ax.axvline(tol, color=BOUND_COLOR, ls="--", lw=1.5)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(base, max(err, tol) * 30)
        _readable_log_ticks(ax.xaxis)
    else:
        top = max([v for v in (err, tol) if _finite(v)] or [1.0]) or 1.0
        ax.set_xlim(0, top * 1.4)
    for y, v in ((ys[0], err), (ys[1], tol)):
        text = "exactly 0" if v == 0 else f"{v:.3g}"
        ax.text(v * 1.3 if log else max(v, 0) + 0.02 * ax.get_xlim()[1], y + 0.3, text, va="center",
                fontsize=_TICK_PT) if _finite(v) else None
    ax.set_yticks(ys, ["|measured − expected|", "tolerance"], fontsize=_TICK_PT)
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel(f"measured {r.measured:.6g}, expected {r.expected:.6g}; passes iff error ≤ tolerance")
    ax.grid(axis="y", visible=False)


def check_figure(outcome):
    """The figure of one ``convexlab check`` row in :data:`SLIDE_STYLE` (see the module docstring for
    the three kinds of figure); the title carries the name, verdict, kind, source and provenance tag."""
    import matplotlib as mpl

    with mpl.rc_context(SLIDE_STYLE):
        c, r = outcome.check, outcome.result
        fig, ax = new_figure(style=SLIDE_STYLE)
        color = PASS_COLOR if (r is not None and r.passed) else FAIL_COLOR
        if r is None:
            ax.text(0.5, 0.5, textwrap.fill(f"error: {outcome.error}", 60), ha="center", va="center",
                    transform=ax.transAxes, fontsize=_TICK_PT)
            ax.set_axis_off()
        elif r.series:
            _sweep(ax, outcome)
        elif c.kind in ("upper", "lower", "zscore", "counterexample"):
            _bars(ax, outcome, color)
        else:
            _error_bars(ax, outcome, color)
        ax.tick_params(which="both", labelsize=_TICK_PT)
        ax.xaxis.label.set_fontsize(_TICK_PT + 1)
        ax.yaxis.label.set_fontsize(_TICK_PT + 1)
        _title(ax, outcome)
    return fig


def save_figure(fig, path) -> None:
    """Write ``fig`` as a PNG to ``path`` atomically (``None``: do nothing — a notebook run by hand)."""
    if path is None:
        return
    from convexlab._io import atomic_write_bytes

    atomic_write_bytes(path, png_bytes(fig))
