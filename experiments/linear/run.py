"""One setting of the linear experiment, all its seeds at once: retrain, fine-tune, measure.

For each seed ``s`` (EXPERIMENTS.md §1; the convention, :mod:`.conventions`, says which of
the published pipeline's choices apply):

1. Independent streams ``landscape.runs.make_rng(s, "figure1", stream)`` for the ground
   truth, the retraining data, the fine-tuning data and the initialisations. The ground
   truth is ``landscape.Problem.random(d, k, T)`` from the first (every run has its own;
   the same seed gives the same instance in every setting with the same ``d, k, T``).
2. Retraining data: second moments of ``N`` samples per task, ``y = M*_t x + ε``;
   fine-tuning data: ``n'`` samples of the test task. The noise is the same standard
   normals scaled by the convention's noise std (σ for ``ours``, σ² for ``paper-code``).
3. Initialisations (:class:`Inits`, drawn in this order): retraining adapters ``U0``,
   ``V0`` (T, d, k), fine-tuning factors ``Uf``, ``Vf`` (d, r), SR's own fine-tuning
   factors ``Uf_sr``, ``Vf_sr`` (d, r) and SR's never-trained adapters (T, d, k), all
   i.i.d. normal with the schedule's scales. Every convention draws all of them, so both
   see the same numbers; ``ours`` fine-tunes every method from ``(Uf, Vf)``.
4. Each method retrains a base (SR: gradient descent / pooled least squares; Meta-LoRA:
   the paper's alternating gradient descent / the fast solver), then fine-tunes a rank
   ``r`` adapter by gradient descent and by closed-form reduced-rank regression.

Any of the ground truth, the data (samples or their moments), the inits and the step
sizes can be given explicitly (:func:`run_setting`), to drive the solvers with your own
inputs and compare with another implementation. All seeds of a setting share every numpy
call (a leading batch axis), so a setting costs about what one run costs.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from landscape import Problem, adaptability, sr_solution
from landscape.validation import as_float64, check_int
from landscape.errors import InvalidArgument
from landscape.runs import blas_threads, make_rng

from .conventions import DEFAULT_CONVENTION, get_convention
from .data import Moments, draw_moments, moments_from_samples, stack_moments
from .fast import meta_lora_fast
from .finetune import lora_gd, reduced_rank_regression
from .metrics import authors_insample_metric, population_test_loss, rate_reference
from .retrain import RetrainResult, meta_lora_gd, sr_exact, sr_gd
from .settings import Schedule, Setting

__all__ = [
    "RunRecord",
    "SettingResult",
    "RunData",
    "Inits",
    "RunInputs",
    "draw_inputs",
    "run_setting",
    "seed_streams",
    "RECORD_FIELDS",
    "STEP_KEYS",
]

_FORMAT = "metalora.figure1.setting/2"
_STREAMS = ("problem", "retrain-data", "finetune-data", "inits")
#: Names of the step sizes ``step_sizes=`` may override (nominal, in the run's convention).
STEP_KEYS = ("lr_U", "lr_A", "lr_sr", "lr_ft")


@dataclass(frozen=True)
class RunRecord:
    """Final numbers of one method in one run (one CSV row).

    Attributes
    ----------
    d, T, N, n, k, sigma, rank : setting (``rank`` = fine-tuning rank ``r``)
    noise_std : float
        The noise standard deviation the data were drawn with (σ, or σ² under
        ``paper-code``).
    seed : int
    method : str
    convention : str
        ``"ours"`` or ``"paper-code"``.
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
        Final in-sample retraining objective of the method (docs/math.md §2 normalisation).
    retrain_min : float
        Its minimum from the exact/fast solver (NaN when not computed).
    retrain_grad_norm : float
        Full gradient norm of the retraining objective at ``Â``.
    solver_gap : float
        ``‖Â_gd − Â_exact‖_F`` between the gradient descent and the exact/fast solver
        (for SR under ``paper-code``: the limit of its GD, pooled least squares minus the
        stray adapter term; NaN when not computed).
    finetune_loss : float
        Final in-sample fine-tuning objective (gradient descent).
    finetune_excess : float
        ``finetune_loss`` minus the closed-form minimum (≥ 0 up to rounding).
    finetune_steps : int
        Gradient steps the fine-tune ran.
    rate_reference : float
        ``noise_std² r (2d − r) / n'`` (docs/math.md §7).
    finite : bool
        No divergence (every number finite).
    """

    d: int
    T: int
    N: int
    n: int
    k: int
    sigma: float
    noise_std: float
    rank: int
    seed: int
    method: str
    convention: str
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
        Nominal hyperparameters (after any ``step_sizes`` override).
    convention : str
    steps : dict
        What actually ran: effective step sizes (multipliers of ``∇L̂``, docs/math.md §2),
        ``ft_steps`` and ``ft_stop``, and which inputs were explicit.
    records : tuple of RunRecord
        One per (seed, method), seeds outer.
    curves : dict
        ``method -> (len(seeds), iterations)`` retraining objective curves (empty arrays
        for non-iterative solvers).
    bases : dict
        ``method -> (len(seeds), d, d)`` retrained bases ``Â``.
    finetuned : dict
        ``method -> (len(seeds), d, d)`` fine-tuned maps ``Â + UVᵀ`` (gradient descent).
    wall_s, cpu_s : float
        Wall-clock and CPU time of :func:`run_setting` (not part of :meth:`to_json`).
    """

    setting: Setting
    seeds: tuple
    schedule: Schedule
    convention: str
    steps: dict
    records: tuple
    curves: dict
    bases: dict
    finetuned: dict
    wall_s: float = float("nan")
    cpu_s: float = float("nan")

    def to_json(self) -> dict:
        """Everything but the arrays and the timings (same seeds → identical JSON)."""
        return {
            "format": _FORMAT,
            "setting": self.setting.to_json(),
            "seeds": list(self.seeds),
            "schedule": self.schedule.to_json(),
            "convention": self.convention,
            "steps": self.steps,
            "records": [r.to_json() for r in self.records],
        }

    def arrays(self) -> dict:
        """The arrays, flat, for ``np.savez`` (``curve__M``, ``base__M``, ``finetuned__M``)."""
        out = {}
        for prefix, group in (("curve", self.curves), ("base", self.bases), ("finetuned", self.finetuned)):
            out.update({f"{prefix}__{m}": a for m, a in group.items()})
        return out

    @classmethod
    def from_json(cls, obj: dict, arrays: dict | None = None, timing: dict | None = None) -> "SettingResult":
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise InvalidArgument(f"not a figure1 setting record: expected format={_FORMAT!r}.")
        groups = {"curve": {}, "base": {}, "finetuned": {}}
        for key, value in (arrays or {}).items():
            prefix, _, method = key.partition("__")
            if prefix in groups:
                groups[prefix][method] = value
        timing = timing or {}
        return cls(
            setting=Setting.from_json(obj["setting"]),
            seeds=tuple(obj["seeds"]),
            schedule=Schedule.from_json(obj["schedule"]),
            convention=str(obj["convention"]),
            steps=dict(obj["steps"]),
            records=tuple(RunRecord.from_json(r) for r in obj["records"]),
            curves=groups["curve"],
            bases=groups["base"],
            finetuned=groups["finetuned"],
            wall_s=float(timing.get("wall_s", float("nan"))),
            cpu_s=float(timing.get("cpu_s", float("nan"))),
        )

    def select(self, method: str, field: str) -> np.ndarray:
        """Values of ``field`` for ``method`` over the seeds (in seed order)."""
        return np.array(
            [getattr(r, field) for r in self.records if r.method == method], dtype=float
        )


