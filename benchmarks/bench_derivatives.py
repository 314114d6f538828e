"""Analytic derivatives of the Meta-LoRA objective vs autograd and torch.func (float64).

For each size ``(d, k, T)`` the script times, at one random point ``(A, U)`` of a random
problem, the gradient, one Hessian-vector product and the dense Hessian of
``L(A, U) = (1/T) Σ_t ‖A + U_tU_tᵀ − M*_t‖_F²`` three ways:

- ours: :func:`landscape.meta_grad`, :func:`landscape.meta_hvp`, :func:`landscape.meta_hessian`
  (public functions, argument validation included);
- autograd: ``grad``, the HVP as the gradient of ``⟨∇L(x), v⟩`` (reverse-over-reverse; what
  ``autograd.hessian_vector_product`` does), ``hessian``;
- torch.func: ``grad``, the HVP as ``jvp(grad(L), (x,), (v,))`` (forward-over-reverse),
  ``hessian`` (``jacfwd(jacrev)``).

Nothing is jit-compiled and nothing is vmapped beyond what ``torch.func.hessian`` does
itself. Each timing is the median over repeats of the mean over a calibrated number of
calls. Every result is also checked against ours (max abs difference, reported).

The second part computes λ_min of the reduced Hessian ``∇²G(U)`` for d=200, k=4, T=10
(8000 variables) with the matrix-free path (:func:`landscape.min_eigenvalue`,
``method="lanczos"``) at three points, reporting value, residual ``‖Hv − λv‖``, products
and time; at ``U = 0`` the value has the closed form
``λ_min = −(4/T) max_t λ_max(R*_t − R̄*)`` and its error is reported too.

Usage::

    python benchmarks/bench_derivatives.py            # full run (about a minute)
    python benchmarks/bench_derivatives.py --quick    # smoke run (seconds)
    python benchmarks/bench_derivatives.py --out results/bench_derivatives.json

Targets (issue 2): analytic HVP ≥ 10× faster than autograd's and ≥ 3× faster than
torch.func's; λ_min at d=200, k=4, T=10 within 10 s.

On a busy machine multi-threaded BLAS/torch pools spin against other processes and every
timing (ours and theirs) becomes erratic; ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``
gives stable numbers at these sizes. The thread settings and the load average at start
are recorded in the JSON.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import landscape as ls
from landscape.runs import atomic_write_json, make_rng

FULL_SIZES = [(10, 2, 3), (20, 2, 5), (50, 2, 5)]
QUICK_SIZES = [(5, 1, 2), (10, 2, 3)]
EIG_SIZE = (200, 4, 10)
QUICK_EIG_SIZE = (40, 2, 4)


def _time(fn, *, budget: float, repeats: int) -> float:
    """Median over ``repeats`` of the mean seconds per call, with calls per repeat chosen so
    that one repeat takes about ``budget / repeats`` seconds (at least one call).
    """
    t0 = time.perf_counter()
    fn()  # warm-up (also triggers any lazy initialisation)
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(budget / repeats / once))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def _autograd_fns(problem):
    import autograd
    import autograd.numpy as anp

    d, k, T = problem.d, problem.k, problem.T
    M = np.array(problem.M_star)
    dd = d * d

    def loss(x):
        A = anp.reshape(x[:dd], (d, d))
        U = anp.reshape(x[dd:], (T, d, k))
        E = A[None] + anp.matmul(U, anp.transpose(U, (0, 2, 1))) - M
        return anp.sum(E * E) / T

    grad = autograd.grad(loss)

    def hvp(x, v):
        return autograd.grad(lambda y: anp.dot(grad(y), v))(x)

    return grad, hvp, autograd.hessian(loss)


def _torch_fns(problem):
    import torch
    from torch.func import grad, hessian, jvp

    d, k, T = problem.d, problem.k, problem.T
    M = torch.tensor(np.array(problem.M_star), dtype=torch.float64)
    dd = d * d

    def loss(x):
        A = x[:dd].reshape(d, d)
        U = x[dd:].reshape(T, d, k)
        E = A[None] + U @ U.transpose(1, 2) - M
        return (E * E).sum() / T

    g = grad(loss)

    def hvp(x, v):
        return jvp(g, (x,), (v,))[1]

    return g, hvp, hessian(loss)


def bench_derivatives(sizes, *, budget: float, repeats: int, seed: int = 0):
    import torch

    rows = []
    for d, k, T in sizes:
        problem = ls.Problem.random(d, k, T, seed=seed)
        rng = make_rng(seed, "points")
        A = rng.standard_normal((d, d))
        U = rng.standard_normal((T, d, k))
        dA = rng.standard_normal((d, d))
        dU = rng.standard_normal((T, d, k))
        x, v = ls.pack(A, U), ls.pack(dA, dU)
        xt, vt = torch.tensor(x), torch.tensor(v)
        ag_grad, ag_hvp, ag_hess = _autograd_fns(problem)
        tf_grad, tf_hvp, tf_hess = _torch_fns(problem)
        n = x.size
        ops = {
            "grad": (
                lambda: ls.meta_grad(problem, A, U),
                lambda: ag_grad(x),
                lambda: tf_grad(xt),
                lambda r: ls.pack(*r),
            ),
            "hvp": (
                lambda: ls.meta_hvp(problem, A, U, dA, dU),
                lambda: ag_hvp(x, v),
                lambda: tf_hvp(xt, vt),
                lambda r: ls.pack(*r),
            ),
            "hessian": (
                lambda: ls.meta_hessian(problem, A, U),
                lambda: ag_hess(x),
                lambda: tf_hess(xt),
                lambda r: r,
            ),
        }
        for op, (ours, ag, tf, flat) in ops.items():
            ref = flat(ours())
            err_ag = float(np.max(np.abs(np.asarray(ag()) - ref)))
            err_tf = float(np.max(np.abs(tf().numpy() - ref)))
            scale = float(np.max(np.abs(ref))) or 1.0
            b = budget * (2.0 if op == "hessian" else 1.0)
            r = repeats if op != "hessian" or n < 1000 else 3
            t_ours = _time(ours, budget=b / 4, repeats=r)
            t_ag = _time(ag, budget=b, repeats=r)
            t_tf = _time(tf, budget=b, repeats=r)
            rows.append(
                {
                    "d": d, "k": k, "T": T, "n": n, "op": op,
                    "ours_s": t_ours, "autograd_s": t_ag, "torch_func_s": t_tf,
                    "speedup_vs_autograd": t_ag / t_ours,
                    "speedup_vs_torch_func": t_tf / t_ours,
                    "max_rel_diff_autograd": err_ag / scale,
                    "max_rel_diff_torch_func": err_tf / scale,
                }
            )
            print(_fmt_row(rows[-1]), flush=True)
    return rows


def bench_min_eig(size, *, seed: int = 0):
    d, k, T = size
    problem = ls.Problem.random(d, k, T, seed=seed)
    rng = make_rng(seed, "points")
    R = np.array(problem.R_star)
    closed_U0 = -(4.0 / T) * max(np.linalg.eigvalsh(Rt - R.mean(axis=0))[-1] for Rt in R)
    points = [
        ("random U", rng.standard_normal((T, d, k)), False, None),
        ("U = 0 (saddle)", np.zeros((T, d, k)), False, closed_U0),
        ("truth, mod O(k)", np.array(problem.U_star), True, None),
    ]
    rows = []
    for name, U, mod, exact in points:
        r = ls.min_eigenvalue(problem, U, method="lanczos", modulo_symmetry=mod, seed=seed)
        rows.append(
            {
                "d": d, "k": k, "T": T, "n": r.n, "point": name, "modulo_symmetry": mod,
                "removed": r.removed, "method": r.method, "lambda_min": r.value,
                "residual": r.residual, "matvecs": r.matvecs, "seconds": r.seconds,
                "closed_form": exact,
                "abs_error_vs_closed_form": None if exact is None else abs(r.value - exact),
            }
        )
        row = rows[-1]
        extra = "" if exact is None else f"  |λ − closed form| = {row['abs_error_vs_closed_form']:.2e}"
        print(
            f"  {name:<17} n={r.n:<6} removed={r.removed:<3} λ_min={r.value:+.6e}  "
            f"residual={r.residual:.1e}  matvecs={r.matvecs:<5} time={r.seconds:.2f} s{extra}",
            flush=True,
        )
    return rows


def _fmt_row(r):
    def ms(s):
        return f"{s * 1e3:10.3f}"

    return (
        f"{r['d']:>3} {r['k']:>2} {r['T']:>2} {r['n']:>5}  {r['op']:<8}"
        f"{ms(r['ours_s'])} {ms(r['autograd_s'])} {ms(r['torch_func_s'])}"
        f"  {r['speedup_vs_autograd']:8.1f}x {r['speedup_vs_torch_func']:8.1f}x"
        f"  {max(r['max_rel_diff_autograd'], r['max_rel_diff_torch_func']):.1e}"
    )


def environment() -> dict:
    import autograd
    import scipy
    import torch

    try:
        from importlib.metadata import version

        ag_version = version("autograd")
    except Exception:  # pragma: no cover - metadata missing
        ag_version = getattr(autograd, "__version__", "unknown")
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "autograd": ag_version,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "thread_env": {
            v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, short timings (smoke run)")
    parser.add_argument("--out", default="results/bench_derivatives.json", help="JSON output path")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    eig_size = QUICK_EIG_SIZE if args.quick else EIG_SIZE
    budget, repeats = (0.05, 3) if args.quick else (1.0, 7)
    env = environment()
    print(
        f"metalora derivative benchmark  (python {env['python']}, numpy {env['numpy']}, "
        f"autograd {env['autograd']}, torch {env['torch']}, {env['cpu_count']} CPUs)"
    )
    print("Times in ms per call (median); ratios = their time / our time; diff = max |rel diff|.")
    print(
        f"{'d':>3} {'k':>2} {'T':>2} {'n':>5}  {'op':<8}{'ours':>10} {'autograd':>10} "
        f"{'torch.func':>10}  {'vs autogr':>9} {'vs torch':>9}  diff"
    )
    t0 = time.perf_counter()
    rows = bench_derivatives(sizes, budget=budget, repeats=repeats, seed=args.seed)
    print(f"\nλ_min of the reduced Hessian ∇²G(U), matrix-free Lanczos, (d, k, T) = {eig_size}:")
    eig = bench_min_eig(eig_size, seed=args.seed)

    largest = [r for r in rows if (r["d"], r["k"], r["T"]) == tuple(sizes[-1])]
    hvp = next(r for r in largest if r["op"] == "hvp")
    worst_eig = max(r["seconds"] for r in eig)
    targets = {
        "hvp_vs_autograd": {"target": 10.0, "measured": hvp["speedup_vs_autograd"]},
        "hvp_vs_torch_func": {"target": 3.0, "measured": hvp["speedup_vs_torch_func"]},
        "lambda_min_seconds": {"target": 10.0, "measured": worst_eig},
    }
    targets["hvp_vs_autograd"]["met"] = hvp["speedup_vs_autograd"] >= 10.0
    targets["hvp_vs_torch_func"]["met"] = hvp["speedup_vs_torch_func"] >= 3.0
    targets["lambda_min_seconds"]["met"] = worst_eig <= 10.0
    note = " (quick run: sizes are not the target's)" if args.quick else ""
    print(f"\nTargets at (d, k, T) = {tuple(sizes[-1])}{note}")
    print(f"  HVP vs autograd   : {hvp['speedup_vs_autograd']:.1f}x  (target >= 10x)")
    print(f"  HVP vs torch.func : {hvp['speedup_vs_torch_func']:.1f}x  (target >= 3x)")
    print(f"  λ_min, slowest    : {worst_eig:.2f} s  (target <= 10 s)")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "derivatives",
        "quick": args.quick,
        "seed": args.seed,
        "environment": env,
        "derivatives": rows,
        "min_eigenvalue": eig,
        "targets": targets,
        "total_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(out, payload, indent=2)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
