"""``metalora search``: find and classify critical points of one instance from many starts.

Writes a JSON file (``--out``) with a top-level ``points`` list — the distinct end points
modulo the O(k) symmetry with ``U``, ``A`` (also as exact hex floats), ``loss``,
``grad_norm``, ``min_eig`` (modulo symmetry), ``index``, ``kind`` and ``count`` — a
``summary`` and the embedded ``problem``; other commands load the points from it
(:func:`landscape.search.load_points`). The file holds no timing, so the same seeds give
the same bytes; the timings go to ``NAME.timings.json`` beside it.
"""

from __future__ import annotations

import sys

from ..cli import problem_arguments, problem_from_args


def add_arguments(parser) -> None:
    parser.epilog = (
        "Exit codes: 0 done; 2 usage or input error (also sizes above the memory/work limits of "
        "docs/search.md without --force); 3 the instance is too badly scaled for float64."
    )
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
                        help="write the JSON result here ('-' for stdout; then no table is printed); "
                        "timings go to FILE.timings.json")
    parser.add_argument("--force", action="store_true",
                        help="run even when the estimated memory or work exceeds the limits "
                        "(docs/search.md, 'Limits')")


def run(args) -> int:
    from landscape.errors import InvalidArgument
    from landscape.runs import ExitCode, canonical_json, check_output_file
    from landscape.search import check_search_budget, search, timings_path

    # Everything the user can get wrong is checked before any work starts.
    if args.out not in (None, "-"):
        check_output_file(args.out, arg="--out")
        check_output_file(timings_path(args.out), arg="--out")
    if args.start_seed < 0:
        raise InvalidArgument(f"`--start-seed` must be a non-negative integer; got --start-seed={args.start_seed}.")
    if args.max_iter is not None and args.max_iter < 0:
        raise InvalidArgument(f"`--max-iter` must be a non-negative integer; got --max-iter={args.max_iter}.")
    if args.device is not None and args.backend != "torch":
        raise InvalidArgument("`--device` needs `--backend torch`.")

    def budget(d, k, T):
        check_search_budget(d, k, T, args.starts, args.method, objective=args.objective,
                            max_iter=args.max_iter, force=args.force)

    if args.problem is None and None not in (args.d, args.k, args.T) and min(args.d, args.k, args.T) >= 1 \
            and args.starts >= 1:
        budget(args.d, args.k, args.T)  # before drawing: `--d 100000` must not allocate
    problem = problem_from_args(args)
    if args.starts >= 1:  # else search() names the bad value
        budget(problem.d, problem.k, problem.T)
    options = {} if args.max_iter is None else {"max_iter": args.max_iter}
    res = search(
        problem, starts=args.starts, method=args.method, seed=args.start_seed,
        objective=args.objective, keep_noncritical=args.keep_noncritical,
        backend=args.backend, device=args.device, **options,
    )
    if args.out == "-":
        sys.stdout.write(canonical_json(res.to_json()) + "\n")
        return ExitCode.OK
    if args.out:
        res.save(args.out)
    s = res.summary
    print(f"{args.problem or repr(problem)}: {s['starts']} starts, method={res.method}, {res.seconds:.2f} s")
    print("starts ending at: " + ", ".join(f"{k} {v}" for k, v in s["by_kind"].items()))
    print(f"{'kind':<13} {'count':>6} {'loss':>12} {'grad_norm':>10} {'min_eig':>11} {'index':>5}")
    for p in res.points:
        print(f"{p.kind:<13} {p.count:>6} {p.loss:>12.5g} {p.grad_norm:>10.2e} {p.min_eig:>11.4g} {p.index:>5}")
    if args.out:
        print(f"wrote {args.out} (timings: {timings_path(args.out)})")
    return ExitCode.OK
