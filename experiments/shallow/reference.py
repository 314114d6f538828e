"""The obvious alternative: one seed and one method at a time, autograd and ``torch.optim.AdamW``.

This is how the experiment is usually written (and how the paper's code runs it): a
model per seed and method, the loss built from the formulas of :mod:`.train`, gradients by
``backward()``, the optimiser from torch. It is the oracle of the test suite (the
vectorised loops must produce the same iterates) and the baseline of
``benchmarks/bench_shallow.py``. Same draws, same inits, same convention as
:func:`~.train.retrain` / :func:`~.train.finetune`.
"""

from __future__ import annotations

import numpy as np
import torch

from landscape.runs import make_rng

from .settings import Schedule, get_convention
from .train import METHOD_ADAPTER, SYM_INIT_SCALE, _dtype, _factor_init, _linear_init, torch_threads

__all__ = ["reference_retrain", "reference_finetune"]


def _net(W, c, X):
    return torch.sigmoid(X @ W.T) @ c


def reference_retrain(inst, method: str, schedule: Schedule, convention="ours"):
    """Retrain one seed's base by ``method`` with autograd; returns ``Â`` (d, d) float64."""
    conv = get_convention(convention)
    st = inst.setting
    T, N, d, k = st.T, st.N, st.d, st.k
    dt = _dtype(schedule)
    g = make_rng(inst.seed, "shallow", "init", method, d, T, k)
    a = _linear_init(g, (d, d), d) if conv.base_init == "torch-linear" else np.zeros((d, d))
    A = torch.tensor(a, dtype=dt, requires_grad=True)
    adapter = METHOD_ADAPTER[method]
    factors = []
    if adapter == "symmetric":
        factors = [torch.tensor(SYM_INIT_SCALE * g.standard_normal((T, d, k)), dtype=dt,
                                requires_grad=True)]
    elif adapter == "asymmetric":
        factors = [torch.zeros((T, d, k), dtype=dt, requires_grad=True),
                   torch.tensor(_factor_init(conv, g, (T, d, k), d), dtype=dt,
                                requires_grad=True)]
    X = torch.tensor(inst.X, dtype=dt)
    Y = torch.tensor(inst.Y, dtype=dt)
    c = torch.tensor(inst.c, dtype=dt)
    opt = torch.optim.AdamW([A, *factors], lr=schedule.lr, weight_decay=conv.weight_decay)
    with torch_threads(1):
        for _ in range(schedule.retrain_steps):
            opt.zero_grad()
            if adapter is None:  # pooled mean over all T N samples
                loss = torch.mean((_net(A, c, X.reshape(T * N, d)) - Y.reshape(-1)) ** 2)
            else:
                per_task = []
                for t in range(T):
                    if adapter == "symmetric":
                        W = A + factors[0][t] @ factors[0][t].T
                    else:
                        W = A + factors[0][t] @ factors[1][t].T
                    per_task.append(torch.mean((_net(W, c, X[t]) - Y[t]) ** 2))
                loss = sum(per_task)
                if conv.task_loss == "mean":
                    loss = loss / T
            loss.backward()
            opt.step()
    return A.detach().double().numpy()


def reference_finetune(inst, base, rank: int, schedule: Schedule, convention="ours",
                       base_name: str = "truth"):
    """Fine-tune one fresh rank-``rank`` adapter on ``base`` with autograd; returns ``Â + BCᵀ``."""
    conv = get_convention(convention)
    st = inst.setting
    d, n = st.d, st.n
    dt = _dtype(schedule)
    parts = ("shallow", "ft-init", d, st.k, rank)
    if conv.finetune_init == "per-base":
        parts += (base_name,)
    C = torch.tensor(_factor_init(conv, make_rng(inst.seed, *parts), (d, rank), d), dtype=dt,
                     requires_grad=True)
    B = torch.zeros((d, rank), dtype=dt, requires_grad=True)
    A = torch.tensor(np.asarray(base), dtype=dt)
    X = torch.tensor(inst.X_ft, dtype=dt)
    Y = torch.tensor(inst.Y_ft, dtype=dt)
    c = torch.tensor(inst.c, dtype=dt)
    opt = torch.optim.AdamW([B, C], lr=schedule.lr, weight_decay=conv.weight_decay)
    with torch_threads(1):
        for _ in range(schedule.finetune_steps):
            opt.zero_grad()
            loss = torch.sum((_net(A + B @ C.T, c, X) - Y) ** 2) / n
            loss.backward()
            opt.step()
    return (A + B @ C.T).detach().double().numpy()
