"""``metalora census-atlas``: exact spurious-minimum statistics over many random instances.

Runs the census (``metalora census``) on ``--instances`` random ``(d, k, T)`` instances
and measures the recall of the search methods (how many of the true spurious minima a
multi-start search with ``--starts`` starts finds). ``--out DIR`` is a resumable run
folder (``census_atlas.json``, ``census_atlas.md``, ``census_atlas.png``,
``timings.json``, ``instances/``). See docs/census.md.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.epilog = ("Exit codes: 0 every census complete; 3 some census incomplete (listed); "
                     "2 usage or input error.")
    parser.add_argument("--d", type=int, default=3, help="dimension d (default 3)")
    parser.add_argument("--k", type=int, default=1, help="adapter rank k (default 1)")
    parser.add_argument("--T", type=int, default=3, help="tasks T (default 3)")
    parser.add_argument("--instances", type=int, default=10, help="random instances (default 10)")
    parser.add_argument("--starts", type=int, default=200, help="starts of each search method (default 200)")
    parser.add_argument("--methods", default="sosp,gd,roots",
                        help="comma-separated search methods whose recall is measured (default sosp,gd,roots)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--method", choices=["auto", "total-degree", "parameter"], default="auto",
                        help="census method (default auto)")
    parser.add_argument("--no-certify", action="store_true", help="skip the interval certificates")
    parser.add_argument("--cache", metavar="DIR", help="folder of cached start systems")
    parser.add_argument("--out", metavar="DIR", help="run folder (resumable)")
    parser.add_argument("--no-resume", action="store_true", help="recompute records already in --out")
    parser.add_argument("--jobs", type=int, default=1, help="parallel workers (-1: all cores; default 1)")
    parser.add_argument("--backend", choices=["loky", "threading", "dask", "ray"], default="loky",
                        help="joblib backend (default loky)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true",
                        help="run even when the estimated work is above the limits (docs/census.md)")


def run(args) -> int:
    from landscape.errors import InvalidArgument
    from landscape.homotopy.atlas import census_atlas
    from landscape.runs import check_budget, check_output_dir

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if not methods:
        raise InvalidArgument("`--methods` must name at least one search method; got an empty list.")
    if args.starts < 0:
        raise InvalidArgument(f"`--starts` must be >= 0; got --starts={args.starts}.")
    # Refuse absurd work before any of it starts: a census is minutes at 9 unknowns, and the
    # recall searches cost about (starts · methods) solver runs per instance.
    check_budget("the census atlas", args.instances, 100_000, unit="instances", force=args.force)
    n = args.d * args.k * args.T
    check_budget("the recall searches", float(args.instances) * args.starts * len(methods) * n**3, 1e14,
                 unit="floating-point operations", force=args.force)
    if args.out is not None:
        check_output_dir(args.out, arg="--out")
    if args.cache is not None:
        check_output_dir(args.cache, arg="--cache")
    res = census_atlas(args.d, args.k, args.T, instances=args.instances, starts=args.starts, methods=methods,
                       seed=args.seed, out=args.out, jobs=args.jobs, backend=args.backend, method=args.method,
                       certify=not args.no_certify, cache=args.cache, progress=not args.quiet,
                       resume=not args.no_resume)
    print(res.to_markdown())
    print(res.message)
    if args.out:
        print(f"wrote {args.out}/census_atlas.json, census_atlas.md, census_atlas.png")
    return int(res.exit_code)
