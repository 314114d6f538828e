"""The fine-tuning rate: Meta-LoRA's test loss against ``n'``, and SR's floor (docs/math.md §7).

v2 of the paper states an adaptation rate ``O(kd/n')`` for Meta-LoRA. With the exact base
and rank-``r`` reduced-rank regression the population test loss is about
``σ² r (2d − r) / n'``. A retrained base ``Â`` adds a floor ``ℓ_r(Â)`` (what the best
rank-``r`` adapter leaves of the base's error), so we fit both

- the raw test loss ``test_loss(n')`` (slope flattens once the floor dominates), and
- the fine-tuning excess ``test_loss − ℓ_r(Â)`` (slope −1 if the rate holds),

by least squares on ``log loss = a + b log n'`` over every run, and compare the constant
``C = geometric mean over runs of excess · n'`` with ``σ² r (2d − r)`` (σ the noise standard
deviation the data were drawn with: the setting's σ, or σ² under ``paper-code``). SR cannot beat its
floor ``ℓ_r(Â_SR) ≈ ℓ_r(A_SR) > 0`` whatever ``n'`` is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from landscape.errors import InvalidArgument

__all__ = ["RateFit", "fit_rate"]


@dataclass(frozen=True)
class RateFit:
    """Result of :func:`fit_rate`.

    Attributes
    ----------
    method, metric : str
        Which method's runs and which loss column (``test_loss`` or ``test_loss_rrr``).
    n : tuple of int
        The ``n'`` values.
    mean_loss, mean_excess, reference : tuple of float
        Per ``n'``: mean test loss, mean ``test_loss − ℓ_r(Â)``, and ``σ² r (2d − r)/n'``.
    slope, slope_stderr : float
        Log-log least-squares slope of the test loss against ``n'`` (and its standard error).
    slope_excess, slope_excess_stderr : float
        The same for the excess over ``ℓ_r(Â)``.
    constant : float
        ``C``: geometric mean of ``excess · n'`` over all runs.
    reference_constant : float
        ``σ² r (2d − r)``.
    ratio : float
        ``constant / reference_constant`` (1 if the calibration of docs/math.md §7 is exact).
    sr_floor : float
        Mean ``ℓ_r(A_SR)`` over the runs (NaN without SR runs).
    sr_test_loss : tuple of float
        Per ``n'``, SR's mean test loss (empty without SR runs).
    runs : int
        Number of runs of ``method`` used.
    """

    method: str
    metric: str
    n: tuple
    mean_loss: tuple
    mean_excess: tuple
    reference: tuple
    slope: float
    slope_stderr: float
    slope_excess: float
    slope_excess_stderr: float
    constant: float
    reference_constant: float
    ratio: float
    sr_floor: float
    sr_test_loss: tuple
    runs: int

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


def _loglog(x, y):
    X = np.column_stack([np.ones_like(x), np.log(x)])
    coef, *_ = np.linalg.lstsq(X, np.log(y), rcond=None)
    resid = np.log(y) - X @ coef
    dof = max(len(x) - 2, 1)
    cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
    return float(coef[1]), float(np.sqrt(cov[1, 1]))


def fit_rate(records, *, method: str = "Meta-LoRA", metric: str = "test_loss") -> RateFit:
    """Fit the fine-tuning rate over runs that differ only in ``n'``.

    Parameters
    ----------
    records : iterable of RunRecord
        Runs of settings equal up to ``n`` (e.g. the ``rate`` or ``n`` panel).
    method : str
        Method whose rate is fitted.
    metric : {"test_loss", "test_loss_rrr"}
        Gradient-descent or closed-form fine-tune.
    """
    if metric not in ("test_loss", "test_loss_rrr"):
        raise InvalidArgument(
            f"`metric` must be 'test_loss' or 'test_loss_rrr'; got metric={metric!r}."
        )
    records = list(records)
    rows = [r for r in records if r.method == method and r.finite]
    if not rows:
        raise InvalidArgument(f"`records` has no finite runs of method={method!r}.")
    others = {(r.d, r.T, r.N, r.k, r.noise_std) for r in rows}
    if len(others) != 1:
        raise InvalidArgument(
            f"`records` must differ only in n; got {len(others)} settings of (d, T, N, k, noise std)."
        )
    ns = sorted({r.n for r in rows})
    if len(ns) < 2:
        raise InvalidArgument(f"`records` must cover at least two values of n; got n={ns}.")
    (d, _, _, _, noise), r0 = others.pop(), rows[0]
    n = np.array([r.n for r in rows], dtype=float)
    loss = np.array([getattr(r, metric) for r in rows])
    tiny = np.finfo(float).tiny
    excess = np.maximum(loss - np.array([r.adapt_floor for r in rows]), tiny)
    slope, se = _loglog(n, np.maximum(loss, tiny))
    slope_x, se_x = _loglog(n, excess)
    ref_c = noise**2 * r0.rank * (2 * d - r0.rank)
    constant = float(np.exp(np.mean(np.log(excess * n))))
    sr = [r for r in records if r.method == "SR" and r.finite and r.n in ns]
    return RateFit(
        method=method,
        metric=metric,
        n=tuple(int(v) for v in ns),
        mean_loss=tuple(float(loss[n == v].mean()) for v in ns),
        mean_excess=tuple(float(excess[n == v].mean()) for v in ns),
        reference=tuple(ref_c / v for v in ns),
        slope=slope,
        slope_stderr=se,
        slope_excess=slope_x,
        slope_excess_stderr=se_x,
        constant=constant,
        reference_constant=float(ref_c),
        ratio=constant / ref_c if ref_c > 0 else float("nan"),
        sr_floor=float(np.mean([r.sr_floor for r in sr])) if sr else float("nan"),
        sr_test_loss=tuple(float(np.mean([getattr(r, metric) for r in sr if r.n == v])) for v in ns)
        if sr
        else (),
        runs=len(rows),
    )
