"""Certificate cost vs the number of variables Tdk and vs the curvature, with the precision used.

Two tables:

1. **vs size.** For each ``(d, k, T)`` a planted strict minimum (``U*Q`` plus a 1e-7
   perturbation, ``Tk <= d``) and a root-found critical point with negative curvature are
   certified (``certify(..., verify=False)``: the prover alone), then checked by the
   independent kernel and by the prover's kernel separately. Side by side: the
   **float-only** estimate (dense ``eigh`` of the Hessian modulo the symmetry) — the obvious,
   non-rigorous alternative.
2. **vs curvature.** The spurious minima of ``tests/landscape/certificates/spurious_minima_curvature.json``
   (λ_min modulo the symmetry from 3e-2 down to 9e-7) are certified; the table reports the
   centre bits the adaptive precision needed, the proven ``μ`` and the times.

Usage::

    python benchmarks/bench_certify.py             # full run (Tdk up to 300; a minute or two)
    python benchmarks/bench_certify.py --quick     # smoke run (seconds)
    python benchmarks/bench_certify.py --out results/bench_certify.json

Target (issue 12): every critical point with λ_min modulo the symmetry >= 1e-8·ρ certified at
Tdk <= 300 within 10 s. Timings go to the ``timings`` of each row; everything else in the
JSON is deterministic.
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

FULL_SIZES = [(3, 1, 3), (10, 2, 3), (20, 3, 5), (10, 3, 10)]
QUICK_SIZES = [(3, 1, 3), (10, 2, 3)]
CURVATURE = Path(__file__).resolve().parents[1] / "tests" / "landscape" / "certificates" / "spurious_minima_curvature.json"


def planted(d, k, T, seed=1):
    p = ls.Problem.random(d, k, T, seed=seed)
    rng = np.random.default_rng(seed)
    U = np.empty_like(p.U_star)
    for t in range(T):
        Q = np.linalg.qr(rng.standard_normal((k, k)))[0]
        U[t] = p.U_star[t] @ Q
    return p, U + 1e-7 * np.linalg.norm(p.U_star) / math.sqrt(U.size) * rng.standard_normal(U.shape)


def float_lambda(problem, U):
    """The float-only alternative: λ_min of the Hessian restricted to the slice (not rigorous)."""
    import scipy.linalg

    from landscape.certificates.gauge import resolve_gauge, tangent_float

    t0 = time.perf_counter()
    H = ls.reduced_hessian(problem, U)
    W = tangent_float(U, resolve_gauge("auto", problem.k, problem.T))
    if W.shape[1]:
        Q = scipy.linalg.null_space(W.T)
        H = Q.T @ H @ Q
    lam = float(np.linalg.eigvalsh(H)[0])
    return lam, time.perf_counter() - t0


def run_one(case, problem, U, **kw):
    from landscape.certificates import certify, check_certificate

    lam, t_float = float_lambda(problem, U)
    t0 = time.perf_counter()
    res = certify(problem, U, verify=False, **kw)
    t_prove = time.perf_counter() - t0
    row = {"case": case, "d": problem.d, "k": problem.k, "T": problem.T, "n": problem.d * problem.k * problem.T,
           "kind": res.kind, "issued": res.issued, "float_lambda_min": lam,
           "message": res.message if not res.issued else res.message[:120]}
    tim = {"prove_s": t_prove, "float_only_s": t_float}
    if res.issued:
        cert = res.certificate
        row["center_bits"] = cert["parameters"]["center_bits"]
        row["radius"] = float.fromhex(cert["parameters"]["radius"])
        if "mu" in cert["bounds"]:
            row["mu"] = float.fromhex(cert["bounds"]["mu"]["lo"])
        if "lambda_upper" in cert["bounds"]:
            row["lambda_upper"] = float.fromhex(cert["bounds"]["lambda_upper"]["hi"])
        for kern in ("independent", "prover"):
            t0 = time.perf_counter()
            chk = check_certificate(cert, kernels=(kern,))
            tim[f"check_{kern}_s"] = time.perf_counter() - t0
            row[f"valid_{kern}"] = chk.valid
    row["timings"] = {k: round(v, 4) for k, v in tim.items()}
    return row


def saddle_point(problem, seed=0):
    """A critical point with negative curvature from one root-finder start (None if not found)."""
    from landscape.search import search

    res = search(problem, starts=4, method="roots", seed=seed)
    pts = [cp for cp in res.points if cp.kind == "saddle"]
    return None if not pts else pts[0].U


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smallest sizes and three curvatures (seconds)")
    ap.add_argument("--out", default="results/bench_certify.json", help="JSON output (default %(default)s)")
    args = ap.parse_args(argv)
    from landscape.runs import atomic_write_json, check_output_file

    out = check_output_file(args.out, arg="--out") if Path(args.out).parent.exists() else None
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    rows = []
    print("vs size (loaded machines inflate every time; compare columns, not absolute values)")
    print(f"{'case':<12}{'Tdk':>6}{'kind':>15}{'bits':>6}{'prove s':>9}{'check B s':>10}{'check A s':>10}"
          f"{'float s':>9}{'float λ':>11}{'μ / λ_up':>11}")
    for d, k, T in sizes:
        p, U = planted(d, k, T)
        cases = [("planted-min", p, U)]
        S = saddle_point(p)
        if S is not None:
            cases.append(("saddle", p, S))
        for case, prob, point in cases:
            r = run_one(case, prob, point)
            rows.append(r)
            tm = r["timings"]
            bound = r.get("mu", r.get("lambda_upper", float("nan")))
            print(f"{case:<12}{r['n']:>6}{str(r['kind']):>15}{r.get('center_bits', '-'):>6}{tm['prove_s']:>9.3f}"
                  f"{tm.get('check_independent_s', float('nan')):>10.3f}{tm.get('check_prover_s', float('nan')):>10.3f}"
                  f"{tm['float_only_s']:>9.4f}{r['float_lambda_min']:>11.3g}{bound:>11.3g}")
    print("\nvs curvature (spurious minima, λ_min modulo the symmetry)")
    print(f"{'instance':<16}{'λ_min':>10}{'λ/ρ':>10}{'kind':>14}{'bits':>6}{'prove s':>9}{'check B s':>10}{'μ':>11}")
    data = json.loads(CURVATURE.read_text())["minima"]
    if args.quick:
        data = [data[0], data[len(data) // 2], data[-3]]
    from landscape.certificates.format import from_hex_array
    from landscape.multistart import problem_scale

    for e in data:
        p = ls.Problem.random(e["d"], e["k"], e["T"], seed=e["seed"])
        U = from_hex_array(e["U"], (p.T, p.d, p.k))
        r = run_one(f"spurious ({e['d']},{e['k']},{e['T']})#{e['seed']}", p, U)
        r["rho"] = problem_scale(p)
        r["lambda_rel"] = e["min_eig"] / r["rho"]
        rows.append(r)
        tm = r["timings"]
        print(f"{r['case'][9:]:<16}{e['min_eig']:>10.2g}{r['lambda_rel']:>10.2g}{str(r['kind']):>14}"
              f"{r.get('center_bits', '-'):>6}{tm['prove_s']:>9.3f}{tm.get('check_independent_s', float('nan')):>10.3f}"
              f"{r.get('mu', float('nan')):>11.3g}")
    import flint
    import scipy

    doc = {"benchmark": "certify", "quick": bool(args.quick), "rows": rows,
           "env": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                   "python-flint": flint.__version__, "cpu_count": os.cpu_count(),
                   "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}}
    if out is not None:
        atomic_write_json(out, doc)
        print(f"\nwritten to {out}")
    ok = all(r["issued"] and r.get("valid_independent") and r.get("valid_prover") for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
