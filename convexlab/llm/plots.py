r"""Figures of the GPT experiments from their run directories: ``convexlab plot``.

``convexlab plot EXP_DIR [EXP_DIR ...] [--out DIR] [--format png|svg|pdf] [--dpi N]``
(:func:`build_parser`; also ``python -m convexlab.llm.plots``) writes one figure per experiment
directory (``<out>/<name>.<format>``, default ``EXP_DIR/figure.<format>``; PNG at 200 dpi by
default, :func:`convexlab.plotting.figure_bytes`), chosen by the experiment's
``summary.json`` (:mod:`convexlab.llm.experiments`); a directory without one gets the plain
validation curves of its runs.

* :func:`val_curves`: validation loss against tokens, one line per run; a diverged run
  (:func:`convexlab.llm.experiments.divergence`) is clipped at the top of the axes and marked ×;
* :func:`fp8_figure`: the FP8 runs (StoSignSGD §3.1, Fig. 2 [P]) with divergence marked;
* :func:`anytime_figure`: the envelope of the per-horizon tuned AdamW + cosine runs (points) against
  the single SF-NorMuon and SF-AdamW runs' anytime curves (SF-NorMuon Fig. 1 [P]) and the
  decay-placement ablation (dashed);
* :func:`softstar_figure`: the Soft* runs and their hard counterparts with the transition start S
  (Softsign [SS-EXP] [REV]).

All figures use the project style (:func:`convexlab.plotting.new_figure`); each ``*_figure`` takes
an optional ``ax`` to draw into (a panel of a larger figure) and returns the figure.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from convexlab.llm import experiments as ex
from convexlab.plotting import new_figure

COLORS = {"AdamW": "#4d4d4d", "Signum": "#2166ac", "SignSGD": "#2166ac", "Lion": "#b35806", "StoSignSGD": "#b2182b",
          "SFAdamW": "#8073ac", "SFNorMuon": "#1b7837", "Muon": "#e08214", "SoftMuon": "#7f3b08",
          "SoftSignum": "#053061", "NorMuon": "#5aae61", "HardSwitch": "#762a83", "SGDMomentum": "#35978f"}


def _color(run: dict):
    return COLORS.get(run["config"]["optimizer"])


def _top(runs: list[dict]) -> float:
    """Upper y limit: a little above the largest initial validation loss (diverged runs go above it)."""
    starts = [r["val"][0][2] for r in runs if r["val"] and math.isfinite(r["val"][0][2])]
    return 1.05 * max(starts) if starts else 1.0


def val_curves(ax, runs: list[dict], *, labels: dict | None = None, styles: dict | None = None,
               mark_divergence: bool = True) -> None:
    r"""Validation loss against tokens for each run on ``ax`` (module docstring); ``labels`` /
    ``styles`` map run names to a legend label / extra plot keywords."""
    top = _top(runs)
    for r in runs:
        if not r["val"]:
            continue
        tok = [t for _, t, _ in r["val"]]
        val = [min(v, top) if math.isfinite(v) else top for _, _, v in r["val"]]
        lab = (labels or {}).get(r["name"], r["name"])
        kw = {"color": _color(r), "lw": 1.3, **(styles or {}).get(r["name"], {})}
        ax.plot(tok, val, label=lab, **kw)
        div = ex.divergence(r)
        if mark_divergence and div["diverged"]:
            step = div["first_step"]
            t = next((t for s, t, _ in r["val"] if s == step), tok[-1])
            ax.plot([t], [top], marker="x", ms=9, mew=2, color=kw["color"], ls="none")
            ax.annotate("diverged", (t, top), textcoords="offset points", xytext=(4, -10), fontsize=7,
                        color=kw["color"])
    ax.set_ylim(top=top)
    ax.set_xlabel("training tokens")
    ax.set_ylabel("validation loss (nats/token)")


def _axes(ax):
    """(figure, axes): a new project-style figure, or the figure of the given axes."""
    return new_figure() if ax is None else (ax.figure, ax)


def best_lr_runs(runs: list[dict], arms: list[str] | None = None) -> tuple[list[dict], dict]:
    r"""The runs of every arm (:func:`convexlab.llm.experiments.arm_of`; only ``arms`` if given) at
    its best lr (:func:`convexlab.llm.experiments.best_lr`), every seed; and legend labels (the arm
    and its lr on its first seed, "_nolegend_" on the others)."""
    groups = ex.group_arms(runs)
    sel, labels = [], {}
    for name, a in groups.items():
        if arms is not None and name not in arms:
            continue
        lr = ex.best_lr(a)
        rs = a["by_lr"].get(lr, next(iter(a["by_lr"].values())))
        for i, r in enumerate(rs):
            sel.append(r)
            labels[r["name"]] = (f"{name} (lr {lr:g}, {len(rs)} seed{'s' if len(rs) > 1 else ''})"
                                 if (i == 0 and lr is not None) else name if i == 0 else "_nolegend_")
    return sel, labels


def fp8_figure(exp_dir, ax=None):
    """The fp8 experiment: validation curves of every arm at its best lr (all seeds; FP8 recipe, plus
    the bf16 reference dashed) with divergence marked."""
    runs, labels = best_lr_runs(ex.load_runs(exp_dir))
    fig, ax = _axes(ax)
    val_curves(ax, runs, labels=labels,
               styles={r["name"]: {"ls": "--"} for r in runs if r["config"]["precision"] != "fp8"})
    ax.set_title("FP8 recipe: E5M2 grads, E4M3 states, bf16 weights (best lr per arm)")
    ax.legend(loc="upper right")
    return fig


def anytime_figure(exp_dir, ax=None):
    """The anytime experiment: tuned-per-horizon AdamW envelope vs one SF-NorMuon / SF-AdamW run."""
    runs = ex.load_runs(exp_dir)
    s = ex.summarize_anytime(runs)
    by = {r["name"]: r for r in runs}
    fig, ax = _axes(ax)
    for r in runs:  # every cosine run, faint: the envelope is their per-horizon best end point
        if r["config"]["optimizer"] == "AdamW" and r["val"]:
            ax.plot([t for _, t, _ in r["val"]], [v for _, _, v in r["val"]], color="#bbbbbb", lw=0.7)
    env = [(t["tokens"], t["best_val_loss"]) for t in s["tuned_adamw"]]
    ax.plot(*zip(*env), "o-", color=COLORS["AdamW"], ms=5, label="AdamW+cosine, tuned per horizon")
    shown = []
    if s["sf_normuon_run"]:
        shown.append((s["sf_normuon_run"], "SF-NorMuon (one run, at x)", {"lw": 1.6}))
    if s["sf_adamw_choice"]:
        shown.append((s["sf_adamw_choice"], "SF-AdamW (one run, at x)", {"lw": 1.3}))
    for a in s["decay_ablation"]:
        if a["run"] != s["sf_normuon_run"]:
            shown.append((a["run"], f"SF-NorMuon, decay at {a['weight_decay_at']}",
                          {"lw": 1.0, "ls": "--", "color": {"x": "#d73027", "y": "#4575b4"}.get(a["weight_decay_at"])}))
    sel = [by[n] for n, _, _ in shown]
    val_curves(ax, sel, labels={n: lab for n, lab, _ in shown}, styles={n: st for n, _, st in shown})
    lo, hi = min(v for _, v in env), max(v for _, v in env)
    span = max(hi - lo, 0.05)
    ax.set_ylim(lo - 0.15 * span, hi + 0.8 * span)  # zoom on the envelope (the early losses are far above)
    for t in s["tuned_adamw"]:
        ax.axvline(t["tokens"], color="#dddddd", lw=0.6, zorder=0)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # the minor labels of a short log axis overlap
    ax.set_title("Anytime: one schedule-free run vs per-horizon tuning")
    ax.legend(loc="upper right")
    return fig


def softstar_figure(exp_dir, ax=None):
    """The Soft* experiment: the main arms at their best lr (all seeds; Soft* dashed) with the
    transition start S marked; the α_sign and tmax ablation arms are left out."""
    all_runs = ex.load_runs(exp_dir)
    groups = ex.group_arms(all_runs)
    main = {ex._main_arm(groups, o) for o in {a["optimizer"] for a in groups.values()}} - {None}
    runs, labels = best_lr_runs(all_runs, sorted(main))
    fig, ax = _axes(ax)
    styles = {r["name"]: {"ls": "--"} for r in runs if r["config"]["optimizer"].startswith("Soft")}
    val_curves(ax, runs, labels=labels, styles=styles)
    soft = [r for r in runs if r["config"]["opt_kwargs"].get("sign_iters")]
    if soft:
        S = soft[0]["config"]["opt_kwargs"]["sign_iters"]
        tps = soft[0]["config"]["tokens_per_step"]
        ax.axvline(S * tps, color="#888888", lw=0.8, ls=":")
        ax.annotate("soft phase", (S * tps, 0.98), xycoords=("data", "axes fraction"), fontsize=7,
                    xytext=(3, 0), textcoords="offset points", va="top")
    finals = [ex.final_val(r) for r in runs if ex.final_val(r) is not None and math.isfinite(ex.final_val(r))]
    if finals:  # zoom on the second half, where the transition happens
        ax.set_ylim(bottom=min(finals) - 0.05, top=min(_top(runs), max(finals) + 0.6))
    ax.set_title("Soft* transition (best lr per arm)")
    ax.legend(loc="lower left")
    return fig


def plain_figure(exp_dir, ax=None):
    """Validation curves of every run under ``exp_dir`` (any experiment)."""
    runs = ex.load_runs(exp_dir)
    fig, ax = _axes(ax)
    val_curves(ax, runs)
    ax.legend(loc="upper right")
    return fig


def table12_panel(exp_dir, ax=None):
    r"""Per-layer share of AdamW's second moment v that is zero *as stored* at the statistics step
    (:func:`convexlab.llm.experiments.stored_zero_shares`), one bar group per precision: the
    Table-12 collapse (StoSignSGD Table 12 [P]) against fp32 states."""
    fig, ax = _axes(ax)
    best, _ = best_lr_runs(ex.load_runs(exp_dir))
    firsts = {}
    for r in best:  # one run per AdamW arm: its first seed at its best lr
        if r["config"]["optimizer"] == "AdamW" and r["table12"]:
            firsts.setdefault(ex.arm_of(r), r)
    runs = list(firsts.values())
    width = 0.8 / max(1, len(runs))
    for i, r in enumerate(runs):
        z = ex.stored_zero_shares(r["table12"])
        ax.bar([j + i * width for j in range(len(z))], [100 * v for v in z.values()], width,
               label=f"AdamW {r['config']['precision']} (step {r['table12']['step']})",
               color="#b2182b" if r["config"]["precision"] == "fp8" else "#4d4d4d")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(z))],
                      [n.replace("blocks.", "").replace(".weight", "") for n in z], rotation=90, fontsize=5)
    ax.set_ylabel("stored v zeros (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Table 12: AdamW v stored as 0")
    if runs:
        ax.legend(loc="upper left")
    return fig


def _last_histogram(run: dict) -> tuple[list, list, float] | None:
    """(bin edges, shares, zero share) of log10 |m| summed over the parameter groups at the run's last logged
    diagnostics step, or None if the run logged no histogram."""
    for rec in reversed(run["records"]):
        noise = (rec.get("diagnostics") or {}).get("noise")
        hists = [g["m_abs_hist"] for g in (noise or {}).values() if g.get("m_abs_hist")]
        if hists:
            counts = [sum(h["counts"][i] for h in hists) for i in range(len(hists[0]["counts"]))]
            zeros = sum(h["zeros"] for h in hists)
            total = sum(counts) + zeros + sum(h["below"] + h["above"] for h in hists)
            return hists[0]["edges"], [c / total for c in counts], zeros / total
    return None


def momentum_panel(exp_dir, ax=None):
    r"""StoSignSGD's Fig. 3 [P]: the distribution of the momentum |m| at the end of training, as the share of
    coordinates per log10 |m| bin (all parameter groups; ``diagnostics_bins`` of the training log), one curve
    per arm at its best lr (first seed); the share of exact zeros (E4M3 flushes) in the legend."""
    fig, ax = _axes(ax)
    best, _ = best_lr_runs(ex.load_runs(exp_dir))
    firsts = {}
    for r in best:
        if _last_histogram(r) is not None:
            firsts.setdefault(ex.arm_of(r), r)
    for arm, r in firsts.items():
        edges, shares, zeros = _last_histogram(r)
        prec = r["config"].get("precision", "fp32")
        ax.stairs([100 * v for v in shares], edges, label=f"{arm} {prec} (zeros {100 * zeros:.0f} %)",
                  color=_color(r), ls="-" if prec == "fp8" else "--", lw=1.3)
    ax.set_xlabel("log10 |m| (last logged step)")
    ax.set_ylabel("coordinates (%)")
    ax.set_title("Fig. 3: momentum |m| at the end")
    if firsts:
        ax.legend(loc="upper left")
    else:
        ax.text(0.5, 0.5, "no |m| histogram logged\n(diagnostics_bins = 0)", ha="center", va="center",
                transform=ax.transAxes)
    return fig


def experiments_figure(exp_dirs: dict, figsize=(6.4, 4.8)):
    r"""One figure of the three experiments (``exp_dirs``: kind → experiment directory; missing
    kinds are skipped): FP8 curves, the Table-12 bars, the Fig. 3 momentum distribution, the anytime
    envelope, the Soft* curves, two panels per row."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from convexlab.plotting import STYLE

    panels = [(k, f) for k, f in (("fp8", fp8_figure), ("fp8", table12_panel), ("fp8", momentum_panel),
                                  ("anytime", anytime_figure), ("softstar", softstar_figure)) if k in exp_dirs]
    with mpl.rc_context({**STYLE, "font.size": 6.5, "legend.fontsize": 5, "axes.titlesize": 7}):
        fig = Figure(figsize=figsize, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots((len(panels) + 1) // 2, 2, squeeze=False).ravel()
        for ax, (k, f) in zip(axes, panels):
            f(exp_dirs[k], ax=ax)
        for ax in axes[len(panels):]:
            ax.set_axis_off()
    return fig


FIGURES = {"fp8": fp8_figure, "anytime": anytime_figure, "softstar": softstar_figure}


def figure_for(exp_dir):
    """The figure of an experiment directory, chosen by its ``summary.json`` (else :func:`plain_figure`)."""
    p = Path(exp_dir) / "summary.json"
    kind = json.loads(p.read_text()).get("experiment") if p.is_file() else None
    return FIGURES.get(kind, plain_figure)(exp_dir)


def build_parser():
    """The parser of ``convexlab plot`` (the grammar of :mod:`convexlab._cli`)."""
    from convexlab import _cli
    from convexlab._validation import argparse_int_at_least
    from convexlab.plotting import DEFAULT_DPI, FORMATS, MIN_DPI

    p = _cli.parser(
        "plot", "Figures of GPT experiment directories (convexlab experiment), one per directory, chosen by its "
                "summary.json (plain validation curves without one).",
        usage="convexlab plot EXP_DIR [EXP_DIR ...] [--out DIR] [--format png|svg|pdf] [--dpi N]",
        epilog="example:\n  convexlab plot runs/fp8_cpu runs/anytime_cpu runs/softstar_cpu --out figs --format pdf",
        allow_abbrev=False)
    p.add_argument("exp_dirs", nargs="+", metavar="EXP_DIR", help="experiment directories (holding run directories)")
    p.add_argument("--out", metavar="DIR", help="write DIR/<EXP_DIR name>.<format> (default: EXP_DIR/figure.<format>)")
    p.add_argument("--format", choices=FORMATS, default="png", help=f"file format: {', '.join(FORMATS)} (default png)")
    p.add_argument("--dpi", type=argparse_int_at_least("--dpi", MIN_DPI), default=DEFAULT_DPI, metavar="N",
                   help=f"dots per inch of PNG figures and of the raster parts of SVG/PDF (integer >= {MIN_DPI}, "
                        f"default {DEFAULT_DPI})")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring). Returns 0, or 2 on bad arguments."""
    from convexlab._io import atomic_write_bytes
    from convexlab.plotting import figure_bytes

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():  # before any figure is drawn
        print(f"convexlab plot: error: --out must be a directory, got the file {args.out!r}", file=sys.stderr)
        return 2
    for d in args.exp_dirs:
        try:
            fig = figure_for(d)
        except ValueError as err:
            print(f"convexlab plot: error: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
        name = f"{Path(d).resolve().name}.{args.format}" if args.out else f"figure.{args.format}"
        path = (Path(args.out) if args.out else Path(d)) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, figure_bytes(fig, args.format, args.dpi))
        print(f"figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
