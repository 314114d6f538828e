"""``metalora figure1``: the paper's Figure 1 (finite-sample linear experiments), the O(kd/n) rate.

Runs the one-at-a-time sweeps of paper §4.1 (d, T, N, n', k) plus a noise-level sweep, a
symmetric-vs-asymmetric retraining-adapter comparison and a dense n' grid for the rate
fit, under a **convention**: ``ours`` (default: docs/math.md's normalisation, converged
fine-tunes from a shared init, noise std σ) or ``paper-code`` (the published pipeline step
for step: its loss normalisation and effective step sizes, fixed fine-tuning counts per
panel, separate inits, SR's stray adapters, and its noise std σ²). Writes PNG figures,
``runs.csv``/``runs.json`` (every run's final numbers), ``rate.json``, ``summary.json``
and ``timing.json`` under ``--out``; saves each finished setting as it completes and
resumes after an interruption, reusing only settings computed with the same convention,
schedule, step sizes, seeds and inputs.

Your own inputs: ``--problem FILE`` (a ground truth saved by ``landscape.Problem.save``),
``--data FILE.npz`` (samples ``X``, ``Y`` (T, N, d), ``X_test``, ``Y_test`` (n', d)),
``--inits FILE.npz`` (any of ``U0``, ``V0``, ``Uf``, ``Vf``, ``Uf_sr``, ``Vf_sr``,
``sr_adapters``) and the step sizes ``--lr-U``, ``--lr-A``, ``--lr-sr``, ``--lr-ft``.

Exit codes: 0 the Figure-1 claim holds (Meta-LoRA's mean population test loss below SR's
at every setting where Corollary 1 predicts SR a positive floor); 1 it does not, or a run
diverged; 2 usage or input error (checked before any computation); 3 undecided (no
setting where a gap is predicted); 4 internal error; 130 interrupted (finished settings
are kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_PANELS = ("base", "d", "T", "N", "n", "k", "noise", "adapters", "rate", "all")
DEFAULT_OUT = "results/figure1"
#: Refuse runs above this many gradient steps (summed over settings and seeds) without --force.
WORK_LIMIT = 3e8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metalora.cli import comma_choices

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  metalora figure1 --quick                      # every panel, 2 seeds, short schedule\n"
        "  metalora figure1 --convention paper-code --quick   # the published pipeline's steps\n"
        "  metalora figure1 --panel k,n --seeds 5 --jobs 2\n"
        "  metalora figure1 --solver fast --out results/figure1_fast\n"
        "  metalora figure1 --problem p.json --data d.npz --panel base --seeds 1\n"
        "conventions: ours (default) = mean loss without ½ (docs/math.md §2), fine-tune to\n"
        "convergence from one init shared by all methods, noise std σ; paper-code = the\n"
        "published code: Σ_t (1/2N)‖·‖², base step /T, fixed fine-tuning counts per panel\n"
        "(T, k 10000; d 1400; N, n' 1000), fresh SR inits, SR's stray adapters, noise std σ².\n"
        "panels: d, T, N, n (n'), k as in the paper; noise (σ); adapters (symmetric vs\n"
        "asymmetric retraining adapters over T); rate (dense n' grid for the rate fit);\n"
        "base (the base setting alone); all (every panel but base).\n"
        "exit codes: 0 claim holds, 1 claim fails or a run diverged, 2 usage/input error,\n"
        "3 undecided (no setting predicts a gap), 4 internal error."
    )
    parser.add_argument(
        "--convention",
        choices=("ours", "paper-code"),
        default="ours",
        help="normalisation, step sizes, fine-tuning counts, inits and noise (default ours)",
    )
    parser.add_argument(
        "--panel",
        type=comma_choices(_PANELS),
        action="append",
        metavar="P[,P...]",
        help="panel(s): base, d, T, N, n, k, noise, adapters, rate or all (default all; "
        "base with --problem)",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="runs per setting (default 5; 2 with --quick)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 seeds, 1000 rounds / SR steps (finishes within a minute or two)",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}; its parent must exist)"
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
        help="fine-tuning GD steps for every panel (ours: at most this many, default 30000, "
        "stopping at convergence; paper-code: exactly this many instead of the per-panel counts)",
    )
    parser.add_argument(
        "--sigma", type=float, default=None, help="σ of the base setting (default 0.1)"
    )
    steps = parser.add_argument_group(
        "step sizes (nominal, in the chosen convention's normalisation; default the paper's)"
    )
    steps.add_argument("--lr-U", type=float, default=None, help="adapter step (default 0.003)")
    steps.add_argument("--lr-A", type=float, default=None, help="base step (default 0.03)")
    steps.add_argument("--lr-sr", type=float, default=None, help="SR base step (default 0.03)")
    steps.add_argument("--lr-ft", type=float, default=None, help="fine-tuning step (default 0.005)")
    inputs = parser.add_argument_group("explicit inputs")
    inputs.add_argument(
        "--problem",
        metavar="FILE",
        help="ground truth (.json or .npz from landscape.Problem.save) for every seed; runs "
        "the base panel by default; panels varying d, T or k are refused",
    )
    inputs.add_argument(
        "--data",
        metavar="FILE.npz",
        help="samples X, Y (T, N, d) and X_test, Y_test (n', d), rows are samples; needs "
        "--problem; runs the base panel with N and n' from the data",
    )
    inputs.add_argument(
        "--inits",
        metavar="FILE.npz",
        help="initialisations: any of U0, V0, sr_adapters (T, d, k), Uf, Vf, Uf_sr, Vf_sr (d, r)",
    )
    parser.add_argument(
        "--force", action="store_true", help=f"run even above the work limit ({WORK_LIMIT:.0e} steps)"
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
    for flag, key in (("lr_U", "lr_U"), ("lr_A", "lr_A"), ("lr_sr", "lr_sr"), ("lr_ft", "lr_ft")):
        value = getattr(args, flag)
        if value is not None:
            changes[key] = value
    return Schedule.quick(**changes) if args.quick else Schedule(**changes)


def _load_npz(path: str, arg: str, allowed: tuple, required: tuple = ()) -> dict:
    """Real, finite float arrays from an ``.npz`` (no pickles), or InvalidArgument naming ``arg``."""
    import zipfile

    import numpy as np

    from landscape.errors import InvalidArgument

    p = Path(path)
    if not p.is_file():
        raise InvalidArgument(f"`{arg}`: {path!r} is not an existing file.")
    try:
        with np.load(p, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise InvalidArgument(f"`{arg}`: {path!r} is a bare .npy array; expected an .npz archive.")
            out = {k: data[k] for k in data.files}
    except InvalidArgument:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidArgument(f"`{arg}`: {path!r} is not a valid .npz archive ({exc}).") from None
    unknown = sorted(set(out) - set(allowed))
    missing = sorted(set(required) - set(out))
    if unknown or missing:
        raise InvalidArgument(
            f"`{arg}`: {path!r} " + (f"has unknown arrays {unknown}" if unknown else f"lacks arrays {missing}")
            + f"; expected {list(allowed)}."
        )
    for key, a in out.items():
        if a.dtype.kind not in "fiu" or a.dtype == bool:
            raise InvalidArgument(f"`{arg}`: array {key!r} must be real numbers; got dtype {a.dtype}.")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)) or (a.size and np.max(np.abs(a)) > 1e100):
            raise InvalidArgument(f"`{arg}`: array {key!r} has non-finite or absurdly large entries.")
        out[key] = a
    return out


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def run(args) -> int:
    from landscape import Problem
    from landscape.errors import InvalidArgument
    from landscape.runs import ExitCode, check_budget, check_output_dir

    from experiments.linear import DEFAULT_SETTING, PANELS, get_convention, plan_settings, sweep

    # Every argument and input file is checked before any computation.
    data = inits = problem = None
    if args.problem is not None:
        problem = Problem.load(args.problem)
    if args.data is not None:
        if problem is None:
            raise InvalidArgument("`--data` needs `--problem` (the ground truth the data came from).")
        data = _load_npz(args.data, "--data", ("X", "Y", "X_test", "Y_test"), ("X", "Y", "X_test", "Y_test"))
    if args.inits is not None:
        inits = _load_npz(args.inits, "--inits", ("U0", "V0", "Uf", "Vf", "Uf_sr", "Vf_sr", "sr_adapters"))
    default_panels = [["base"]] if problem is not None else [["all"]]
    panels = [p for group in (args.panel or default_panels) for p in group]
    seeds = args.seeds if args.seeds is not None else (1 if data is not None else (2 if args.quick else 5))
    if seeds < 1:
        raise InvalidArgument(f"`--seeds` must be a positive integer; got --seeds={seeds}.")
    if args.seed < 0:
        raise InvalidArgument(f"`--seed` must be a non-negative integer; got --seed={args.seed}.")
    if args.jobs == 0 or args.jobs < -1:
        raise InvalidArgument(f"`--jobs` must be -1 or a positive integer; got --jobs={args.jobs}.")
    base = DEFAULT_SETTING if args.sigma is None else DEFAULT_SETTING.replace(sigma=args.sigma)
    schedule = _schedule(args)
    conv = get_convention(args.convention)
    if args.finetune_steps is not None:  # wins over paper-code's per-panel counts
        base = base.replace(ft_steps=args.finetune_steps)
    if problem is not None:
        base = base.replace(d=problem.d, k=problem.k, T=problem.T)
    if data is not None:
        base = base.replace(N=int(data["X"].shape[1]) if data["X"].ndim == 3 else base.N,
                            n=int(data["X_test"].shape[0]) if data["X_test"].ndim == 2 else base.n)  # fmt: skip
    settings, _ = plan_settings(panels, base, conv)
    work = seeds * sum(
        schedule.rounds * (schedule.u_steps + 1)
        + schedule.sr_steps
        + next(x for x in (s.ft_steps, schedule.ft_steps, conv.ft_steps_default) if x is not None)
        for s in settings
    )
    check_budget("this sweep", work, WORK_LIMIT, unit="gradient steps", force=args.force)
    check_output_dir(args.out, make_parent=args.out == DEFAULT_OUT)

    result = sweep(
        panels,
        seeds=seeds,
        seed=args.seed,
        schedule=schedule,
        convention=conv.name,
        base=base,
        problem=problem,
        samples=data,
        inits=inits,
        out=args.out,
        jobs=args.jobs,
        resume=not args.no_resume,
        progress=not args.no_progress,
        figures=not args.no_figures,
    )

    out = sys.stdout
    eff = conv.effective_steps(schedule.nominal_steps(), result.base.T)
    print(
        f"figure1 [{conv.name}]: {len(result.results)} settings "
        f"({result.computed} run, {result.resumed} resumed"
        + (f", {result.stale} stale records recomputed" if result.stale else "")
        + f"), {len(result.seeds)} seeds, solver={schedule.solver}, {result.wall_s:.1f} s",
        file=out,
    )
    print(
        f"  effective steps on ∇L̂ at T={result.base.T}: U {eff['lr_U']:.4g}, A {eff['lr_A']:.4g}, "
        f"SR {eff['lr_sr']:.4g}, fine-tuning {eff['lr_ft']:.4g}; noise std "
        f"{conv.noise_std(result.base.sigma):.4g}; fine-tuning "
        + ("to convergence" if conv.ft_stop == "tolerance" else "fixed counts per panel"),
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
            f"constant C = {_fmt(rate.constant)} vs noise²·r(2d−r) = {_fmt(rate.reference_constant)} "
            f"(ratio {rate.ratio:.2f}); SR floor ℓ_r(A_SR) = {_fmt(rate.sr_floor)}",
            file=out,
        )
    claim = result.claim
    diverged = sum(not r.finite for r in result.records)
    if diverged:
        print(f"warning: {diverged} runs diverged (non-finite numbers); see runs.csv", file=out)
    if claim["holds"] is None:
        print(f"claim UNDECIDED: not tested ({claim['statement']})", file=out)
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
    if diverged or claim["holds"] is False:
        return ExitCode.NEGATIVE
    return ExitCode.UNDECIDED if claim["holds"] is None else ExitCode.OK
