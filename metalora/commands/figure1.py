"""``metalora figure1``: the paper's Figure 1 (finite-sample linear experiments), the O(kd/n) rate.

Runs the one-at-a-time sweeps of paper §4.1 (d, T, N, n', k) plus a noise-level sweep, a
symmetric-vs-asymmetric retraining-adapter comparison and a dense n' grid for the rate
fit; writes PNG figures, ``runs.csv``/``runs.json`` (every run's final numbers),
``rate.json`` and ``summary.json`` under ``--out``; saves each finished setting as it
completes and resumes after an interruption.

Exit codes: 0 the Figure-1 claim holds (Meta-LoRA's mean population test loss below SR's
at every setting where Corollary 1 predicts SR a positive floor); 1 it does not (or a run
diverged); 2 usage error; 130 interrupted (finished settings are kept).
"""

from __future__ import annotations

import argparse
import sys

_PANELS = ("d", "T", "N", "n", "k", "noise", "adapters", "rate", "all")


def _panels(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in _PANELS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"invalid panel {','.join(bad) or repr(text)} (choose from {', '.join(_PANELS)}; "
            "several may be given comma-separated)"
        )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  metalora figure1 --quick                      # every panel, 2 seeds, short schedule\n"
        "  metalora figure1 --panel k,n --seeds 5 --jobs 2\n"
        "  metalora figure1 --solver fast --out results/figure1_fast\n"
        "  metalora figure1 --sigma 0.01                 # the authors' effective noise (std σ²)\n"
        "panels: d, T, N, n (n'), k as in the paper; noise (σ); adapters (symmetric vs\n"
        "asymmetric retraining adapters over T); rate (dense n' grid for the rate fit); all."
    )
    parser.add_argument(
        "--panel",
        type=_panels,
        action="append",
        metavar="P[,P...]",
        help="panel(s) to run: d, T, N, n, k, noise, adapters, rate or all (default all)",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="runs per setting (default 5; 2 with --quick)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 seeds, 1000 rounds / SR steps (finishes within a minute)",
    )
    parser.add_argument(
        "--out", default="results/figure1", help="output folder (default results/figure1)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="worker processes (default 1; -1 = all CPUs)"
    )
    parser.add_argument(
        "--solver",
        choices=("gd", "fast"),
        default="gd",
        help="base to fine-tune: the paper's gradient descent (gd, default) or the exact solver",
    )
    parser.add_argument(
        "--no-check-solver",
        action="store_true",
        help="with --solver gd, skip the fast solver that measures ‖Â_gd − Â_exact‖",
    )
    parser.add_argument(
        "--sampler",
        choices=("wishart", "samples"),
        default="wishart",
        help="draw second moments from a Wishart matrix (default) or from explicit samples",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="Meta-LoRA rounds (default 3000, paper)"
    )
    parser.add_argument(
        "--sr-steps", type=int, default=None, help="SR gradient steps (default = rounds)"
    )
    parser.add_argument(
        "--finetune-steps",
        type=int,
        default=None,
        help="max fine-tuning GD steps (default 30000; stops earlier at convergence)",
    )
    parser.add_argument(
        "--sigma", type=float, default=None, help="noise std of the base setting (default 0.1)"
    )
    parser.add_argument(
        "--no-resume", action="store_true", help="recompute settings already saved under --out"
    )
    parser.add_argument("--no-figures", action="store_true", help="do not write PNG figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _schedule(args):
    from experiments.linear import Schedule

    changes = {
        "solver": args.solver,
        "check_solver": not args.no_check_solver,
        "sampler": args.sampler,
    }
    if args.rounds is not None:
        changes["rounds"] = args.rounds
        changes["sr_steps"] = args.rounds
    if args.sr_steps is not None:
        changes["sr_steps"] = args.sr_steps
    if args.finetune_steps is not None:
        changes["ft_steps"] = args.finetune_steps
    return Schedule.quick(**changes) if args.quick else Schedule(**changes)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def run(args) -> int:
    from landscape.errors import InvalidArgument

    from experiments.linear import DEFAULT_SETTING, PANELS, sweep

    panels = [p for group in (args.panel or [["all"]]) for p in group]
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 5)
    if seeds < 1:
        raise InvalidArgument(f"`--seeds` must be a positive integer; got --seeds={seeds}.")
    if args.seed < 0:
        raise InvalidArgument(f"`--seed` must be a non-negative integer; got --seed={args.seed}.")
    if args.jobs == 0 or args.jobs < -1:
        raise InvalidArgument(f"`--jobs` must be -1 or a positive integer; got --jobs={args.jobs}.")
    base = DEFAULT_SETTING if args.sigma is None else DEFAULT_SETTING.replace(sigma=args.sigma)
    schedule = _schedule(args)

    result = sweep(
        panels,
        seeds=seeds,
        seed=args.seed,
        schedule=schedule,
        base=base,
        out=args.out,
        jobs=args.jobs,
        resume=not args.no_resume,
        progress=not args.no_progress,
        figures=not args.no_figures,
    )

    out = sys.stdout
    print(
        f"figure1: {len(result.results)} settings "
        f"({result.computed} run, {result.resumed} resumed), "
        f"{len(result.seeds)} seeds, solver={schedule.solver}, {result.wall_s:.1f} s",
        file=out,
    )
    print(
        "population test loss ‖Â+UVᵀ−M*‖² after fine-tuning, mean [min, max] over seeds:", file=out
    )
    for name in result.panels:
        p = PANELS[name]
        print(f"  panel {name} ({p.label}):", file=out)
        for row in result.panel_table(name):
            label = f"{p.field}={row[p.field]:g}"
            print(
                f"    {label:<14} {row['method']:<15} {_fmt(row['mean']):>10} "
                f"[{_fmt(row['min'])}, {_fmt(row['max'])}]",
                file=out,
            )
    rate = result.rate
    if rate is not None:
        print(
            f"rate (Meta-LoRA, n'={list(rate.n)}): "
            f"slope {rate.slope:.3f} ± {rate.slope_stderr:.3f} (raw), "
            f"{rate.slope_excess:.3f} ± {rate.slope_excess_stderr:.3f} (excess over ℓ_r(Â)); "
            f"constant C = {_fmt(rate.constant)} vs σ²r(2d−r) = {_fmt(rate.reference_constant)} "
            f"(ratio {rate.ratio:.2f}); SR floor ℓ_r(A_SR) = {_fmt(rate.sr_floor)}",
            file=out,
        )
    claim = result.claim
    diverged = sum(not r.finite for r in result.records)
    if diverged:
        print(f"warning: {diverged} runs diverged (non-finite numbers); see runs.csv", file=out)
    if claim["holds"] is None:
        print(f"claim: not tested ({claim['statement']})", file=out)
    else:
        verdict = "HOLDS" if claim["holds"] else "FAILS"
        print(
            f"claim {verdict}: {claim['statement']} ({claim['settings_checked']} settings; worst "
            f"{claim['worst_setting']}: ratio {claim['worst_ratio_meta_over_sr']:.3g})",
            file=out,
        )
    for entry in claim.get("no_gap_predicted", []):
        print(
            f"  no gap predicted at {entry['setting']} (r ≥ min((T+1)k, d)): "
            f"ratio {entry['ratio_meta_over_sr']:.3g}",
            file=out,
        )
    print(f"wrote {len(result.files)} files under {args.out}", file=out)
    return 0 if (claim["holds"] in (True, None) and not diverged) else 1
