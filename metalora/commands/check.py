"""``metalora check CLAIM``: run one claim on your own problem file.

Exit codes: 0 the claim holds on the instance; 1 it does not; 3 its assumption is not met
on this instance (or a component it needs is unavailable); 2 usage error.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from theorems.registry import CLAIMS

    from ..cli import problem_arguments

    parser.description = (
        "Run one claim of the paper on a problem (a file written by Problem.save, or sizes to draw one). "
        "Exit 0 iff it holds; 1 if it fails; 3 if the instance does not meet the claim's assumption."
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


def run(args) -> int:
    import inspect
    import os
    from pathlib import Path

    from landscape.errors import InvalidArgument
    from theorems.registry import get_claim
    from theorems.result import Status

    from ..cli import problem_from_args

    problem = problem_from_args(args)
    claim = get_claim(args.claim)
    params = inspect.signature(claim.check).parameters
    opts = {}
    if args.check_seed < 0:
        raise InvalidArgument(f"`--check-seed` must be a non-negative integer; got --check-seed={args.check_seed}.")
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
    res = claim.check(problem, **opts)
    print(res.summary())
    if args.json:
        out = Path(args.json)
        if out.parent and not out.parent.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps({"result": res.to_json(timing=True), "problem": problem.to_json()},
                                  indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, out)
    if res.status is Status.HOLDS:
        return 0
    if res.status is Status.FAILS:
        return 1
    return 3
