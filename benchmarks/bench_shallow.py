"""Shallow nonlinear suite: vectorised training vs a per-seed autograd loop, and the grid's cost.

Part 1, one setting (default d=10, T=3, N=1000, n'=100, k=1; every seed, all three
retraining methods and the four fine-tuned bases), the same draws and inits:

- baseline: :mod:`experiments.shallow.reference`, the obvious implementation — one model
  per seed and method, the loss from the formulas, ``backward()``, ``torch.optim.AdamW``
  (how the paper's code runs it);
- ours: :func:`experiments.shallow.retrain` / :func:`~experiments.shallow.finetune`, every
  seed and method in one batch with hand-written gradients.

Both run a few steps (the per-step cost is constant, so times are per step and the full
schedule's time is extrapolated: 40,000 retraining + 15,000 fine-tuning steps). In float64
the two must give the same iterates (max |ΔÂ| is reported).

Part 2, the paper's full grid (6 settings, both panels): ours timed for a few steps per
setting and extrapolated to the paper's schedule, as CPU seconds (one thread) — what
``metalora shallow --seeds 10`` costs before any parallelism.

Usage::

    python benchmarks/bench_shallow.py                  # ~1-2 minutes
    python benchmarks/bench_shallow.py --quick          # smoke run (seconds)
    python benchmarks/bench_shallow.py --out results/bench_shallow.json
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from experiments.shallow import (
    METHODS,
    TRUTH,
    Schedule,
    Setting,
    draw_instance,
    finetune,
    plan_settings,
    retrain,
)
from experiments.shallow.reference import reference_finetune, reference_retrain
from landscape.runs import atomic_write_json

PAPER = Schedule()  # 40,000 + 15,000 steps


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def one_setting(seeds: int, steps: int, ref_steps: int, dtype: str) -> dict:
    st = Setting()
    insts = [draw_instance(st, s) for s in range(seeds)]
    sch = Schedule(retrain_steps=steps, finetune_steps=steps, dtype=dtype, record_every=steps)
    ref_sch = sch.replace(retrain_steps=ref_steps, finetune_steps=ref_steps)

    w, c, rr = _timed(lambda: retrain(insts, METHODS, sch))
    ours_rt = (w / steps, c / steps)
    bases = {TRUTH: np.stack([i.A_star for i in insts]), **rr.bases}
    w, c, _ = _timed(lambda: finetune(insts, bases, st.ranks, sch))
    ours_ft = (w / steps, c / steps)

    runs = [(inst, m) for inst in insts for m in METHODS]
    w, c, _ = _timed(lambda: [reference_retrain(i, m, ref_sch) for i, m in runs])
    base_rt = (w / ref_steps, c / ref_steps)
    w, c, _ = _timed(
        lambda: [reference_finetune(i, bases[b][s], r, ref_sch, "ours", b)
                 for s, i in enumerate(insts) for b in bases for r in st.ranks]
    )
    base_ft = (w / ref_steps, c / ref_steps)

    # Same iterates (float64, a few steps, two seeds).
    chk = Schedule(retrain_steps=20, finetune_steps=20, dtype="float64", record_every=20)
    few = insts[:2]
    rr64 = retrain(few, METHODS, chk)
    diff = max(
        float(np.max(np.abs(rr64.bases[m][s] - reference_retrain(i, m, chk))))
        for s, i in enumerate(few)
        for m in METHODS
    )

    def full(rt, ft):
        return rt * PAPER.retrain_steps + ft * PAPER.finetune_steps

    return {
        "setting": st.to_json(),
        "seeds": seeds,
        "dtype": dtype,
        "steps_ours": steps,
        "steps_baseline": ref_steps,
        "ours_retrain_step_s": ours_rt[0],
        "ours_retrain_step_cpu_s": ours_rt[1],
        "ours_finetune_step_s": ours_ft[0],
        "ours_finetune_step_cpu_s": ours_ft[1],
        "baseline_retrain_step_s": base_rt[0],
        "baseline_retrain_step_cpu_s": base_rt[1],
        "baseline_finetune_step_s": base_ft[0],
        "baseline_finetune_step_cpu_s": base_ft[1],
        "ours_paper_schedule_s": full(ours_rt[0], ours_ft[0]),
        "baseline_paper_schedule_s": full(base_rt[0], base_ft[0]),
        "ours_paper_schedule_cpu_s": full(ours_rt[1], ours_ft[1]),
        "baseline_paper_schedule_cpu_s": full(base_rt[1], base_ft[1]),
        "speedup": full(base_rt[0], base_ft[0]) / full(ours_rt[0], ours_ft[0]),
        "speedup_cpu": full(base_rt[1], base_ft[1]) / max(full(ours_rt[1], ours_ft[1]), 1e-12),
        "max_abs_diff_A_float64_20_steps": diff,
    }


def grid(seeds: int, steps: int, dtype: str) -> dict:
    settings, _ = plan_settings("all")
    rows = []
    for st in settings:
        insts = [draw_instance(st, s) for s in range(seeds)]
        sch = Schedule(retrain_steps=steps, finetune_steps=steps, dtype=dtype, record_every=steps)
        _, c_rt, rr = _timed(lambda: retrain(insts, METHODS, sch))
        bases = {TRUTH: np.stack([i.A_star for i in insts]), **rr.bases}
        _, c_ft, _ = _timed(lambda: finetune(insts, bases, st.ranks, sch))
        cpu = c_rt / steps * PAPER.retrain_steps + c_ft / steps * PAPER.finetune_steps
        rows.append({"setting": st.name, "paper_schedule_cpu_s": cpu})
    return {"seeds": seeds, "steps_timed": steps, "settings": rows,
            "paper_grid_cpu_s": float(sum(r["paper_schedule_cpu_s"] for r in rows))}


def _environment() -> dict:
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": load,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, few steps (smoke run)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per setting (default 10)")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--out", default="results/bench_shallow.json", help="JSON output")
    args = ap.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 10)
    steps, ref_steps, grid_steps = (20, 5, 10) if args.quick else (300, 30, 100)
    torch.set_num_threads(1)

    one = one_setting(seeds, steps, ref_steps, args.dtype)
    g = grid(seeds, grid_steps, args.dtype)
    print(f"shallow suite, d=10 T=3 N=1000 n'=100 k=1, {seeds} seeds × 3 methods "
          f"(+4 fine-tuned bases), {args.dtype}, 1 thread; load average {_environment()['load_average']}")
    print(f"{'per step':<28}{'ours (batched)':>16}{'per-seed loop':>16}{'ratio':>8}")
    for what, o, b in (
        ("retraining, wall", one["ours_retrain_step_s"], one["baseline_retrain_step_s"]),
        ("retraining, CPU", one["ours_retrain_step_cpu_s"], one["baseline_retrain_step_cpu_s"]),
        ("fine-tuning, wall", one["ours_finetune_step_s"], one["baseline_finetune_step_s"]),
        ("fine-tuning, CPU", one["ours_finetune_step_cpu_s"], one["baseline_finetune_step_cpu_s"]),
    ):
        print(f"{what:<28}{o * 1e3:>13.3f} ms{b * 1e3:>13.3f} ms{b / max(o, 1e-12):>7.1f}×")
    print(f"{'paper schedule (40k+15k)':<28}{one['ours_paper_schedule_s']:>14.1f} s"
          f"{one['baseline_paper_schedule_s']:>14.1f} s{one['speedup']:>7.1f}×  (wall, extrapolated)")
    print(f"same iterates: max |ΔÂ| = {one['max_abs_diff_A_float64_20_steps']:.2e} "
          "(float64, 20 steps, 2 seeds × 3 methods)")
    print(f"full paper grid ({len(g['settings'])} settings, {seeds} seeds): "
          f"{g['paper_grid_cpu_s']:.0f} CPU s on one thread, extrapolated from {grid_steps} steps")
    for r in g["settings"]:
        print(f"  {r['setting']:<28}{r['paper_schedule_cpu_s']:>8.0f} CPU s")
    out = {"quick": args.quick, "env": _environment(), "one_setting": one, "grid": g}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        atomic_write_json(args.out, out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
