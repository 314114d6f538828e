"""The shallow suite's falsifiable check: the noise floor is reachable, and SR stays above it.

Two statements, on the population test loss ``L = E_x[(f_Ŵ(x) − f_W*(x))²]`` after
fine-tuning (clean targets, so the noise floor of the *noisy* test loss, ``σ²``, is
``L = 0`` here and an estimator's excess is measured in units of ``σ²``):

1. **Floor (calibration).** Fine-tuning one fresh rank-k adapter on the ground-truth base
   ``A*`` reaches the noise floor: the mean over seeds of ``L`` is at most ``σ²`` at every
   setting (rank ``k``: the extra rank-3k fine-tunes at ``T = 2`` are over-parametrised
   and are reported, not checked). (A well-fitted adapter with ``p = r(2d − r)`` free parameters has
   excess ``≈ σ² p / n'``, 0.19σ² at d = 10, k = 1, n' = 100; ``σ²`` leaves room for the
   finite step budget.) If this fails, the fine-tuning itself — not the base — is broken.
2. **Gap.** With SR's base at ``T ≥ 3`` tasks (fine-tuning rank ``k``), a gap remains:
   SR's mean ``L`` exceeds ``σ²`` *and* exceeds the truth base's by more than two standard
   errors of the paired (per-seed) difference.

Verdict: ``holds`` when both hold everywhere they apply; ``fails`` when either fails
somewhere (the message names the first setting); ``undecided`` when no setting has
``T ≥ 3`` or fewer than two seeds make a standard error impossible. Beside the verdict the
check reports where each base's gap *closes* (settings and ranks with mean ``L ≤ σ²``; for
SR the linear theory predicts rank ``3k`` at ``T = 2``) and the SR vs Meta-LoRA comparison
at every setting, without a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.runs import Result, Status

from .settings import TRUTH

__all__ = ["GapCheck", "check_gap", "paired"]


def paired(a, b) -> tuple[float, float]:
    """Mean and standard error of the per-seed differences ``a − b`` (NaN SE for one seed)."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    se = float(np.std(diff, ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("nan")
    return float(np.mean(diff)), se


@dataclass(frozen=True)
class GapCheck(Result):
    """Outcome of :func:`check_gap`.

    Attributes
    ----------
    status : Status
        holds / fails / undecided.
    message : str
        One line: the reason.
    floor : tuple of dict
        Per (setting, rank): the truth base's mean ``L``, its spread, ``σ²``, ``holds``.
    gap : tuple of dict
        Per setting with ``T ≥ 3`` (rank ``k``): SR's and the truth base's mean ``L``, the
        paired gap and its standard error, ``holds``.
    closes : tuple of dict
        Per (setting, rank, base) whose mean ``L ≤ σ²``: that base's gap has closed there
        (the truth base's rows are the floor reached).
    comparison : tuple of dict
        Per (setting, rank): every method's mean ``L`` and the paired differences
        ``SR − method`` with standard errors (positive: the method beats SR).
    """

    floor: tuple = ()
    gap: tuple = ()
    closes: tuple = ()
    comparison: tuple = ()


def check_gap(results) -> GapCheck:
    """Run the floor and gap checks on :class:`~.run.SettingResult` objects."""
    floor, gap, closes, comparison = [], [], [], []
    few_seeds = False
    for res in results:
        st = res.setting
        tol = st.sigma**2
        for r in st.ranks:
            truth = res.select(TRUTH, "pop_loss", r)
            if r == st.k:
                floor.append(
                    {
                        "setting": st.name,
                        "rank": r,
                        "truth_mean": float(np.mean(truth)),
                        "truth_max": float(np.max(truth)),
                        "sigma2": tol,
                        "holds": bool(np.mean(truth) <= tol),
                    }
                )
            for b in res.bases:
                v = res.select(b, "pop_loss", r)
                if np.mean(v) <= tol:
                    closes.append({"setting": st.name, "d": st.d, "T": st.T, "rank": r,
                                   "method": b, "mean": float(np.mean(v)), "sigma2": tol})
            if "SR" not in res.methods:
                continue
            sr = res.select("SR", "pop_loss", r)
            row = {"setting": st.name, "d": st.d, "T": st.T, "rank": r,
                   "SR_mean": float(np.mean(sr))}
            for m in res.methods:
                if m == "SR":
                    continue
                v = res.select(m, "pop_loss", r)
                mean, se = paired(sr, v)
                row[f"{m}_mean"] = float(np.mean(v))
                row[f"SR_minus_{m}"] = mean
                row[f"SR_minus_{m}_se"] = se
                row[f"{m}_over_SR"] = float(np.mean(v) / np.mean(sr)) if np.mean(sr) > 0 else None
            comparison.append(row)
            if st.T >= 3 and r == st.k:
                g, se = paired(sr, truth)
                few_seeds |= sr.size < 2
                gap.append(
                    {
                        "setting": st.name,
                        "T": st.T,
                        "rank": r,
                        "SR_mean": float(np.mean(sr)),
                        "truth_mean": float(np.mean(truth)),
                        "gap": g,
                        "gap_se": se,
                        "sigma2": tol,
                        "holds": bool(sr.size >= 2 and np.mean(sr) > tol and g > 2 * se),
                    }
                )
    extra = dict(floor=tuple(floor), gap=tuple(gap), closes=tuple(closes),
                 comparison=tuple(comparison))
    if any(f["sigma2"] == 0 for f in floor):
        return GapCheck(Status.UNDECIDED, "σ = 0: there is no noise floor to reach", **extra)
    bad_floor = [f for f in floor if not f["holds"]]
    if bad_floor:
        f = bad_floor[0]
        return GapCheck(
            Status.FAILS,
            f"fine-tuning the reference base misses the noise floor at {f['setting']} rank "
            f"{f['rank']}: mean population loss {f['truth_mean']:.3g} > σ² = {f['sigma2']:.3g} "
            f"({len(bad_floor)} of {len(floor)} settings×ranks)",
            **extra,
        )
    if not gap:
        return GapCheck(Status.UNDECIDED, "no setting with T ≥ 3 and SR was run", **extra)
    if few_seeds:
        return GapCheck(
            Status.UNDECIDED, "one seed gives no standard error for the gap; run ≥ 2 seeds",
            **extra,
        )
    bad_gap = [g for g in gap if not g["holds"]]
    if bad_gap:
        g = bad_gap[0]
        return GapCheck(
            Status.FAILS,
            f"SR's gap closed at {g['setting']}: mean population loss {g['SR_mean']:.3g} "
            f"(σ² = {g['sigma2']:.3g}), gap over the truth base {g['gap']:.3g} ± {g['gap_se']:.2g}",
            **extra,
        )
    smallest = min(gap, key=lambda g: g["gap"])
    return GapCheck(
        Status.HOLDS,
        f"the truth base reaches the noise floor at all {len(floor)} settings×ranks; SR keeps "
        f"a gap at all {len(gap)} settings with T ≥ 3 (smallest {smallest['gap']:.3g} ± "
        f"{smallest['gap_se']:.2g} at {smallest['setting']})",
        **extra,
    )
