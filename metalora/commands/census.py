"""``metalora census``: every critical point of one instance, by homotopy continuation.

Solves ``∇G = 0`` for all finite complex solutions (landscape.homotopy.census), classifies
and certifies the real ones, and says whether the census is *complete* (every path
accounted for, two independent runs agreeing, no path jumps left). The JSON (``--out``)
holds every real critical point with its ``U`` (also as exact hex floats), ``kind``,
``index``, ``loss``, eigenvalues, flip-orbit size and certificate, all finite complex
solutions, the tallies, the completeness evidence and the problem; no timings (those go
to ``NAME.timings.json``), so the same seeds give the same bytes.
"""

from __future__ import annotations

import sys

from ..cli import problem_arguments, problem_from_args


def add_arguments(parser) -> None:
    parser.epilog = (
        "Exit codes: 0 the census is complete; 3 incomplete (unaccounted paths, disagreeing runs, "
        "or positive-dimensional solution sets, e.g. T = 2 or k > 1; the reason is printed); "
        "2 usage or input error (also more paths than --max-paths without --force). See docs/census.md."
    )
    problem_arguments(parser)
    parser.add_argument("--method", choices=["auto", "total-degree", "parameter"], default="auto",
                        help="auto (default): total degree; parameter: from a cached generic start system "
                        "(opt-in, see docs/census.md)")
    parser.add_argument("--homotopy-seed", type=int, default=0,
                        help="seed of the random gammas, bends and charts (default 0)")
    parser.add_argument("--runs", type=int, default=2, help="independent runs that must agree (default 2)")
    parser.add_argument("--no-certify", action="store_true", help="skip the interval certificates")
    parser.add_argument("--cache", metavar="DIR",
                        help="folder of cached start systems (default $METALORA_CACHE_DIR or the user cache)")
    parser.add_argument("--max-paths", type=int, default=200_000,
                        help="refuse runs tracking more paths than this without --force (default 200000)")
    parser.add_argument("--force", action="store_true", help="run even above --max-paths")
    parser.add_argument("--out", metavar="FILE.json",
                        help="write the JSON result here ('-' for stdout; then no table is printed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from landscape.errors import InvalidArgument
    from landscape.homotopy import census
    from landscape.runs import atomic_write_json, canonical_json, check_output_file
    from landscape.search import timings_path

    if args.out not in (None, "-"):
        check_output_file(args.out, arg="--out")
        check_output_file(timings_path(args.out), arg="--out")
    if args.homotopy_seed < 0:
        raise InvalidArgument(f"`--homotopy-seed` must be a non-negative integer; got --homotopy-seed={args.homotopy_seed}.")
    if not 1 <= args.runs <= 8:
        raise InvalidArgument(f"`--runs` must be an integer in [1, 8]; got --runs={args.runs}.")
    if args.max_paths < 1:
        raise InvalidArgument(f"`--max-paths` must be a positive integer; got --max-paths={args.max_paths}.")
    if args.cache is not None:
        from landscape.runs import check_output_dir

        check_output_dir(args.cache, arg="--cache")
    problem = problem_from_args(args)
    res = census(problem, method=args.method, seed=args.homotopy_seed, runs=args.runs, certify=not args.no_certify,
                 cache=args.cache, max_paths=args.max_paths, force=args.force,
                 progress=not args.quiet and args.out != "-")
    if args.out == "-":
        sys.stdout.write(canonical_json(res.to_json()) + "\n")
        return int(res.exit_code)
    if args.out:
        atomic_write_json(args.out, res.to_json())
        atomic_write_json(timings_path(args.out), {"seconds": res.seconds, "timings": res.timings})
    c = res.counts
    ev = res.evidence
    print(f"{getattr(args, 'problem', None) or repr(problem)}: census by {res.method} homotopy, {ev['tracked_per_run']} paths per run "
          f"({ev['paths_per_run']} with flips), {res.seconds:.1f} s")
    print(res.message)
    print(f"{'kind':<13} {'index':>5} {'loss':>12} {'min eig':>11} {'orbit':>5} {'certified':>9}")
    for p in res.points:
        print(f"{p.kind:<13} {p.index:>5} {p.loss:>12.5g} {p.eigenvalues[0]:>11.4g} {p.orbit_size:>5} "
              f"{'yes' if p.certified else 'no':>9}")
    print(f"finite complex solutions {c['solutions']} ({c['solution_orbits']} orbits), real {c['real']}; "
          f"by index {c['by_index']}")
    if args.out:
        print(f"wrote {args.out} (timings: {timings_path(args.out)})")
    return int(res.exit_code)

