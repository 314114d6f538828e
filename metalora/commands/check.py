"""``metalora check CLAIM``: run one claim on your own problem file.

Exit codes: 0 the claim holds on the instance; 1 it does not; 3 its assumption is not met
on this instance, a component it needs is unavailable, or the instance is too badly
scaled for float64 to decide (:func:`landscape.problem.check_scale`); 2 usage or input
error (also: sizes above the documented memory/work limits without ``--force``).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from theorems.registry import CLAIMS

    from ..cli import problem_arguments

    parser.description = (
        "Run one claim of the paper on a problem (a file written by Problem.save, or sizes to draw one). "
        "Exit 0 iff it holds; 1 if it fails; 3 if the instance does not meet the claim's assumption "
        "or is too badly scaled to decide."
    )
    parser.add_argument("claim", choices=list(CLAIMS), metavar="CLAIM",
                        help="claim id: " + ", ".join(CLAIMS))
    problem_arguments(parser)
    parser.add_argument("--json", metavar="OUT", help="write the result (with timing) as JSON to OUT")
    parser.add_argument("--check-seed", type=int, default=0,
                        help="seed of the check's own randomness (starts, samples; default 0)")
    parser.add_argument("--starts", type=int, default=None,
                        help="random starts for the searching claims (thm3.2..cor3, thm3.4, spurious-t3)")
    parser.add_argument("--method", choices=["roots", "sosp", "gd", "pgd"], default=None,
                        help="search method for claims that search critical points (e.g. spurious-t3; "
                        "'sosp' finds spurious minima more often when Tdk is larger)")
    parser.add_argument("--force", action="store_true",
                        help="run even when the estimated memory or work exceeds the limits "
                        "(docs/search.md, 'Limits')")


#: Starts assumed by the budget when a searching claim runs with its own default.
_DEFAULT_STARTS = 64


def run(args) -> int:
    import inspect

    from landscape.errors import InvalidArgument
    from landscape.problem import check_scale, problem_nbytes
    from landscape.runs import ExitCode, atomic_write_json, check_output_file
    from landscape.search import check_memory, check_search_budget, check_work
    from theorems.registry import get_claim
    from theorems.result import Status

    from ..cli import problem_from_args

    # Everything the user can get wrong is checked before any work starts.
    if args.json is not None:
        check_output_file(args.json, arg="--json")
    if args.check_seed < 0:
        raise InvalidArgument(f"`--check-seed` must be a non-negative integer; got --check-seed={args.check_seed}.")
    claim = get_claim(args.claim)
    params = inspect.signature(claim.check).parameters
    opts = {}
    if "seed" in params:
        opts["seed"] = args.check_seed
    if args.starts is not None:
        if "starts" not in params:
            raise InvalidArgument(f"`--starts` does not apply to claim {args.claim!r}.")
        if args.starts < 0:
            raise InvalidArgument(f"`--starts` must be a non-negative integer; got --starts={args.starts}.")
        opts["starts"] = args.starts
    if args.method is not None:
        if "method" not in params:
            raise InvalidArgument(f"`--method` does not apply to claim {args.claim!r}.")
        opts["method"] = args.method

    def budget(d, k, T):
        if "starts" in params:  # a searching claim: dense Hessians per start
            starts = args.starts if args.starts is not None else _DEFAULT_STARTS
            check_search_budget(d, k, T, max(starts, 1), args.method or "roots", force=args.force)
        else:  # the problem, a few d×d work arrays, O(T·d³) linear algebra
            what = f"claim {args.claim} at d={d}, k={k}, T={T}"
            check_memory(what, problem_nbytes(d, k, T) + 80.0 * d * d, force=args.force)
            check_work(what, 20.0 * T * float(d) ** 3, force=args.force)

    if args.problem is None and None not in (args.d, args.k, args.T) and min(args.d, args.k, args.T) >= 1:
        budget(args.d, args.k, args.T)  # before drawing: `--T 100000000` must not allocate
    problem = problem_from_args(args)
    budget(problem.d, problem.k, problem.T)
    check_scale(problem)  # badly scaled: Undecided (exit 3) with the reason, never a verdict
    res = claim.check(problem, **opts)
    print(res.summary())
    if args.json:
        atomic_write_json(args.json, {"result": res.to_json(timing=True), "problem": problem.to_json()}, indent=1)
    if res.status is Status.HOLDS:
        return ExitCode.OK
    if res.status is Status.FAILS:
        return ExitCode.NEGATIVE
    return ExitCode.UNDECIDED
