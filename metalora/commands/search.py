"""``metalora search``: find and classify critical points of one instance from many starts.

Writes a JSON file (``--out``) with a top-level ``points`` list — the distinct end points
modulo the O(k) symmetry with ``U``, ``A`` (also as exact hex floats), ``loss``,
``grad_norm``, ``min_eig`` (modulo symmetry), ``index``, ``kind`` and ``count`` — a
``summary`` and the embedded ``problem``; other commands load the points from it
(:func:`landscape.search.load_points`).
"""

from __future__ import annotations

import json
import sys

from ..cli import problem_arguments, problem_from_args


def add_arguments(parser) -> None:
    problem_arguments(parser)
    parser.add_argument("--starts", type=int, default=64, help="number of random starts (default 64)")
    parser.add_argument(
        "--method", choices=["sosp", "gd", "pgd", "roots"], default="sosp",
        help="sosp: second-order, ends at SOSPs (default); gd / pgd: plain / perturbed gradient "
        "descent; roots: all zeros of the gradient (saddles included)",
    )
    parser.add_argument("--start-seed", type=int, default=0, help="seed of the random starts (default 0)")
    parser.add_argument("--objective", choices=["reduced", "full"], default="reduced",
                        help="run on G(U) (default) or on L(A, U); points are classified on G")
    parser.add_argument("--max-iter", type=int, default=None, help="iteration cap of the method")
    parser.add_argument("--backend", choices=["numpy", "torch"], default="numpy", help="array backend")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (with --backend torch)")
    parser.add_argument("--keep-noncritical", action="store_true",
                        help="also list end points that are not critical")
    parser.add_argument("--out", metavar="FILE.json",
                        help="write the JSON result here ('-' for stdout; then no table is printed)")


def run(args) -> int:
    from landscape.search import search

    problem = problem_from_args(args)
    options = {} if args.max_iter is None else {"max_iter": args.max_iter}
    res = search(
        problem, starts=args.starts, method=args.method, seed=args.start_seed,
        objective=args.objective, keep_noncritical=args.keep_noncritical,
        backend=args.backend, device=args.device, **options,
    )
    if args.out == "-":
        json.dump(res.to_json(), sys.stdout)
        sys.stdout.write("\n")
        return 0
    if args.out:
        res.save(args.out)
    s = res.summary
    print(f"{problem!r}: {s['starts']} starts, method={res.method}, {res.seconds:.2f} s")
    print("starts ending at: " + ", ".join(f"{k} {v}" for k, v in s["by_kind"].items()))
    print(f"{'kind':<13} {'count':>6} {'loss':>12} {'grad_norm':>10} {'min_eig':>11} {'index':>5}")
    for p in res.points:
        print(f"{p.kind:<13} {p.count:>6} {p.loss:>12.5g} {p.grad_norm:>10.2e} {p.min_eig:>11.4g} {p.index:>5}")
    if args.out:
        print(f"wrote {args.out}")
    return 0
