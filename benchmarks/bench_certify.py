"""Certificate cost vs the number of variables Tdk, ours vs the textbook interval approach.

For each size ``(d, k, T)`` (Tdk = 9, 60, 300, 1000) the script certifies a planted strict
minimum (``U*Q`` plus a 1e-7 perturbation; ``Tk <= d`` so the minimum is strict modulo
O(k)) and re-checks the certificate, and compares with

- **naive-arb**: the obvious rigorous alternative — the interval Hessian ``[∇²G]`` over the
  box ``Ũ ± r`` (same radius as ours) evaluated entry by entry with arb balls in Python,
  plus the same gauge penalty, then the Cholesky residual bound
  ``λ_min >= s − ‖|[H] − sI − LLᵀ|‖_F`` with arb matrix products (only the λ_min bound, no
  gradient/loss/transversality work; run up to ``--naive-max`` variables). Its bound is
  reported next to our ``μ``: entrywise radii add up in the Frobenius norm, so it is much
  weaker than the analytic variation bound;
- **float-only**: the non-rigorous estimate a float run gives (dense ``eigh`` of the
  gauge-fixed Hessian), for scale.

It also certifies the frozen spurious minimum (Tdk = 9) and root-found strict saddles
(Tdk = 60, 300) and reports the certified radius, ``μ``, distance bound and timings.

Usage::

    python benchmarks/bench_certify.py             # full run (about a minute)
    python benchmarks/bench_certify.py --quick     # smoke run (seconds)
    python benchmarks/bench_certify.py --out results/bench_certify.json

Targets (issue 5): Tdk = 300 within 2 s and Tdk = 1000 within 30 s on a 2-core machine.
``certify`` limits BLAS to one thread (small dense kernels thrash on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import landscape as ls

FULL_SIZES = [(3, 1, 3), (10, 2, 3), (20, 3, 5), (40, 5, 5)]
QUICK_SIZES = [(3, 1, 3), (10, 2, 3)]
#: (d, k, T, seed): root-found saddles that are non-degenerate modulo O(k) (checked in floats)
SADDLE_SIZES = [(10, 2, 3, 1), (20, 3, 5, 0)]


def planted(d, k, T, seed=1):
    p = ls.Problem.random(d, k, T, seed=seed)
    rng = np.random.default_rng(seed)
    U = np.empty_like(p.U_star)
    for t in range(T):
        Q = np.linalg.qr(rng.standard_normal((k, k)))[0]
        U[t] = p.U_star[t] @ Q
    return p, U + 1e-7 * np.linalg.norm(p.U_star) / math.sqrt(U.size) * rng.standard_normal(U.shape)


def saddle(d, k, T, seed):
    """A critical point from Levenberg–Marquardt started at ``0.7 U* + 0.3 N(0, 1)``."""
    import scipy.optimize as so

    p = ls.Problem.random(d, k, T, seed=seed)
    U0 = 0.7 * p.U_star + 0.3 * np.random.default_rng(seed).standard_normal(p.U_star.shape)
    sol = so.root(lambda x: ls.reduced_grad(p, x.reshape(T, d, k)).ravel(), U0.ravel(),
                  jac=lambda x: ls.reduced_hessian(p, x.reshape(T, d, k)), method="lm")
    return p, sol.x.reshape(T, d, k)


def float_only(p, U):
    """Float λ_min of the gauge-fixed Hessian (what an uncertified run reports)."""
    from landscape.certify.gauge import resolve_gauge, tangent_float

    t0 = time.perf_counter()
    H = ls.reduced_hessian(p, U)
    W = tangent_float(U, resolve_gauge("auto", p.k, p.T))
    if W.shape[1]:
        Q, _ = np.linalg.qr(W, mode="complete")
        N = Q[:, W.shape[1]:]
        H = N.T @ H @ N
    lam = float(np.linalg.eigvalsh(H)[0])
    return lam, time.perf_counter() - t0


def naive_arb(p, U, r, precision=128):
    """Entrywise arb interval Hessian over the box Ũ ± r, then an arb Cholesky residual.

    Returns ``(lambda_lower, seconds)``; soundness as ours, but everything n² is a Python
    loop over arb objects and the product is an arb_mat product.
    """
    import flint
    from flint import arb, arb_mat

    t0 = time.perf_counter()
    T, d, k = U.shape
    n = U.size
    with flint.ctx.workprec(precision):
        Ub = [[[arb(U[t, i, c], r) for c in range(k)] for i in range(d)] for t in range(T)]
        Rs = p.R_star
        D = [[[sum((Ub[t][i][c] * Ub[t][j][c] for c in range(k)), arb(0)) - arb(Rs[t, i, j]) for j in range(d)]
              for i in range(d)] for t in range(T)]
        Dbar = [[sum((D[t][i][j] for t in range(T)), arb(0)) / T for j in range(d)] for i in range(d)]
        C = [[[D[t][i][j] - Dbar[i][j] for j in range(d)] for i in range(d)] for t in range(T)]
        K = [[[[sum((Ub[t][x][c] * Ub[s][x][b] for x in range(d)), arb(0)) for b in range(k)] for s in range(T)]
              for c in range(k)] for t in range(T)]
        idx = [(t, i, c) for t in range(T) for i in range(d) for c in range(k)]
        four_T = arb(4) / T
        rows = []
        for (t, i, c) in idx:
            row = []
            for (s, a, b) in idx:
                w = (arb(1) if t == s else arb(0)) - arb(1) / T
                v = w * (Ub[s][i][b] * Ub[t][a][c] + (K[t][c][s][b] if i == a else arb(0)))
                if t == s and b == c:
                    v += C[t][i][a]
                row.append(four_T * v)
            rows.append(row)
        H = arb_mat(rows)
        Hf = ls.reduced_hessian(p, U)
        # the same gauge penalty ρWWᵀ as ours (W: orbit tangents at Ũ, exact floats)
        from landscape.certify.gauge import resolve_gauge, tangent_float

        W = tangent_float(U, resolve_gauge("auto", k, T))
        if W.shape[1]:
            rho = float(np.max(np.sum(np.abs(Hf), axis=1))) / float(np.linalg.eigvalsh(W.T @ W)[0])
            Wa = arb_mat(W.tolist())
            H = H + (Wa * Wa.transpose()) * arb(rho)
            Hf = Hf + rho * W @ W.T
        lam = float(np.linalg.eigvalsh(Hf)[0])
        s = 0.5 * lam if lam > 0 else lam - 1.0
        try:
            L = np.linalg.cholesky(Hf - s * np.eye(n))
        except np.linalg.LinAlgError:
            return float("nan"), time.perf_counter() - t0
        La = arb_mat(L.tolist())
        E = H - La * La.transpose()
        for j in range(n):
            E[j, j] -= arb(s)
        fro2 = arb(0)
        for x in E.entries():
            m = arb(x.abs_upper())
            fro2 += m * m
        lower = arb(s) - fro2.sqrt()
    return float(lower.lower()), time.perf_counter() - t0


def env_info() -> dict:
    import scipy

    try:
        import flint

        flint_v = flint.__version__
    except ImportError:  # pragma: no cover
        flint_v = None
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python-flint": flint_v,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_at_start": load,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
    }


def run(sizes, saddle_sizes, naive_max, spurious=True) -> dict:
    from landscape.certify import certify, check_certificate

    rows = []

    def record(label, p, U, kind="auto", naive=True):
        n = U.size
        t0 = time.perf_counter()
        res = certify(p, U, kind=kind)
        t_cert = time.perf_counter() - t0
        row = {"case": label, "d": p.d, "k": p.k, "T": p.T, "Tdk": n, "issued": res.issued, "kind": res.kind,
               "certify_s": t_cert}
        if res.issued:
            t0 = time.perf_counter()
            chk = check_certificate(res.certificate)
            row["check_s"] = time.perf_counter() - t0
            row["check_valid"] = chk.valid
            row["radius"] = float.fromhex(res.certificate["parameters"]["radius"])
            b = res.bounds
            for key in ("mu", "distance", "lambda_upper", "loss_min_lower", "kappa"):
                if key in b:
                    row[key] = float.fromhex(b[key]["lo"] if key in ("mu", "loss_min_lower") else b[key]["hi"])
        else:
            row["reason"] = res.reason
        lam, t_f = float_only(p, U)
        row["float_lambda_min"] = lam
        row["float_s"] = t_f
        if naive and n <= naive_max and res.issued and res.kind != "strict-saddle":
            lo, t_n = naive_arb(p, U, row["radius"])
            row["naive_arb_s"] = t_n
            row["naive_arb_lambda_lower"] = lo
            row["naive_over_ours"] = t_n / t_cert
        rows.append(row)
        print(_fmt(row), flush=True)

    warm = ls.Problem.random(2, 1, 2, seed=0)
    certify(warm, warm.U_star)  # imports and first-call costs out of the timings
    print(_header(), flush=True)
    for d, k, T in sizes:
        p, U = planted(d, k, T)
        record("planted-min", p, U, kind="min")
    if spurious:
        from pathlib import Path as _P

        fx = _P(__file__).resolve().parents[1] / "tests" / "landscape" / "certify" / "spurious_d3_k1_T3.json"
        if fx.is_file():
            from landscape.certify.format import from_hex_array

            e = json.loads(fx.read_text())["spurious_minima"][0]
            p = ls.Problem.from_json(e["problem"])
            record("spurious-min", p, from_hex_array(e["U"], (p.T, p.d, p.k)))
    for d, k, T, seed in saddle_sizes:
        p, U = saddle(d, k, T, seed)
        record("saddle", p, U, kind="saddle", naive=False)
    return {"rows": rows}


def _header() -> str:
    return (f"{'case':<13}{'Tdk':>6}{'(d,k,T)':>12}{'kind':>15}{'certify s':>11}{'check s':>9}"
            f"{'naive-arb s':>12}{'ratio':>8}{'float s':>9}{'radius':>10}{'mu / λ_up':>11}"
            f"{'naive λ_lo':>12}{'float λ_min':>12}")


def _fmt(r) -> str:
    naive = f"{r['naive_arb_s']:.3f}" if "naive_arb_s" in r else "-"
    ratio = f"{r['naive_over_ours']:.1f}x" if "naive_over_ours" in r else "-"
    curv = r.get("mu", r.get("lambda_upper", float("nan")))
    return (f"{r['case']:<13}{r['Tdk']:>6}{str((r['d'], r['k'], r['T'])):>12}{str(r['kind']):>15}"
            f"{r['certify_s']:>11.3f}{r.get('check_s', float('nan')):>9.3f}{naive:>12}{ratio:>8}"
            f"{r['float_s']:>9.3f}{r.get('radius', float('nan')):>10.3g}{curv:>11.4g}"
            f"{r.get('naive_arb_lambda_lower', float('nan')):>12.4g}{r['float_lambda_min']:>12.4g}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes only")
    ap.add_argument("--out", default="results/bench_certify.json", help="JSON output path")
    ap.add_argument("--naive-max", type=int, default=300, help="largest Tdk for the naive arb baseline")
    args = ap.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    saddles = [] if args.quick else SADDLE_SIZES
    t0 = time.perf_counter()
    try:  # one BLAS thread for every method (certify does this itself): fair and stable timings
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover
        limit = None
    res = run(sizes, saddles, min(args.naive_max, 60) if args.quick else args.naive_max)
    if limit is not None:
        limit.restore_original_limits()
    res["blas_threads"] = 1 if limit is not None else None
    res["env"] = env_info()
    res["quick"] = args.quick
    res["targets"] = {"Tdk=300": "certify within 2 s", "Tdk=1000": "certify within 30 s"}
    res["total_s"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out} ({res['total_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
