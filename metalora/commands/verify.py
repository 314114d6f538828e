"""``metalora verify``: check every claim of the paper on default instances.

Prints the summary table, writes ``DIR/verify.json`` (deterministic: same seed, same
bytes), ``DIR/verify.timings.json`` (timings and environment) and ``DIR/verify.md``.
Exit code 0 iff every claim holds (or is "assumption not met" by design); 1 if a claim
fails; 3 if none fails but one is undecided (e.g. a certificate refused at the precision
limit).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Check every claim of the paper (docs/math.md §5) on default instances: thm3.1, cor1, thm3.2, cor2, "
        "thm3.3, cor3, thm3.4, t2-nonunique, spurious-t3. Exit 0 iff every claim holds "
        "(or is 'assumption not met' by design), 1 if one fails, 3 if none fails but one is undecided."
    )
    parser.add_argument("--profile", choices=("quick", "full"), default="quick",
                        help="quick: well under a minute on 2 cores (default); full: more/larger instances, progress bar")
    parser.add_argument("--seed", type=int, default=0, help="seed for instances and searches (default 0)")
    parser.add_argument("--out", metavar="DIR", default="results",
                        help="directory for verify.json, verify.timings.json, verify.md (default results/)")
    parser.add_argument("--claims", metavar="IDS", default=None,
                        help="comma-separated claim ids to run (default: all)")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar (default: only with --profile full)")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def run(args) -> int:
    from landscape.errors import InvalidArgument
    from landscape.runs import check_output_dir
    from theorems.verify import verify

    if args.seed < 0:
        raise InvalidArgument(f"`--seed` must be a non-negative integer; got --seed={args.seed}.")
    check_output_dir(args.out, arg="--out")  # before any claim runs: a bad path fails in no time
    claims = None
    if args.claims is not None:
        claims = [c.strip() for c in args.claims.split(",") if c.strip()]
    report = verify(profile=args.profile, seed=args.seed, claims=claims, out=args.out, progress=args.progress)
    print(report.table())
    total = report.timings.get("total_seconds", 0.0)
    verdict = {0: "all claims OK", 1: "SOME CLAIMS FAILED"}.get(int(report.exit_code), "SOME CLAIMS UNDECIDED")
    print(f"\n{verdict} ({args.profile} profile, seed {args.seed}, {total:.1f} s); wrote {args.out}/verify.json, "
          f"verify.timings.json, verify.md")
    return report.exit_code
