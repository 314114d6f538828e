"""Every GPU measurement of the project in one run, with a time limit per step.

Prepared on CPU so that a session with a lent GPU spends its few minutes measuring, not
debugging. Each step runs in its own subprocess with its own timeout (a hang or a crash in
one step never loses the others), and the suite writes ``OUT/gpu_suite.json`` and
``OUT/gpu_suite.md`` after every step, so a suite killed at its time limit still leaves
what it measured.

Steps (each skipped, with the reason recorded, when the feature it measures is missing):

``environment``
    GPU model, driver, CUDA and torch versions, GPU count (``nvidia-smi``, torch).
``convai2-sr`` / ``convai2-meta`` / ``convai2-mixed``
    ``benchmarks/convai2_throughput.py`` at RoBERTa-Large shape (random weights: speed does
    not depend on their values), ours (bf16 autocast, bucketing, fused AdamW, SDPA) vs the
    naive fp32 loop; examples/s, MFU and peak memory as that script reports them.
``landscape-search``
    converged starts/s of the batched SOSP finder, numpy on the CPU vs torch float64 on
    the GPU, at (d, k, T) = (3,1,3), (10,2,5) and (20,4,10).
``vision``
    one ``paper-v2`` retraining run of the vision suite, wall time and images/s (when the
    vision suite exists).
``ddp``
    2-GPU scaling when more than one GPU is present; otherwise recorded as not measurable.

Usage::

    python benchmarks/gpu_suite.py --out results/gpu            # on the GPU machine
    python benchmarks/gpu_suite.py --cpu --quick --out /tmp/g  # CPU smoke run (tests)

The figures it prints on CPU are CPU figures and are labelled so; never report them as GPU
ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _environment(cpu: bool) -> dict:
    env = {"python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count()}
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda_available"] = bool(torch.cuda.is_available()) and not cpu
        if env["cuda_available"]:
            env["gpu_count"] = torch.cuda.device_count()
            env["gpu"] = torch.cuda.get_device_name(0)
            env["cuda"] = torch.version.cuda
    except ImportError:
        env["torch"] = None
        env["cuda_available"] = False
    if shutil.which("nvidia-smi") and not cpu:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=30,
            ).stdout.strip()
            env["nvidia_smi"] = out.splitlines()
        except (OSError, subprocess.SubprocessError) as exc:
            env["nvidia_smi"] = f"failed: {exc}"
    env["device"] = "cuda" if env.get("cuda_available") else "cpu"
    return env


def _run_step(name: str, cmd: list[str], timeout: float, out_json: Path | None) -> dict:
    """Run ``cmd`` with a timeout; collect its JSON output (if any) and the tail of its log."""
    t0 = time.perf_counter()
    rec: dict = {"step": name, "command": " ".join(cmd)}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        rec["returncode"] = proc.returncode
        rec["log_tail"] = (proc.stdout + proc.stderr)[-3000:]
    except subprocess.TimeoutExpired as exc:
        rec["returncode"] = None
        rec["timed_out"] = True
        tail = (exc.stdout or b"") + (exc.stderr or b"")
        rec["log_tail"] = tail.decode(errors="replace")[-3000:] if isinstance(tail, bytes) else str(tail)[-3000:]
    rec["seconds"] = time.perf_counter() - t0
    if out_json is not None and out_json.exists():
        try:
            rec["result"] = json.loads(out_json.read_text())
        except ValueError:
            rec["result"] = None
    return rec


def _search_step(device: str, quick: bool, timeout: float) -> dict:
    """Converged starts/s of ``find_sosp``: numpy (CPU) vs torch float64 on ``device``."""
    from landscape import Problem, find_sosp, random_starts
    from landscape.runs import blas_threads

    sizes = [(3, 1, 3), (10, 2, 5)] if quick else [(3, 1, 3), (10, 2, 5), (20, 4, 10)]
    starts = {(3, 1, 3): 64 if quick else 2048, (10, 2, 5): 16 if quick else 512, (20, 4, 10): 128}
    rows = []
    t_end = time.perf_counter() + timeout
    for d, k, T in sizes:
        p = Problem.random(d, k, T, seed=0)
        U0 = random_starts(p, starts[(d, k, T)], seed=1)
        row = {"size": [d, k, T], "starts": int(U0.shape[0])}
        for backend, dev in (("numpy", None), ("torch", device)):
            if time.perf_counter() > t_end:
                row[backend] = {"skipped": "suite time limit"}
                continue
            with blas_threads(None if backend == "torch" else 1):
                find_sosp(p, U0[:2], backend=backend, device=dev, max_iter=5)  # warm-up (CUDA init)
                t0 = time.perf_counter()
                r = find_sosp(p, U0, backend=backend, device=dev)
                sec = time.perf_counter() - t0
            row[backend] = {"device": dev or "cpu", "seconds": sec, "converged": r.n_converged,
                            "converged_per_s": r.n_converged / sec}
        if "converged_per_s" in row.get("numpy", {}) and "converged_per_s" in row.get("torch", {}):
            row["speedup_torch_vs_numpy"] = row["torch"]["converged_per_s"] / row["numpy"]["converged_per_s"]
        rows.append(row)
    return {"step": "landscape-search", "rows": rows}


def _markdown(doc: dict) -> str:
    env = doc["environment"]
    lines = [
        "# GPU suite",
        "",
        f"Device: **{env.get('gpu', 'CPU (not a GPU figure)')}**, driver "
        f"{env.get('nvidia_smi', 'n/a')}, torch {env.get('torch')}, CUDA {env.get('cuda', 'n/a')}, "
        f"GPUs: {env.get('gpu_count', 0)}.",
        "",
        "| step | status | seconds | headline |",
        "|---|---|---|---|",
    ]
    for rec in doc["steps"]:
        status = rec.get("skipped") or ("timed out" if rec.get("timed_out") else
                                        ("ok" if rec.get("returncode", 0) in (0, None) and not rec.get("error") else
                                         f"failed ({rec.get('returncode', rec.get('error'))})"))
        head = ""
        if rec.get("step") == "landscape-search":
            head = "; ".join(
                f"{tuple(r['size'])}: {r.get('speedup_torch_vs_numpy', float('nan')):.2f}x" for r in rec.get("rows", [])
            )
        elif isinstance(rec.get("result"), dict):
            res = rec["result"]
            head = ", ".join(f"{k}={res[k]}" for k in ("speedup", "mfu", "examples_per_s") if k in res)
        lines.append(f"| {rec['step']} | {status} | {rec.get('seconds', 0):.1f} | {head} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/gpu", help="folder for gpu_suite.json / gpu_suite.md")
    ap.add_argument("--cpu", action="store_true", help="run on the CPU (smoke test; figures are CPU figures)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--step-timeout", type=float, default=150.0, help="seconds per step (default 150)")
    ap.add_argument("--steps", default=None, help="comma-separated subset of steps")
    args = ap.parse_args(argv)

    from landscape.runs import atomic_write_json, atomic_write_text, check_output_dir

    out = check_output_dir(args.out)
    env = _environment(args.cpu)
    device = env["device"]
    py = sys.executable
    steps: list[tuple[str, object]] = []
    shape = ["--quick"] if args.quick else ["--model", "roberta-large"]
    for name, extra in (("convai2-sr", ["--method", "sr"]), ("convai2-meta", ["--method", "meta-lora"]),
                        ("convai2-mixed", ["--method", "meta-lora", "--task-batching", "mixed"])):
        js = out / f"{name}.json"
        cmd = [py, "benchmarks/convai2_throughput.py", *shape, "--device", device, "--out", str(js), *extra]
        steps.append((name, ("subprocess", cmd, js)))
    steps.append(("landscape-search", ("search",)))
    vision = ROOT / "experiments" / "vision"
    if vision.is_dir():
        js = out / "vision"
        preset = "quick" if args.quick else "paper-v2"
        cmd = [py, "-m", "metalora", "vision", "retrain", "--synthetic", "--preset", preset, "--device", device,
               "--out", str(js)]
        steps.append(("vision", ("subprocess", cmd, js / "summary.json")))
    else:
        steps.append(("vision", ("skip", "the vision suite does not exist in this tree")))
    if env.get("gpu_count", 0) >= 2:
        js = out / "ddp.json"
        cmd = ["torchrun", "--nproc_per_node=2", "benchmarks/convai2_throughput.py", "--model", "roberta-large",
               "--device", "cuda", "--out", str(js)]
        steps.append(("ddp", ("subprocess", cmd, js)))
    else:
        steps.append(("ddp", ("skip", f"{env.get('gpu_count', 0)} GPU(s): 2-GPU scaling not measurable")))
    if args.steps:
        keep = {s.strip() for s in args.steps.split(",")}
        steps = [s for s in steps if s[0] in keep]

    doc = {"environment": env, "quick": bool(args.quick), "steps": []}
    for name, spec in steps:
        print(f"[gpu-suite] {name} ...", flush=True)
        if spec[0] == "skip":
            rec = {"step": name, "skipped": spec[1]}
        elif spec[0] == "search":
            t0 = time.perf_counter()
            try:
                rec = _search_step("cpu" if args.cpu else device, args.quick, args.step_timeout)
            except Exception as exc:  # one failed step must not lose the others
                rec = {"step": name, "error": f"{type(exc).__name__}: {exc}"}
            rec["seconds"] = time.perf_counter() - t0
        else:
            rec = _run_step(name, spec[1], args.step_timeout, spec[2])
        doc["steps"].append(rec)
        atomic_write_json(out / "gpu_suite.json", doc)
        atomic_write_text(out / "gpu_suite.md", _markdown(doc))
    print(_markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
