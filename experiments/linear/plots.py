"""Figures of the linear experiment (matplotlib ``Figure`` objects, no pyplot state).

- :func:`figure_panel`: one panel, two plots side by side: the **population** test loss
  (honest) with SR's floor ``ℓ_r(A_SR)`` dashed, and the authors' in-sample summed metric
  (what the paper plotted). Log y, mean line with a min–max band per method.
- :func:`figure_overview`: every panel's population test loss in one grid.
- :func:`figure_rate`: Meta-LoRA's test loss and excess over ``ℓ_r(Â)`` against ``n'``,
  the reference ``σ² r (2d − r)/n'``, and SR's test loss and floor.
- :func:`figure_curves`: retraining objective minus its minimum over the iterations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.runs import atomic_output

from .settings import PANELS

__all__ = [
    "plot_panel",
    "figure_panel",
    "figure_overview",
    "figure_rate",
    "figure_curves",
    "save_figures",
    "to_png",
]

_COLORS = {"SR": "tab:red", "Meta-LoRA": "tab:blue", "Meta-LoRA-asym": "tab:green"}
_LABELS = {
    "test_loss": "population test loss ‖Â+UVᵀ−M*‖²",
    "test_loss_rrr": "population test loss (closed-form fine-tune)",
    "authors_insample_sum": "authors' metric: in-sample error summed over n'",
    "base_error": "‖Â − A*‖_F",
}


def _figure(w, h):
    from matplotlib.figure import Figure

    # No layout engine: constrained layout measures every tick label of every log axis
    # and is ~10x slower here; margins are set by hand in :func:`_tidy`.
    return Figure(figsize=(w, h))


def _tidy(fig, top=0.88, wspace=0.35, hspace=0.55):
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=top, wspace=wspace, hspace=hspace)


def _log_axes(ax, x=True, y=True):
    """Log scale with major ticks only (minor tick labels dominate the drawing time)."""
    from matplotlib.ticker import LogLocator, NullLocator

    for on, axis, setter in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if on:
            setter("log")
            axis.set_major_locator(LogLocator(base=10, numticks=6))
            axis.set_minor_locator(NullLocator())


def plot_panel(ax, result, panel: str, metric: str = "test_loss", floor: bool = True):
    """Draw one panel's ``metric`` on ``ax``: mean line and min–max band per method."""
    p = PANELS[panel]
    res = result.panel_results(panel)
    x = np.array([getattr(r.setting, p.field) for r in res], dtype=float)
    for m in p.methods:
        vals = [r.select(m, metric) for r in res]
        mean = np.array([np.mean(v) for v in vals])
        lo = np.array([np.min(v) for v in vals])
        hi = np.array([np.max(v) for v in vals])
        ax.plot(x, mean, "o-", color=_COLORS[m], label=m)
        ax.fill_between(x, lo, hi, color=_COLORS[m], alpha=0.2, linewidth=0)
    if floor and metric in ("test_loss", "test_loss_rrr") and "SR" in p.methods:
        sr_floor = np.array([np.mean(r.select("SR", "sr_floor")) for r in res])
        sr_test = np.array([np.mean(r.select("SR", metric)) for r in res])
        # A floor that is zero up to rounding (e.g. T = 2, r = (T+1)k) has no place on a log axis.
        sr_floor = np.where(sr_floor > 1e-9 * sr_test, sr_floor, np.nan)
        ax.plot(x, sr_floor, "--", color=_COLORS["SR"], alpha=0.7, label="ℓ_r(A_SR) (SR floor)")
    _log_axes(ax, x=p.log_x, y=True)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{v:g}" for v in x])
    ax.set_xlabel(p.label)
    ax.set_ylabel(_LABELS.get(metric, metric), fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def figure_panel(result, panel: str):
    """Population test loss (left) and the authors' in-sample summed metric (right)."""
    fig = _figure(10, 4)
    a, b = fig.subplots(1, 2)
    plot_panel(a, result, panel, "test_loss")
    a.set_title(f"panel {panel} ({result.convention}): population test loss (honest)", fontsize=9)
    a.legend(fontsize=8)
    plot_panel(b, result, panel, "authors_insample_sum", floor=False)
    b.set_title("authors' metric (in-sample, summed over n')", fontsize=9)
    _tidy(fig, top=0.9, wspace=0.3)
    return fig


def figure_overview(result):
    """Every panel's population test loss in one grid (Figure 1 of the paper, honestly)."""
    names = [p for p in PANELS if p in result.panels]
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig = _figure(4 * cols, 3.3 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, name in zip(axes, names):
        plot_panel(ax, result, name, "test_loss")
        ax.set_title(f"({name})")
        ax.set_ylabel("")  # one shared label (supylabel below) instead of a tiny one per panel
        if name == "T" and any(r.setting.T == 2 for r in result.panel_results(name)):
            # SR catches up at T = 2 because fine-tuning uses rank 3k there (Cor. 2), and
            # SR's error Δ has rank (T+1)k = 3k: say so on the figure.
            y2 = np.mean([r.select("SR", "test_loss") for r in result.panel_results(name) if r.setting.T == 2])
            ax.annotate("T = 2: fine-tuned at rank 3k,\nwhich also fits SR's\nrank-3k error (Cor. 2)",
                        xy=(2, y2), xytext=(0.3, 0.45), textcoords="axes fraction", fontsize=7,
                        arrowprops=dict(arrowstyle="->", lw=0.8))
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    if "adapters" in names:
        axes[names.index("adapters")].legend(fontsize=7)
    s = result.base
    fig.suptitle(
        f"Population test loss after LoRA fine-tuning (convention {result.convention}); base "
        f"d={s.d}, T={s.T}, N={s.N}, n'={s.n}, k={s.k}, σ={s.sigma:g}; {len(result.seeds)} seeds, "
        "mean and min–max; fine-tuning rank k (3k when T = 2)"
    )
    fig.supylabel(_LABELS["test_loss"], fontsize=11)
    _tidy(fig, top=0.9 if rows > 1 else 0.82)
    return fig


def figure_rate(result):
    """Meta-LoRA's test loss against ``n'`` with the reference rate and SR's floor."""
    rate = result.rate
    fig = _figure(6, 4.5)
    ax = fig.subplots()
    n = np.array(rate.n, dtype=float)
    ax.plot(n, rate.mean_loss, "o-", color=_COLORS["Meta-LoRA"], label="Meta-LoRA test loss")
    ax.plot(
        n,
        rate.mean_excess,
        "s--",
        color=_COLORS["Meta-LoRA"],
        alpha=0.7,
        label=f"Meta-LoRA excess over ℓ_r(Â) (slope {rate.slope_excess:.2f})",
    )
    ax.plot(n, rate.reference, "k:", label="σ² r(2d−r)/n' (docs/math.md §7)")
    if rate.sr_test_loss:
        ax.plot(n, rate.sr_test_loss, "o-", color=_COLORS["SR"], label="SR test loss")
        ax.axhline(rate.sr_floor, color=_COLORS["SR"], ls="--", alpha=0.7, label="ℓ_r(A_SR)")
    _log_axes(ax)
    ax.set_xlabel("fine-tuning samples n'")
    ax.set_ylabel("population test loss")
    ax.set_title(f"rate: slope {rate.slope:.2f} (raw), C/ref = {rate.ratio:.2f}")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    _tidy(fig, top=0.92)
    fig.subplots_adjust(left=0.14)
    return fig


def figure_curves(setting_result):
    """Retraining objective minus the exact/fast minimum over the iterations (per seed)."""
    from matplotlib.lines import Line2D

    fig = _figure(6.5, 4.2)
    ax = fig.subplots()
    styles = ["-", "--", ":", "-.", (0, (5, 1, 1, 1))]  # one line style per seed
    plotted = []
    for m, curve in setting_result.curves.items():
        if curve.size == 0:
            continue
        mins = setting_result.select(m, "retrain_min")
        ref = np.where(np.isfinite(mins), mins, np.nanmin(curve, axis=-1))
        # Differences below ~1e-13 of the objective's size are rounding: drawn flat.
        gap = np.maximum(
            np.abs(curve - ref[:, None]), 1e-13 * np.maximum(np.abs(ref[:, None]), 1.0)
        )
        for j, g in enumerate(gap):
            ax.plot(np.arange(1, g.size + 1), g, color=_COLORS[m], ls=styles[j % len(styles)], alpha=0.7, lw=1)
        plotted.append(m)
    _log_axes(ax)
    ax.set_xlabel("round (Meta-LoRA) / step (SR)")
    ax.set_ylabel("in-sample objective − minimum")
    s = setting_result.setting
    ax.set_title(f"retraining convergence: d={s.d}, T={s.T}, N={s.N}, n'={s.n}, k={s.k}, σ={s.sigma:g}",
                 fontsize=9)
    if plotted:
        methods = ax.legend(handles=[Line2D([], [], color=_COLORS[m], label=m) for m in plotted],
                            fontsize=8, loc="lower left", title="method", title_fontsize=8)
        ax.add_artist(methods)
        ax.legend(handles=[Line2D([], [], color="gray", ls=styles[j % len(styles)], label=f"seed {sd}")
                           for j, sd in enumerate(setting_result.seeds)],
                  fontsize=8, loc="lower center", title="seed", title_fontsize=8)
    ax.grid(True, alpha=0.3)
    _tidy(fig, top=0.92)
    fig.subplots_adjust(left=0.14)
    return fig


def to_png(fig, dpi: int = 90) -> bytes:
    """PNG bytes of a figure (for ``IPython.display.Image``; no pyplot backend needed)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_figures(result, out) -> list[str]:
    """Write every figure of ``result`` under ``out`` as PNG; returns the paths."""
    out = Path(out)
    files = []

    def save(fig, name):
        path = out / name
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        files.append(str(path))

    for name in result.panels:
        save(figure_panel(result, name), f"figure1_{name}.png")
    save(figure_overview(result), "figure1.png")
    if result.rate is not None:
        save(figure_rate(result), "rate.png")
    base = [r for r in result.results if r.setting.physical() == result.base.physical()]
    target = base[0] if base else result.results[0]
    if any(c.size for c in target.curves.values()):
        save(figure_curves(target), "retraining_curves.png")
    return files
