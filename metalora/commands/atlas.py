"""``metalora atlas``: frequency of spurious minima per method over a grid of (d, k, T).

Runs in parallel with joblib (``--jobs``; ``--backend loky|threading|dask|ray``), saves
each finished instance under ``OUT/instances/`` and resumes from them when run again
with the same settings. Writes ``atlas.json``, ``atlas.csv``, ``atlas.md`` and the
heatmap ``atlas.png`` to ``--out``.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
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
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    parser.add_argument("--gd-max-iter", type=int, default=None, help="iteration cap of gd and pgd")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from landscape.atlas import atlas

    options = {}
    if args.gd_max_iter is not None:
        options = {"gd": {"max_iter": args.gd_max_iter}, "pgd": {"max_iter": args.gd_max_iter}}
    res = atlas(
        d=args.d, k=args.k, T=args.T, instances=args.instances, starts=args.starts,
        methods=args.methods, seed=args.seed, out=args.out, jobs=args.jobs,
        backend=args.backend, scheduler=args.scheduler, options=options,
        progress=not args.no_progress,
    )
    print(res.to_markdown(), end="")
    print(f"wrote {args.out}/atlas.json, atlas.csv, atlas.md, atlas.png ({res.seconds:.1f} s)")
    return 0
