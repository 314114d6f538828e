"""``metalora shallow``: the paper's shallow nonlinear experiment (v2), SR vs Meta-LoRA.

Retrains a sigmoid network ``y = cᵀσ((A + ΔA_t)x) + ε`` on ``T`` tasks by SR and by
Meta-LoRA (symmetric and asymmetric adapters), fine-tunes one fresh rank-k adapter on an
unseen task (and on the ground truth as a reference), and reports the population test
loss beside the paper code's in-sample metric. Writes PNG figures, ``runs.csv`` /
``runs.json``, ``check.json``, ``summary.json`` and ``timings.json`` under ``--out``;
saves each finished setting and resumes after an interruption.

Exit codes: 0 the check holds (the ground-truth base fine-tunes to the noise floor and SR
keeps a gap at every T ≥ 3); 1 it fails; 2 usage error; 3 undecided (e.g. one seed);
130 interrupted (finished settings are kept).
"""

from __future__ import annotations

import argparse
import sys

_PANELS = ("d", "T", "all")
DEFAULT_OUT = "results/shallow"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metalora.cli import comma_choices

    from experiments.linear.conventions import CONVENTION_NAMES, DEFAULT_CONVENTION

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  metalora shallow --quick                       # both panels, 2 seeds, short schedule\n"
        "  metalora shallow --panel T --seeds 10 --jobs 2 # the paper's T panel\n"
        "  metalora shallow --convention paper-code --out results/shallow_paper\n"
        "panels: d (d = 5, 10, 20 at T = 3) and T (T = 2, 3, 5, 10 at d = 10; rank 3k also\n"
        "at T = 2), N = 1000, n' = 100, k = 1, σ = 0.1; the paper's schedule is AdamW lr 1e-3,\n"
        "40,000 retraining and 15,000 fine-tuning full-batch steps."
    )
    parser.add_argument("--panel", type=comma_choices(_PANELS), action="append", metavar="P[,P...]",
                        help="panel(s): d, T or all (default all)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="trials per setting (default 10, the paper's; 2 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke profile: 2 seeds, 2000 + 1500 steps at lr 1e-2 (about 25 CPU seconds)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes over settings (default 1; -1 = all CPUs)")
    parser.add_argument("--convention", choices=CONVENTION_NAMES, default=DEFAULT_CONVENTION,
                        help="ours (default: mean over tasks, no weight decay, shared "
                        "fine-tuning init) or paper-code (the published code's choices); "
                        "see docs/shallow.md")
    parser.add_argument("--retrain-steps", type=int, default=None,
                        help="retraining AdamW steps (default 40000; 2000 with --quick)")
    parser.add_argument("--finetune-steps", type=int, default=None,
                        help="fine-tuning AdamW steps (default 15000; 1500 with --quick)")
    parser.add_argument("--lr", type=float, default=None,
                        help="AdamW learning rate (default 1e-3; 1e-2 with --quick)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default=None,
                        help="training precision (default float32; metrics are float64)")
    parser.add_argument("--no-resume", action="store_true",
                        help="recompute settings already saved under --out")
    parser.add_argument("--no-figures", action="store_true", help="do not write PNG figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _schedule(args):
    from experiments.shallow import Schedule

    changes = {}
    for flag, key in (("retrain_steps", "retrain_steps"), ("finetune_steps", "finetune_steps"),
                      ("lr", "lr"), ("dtype", "dtype")):
        if getattr(args, flag) is not None:
            changes[key] = getattr(args, flag)
    return Schedule.quick(**changes) if args.quick else Schedule(**changes)


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.3g}"


def run(args) -> int:
    from landscape.errors import InvalidArgument
    from landscape.runs import check_output_dir

    from experiments.shallow import PANELS, sweep

    panels = [p for group in (args.panel or [["all"]]) for p in group]
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 10)
    if seeds < 1:
        raise InvalidArgument(f"`--seeds` must be a positive integer; got --seeds={seeds}.")
    if args.seed < 0:
        raise InvalidArgument(f"`--seed` must be a non-negative integer; got --seed={args.seed}.")
    if args.jobs == 0 or args.jobs < -1:
        raise InvalidArgument(f"`--jobs` must be -1 or a positive integer; got --jobs={args.jobs}.")
    for flag in ("retrain_steps", "finetune_steps"):
        v = getattr(args, flag)
        if v is not None and v < 0:
            raise InvalidArgument(
                f"`--{flag.replace('_', '-')}` must be a non-negative integer; got {v}."
            )
    if args.lr is not None and not args.lr > 0:
        raise InvalidArgument(f"`--lr` must be > 0; got --lr={args.lr}.")
    schedule = _schedule(args)
    check_output_dir(args.out, make_parent=args.out == DEFAULT_OUT)

    result = sweep(
        panels,
        seeds=seeds,
        seed=args.seed,
        schedule=schedule,
        convention=args.convention,
        out=args.out,
        jobs=args.jobs,
        resume=not args.no_resume,
        progress=not args.no_progress,
        figures=not args.no_figures,
    )

    out = sys.stdout
    print(
        f"shallow: {len(result.results)} settings ({result.computed} run, {result.resumed} "
        f"resumed), {len(result.seeds)} seeds, convention {result.convention}, "
        f"{schedule.retrain_steps} + {schedule.finetune_steps} steps at lr {schedule.lr:g}, "
        f"{result.wall_s:.1f} s",
        file=out,
    )
    print("population test loss after fine-tuning (clean targets), mean ± SE over seeds "
          "[paper code's in-sample metric, median]:", file=out)
    for name in result.panels:
        p = PANELS[name]
        print(f"  panel {name} ({p.label}):", file=out)
        ins = {(r[p.field], r["method"], r["rank"]): r
               for r in result.panel_table(name, "insample_error")}
        for row in result.panel_table(name):
            label = f"{p.field}={row[p.field]:g} r={row['rank']}"
            i = ins[(row[p.field], row["method"], row["rank"])]
            print(
                f"    {label:<10} {row['method']:<15} {_fmt(row['mean']):>9} ± "
                f"{_fmt(row['se']):<8} [{_fmt(i['median'])}]",
                file=out,
            )
    check = result.check
    print(f"check {str(check.status).upper()}: {check.message}", file=out)
    for name in ("SR", "Meta-LoRA", "Meta-LoRA-asym"):
        where = [f"{c['setting']} r={c['rank']}" for c in check.closes if c["method"] == name]
        print(f"  {name}: mean loss ≤ σ² (gap closed) at "
              f"{', '.join(where) if where else 'no setting'}", file=out)
    print(f"wrote {len(result.files)} files under {args.out}", file=out)
    return int(check.exit_code)
