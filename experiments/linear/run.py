"""One setting of the linear experiment, all its seeds at once: retrain, fine-tune, measure.

For each seed ``s`` (EXPERIMENTS.md §1, without the authors' traps):

1. ``SeedSequence(s).spawn(4)`` gives four independent streams: ground truth, retraining
   data, fine-tuning data, initialisations. The ground truth is
   ``landscape.Problem.random(d, k, T)`` from the first (so every run has its own, and the
   same seed gives the same instance in every setting with the same ``d, k, T``).
2. Retraining data: second moments of ``N`` samples per task, ``y = M*_t x + ε`` with
   noise **standard deviation** σ; fine-tuning data: ``n'`` samples of the test task.
3. Initialisations, in this order: retraining adapters ``U_0`` and ``V_0`` (T, d, k),
   fine-tuning factors ``U_f`` and ``V_f`` (d, r), all i.i.d. normal with the schedule's
   scales. Every method of the run starts its fine-tune from the same ``(U_f, V_f)``.
4. Each method retrains a base (SR: gradient descent / pooled least squares; Meta-LoRA:
   the paper's alternating gradient descent / the fast solver), then fine-tunes a rank
   ``r`` adapter by gradient descent and by closed-form reduced-rank regression.

All seeds of a setting share every numpy call (a leading batch axis), so a setting costs
about what one run costs.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from landscape import Problem, adaptability, sr_solution
from landscape._validation import check_int
from landscape.errors import InvalidArgument

from landscape._backend import blas_threads
from .data import draw_moments, stack_moments
from .fast import meta_lora_fast
from .finetune import lora_gd, reduced_rank_regression
from .metrics import authors_insample_metric, population_test_loss, rate_reference
from .retrain import RetrainResult, meta_lora_gd, sr_exact, sr_gd
from .settings import Schedule, Setting

__all__ = ["RunRecord", "SettingResult", "run_setting", "seed_streams", "RECORD_FIELDS"]

_FORMAT = "metalora.figure1.setting/1"


@dataclass(frozen=True)
class RunRecord:
    """Final numbers of one method in one run (one CSV row).

    Attributes
    ----------
    d, T, N, n, k, sigma, rank : setting (``rank`` = fine-tuning rank ``r``)
    seed : int
    method : str
    test_loss : float
        **Population** test loss ``‖Â + UVᵀ − M*_{T+1}‖_F²`` after gradient-descent
        fine-tuning (the honest metric).
    test_loss_rrr : float
        Population test loss of the closed-form reduced-rank-regression fine-tune.
    authors_insample_sum : float
        The authors' plotted metric: noiseless error on the ``n'`` fine-tuning inputs,
        summed (grows with ``n'``), for the gradient-descent fine-tune.
    adapt_floor : float
        ``ℓ_r(Â)``: the best population test loss any rank-``r`` adapter reaches on this base.
    sr_floor : float
        ``ℓ_r(A_SR)`` for the population SR solution ``A_SR = A* + (1/T) Σ_t R*_t``.
    base_error : float
        ``‖Â − A*‖_F``.
    retrain_loss : float
        Final in-sample retraining objective of the method.
    retrain_min : float
        Its minimum from the exact/fast solver (NaN when not computed).
    retrain_grad_norm : float
        Full gradient norm of the retraining objective at ``Â``.
    solver_gap : float
        ``‖Â_gd − Â_exact‖_F`` between the paper's gradient descent and the exact/fast
        solver (NaN when not computed).
    finetune_loss : float
        Final in-sample fine-tuning objective (gradient descent).
    finetune_excess : float
        ``finetune_loss`` minus the closed-form minimum (≥ 0 up to rounding).
    finetune_steps : int
        Gradient steps the fine-tune ran (it stops at convergence, see :class:`Schedule`).
    rate_reference : float
        ``σ² r (2d − r) / n'`` (MATH.md §7).
    finite : bool
        No divergence (every number finite).
    """

    d: int
    T: int
    N: int
    n: int
    k: int
    sigma: float
    rank: int
    seed: int
    method: str
    test_loss: float
    test_loss_rrr: float
    authors_insample_sum: float
    adapt_floor: float
    sr_floor: float
    base_error: float
    retrain_loss: float
    retrain_min: float
    retrain_grad_norm: float
    solver_gap: float
    finetune_loss: float
    finetune_excess: float
    finetune_steps: int
    rate_reference: float
    finite: bool

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None  # strict JSON has no NaN/inf
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "RunRecord":
        vals = {}
        for f in dataclasses.fields(cls):
            v = obj[f.name]
            vals[f.name] = float("nan") if (v is None and f.type == "float") else v
        return cls(**vals)


RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord))


@dataclass(frozen=True, eq=False)
class SettingResult:
    """All runs of one setting.

    Attributes
    ----------
    setting : Setting
    seeds : tuple of int
    schedule : Schedule
    records : tuple of RunRecord
        One per (seed, method), seeds outer.
    curves : dict
        ``method -> (len(seeds), iterations)`` retraining objective curves (empty arrays
        for non-iterative solvers); saved next to the JSON as ``.npz``.
    wall_s, cpu_s : float
        Wall-clock and CPU time of :func:`run_setting` (CPU time is the fairer number on
        a shared machine).
    """

    setting: Setting
    seeds: tuple
    schedule: Schedule
    records: tuple
    curves: dict
    wall_s: float
    cpu_s: float = float("nan")

    def to_json(self) -> dict:
        return {
            "format": _FORMAT,
            "setting": self.setting.to_json(),
            "seeds": list(self.seeds),
            "schedule": self.schedule.to_json(),
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "records": [r.to_json() for r in self.records],
        }

    @classmethod
    def from_json(cls, obj: dict, curves: dict | None = None) -> "SettingResult":
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise InvalidArgument(f"not a figure1 setting file: expected format={_FORMAT!r}.")
        return cls(
            setting=Setting.from_json(obj["setting"]),
            seeds=tuple(obj["seeds"]),
            schedule=Schedule.from_json(obj["schedule"]),
            records=tuple(RunRecord.from_json(r) for r in obj["records"]),
            curves=dict(curves or {}),
            wall_s=float(obj["wall_s"]),
            cpu_s=float(obj.get("cpu_s", float("nan"))),
        )

    def select(self, method: str, field: str) -> np.ndarray:
        """Values of ``field`` for ``method`` over the seeds (in seed order)."""
        return np.array(
            [getattr(r, field) for r in self.records if r.method == method], dtype=float
        )


def seed_streams(seed: int) -> list[np.random.Generator]:
    """Independent generators: ground truth, retraining data, fine-tuning data, inits."""
    return [np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(4)]


def _gap(a, b):
    return np.sqrt(np.sum((a - b) ** 2, axis=(-2, -1)))


def run_setting(
    setting: Setting, seeds=(0, 1, 2, 3, 4), schedule: Schedule | None = None
) -> SettingResult:
    """Run every method of ``setting`` for every seed (see the module docstring).

    Parameters
    ----------
    setting : Setting
    seeds : sequence of int
        Non-negative, distinct.
    schedule : Schedule, optional
        Defaults to the paper's (``Schedule()``).

    Returns
    -------
    SettingResult

    Examples
    --------
    >>> res = run_setting(Setting(d=6, N=1000, n=200), seeds=[0],
    ...                   schedule=Schedule(rounds=1000, sr_steps=1000, ft_steps=3000))
    >>> sr, meta = res.select("SR", "test_loss")[0], res.select("Meta-LoRA", "test_loss")[0]
    >>> bool(meta < sr / 1000)
    True
    """
    if not isinstance(setting, Setting):
        raise InvalidArgument(f"`setting` must be a Setting; got {type(setting).__name__}.")
    schedule = Schedule() if schedule is None else schedule
    if not isinstance(schedule, Schedule):
        raise InvalidArgument(f"`schedule` must be a Schedule; got {type(schedule).__name__}.")
    seeds = tuple(check_int("seed", s, low=0) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise InvalidArgument(
            f"`seeds` must be a non-empty list of distinct integers; got seeds={seeds!r}."
        )
    t0, c0 = time.perf_counter(), time.process_time()
    with blas_threads():
        records, curves = _run(setting, seeds, schedule)
    return SettingResult(
        setting,
        seeds,
        schedule,
        records,
        curves,
        time.perf_counter() - t0,
        time.process_time() - c0,
    )


def _run(setting: Setting, seeds: tuple, schedule: Schedule):
    st, sc = setting, schedule
    d, T, k, r = st.d, st.T, st.k, st.rank

    problems, retrain_moms, ft_moms, inits = [], [], [], []
    for s in seeds:
        g_problem, g_data, g_ft, g_init = seed_streams(s)
        p = Problem.random(d, k, T, seed=g_problem)
        problems.append(p)
        retrain_moms.append(draw_moments(p.M_star, st.N, st.sigma, rng=g_data, sampler=sc.sampler))
        ft_moms.append(draw_moments(p.M_test, st.n, st.sigma, rng=g_ft, sampler=sc.sampler))
        inits.append(
            (
                sc.init_scale * g_init.standard_normal((T, d, k)),
                sc.init_scale * g_init.standard_normal((T, d, k)),
                sc.ft_init_scale * g_init.standard_normal((d, r)),
                sc.ft_init_scale * g_init.standard_normal((d, r)),
            )
        )
    mom = stack_moments(retrain_moms)  # (B, T, d, d)
    ft = stack_moments(ft_moms)  # (B, d, d)
    U0, V0, Uf, Vf = (np.stack([x[i] for x in inits]) for i in range(4))

    bases: dict[str, RetrainResult] = {}
    refs: dict[str, RetrainResult] = {}
    curves: dict[str, np.ndarray] = {}
    for method in st.methods:
        if method == "SR":
            exact = sr_exact(mom)
            if sc.solver == "gd":
                bases[method] = sr_gd(mom, steps=sc.sr_steps, lr=sc.lr_sr)
                refs[method] = exact
            else:
                bases[method] = exact
                refs[method] = exact
        else:
            V_init = V0 if method == "Meta-LoRA-asym" else None
            if sc.solver == "gd":
                bases[method] = meta_lora_gd(
                    mom,
                    U0,
                    V_init,
                    rounds=sc.rounds,
                    u_steps=sc.u_steps,
                    lr_U=sc.lr_U,
                    lr_A=sc.lr_A,
                )
                if sc.check_solver:
                    refs[method] = meta_lora_fast(mom, U0, V_init)
            else:
                bases[method] = meta_lora_fast(mom, U0, V_init)
                refs[method] = bases[method]
        curves[method] = bases[method].curve

    methods = st.methods
    A_hat = np.stack([bases[m].A for m in methods], axis=1)  # (B, M, d, d)
    ft_b = ft[(slice(None), None)]  # (B, 1, d, d)
    gd_ft = lora_gd(
        A_hat, ft_b, Uf[:, None], Vf[:, None], steps=sc.ft_steps, lr=sc.lr_ft, tol=sc.ft_tol
    )
    rrr_ft = reduced_rank_regression(A_hat, ft_b, r)
    M_test = np.stack([p.M_test for p in problems])[:, None]  # (B, 1, d, d)
    W_gd = gd_ft.weights(A_hat)
    W_rrr = rrr_ft.weights(A_hat)
    with np.errstate(all="ignore"):
        test_gd = population_test_loss(W_gd, M_test)
        test_rrr = population_test_loss(W_rrr, M_test)
        authors = authors_insample_metric(W_gd, M_test, ft_b)
    ref_rate = rate_reference(st.sigma, d, r, st.n)

    records = []
    for b, (s, p) in enumerate(zip(seeds, problems)):
        sr_floor = adaptability(p, sr_solution(p), r).loss
        for j, m in enumerate(methods):
            res = bases[m]
            A = res.A[b]
            finite = bool(
                res.finite[b] and np.all(np.isfinite(W_gd[b, j])) and np.isfinite(test_gd[b, j])
            )
            if m in refs:
                ref = refs[m]
                solver_gap = float(_gap(A, ref.A[b])) if ref is not res else float("nan")
                retrain_min = float(ref.loss[b])
            else:
                solver_gap = retrain_min = float("nan")
            records.append(
                RunRecord(
                    d=d,
                    T=T,
                    N=st.N,
                    n=st.n,
                    k=k,
                    sigma=st.sigma,
                    rank=r,
                    seed=s,
                    method=m,
                    test_loss=float(test_gd[b, j]),
                    test_loss_rrr=float(test_rrr[b, j]),
                    authors_insample_sum=float(authors[b, j]),
                    adapt_floor=adaptability(p, A, r).loss
                    if np.all(np.isfinite(A))
                    else float("nan"),
                    sr_floor=float(sr_floor),
                    base_error=float(np.linalg.norm(A - p.A_star)),
                    retrain_loss=float(res.loss[b]),
                    retrain_min=retrain_min,
                    retrain_grad_norm=float(res.grad_norm[b]),
                    solver_gap=solver_gap,
                    finetune_loss=float(gd_ft.loss[b, j]),
                    finetune_excess=float(gd_ft.loss[b, j] - rrr_ft.loss[b, j]),
                    finetune_steps=int(gd_ft.steps),
                    rate_reference=ref_rate,
                    finite=finite,
                )
            )
    return tuple(records), curves
