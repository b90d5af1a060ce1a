r"""One figure style for ``convexlab check --out``, the notebooks and the README.

Figures are drawn with matplotlib's object API on the non-interactive Agg canvas (no display
needed) and returned as PNG bytes, or as a :class:`matplotlib.figure.Figure` for notebooks.
"""

from __future__ import annotations

import io
import math

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
PASS_COLOR, FAIL_COLOR, BOUND_COLOR = "#1b7837", "#b2182b", "#444444"


def new_figure(**kw):
    """A figure and one axes in the project style (Agg canvas: works without a display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    import matplotlib as mpl

    with mpl.rc_context(STYLE):
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


def _positive(values) -> bool:
    return all(v is not None and math.isfinite(v) and v > 0 for v in values)


def check_figure(outcome):
    """The figure of one ``convexlab check`` row: the check's own curves when it attached some
    (:meth:`~convexlab.theory.registry.CheckResult.with_series`), otherwise its measured value with
    the 3-stderr interval against the bound or expected value."""
    c, r = outcome.check, outcome.result
    fig, ax = new_figure()
    title = c.name if r is None else f"{c.name}: {r.verdict}"
    color = PASS_COLOR if (r is not None and r.passed) else FAIL_COLOR
    if r is None:
        ax.text(0.5, 0.5, f"error:\n{outcome.error}", ha="center", va="center", wrap=True, transform=ax.transAxes)
        ax.set_axis_off()
    elif r.series:
        plot = r.plot or {}
        names = list(dict.fromkeys(row["series"] for row in r.series))
        for name in names:
            rows = [row for row in r.series if row["series"] == name]
            xs, ys = [row["x"] for row in rows], [row["y"] for row in rows]
            style = "--" if "bound" in name else "-"
            ax.plot(xs, ys, style, marker="o" if len(xs) < 30 else None, ms=3, label=name,
                    color=BOUND_COLOR if "bound" in name else None)
            if all("lo" in row and "hi" in row for row in rows):
                ax.fill_between(xs, [row["lo"] for row in rows], [row["hi"] for row in rows], alpha=0.2)
        allx = [row["x"] for row in r.series]
        ally = [row["y"] for row in r.series]
        if plot.get("logx", _positive(allx) and max(allx) / min(allx) > 50):
            ax.set_xscale("log")
        if plot.get("logy", _positive(ally) and max(ally) / min(ally) > 50):
            ax.set_yscale("log")
        ax.set_xlabel(plot.get("xlabel", "x"))
        ax.set_ylabel(plot.get("ylabel", "value"))
        ax.legend()
    else:
        label = {"upper": "bound", "lower": "bound", "zscore": "critical |z|"}.get(c.kind, "expected")
        ref = r.tolerance if c.kind == "zscore" else r.expected
        ax.axhline(ref, color=BOUND_COLOR, ls="--", label=f"{label} = {ref:.3g}")
        if c.kind in ("identity", "tight") and r.tolerance > 0:
            ax.axhspan(ref - r.tolerance, ref + r.tolerance, color=BOUND_COLOR, alpha=0.1, label="tolerance")
        yerr = None
        if r.ci is not None:
            yerr = [[r.measured - r.ci[0]], [r.ci[1] - r.measured]]
        ax.errorbar([0], [r.measured], yerr=yerr, fmt="o", color=color, capsize=4, label=f"measured = {r.measured:.3g}")
        ax.set_xticks([])
        ax.set_xlim(-1, 1)
        ax.set_ylabel(c.kind)
        ax.legend(loc="best")
    ax.set_title(title, fontsize=8)
    return fig


def save_figure(fig, path) -> None:
    """Write ``fig`` as a PNG to ``path`` atomically (``None``: do nothing — a notebook run by hand)."""
    if path is None:
        return
    from convexlab._io import atomic_write_bytes

    atomic_write_bytes(path, png_bytes(fig))
