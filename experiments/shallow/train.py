"""Retraining (SR, Meta-LoRA with symmetric or asymmetric adapters) and LoRA fine-tuning.

Both loops train every seed of a setting and every method at once (:mod:`.model`): one
full-batch AdamW step per iteration, as the paper does. Retraining objective of method
``m`` on tasks ``t = 1..T`` with ``N`` samples each (``f_W(x) = cᵀσ(Wx)``, ``c`` known):

- SR: ``(1/TN) Σ_t Σ_i (f_A(x_ti) − y_ti)²`` (the tasks' data pooled);
- Meta-LoRA: ``ω Σ_t Σ_i (f_{A + ΔW_t}(x_ti) − y_ti)²`` over ``A`` and the adapters
  ``ΔW_t = U_tU_tᵀ`` (symmetric) or ``B_tC_tᵀ`` (asymmetric), with ``ω = 1/(TN)`` (ours:
  the mean over tasks) or ``ω = 1/N`` (paper-code: the sum of per-task means).

Fine-tuning freezes a base ``Â`` and trains one fresh asymmetric rank-r adapter ``BCᵀ``
(``B = 0`` at the start) on the test task's ``n'`` samples, minimising
``(1/n') Σ_i (f_{Â + BCᵀ}(x_i) − y_i)²``. Several ranks run in one batch: a rank-r adapter
is a rank-r_max one whose extra columns start at zero, and those stay exactly zero (their
gradients ``G C_j`` and ``Gᵀ B_j`` vanish, and AdamW maps a zero gradient to a zero step).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from landscape.errors import InvalidArgument
from landscape.runs import make_rng

from .model import ADAPTERS, AdamW, stacked_loss_grad
from .settings import METHODS, Convention, Schedule, get_convention

__all__ = [
    "METHOD_STRATEGY",
    "METHOD_ADAPTER",
    "ShallowRetrainResult",
    "ShallowFinetuneResult",
    "retrain",
    "finetune",
    "torch_threads",
]

#: Each method label's strategy in the retraining engine's registry
#: (:mod:`experiments.engine.strategies`) and its adapter form. The engine trains torch
#: modules batch by batch; this suite runs the same strategies as vectorised full-batch
#: mathematics, so it takes the names and what each strategy trains from the registry.
METHOD_STRATEGY = {
    "SR": ("sr", None),
    "Meta-LoRA": ("meta-lora", "symmetric"),
    "Meta-LoRA-asym": ("meta-lora", "asymmetric"),
}


def _adapter_of(method: str):
    """The adapter form ``method`` retrains with (None: a pooled loss on ``A`` alone)."""
    from experiments.engine.strategies import get_strategy

    name, form = METHOD_STRATEGY[method]
    strategy = get_strategy(name)
    if strategy.adapters:
        return form
    if strategy.schedule == "pooled" and not strategy.per_task_heads:
        return None
    raise InvalidArgument(  # pragma: no cover - only if the registry changes meaning
        f"engine strategy {name!r} has no full-batch form in the shallow suite."
    )


#: Retraining adapter form of each method (``None``: no adapters, the pooled SR loss),
#: dispatched through the engine's strategies.
METHOD_ADAPTER = {m: _adapter_of(m) for m in METHOD_STRATEGY}

#: Entries of the symmetric retraining adapters start as N(0, 0.1²) (at ``U = 0`` the
#: gradient of ``UUᵀ`` vanishes, so they cannot start at zero; 0.1 as in the linear study).
SYM_INIT_SCALE = 0.1


@contextlib.contextmanager
def torch_threads(n: int = 1):
    """Run torch on ``n`` threads (one by default: results then do not depend on the
    machine's core count, and tiny batched products gain nothing from more).
    """
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _dtype(schedule: Schedule):
    return torch.float32 if schedule.dtype == "float32" else torch.float64


def _linear_init(g, shape, d):
    """``nn.Linear(d, ·)``'s default weights: U(−1/√d, 1/√d) entries."""
    b = 1.0 / np.sqrt(d)
    return g.uniform(-b, b, size=shape)


def _factor_init(conv: Convention, g, shape, d):
    if conv.factor_init == "torch-linear":
        return _linear_init(g, shape, d)
    return g.standard_normal(shape) / np.sqrt(d)


def _check_instances(instances):
    instances = list(instances)
    if not instances:
        raise InvalidArgument("`instances` must be a non-empty list of Instance objects.")
    s0 = instances[0].setting
    if any(inst.setting != s0 for inst in instances):
        raise InvalidArgument("every instance of a batch must come from the same setting.")
    return instances, s0


@dataclass(frozen=True, eq=False)
class ShallowRetrainResult:
    """Retrained bases and their trajectories.

    Attributes
    ----------
    methods : tuple of str
    bases : dict
        Method → ``Â`` per seed, (S, d, d) float64.
    steps : (R,) int array
        Iterations at which the curves were recorded (0, every ``record_every``, last).
    base_error : dict
        Method → ``‖Â − A*‖_F`` per seed and recorded step, (S, R).
    train_mse : dict
        Method → mean over tasks of the in-sample mean squared error, (S, R).
    wall_s : float
    """

    methods: tuple
    bases: dict
    steps: np.ndarray
    base_error: dict
    train_mse: dict
    wall_s: float


def retrain(instances, methods=METHODS, schedule: Schedule | None = None,
            convention="ours", *, progress: bool = False) -> ShallowRetrainResult:
    """Retrain a base by each method, for every seed at once.

    Parameters
    ----------
    instances : list of Instance
        One per seed, all of one setting.
    methods : sequence of str
        Names from :data:`~.settings.METHODS`.
    schedule : Schedule, optional
        Default: the paper's.
    convention : str or Convention
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    ShallowRetrainResult
    """
    instances, st = _check_instances(instances)
    schedule = Schedule() if schedule is None else schedule
    conv = get_convention(convention)
    methods = tuple(methods)
    bad = [m for m in methods if m not in METHOD_ADAPTER]
    if bad or not methods:
        raise InvalidArgument(f"`methods` must be names from {METHODS}; got methods={methods!r}.")
    S, T, N, d, k = len(instances), st.T, st.N, st.d, st.k
    M = len(methods)
    dt = _dtype(schedule)
    t0 = time.perf_counter()

    X = torch.from_numpy(np.stack([i.X for i in instances]).reshape(S * T, N, d)).to(dt)
    Xt = X.transpose(1, 2).contiguous()
    y = torch.from_numpy(np.stack([i.Y for i in instances]).reshape(S * T, N)).to(dt)
    c = torch.from_numpy(np.repeat(np.stack([i.c for i in instances]), T, axis=0)).to(dt)
    A_star = torch.from_numpy(np.stack([i.A_star for i in instances]))

    # Parameters, drawn per seed and method in float64 and then cast.
    A, F = [], []
    for m in methods:
        a = np.zeros((S, d, d))
        fac = []
        adapter = METHOD_ADAPTER[m]
        for s, inst in enumerate(instances):
            g = make_rng(inst.seed, "shallow", "init", m, d, T, k)
            if conv.base_init == "torch-linear":
                a[s] = _linear_init(g, (d, d), d)
            if adapter == "symmetric":
                fac.append((SYM_INIT_SCALE * g.standard_normal((T, d, k)),))
            elif adapter == "asymmetric":
                fac.append((np.zeros((T, d, k)), _factor_init(conv, g, (T, d, k), d)))
        A.append(torch.from_numpy(a).to(dt))
        F.append(
            tuple(torch.from_numpy(np.stack([f[j] for f in fac])).to(dt) for j in range(len(fac[0])))
            if fac
            else ()
        )
    params = [p for a, f in zip(A, F) for p in (a, *f)]
    opt = AdamW(params, lr=schedule.lr, weight_decay=conv.weight_decay)
    task_weight = 1.0 / N if conv.task_loss == "sum" else 1.0 / (T * N)
    weight = torch.tensor(
        [1.0 / (T * N) if METHOD_ADAPTER[m] is None else task_weight for m in methods], dtype=dt
    )

    def weights():
        Ws = []
        for m, a, f in zip(methods, A, F):
            adapter = METHOD_ADAPTER[m]
            if adapter is None:
                Ws.append(a.unsqueeze(1).expand(S, T, d, d))
            else:
                Ws.append(a.unsqueeze(1) + ADAPTERS[adapter].delta(f))
        return torch.stack(Ws, dim=2).reshape(S * T, M, d, d)

    steps, errs, mses = [], [], []

    def record(step, mse):
        steps.append(step)
        errs.append(
            torch.stack([torch.linalg.matrix_norm(a.double() - A_star) for a in A], dim=1).numpy()
        )
        mses.append(mse.view(S, T, M).double().mean(dim=1).numpy())

    from tqdm import tqdm

    n_steps = schedule.retrain_steps
    with torch_threads(1), tqdm(
        total=n_steps, desc=f"retrain {st.name}", unit="step", disable=not progress, leave=False
    ) as bar:
        for step in range(n_steps):
            rec = step % schedule.record_every == 0
            mse, G = stacked_loss_grad(weights(), Xt, X, y, c, weight, need_mse=rec)
            if rec:
                record(step, mse)
                bar.update(min(schedule.record_every, n_steps - step))
            G = G.view(S, T, M, d, d)
            grads = []
            for j, (m, f) in enumerate(zip(methods, F)):
                Gm = G[:, :, j]
                grads.append(Gm.sum(dim=1))
                if METHOD_ADAPTER[m] is not None:
                    grads.extend(ADAPTERS[METHOD_ADAPTER[m]].grads(Gm, f))
            opt.step(grads)
        mse, _ = stacked_loss_grad(weights(), Xt, X, y, c, weight)
        record(n_steps, mse)

    errs = np.stack(errs, axis=-1)  # (S, M, R)
    mses = np.stack(mses, axis=-1)
    return ShallowRetrainResult(
        methods=methods,
        bases={m: A[j].double().numpy().copy() for j, m in enumerate(methods)},
        steps=np.asarray(steps),
        base_error={m: errs[:, j] for j, m in enumerate(methods)},
        train_mse={m: mses[:, j] for j, m in enumerate(methods)},
        wall_s=time.perf_counter() - t0,
    )


@dataclass(frozen=True, eq=False)
class ShallowFinetuneResult:
    """Fine-tuned weights of every (base, rank) entry.

    Attributes
    ----------
    entries : tuple of (str, int)
        (base name, rank) of each entry, in order.
    W : (S, E, d, d) float64 array
        Final first layer ``Â + BCᵀ``.
    train_mse : (S, E) float64 array
        Final in-sample mean squared error against the noisy targets.
    wall_s : float
    """

    entries: tuple
    W: np.ndarray
    train_mse: np.ndarray
    wall_s: float


def finetune(instances, bases: dict, ranks, schedule: Schedule | None = None,
             convention="ours", *, progress: bool = False) -> ShallowFinetuneResult:
    """Fine-tune a fresh asymmetric adapter of each rank on every base, all at once.

    Parameters
    ----------
    instances : list of Instance
        One per seed, all of one setting (their test-task samples are used).
    bases : dict
        Name → frozen bases (S, d, d).
    ranks : sequence of int
        Adapter ranks (each in [1, d]).
    schedule : Schedule, optional
    convention : str or Convention
        ``finetune_init="shared"``: one draw of ``C`` per seed and rank, used by every
        base; ``"per-base"``: a fresh draw per base.
    progress : bool

    Returns
    -------
    ShallowFinetuneResult
    """
    instances, st = _check_instances(instances)
    schedule = Schedule() if schedule is None else schedule
    conv = get_convention(convention)
    S, d, n = len(instances), st.d, st.n
    ranks = tuple(int(r) for r in ranks)
    if not ranks or any(r < 1 or r > d for r in ranks):
        raise InvalidArgument(f"`ranks` must be integers in [1, d]=[1, {d}]; got ranks={ranks!r}.")
    entries = tuple((b, r) for b in bases for r in ranks)
    E, rmax = len(entries), max(ranks)
    dt = _dtype(schedule)
    t0 = time.perf_counter()

    base = np.empty((S, E, d, d))
    C0 = np.zeros((S, E, d, rmax))
    for e, (b, r) in enumerate(entries):
        arr = np.asarray(bases[b], dtype=np.float64)
        if arr.shape != (S, d, d):
            raise InvalidArgument(f"base {b!r} must have shape {(S, d, d)}; got {arr.shape}.")
        base[:, e] = arr
        for s, inst in enumerate(instances):
            parts = ("shallow", "ft-init", d, st.k, r)
            if conv.finetune_init == "per-base":
                parts += (b,)
            C0[s, e, :, :r] = _factor_init(conv, make_rng(inst.seed, *parts), (d, r), d)
    A0 = torch.from_numpy(base).to(dt)
    Bf = torch.zeros((S, E, d, rmax), dtype=dt)
    Cf = torch.from_numpy(C0).to(dt)
    X = torch.from_numpy(np.stack([i.X_ft for i in instances])).to(dt)
    Xt = X.transpose(1, 2).contiguous()
    y = torch.from_numpy(np.stack([i.Y_ft for i in instances])).to(dt)
    c = torch.from_numpy(np.stack([i.c for i in instances])).to(dt)
    weight = torch.full((E,), 1.0 / n, dtype=dt)
    opt = AdamW([Bf, Cf], lr=schedule.lr, weight_decay=conv.weight_decay)
    asym = ADAPTERS["asymmetric"]

    from tqdm import tqdm

    n_steps = schedule.finetune_steps
    with torch_threads(1), tqdm(
        total=n_steps, desc=f"fine-tune {st.name}", unit="step", disable=not progress, leave=False
    ) as bar:
        for step in range(n_steps):
            _, G = stacked_loss_grad(A0 + asym.delta((Bf, Cf)), Xt, X, y, c, weight, False)
            opt.step(asym.grads(G, (Bf, Cf)))
            if step % schedule.record_every == 0:
                bar.update(min(schedule.record_every, n_steps - step))
        mse, _ = stacked_loss_grad(A0 + asym.delta((Bf, Cf)), Xt, X, y, c, weight)

    W = base + np.einsum("sedr,sefr->sedf", Bf.double().numpy(), Cf.double().numpy())
    return ShallowFinetuneResult(
        entries=entries,
        W=W,
        train_mse=mse.double().numpy().copy(),
        wall_s=time.perf_counter() - t0,
    )
