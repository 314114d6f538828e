"""Census time per instance: parameter homotopy (cold / warm) vs the total-degree census.

At (d, k, T) (default (3, 1, 3)) on ``Problem.random(d, k, T, seed=s)``:

- ``total-degree``: :func:`landscape.census` with ``method="total-degree"`` — two γ runs,
  one path per flip orbit of the start points (the "cold" census: nothing cached);
- ``parameter cold``: ``method="parameter"`` with an empty cache folder: builds the
  generic start system (a two-γ total-degree census of a random complex instance) and
  then tracks the instance;
- ``parameter warm``: the same with the start system cached, over ``--instances``
  instances (median and max per instance);
- ``plain``: one γ run of the total-degree homotopy on *all* ``3ⁿ`` start points (no
  flip-orbit reduction), the obvious alternative to the orbit trick (``--plain``; slow).

Every census must be complete and give the same counts; the table prints them with the
times. Bertini (PyPI ``bertini``) is not run here: see docs/census.md for why.
BLAS is limited to one thread (tiny matrices).

    .venv/bin/python benchmarks/bench_census.py [--quick] [--instances N] [--plain] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from landscape import Problem, census  # noqa: E402
from landscape.multistart import problem_scale  # noqa: E402
from landscape.runs import atomic_write_json, blas_threads, make_rng  # noqa: E402


def plain_run(problem, seed=0):
    """One γ run over all 3ⁿ start points (no flip-orbit reduction)."""
    from landscape.homotopy.census import _chart_points
    from landscape.homotopy.solve import FINITE, run_homotopy
    from landscape.homotopy.system import TotalDegreeHomotopy, scaled_data

    T, d, k = problem.T, problem.d, problem.k
    n = T * d * k
    pts = np.array(np.meshgrid(*([[0.0, 1.0, -1.0]] * n), indexing="ij")).reshape(n, -1).T
    rng = make_rng(seed, "bench", "plain")
    C = scaled_data(problem.U_star, problem_scale(problem))
    z0, a = _chart_points(pts, rng)
    hom = TotalDegreeHomotopy(C, T, d, k, np.exp(2j * np.pi * rng.random()))
    t0 = time.perf_counter()
    out = run_homotopy(hom, z0, a, np.ones(len(pts), dtype=np.int64), C, T, d, k)
    return time.perf_counter() - t0, int(np.count_nonzero(out.kind == FINITE)), out.summary()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="(2, 1, 3), 2 instances, plain run included")
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--T", type=int, default=3)
    ap.add_argument("--instances", type=int, default=5, help="warm instances (default 5)")
    ap.add_argument("--plain", action="store_true", help="also time the plain 3^n total-degree run")
    ap.add_argument("--out", default="results/bench_census.json")
    args = ap.parse_args(argv)
    d, k, T = (2, 1, 3) if args.quick else (args.d, args.k, args.T)
    instances = 2 if args.quick else args.instances
    rows = []
    with blas_threads(1), tempfile.TemporaryDirectory() as cache:
        p0 = Problem.random(d, k, T, seed=0)
        t = time.perf_counter()
        td = census(p0, method="total-degree", seed=0)
        rows.append({"contender": "total-degree (cold)", "seconds": time.perf_counter() - t,
                     "complete": td.complete, "solutions": td.counts["solutions"], "real": td.counts["real"]})
        t = time.perf_counter()
        pc = census(p0, method="parameter", seed=0, cache=cache)
        rows.append({"contender": "parameter (cold, builds start system)", "seconds": time.perf_counter() - t,
                     "complete": pc.complete, "solutions": pc.counts["solutions"], "real": pc.counts["real"],
                     "start_system_seconds": pc.timings.get("start_system")})
        warm = []
        for s in range(instances):
            p = Problem.random(d, k, T, seed=s)
            t = time.perf_counter()
            r = census(p, method="parameter", seed=0, cache=cache)
            warm.append({"seed": s, "seconds": time.perf_counter() - t, "complete": r.complete,
                         "solutions": r.counts["solutions"], "real": r.counts["real"],
                         "redrawn_bends": len((r.evidence.get("start_system") or {}).get("redrawn_bends", []))})
        sec = [w["seconds"] for w in warm]
        rows.append({"contender": f"parameter (warm, median of {instances})", "seconds": float(np.median(sec)),
                     "max_seconds": float(np.max(sec)), "complete": all(w["complete"] for w in warm),
                     "solutions": warm[0]["solutions"], "real": warm[0]["real"]})
        if args.plain or args.quick:
            sec_p, fin, summ = plain_run(p0)
            rows.append({"contender": f"plain total-degree, one run, {3 ** (d * k * T)} paths", "seconds": sec_p,
                         "complete": None, "solutions": fin, "real": None})
    base = rows[0]["seconds"]
    print(f"census at (d, k, T) = ({d}, {k}, {T}); machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores (shared: times are upper bounds)")
    print(f"{'contender':<46} {'seconds':>9} {'vs total-degree':>15} {'complete':>9} {'solutions':>9} {'real':>5}")
    for r in rows:
        print(f"{r['contender']:<46} {r['seconds']:>9.2f} {base / r['seconds']:>14.2f}x {str(r['complete']):>9} "
              f"{r['solutions']:>9} {str(r['real']):>5}")
    ok = all(r["complete"] in (True, None) for r in rows) and len({r["solutions"] for r in rows}) == 1
    doc = {"sizes": {"d": d, "k": k, "T": T}, "rows": rows, "warm": warm, "consistent": ok,
           "env": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                   "machine": platform.machine(), "loadavg": os.getloadavg()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, doc)
    print(f"consistent: {ok}; wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
