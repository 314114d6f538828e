"""``metalora atlas``: frequency of spurious minima per method over a grid of (d, k, T).

Runs in parallel with joblib (``--jobs``; ``--backend loky|threading|dask|ray``), saves
each finished instance under ``OUT/instances/`` stamped with the fingerprint of every
setting, and resumes from them when run again: records made with other settings (say,
another ``--gd-max-iter``), stubs and corrupt files are recomputed, never reused. Writes
``atlas.json``, ``atlas.timings.json``, ``atlas.csv``, ``atlas.md`` and the heatmap
``atlas.png`` to ``--out``, then marks the run complete in ``OUT/manifest.json``.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.epilog = (
        "Exit codes: 0 done; 2 usage or input error (also sizes above the memory/work limits of "
        "docs/search.md without --force, or an unreachable --scheduler)."
    )
    parser.add_argument("--d", type=int, nargs="+", required=True, help="dimensions d (one or more)")
    parser.add_argument("--k", type=int, nargs="+", required=True, help="adapter ranks k (cells with k > d are skipped)")
    parser.add_argument("--T", type=int, nargs="+", required=True, help="numbers of tasks T")
    parser.add_argument("--instances", type=int, default=5, help="random instances per cell (default 5)")
    parser.add_argument("--starts", type=int, default=64, help="starts per instance and method (default 64)")
    parser.add_argument("--methods", nargs="+", choices=["sosp", "gd", "pgd", "roots"],
                        default=["sosp", "gd", "pgd", "roots"], help="methods to compare (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory (resumable)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel workers (-1: all cores; default 1)")
    parser.add_argument("--backend", choices=["loky", "threading", "dask", "ray"], default="loky",
                        help="joblib backend (dask: local cluster or --scheduler; ray needs ray installed)")
    parser.add_argument("--scheduler", default=None,
                        help="address of a running Dask scheduler (needs --backend dask)")
    parser.add_argument("--scheduler-timeout", type=float, default=10.0,
                        help="seconds to wait for --scheduler before giving up (default 10)")
    parser.add_argument("--gd-max-iter", type=int, default=None, help="iteration cap of gd and pgd")
    parser.add_argument("--no-resume", action="store_true", help="recompute every instance")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true",
                        help="run even when the estimated memory or work exceeds the limits "
                        "(docs/search.md, 'Limits')")


def run(args) -> int:
    import sys

    from landscape.errors import InvalidArgument
    from landscape.runs import ExitCode, check_output_dir

    # Everything the user can get wrong is checked before any work starts.
    if args.scheduler is not None and args.backend != "dask":
        raise InvalidArgument(f"`--scheduler` needs `--backend dask`; got --backend {args.backend}.")
    if args.gd_max_iter is not None and args.gd_max_iter < 0:
        raise InvalidArgument(f"`--gd-max-iter` must be a non-negative integer; got --gd-max-iter={args.gd_max_iter}.")
    options = {}
    if args.gd_max_iter is not None:
        options = {"gd": {"max_iter": args.gd_max_iter}, "pgd": {"max_iter": args.gd_max_iter}}
    from landscape.atlas import check_atlas_budget

    if min(args.instances, args.starts) >= 1 and min(args.d + args.k + args.T) >= 1:
        jobs = args.jobs if args.jobs > 0 else 1
        check_atlas_budget(args.d, args.k, args.T, instances=args.instances, starts=args.starts,
                           methods=args.methods, jobs=jobs, options=options, force=args.force)
    check_output_dir(args.out, arg="--out")

    import matplotlib

    matplotlib.use("Agg")
    from landscape.atlas import atlas

    res = atlas(
        d=args.d, k=args.k, T=args.T, instances=args.instances, starts=args.starts,
        methods=args.methods, seed=args.seed, out=args.out, jobs=args.jobs,
        backend=args.backend, scheduler=args.scheduler, scheduler_timeout=args.scheduler_timeout,
        options=options, progress=not args.no_progress, resume=not args.no_resume,
    )
    if res.recomputed:
        print(f"metalora atlas: recomputed {res.recomputed} stored instance(s) made with other settings "
              f"(or incomplete); reused {res.reused}.", file=sys.stderr)
    print(res.to_markdown(), end="")
    print(f"wrote {args.out}/atlas.json, atlas.timings.json, atlas.csv, atlas.md, atlas.png ({res.seconds:.1f} s)")
    return ExitCode.OK
