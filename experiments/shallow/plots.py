"""Figures of the shallow experiment (matplotlib ``Figure`` objects, no pyplot state).

- :func:`figure_panel`: one panel, two plots side by side: the **population** test loss
  (mean ± one standard error over seeds) with the noise level ``σ²`` for scale, and the
  in-sample error on the fine-tuning inputs that the paper's code plots (median with a
  min–max band). At ``T = 2`` the rank-``3k`` fine-tunes are drawn as open markers.
- :func:`figure_overview`: both panels' population test loss.
- :func:`figure_curves`: ``‖Â − A*‖_F`` during retraining, per method and seed.

The axis helpers are the linear experiment's (:mod:`experiments.linear.plots`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.runs import atomic_output
from experiments.linear.plots import _figure, _log_axes, _tidy, to_png

from .settings import PANELS, TRUTH

__all__ = ["plot_panel", "figure_panel", "figure_overview", "figure_curves", "save_figures",
           "to_png"]

_COLORS = {TRUTH: "0.35", "SR": "tab:red", "Meta-LoRA": "tab:blue", "Meta-LoRA-asym": "tab:green"}
_LABELS = {
    TRUTH: "truth A* (reference)",
    "SR": "SR",
    "Meta-LoRA": "Meta-LoRA (UUᵀ)",
    "Meta-LoRA-asym": "Meta-LoRA (BCᵀ)",
}
_YLABELS = {
    "pop_loss": "population test loss E(f̂ − f*)²",
    "insample_error": "in-sample error on the n' inputs (paper code)",
}


def plot_panel(ax, result, panel: str, metric: str = "pop_loss", *, summary: str = "mean"):
    """Draw one panel's ``metric`` on ``ax``.

    ``summary="mean"``: mean over seeds with a ± one-standard-error band; ``"median"``:
    median with a min–max band (the paper's presentation).
    """
    p = PANELS[panel]
    res = result.panel_results(panel)
    x = np.array([getattr(r.setting, p.field) for r in res], dtype=float)
    for b in res[0].bases:
        rows = [(r.select(b, metric)) for r in res]
        if summary == "median":
            mid = np.array([np.median(v) for v in rows])
            lo = np.array([np.min(v) for v in rows])
            hi = np.array([np.max(v) for v in rows])
        else:
            mid = np.array([np.mean(v) for v in rows])
            se = np.array([np.std(v, ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
                           for v in rows])
            lo, hi = np.maximum(mid - se, mid * 1e-3), mid + se
        style = "s--" if b == TRUTH else "o-"
        ax.plot(x, mid, style, color=_COLORS[b], label=_LABELS[b], ms=4)
        ax.fill_between(x, lo, hi, color=_COLORS[b], alpha=0.18, linewidth=0)
        # Extra fine-tuning ranks (3k at T = 2): open markers at their x.
        for r_, xv in zip(res, x):
            for rank in r_.setting.ranks[1:]:
                v = r_.select(b, metric, rank)
                y = np.median(v) if summary == "median" else np.mean(v)
                ax.plot([xv], [y], "o", mfc="none", color=_COLORS[b], ms=7)
    sig2 = res[0].setting.sigma ** 2
    ax.axhline(sig2, color="k", ls=":", lw=1, label="σ² (noise level)")
    _log_axes(ax, x=False, y=True)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{v:g}" for v in x])
    ax.set_xlabel(p.label)
    ax.set_ylabel(_YLABELS.get(metric, metric), fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def figure_panel(result, panel: str):
    """Population test loss (left) and the paper code's in-sample metric (right)."""
    fig = _figure(10, 4)
    a, b = fig.subplots(1, 2)
    plot_panel(a, result, panel, "pop_loss")
    a.set_title(f"panel {panel}: population test loss, mean ± SE", fontsize=9)
    a.legend(fontsize=7)
    plot_panel(b, result, panel, "insample_error", summary="median")
    b.set_title("paper code's metric: in-sample error, median [min, max]", fontsize=9)
    fig.suptitle(
        f"shallow sigmoid network, {len(result.seeds)} seeds, convention {result.convention}"
        " (open markers: rank 3k)",
        fontsize=9,
    )
    _tidy(fig, top=0.86, wspace=0.3)
    return fig


def figure_overview(result):
    """Every panel's population test loss in one row."""
    names = [p for p in PANELS if p in result.panels]
    fig = _figure(5 * len(names), 4)
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        plot_panel(ax, result, name, "pop_loss")
        ax.set_title(f"({name})", fontsize=9)
    axes[0].legend(fontsize=7)
    s = result.base
    fig.suptitle(
        f"population test loss after rank-k LoRA fine-tuning; N={s.N}, n'={s.n}, k={s.k}, "
        f"σ={s.sigma:g}; {len(result.seeds)} seeds, mean ± SE",
        fontsize=9,
    )
    _tidy(fig, top=0.86)
    return fig


def figure_curves(setting_result):
    """``‖Â − A*‖_F`` over the retraining steps (one thin line per seed)."""
    fig = _figure(6, 4)
    ax = fig.subplots()
    curves = setting_result.curves
    steps = np.asarray(curves["steps"], dtype=float)
    for m in setting_result.methods:
        err = np.asarray(curves[m]["base_error"], dtype=float)
        for j, e in enumerate(err):
            ax.plot(np.maximum(steps, 1), e, color=_COLORS[m], alpha=0.6, lw=1,
                    label=_LABELS[m] if j == 0 else None)
    _log_axes(ax, x=True, y=False)  # the error can grow by 10×: a linear y reads better
    ax.set_xlabel("retraining step")
    ax.set_ylabel("‖Â − A*‖_F")
    ax.set_title(f"retraining at {setting_result.setting.name}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    _tidy(fig, top=0.92)
    fig.subplots_adjust(left=0.14)
    return fig


def save_figures(result, out) -> list[str]:
    """Write every figure of ``result`` under ``out`` as PNG (atomically); returns the paths."""
    out = Path(out)
    files = []

    def save(fig, name):
        with atomic_output(out / name) as tmp:
            fig.savefig(tmp, dpi=110)
        files.append(str(out / name))

    for name in result.panels:
        save(figure_panel(result, name), f"shallow_{name}.png")
    save(figure_overview(result), "shallow.png")
    base = [r for r in result.results if r.setting == result.base]
    target = base[0] if base else result.results[0]
    save(figure_curves(target), "retraining_curves.png")
    return files