# -- inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RunData:
    """One run's data as second moments: the retraining tasks' and the test task's.

    Attributes
    ----------
    retrain : Moments
        Shape (T, d, d), ``N`` samples per task.
    finetune : Moments
        Shape (d, d), ``n'`` samples of the test task.
    """

    retrain: Moments
    finetune: Moments

    @classmethod
    def from_samples(cls, X, Y, X_test, Y_test) -> "RunData":
        """From samples (rows are samples): ``X, Y`` (T, N, d), ``X_test, Y_test`` (n', d)."""
        X = as_float64("X", X)
        Y = as_float64("Y", Y)
        if X.ndim != 3 or X.shape != Y.shape:
            raise InvalidArgument(
                f"`samples` X and Y must both have shape (T, N, d); got {X.shape} and {Y.shape}."
            )
        retrain = stack_moments([moments_from_samples(X[t], Y[t]) for t in range(X.shape[0])])
        return cls(retrain, moments_from_samples(X_test, Y_test))


@dataclass(frozen=True, eq=False)
class Inits:
    """One run's initialisations (see the module docstring for the draw order).

    Attributes
    ----------
    U0, V0 : (T, d, k) arrays
        Retraining adapters (``V0``: second factors for ``Meta-LoRA-asym``).
    Uf, Vf : (d, r) arrays
        Fine-tuning factors (every method's under ``ours``; Meta-LoRA's under ``paper-code``).
    Uf_sr, Vf_sr : (d, r) arrays
        SR's fine-tuning factors under ``paper-code`` (a fresh draw, as published).
    sr_adapters : (T, d, k) array
        The published SR's never-trained adapters (``paper-code``).
    """

    U0: np.ndarray
    V0: np.ndarray
    Uf: np.ndarray
    Vf: np.ndarray
    Uf_sr: np.ndarray
    Vf_sr: np.ndarray
    sr_adapters: np.ndarray

    @classmethod
    def draw(cls, setting: Setting, rng, schedule: Schedule | None = None) -> "Inits":
        """Draw every init from ``rng`` (a seed or Generator) with the schedule's scales."""
        sc = Schedule() if schedule is None else schedule
        rng = make_rng(rng)
        T, d, k, r = setting.T, setting.d, setting.k, setting.rank
        a, f = sc.init_scale, sc.ft_init_scale
        return cls(
            U0=a * rng.standard_normal((T, d, k)),
            V0=a * rng.standard_normal((T, d, k)),
            Uf=f * rng.standard_normal((d, r)),
            Vf=f * rng.standard_normal((d, r)),
            Uf_sr=f * rng.standard_normal((d, r)),
            Vf_sr=f * rng.standard_normal((d, r)),
            sr_adapters=a * rng.standard_normal((T, d, k)),
        )

    @classmethod
    def from_dict(cls, obj: dict, setting: Setting, *, fill=None) -> "Inits":
        """From a mapping of arrays; missing entries are taken from ``fill`` (an Inits)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(obj) - set(names))
        if unknown:
            raise InvalidArgument(f"`inits` has unknown entries {unknown}; expected some of {names}.")
        vals = {}
        for name in names:
            if name in obj:
                vals[name] = as_float64(f"inits[{name!r}]", obj[name])
            elif fill is not None:
                vals[name] = getattr(fill, name)
            else:
                raise InvalidArgument(f"`inits` lacks the entry {name!r}.")
        out = cls(**vals)
        out.check(setting)
        return out

    def check(self, setting: Setting) -> None:
        T, d, k, r = setting.T, setting.d, setting.k, setting.rank
        want = {"U0": (T, d, k), "V0": (T, d, k), "Uf": (d, r), "Vf": (d, r),
                "Uf_sr": (d, r), "Vf_sr": (d, r), "sr_adapters": (T, d, k)}  # fmt: skip
        for name, shape in want.items():
            got = getattr(self, name).shape
            if got != shape:
                raise InvalidArgument(
                    f"`inits[{name!r}]` must have shape {shape} (T={T}, d={d}, k={k}, r={r}); "
                    f"got {got}."
                )


@dataclass(frozen=True, eq=False)
class RunInputs:
    """Everything one run consumes: ground truth, data and initialisations."""

    problem: Problem
    data: RunData
    inits: Inits


def seed_streams(seed: int) -> list[np.random.Generator]:
    """Independent generators: ground truth, retraining data, fine-tuning data, inits.

    Each is ``make_rng(seed, "figure1", name)`` (one SeedSequence scheme, landscape.runs).
    """
    return [make_rng(seed, "figure1", name) for name in _STREAMS]


def draw_inputs(
    setting: Setting,
    seed: int,
    *,
    convention=DEFAULT_CONVENTION,
    schedule: Schedule | None = None,
    problem: Problem | None = None,
) -> RunInputs:
    """The inputs :func:`run_setting` draws for ``seed`` (to inspect, save or reuse them).

    ``problem`` replaces the drawn ground truth (the data are then drawn from it).
    """
    sc = Schedule() if schedule is None else schedule
    conv = get_convention(convention)
    g_problem, g_data, g_ft, g_init = seed_streams(check_int("seed", seed, low=0))
    if problem is None:
        problem = Problem.random(setting.d, setting.k, setting.T, seed=g_problem)
    noise = conv.noise_std(setting.sigma)
    data = RunData(
        draw_moments(problem.M_star, setting.N, noise, rng=g_data, sampler=sc.sampler),
        draw_moments(problem.M_test, setting.n, noise, rng=g_ft, sampler=sc.sampler),
    )
    return RunInputs(problem, data, Inits.draw(setting, g_init, sc))


def _per_seed(name: str, value, count: int, single_types) -> list:
    """``value`` for every seed: one object (shared) or a sequence with one per seed."""
    if value is None or isinstance(value, single_types):
        return [value] * count
    if isinstance(value, (list, tuple)) and all(isinstance(v, single_types) for v in value):
        if len(value) != count:
            raise InvalidArgument(
                f"`{name}` must be one object or one per seed ({count}); got {len(value)}."
            )
        return list(value)
    raise InvalidArgument(
        f"`{name}` must be a {' or '.join(t.__name__ for t in single_types)} or a list of them "
        f"(one per seed); got {type(value).__name__}."
    )


def _as_data(item, setting: Setting, name: str) -> RunData:
    if isinstance(item, dict):
        missing = {"X", "Y", "X_test", "Y_test"} - set(item)
        if missing:
            raise InvalidArgument(f"`{name}` lacks the arrays {sorted(missing)}.")
        data = RunData.from_samples(item["X"], item["Y"], item["X_test"], item["Y_test"])
    elif isinstance(item, tuple):
        if len(item) != 2 or not all(isinstance(m, Moments) for m in item):
            raise InvalidArgument(f"`{name}` must be (retrain Moments, finetune Moments).")
        data = RunData(*item)
    else:
        data = item
    d, T = setting.d, setting.T
    if data.retrain.Sxx.shape != (T, d, d) or data.finetune.Sxx.shape != (d, d):
        raise InvalidArgument(
            f"`{name}`: retraining data must be T={T} tasks of dimension d={d} and the test "
            f"task of dimension d; got moments of shapes {data.retrain.Sxx.shape} and "
            f"{data.finetune.Sxx.shape}."
        )
    if data.retrain.n != setting.N or data.finetune.n != setting.n:
        raise InvalidArgument(
            f"`{name}`: the setting says N={setting.N}, n'={setting.n}; the data have "
            f"N={data.retrain.n}, n'={data.finetune.n}."
        )
    return data


def _inputs(setting, seeds, sc, conv, problem, samples, moments, inits) -> list[RunInputs]:
    if samples is not None and moments is not None:
        raise InvalidArgument("give `samples` or `moments`, not both.")
    n = len(seeds)
    problems = _per_seed("problem", problem, n, (Problem,))
    for p in problems:
        if p is not None and (p.d, p.k, p.T) != (setting.d, setting.k, setting.T):
            raise InvalidArgument(
                f"`problem` has (d, k, T)=({p.d}, {p.k}, {p.T}); the setting has "
                f"({setting.d}, {setting.k}, {setting.T})."
            )
    if samples is not None:
        datas = _per_seed("samples", samples, n, (dict,))
    else:
        datas = _per_seed("moments", moments, n, (RunData, tuple))
    init_list = _per_seed("inits", inits, n, (Inits, dict))
    out = []
    for s, p, dat, ini in zip(seeds, problems, datas, init_list):
        drawn = draw_inputs(setting, s, convention=conv, schedule=sc, problem=p)
        data = drawn.data if dat is None else _as_data(dat, setting, "samples" if samples is not None else "moments")
        if ini is None:
            ini = drawn.inits
        elif isinstance(ini, dict):
            ini = Inits.from_dict(ini, setting, fill=drawn.inits)
        else:
            ini.check(setting)
        out.append(RunInputs(drawn.problem, data, ini))
    return out


def _gap(a, b):
    return np.sqrt(np.sum((a - b) ** 2, axis=(-2, -1)))


def run_setting(
    setting: Setting,
    seeds=(0, 1, 2, 3, 4),
    schedule: Schedule | None = None,
    *,
    convention=DEFAULT_CONVENTION,
    problem=None,
    samples=None,
    moments=None,
    inits=None,
    step_sizes: dict | None = None,
) -> SettingResult:
    """Run every method of ``setting`` for every seed (see the module docstring).

    Parameters
    ----------
    setting : Setting
    seeds : sequence of int
        Non-negative, distinct.
    schedule : Schedule, optional
        Nominal hyperparameters; defaults to the paper's (``Schedule()``).
    convention : {"ours", "paper-code"} or Convention
        Normalisation, effective step sizes, fine-tuning stop and inits, noise
        (:mod:`~experiments.linear.conventions`).
    problem : landscape.Problem or list of them, optional
        Ground truth for every seed (one object) or per seed; default: drawn per seed.
        Its ``(d, k, T)`` must match the setting.
    samples : dict or list of dicts, optional
        Explicit data, rows are samples: ``X``, ``Y`` (T, N, d) of the retraining tasks and
        ``X_test``, ``Y_test`` (n', d) of the test task (σ is then unused except in the
        rate reference). ``N`` and ``n'`` must match the setting.
    moments : RunData, (Moments, Moments) or a list of them, optional
        Explicit data as second moments (instead of ``samples``).
    inits : Inits or dict of arrays, or a list of them, optional
        Explicit initialisations (a dict may give only some; the rest are drawn).
    step_sizes : dict, optional
        Nominal step sizes overriding the schedule's: any of ``lr_U``, ``lr_A``, ``lr_sr``,
        ``lr_ft``, in the convention's normalisation.

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
    conv = get_convention(convention)
    if step_sizes:
        if not isinstance(step_sizes, dict) or set(step_sizes) - set(STEP_KEYS):
            raise InvalidArgument(
                f"`step_sizes` must be a dict with keys among {STEP_KEYS}; got {step_sizes!r}."
            )
        schedule = schedule.replace(**step_sizes)
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        raise InvalidArgument(f"`seeds` must be a list of seeds; got seeds={seeds!r}.")
    seeds = tuple(check_int("seed", s, low=0) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise InvalidArgument(
            f"`seeds` must be a non-empty list of distinct integers; got seeds={seeds!r}."
        )
    t0, c0 = time.perf_counter(), time.process_time()
    inputs = _inputs(setting, seeds, schedule, conv, problem, samples, moments, inits)
    explicit = {
        "problem": problem is not None,
        "data": samples is not None or moments is not None,
        "inits": inits is not None,
    }
    with blas_threads():
        records, arrays, steps = _run(setting, seeds, schedule, conv, inputs)
    steps["explicit"] = explicit
    return SettingResult(
        setting=setting,
        seeds=seeds,
        schedule=schedule,
        convention=conv.name,
        steps=steps,
        records=records,
        curves=arrays["curve"],
        bases=arrays["base"],
        finetuned=arrays["finetuned"],
        wall_s=time.perf_counter() - t0,
        cpu_s=time.process_time() - c0,
    )


def _run(setting: Setting, seeds: tuple, sc: Schedule, conv, inputs: list[RunInputs]):
    st = setting
    d, T, k, r = st.d, st.T, st.k, st.rank
    eff = conv.effective_steps(sc.nominal_steps(), T)
    ft_steps = next(s for s in (st.ft_steps, sc.ft_steps, conv.ft_steps_default) if s is not None)
    tol = sc.ft_tol if conv.ft_stop == "tolerance" else None
    noise = conv.noise_std(st.sigma)

    problems = [x.problem for x in inputs]
    mom = stack_moments([x.data.retrain for x in inputs])  # (B, T, d, d)
    ft = stack_moments([x.data.finetune for x in inputs])  # (B, d, d)
    init = {f: np.stack([getattr(x.inits, f) for x in inputs]) for f in ("U0", "V0", "Uf", "Vf", "Uf_sr", "Vf_sr", "sr_adapters")}  # fmt: skip
    U0, V0 = init["U0"], init["V0"]

    bases: dict[str, RetrainResult] = {}
    refs: dict[str, RetrainResult] = {}
    for method in st.methods:
        if method == "SR":
            # The published SR keeps never-trained adapters in the model: an offset.
            S = init["sr_adapters"]
            offset = (S @ S.mT).mean(axis=-3) if conv.sr_stray_adapters else None
            exact = sr_exact(mom, offset=offset)
            if sc.solver == "gd":
                bases[method] = sr_gd(mom, steps=sc.sr_steps, lr=eff["lr_sr"], offset=offset)
            else:
                bases[method] = exact
            refs[method] = exact
        else:
            V_init = V0 if method == "Meta-LoRA-asym" else None
            if sc.solver == "gd":
                bases[method] = meta_lora_gd(
                    mom, U0, V_init, rounds=sc.rounds, u_steps=sc.u_steps,
                    lr_U=eff["lr_U"], lr_A=eff["lr_A"],
                )  # fmt: skip
                if sc.check_solver:
                    refs[method] = meta_lora_fast(mom, U0, V_init)
            else:
                bases[method] = meta_lora_fast(mom, U0, V_init)
                refs[method] = bases[method]

    methods = st.methods
    A_hat = np.stack([bases[m].A for m in methods], axis=1)  # (B, M, d, d)
    ft_b = ft[(slice(None), None)]  # (B, 1, d, d)
    per_method = conv.ft_init == "per-method"
    Uf = np.stack([init["Uf_sr" if (per_method and m == "SR") else "Uf"] for m in methods], axis=1)
    Vf = np.stack([init["Vf_sr" if (per_method and m == "SR") else "Vf"] for m in methods], axis=1)
    gd_ft = lora_gd(A_hat, ft_b, Uf, Vf, steps=ft_steps, lr=eff["lr_ft"], tol=tol)
    rrr_ft = reduced_rank_regression(A_hat, ft_b, r)
    M_test = np.stack([p.M_test for p in problems])[:, None]  # (B, 1, d, d)
    W_gd = gd_ft.weights(A_hat)
    W_rrr = rrr_ft.weights(A_hat)
    with np.errstate(all="ignore"):
        test_gd = population_test_loss(W_gd, M_test)
        test_rrr = population_test_loss(W_rrr, M_test)
        authors = authors_insample_metric(W_gd, M_test, ft_b)
    ref_rate = rate_reference(noise, d, r, st.n)

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
                    d=d, T=T, N=st.N, n=st.n, k=k, sigma=st.sigma, noise_std=noise, rank=r,
                    seed=s, method=m, convention=conv.name,
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
            )  # fmt: skip
    arrays = {
        "curve": {m: bases[m].curve for m in methods},
        "base": {m: bases[m].A for m in methods},
        "finetuned": {m: W_gd[:, j] for j, m in enumerate(methods)},
    }
    steps = {
        "effective": eff,
        "normalisation": "multipliers of the gradient of (1/T) Σ_t (1/N) Σ_i ‖(A + P_t) x − y‖² "
        "(docs/math.md §2)",
        "ft_steps": int(ft_steps),
        "ft_stop": conv.ft_stop,
        "ft_init": conv.ft_init,
        "noise_std": noise,
        "sr_stray_adapters": conv.sr_stray_adapters,
    }
    return tuple(records), arrays, steps
