"""Agreement of two sweeps' final numbers (e.g. the ``ours`` and ``paper-code`` conventions).

Settings are paired panel by panel and value by value (the conventions differ in the
fine-tuning count, so the same sizes can be different settings; σ may differ, to compare
at equal noise std), runs seed by seed. For
each (panel, value, method) the table gives both means and, over the paired seeds, the
ratio ``b / a`` (median, min and max).
"""

from __future__ import annotations

import numpy as np

from landscape.errors import InvalidArgument

from .settings import PANELS

__all__ = ["compare_sweeps"]


def compare_sweeps(a, b, metric: str = "test_loss") -> dict:
    """Compare ``metric`` between two :class:`~.sweep.SweepResult` objects.

    Parameters
    ----------
    a, b : SweepResult
        Usually the same panels and seeds under two conventions.
    metric : str
        A :class:`~.run.RunRecord` field (``test_loss``, ``base_error``, …).

    Returns
    -------
    dict
        ``rows``: one per (panel, value, method) with ``mean_a``, ``mean_b``,
        ``ratio_median``, ``ratio_min``, ``ratio_max`` over the paired seeds;
        ``by_method``: per method, the smallest and largest per-seed ratio over all rows;
        ``labels``: the two conventions.
    """
    panels = [p for p in a.panels if p in b.panels]
    if not panels:
        raise InvalidArgument("`a` and `b` share no panel.")
    common = sorted(set(a.seeds) & set(b.seeds))
    if not common:
        raise InvalidArgument("`a` and `b` share no seed.")
    rows = []
    for panel in panels:
        p = PANELS[panel]
        for ra, rb in zip(a.panel_results(panel), b.panel_results(panel)):
            # σ may differ (e.g. to give both conventions the same noise std); sizes may not.
            if ra.setting.physical()[:5] != rb.setting.physical()[:5]:
                raise InvalidArgument(
                    f"panel {panel}: settings differ ({ra.setting.name} vs {rb.setting.name})."
                )
            for m in p.methods:
                va = {r.seed: getattr(r, metric) for r in ra.records if r.method == m}
                vb = {r.seed: getattr(r, metric) for r in rb.records if r.method == m}
                x = np.array([va[s] for s in common], dtype=float)
                y = np.array([vb[s] for s in common], dtype=float)
                with np.errstate(all="ignore"):
                    ratio = y / x
                rows.append(
                    {
                        "panel": panel,
                        p.field: getattr(ra.setting, p.field),
                        "method": m,
                        "mean_a": float(np.mean(x)),
                        "mean_b": float(np.mean(y)),
                        "ratio_median": float(np.median(ratio)),
                        "ratio_min": float(np.min(ratio)),
                        "ratio_max": float(np.max(ratio)),
                    }
                )
    by_method = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == m]
        by_method[m] = {
            "ratio_min": min(r["ratio_min"] for r in sel),
            "ratio_max": max(r["ratio_max"] for r in sel),
            "ratio_median_of_medians": float(np.median([r["ratio_median"] for r in sel])),
        }
    return {
        "metric": metric,
        "labels": [a.convention, b.convention],
        "seeds": common,
        "rows": rows,
        "by_method": by_method,
    }
