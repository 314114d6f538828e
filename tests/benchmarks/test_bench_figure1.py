"""Smoke run of benchmarks/bench_figure1.py --quick: it runs, the implementations agree."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_figure1.py"


def test_bench_figure1_quick(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--baseline-rounds",
            "3",
            "--sweep-panels",
            "k",
            "--seeds",
            "1",
            "--jobs",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "published pipeline, per sample" in proc.stdout
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert {"python", "numpy", "scipy", "cpu_count", "load_average"} <= set(data["environment"])
    single = data["single_run"]
    # Same iterates as the published pipeline's per-sample loop (its normalisation, its
    # effective steps) and as a per-sample loop of our own normalisation; timings are not
    # asserted.
    assert single["max_abs_diff_A_vs_published"] < 1e-10
    assert single["max_abs_diff_A_vs_mean_loss_loop"] < 1e-10
    assert single["effective_steps_paper_code"]["lr_A"] == 0.015
    assert single["baseline_extrapolated"] is True and single["baseline_rounds"] == 3
    assert single["ours_gd_s"] > 0 and single["baseline_full_run_s"] > 0
    assert data["sweep"]["settings"] == 3 and data["sweep"]["claim"]["holds"] is True
    assert set(data["targets"]) == {"single_run_speedup"}


def test_published_baseline_differs_from_ours_under_our_own_steps():
    # The "same iterates" check above must be able to fail: with our (unscaled) steps the
    # published loop and ours part ways at once.
    import importlib.util

    import numpy as np

    from experiments.linear import meta_lora_gd, moments_from_samples, stack_moments

    spec = importlib.util.spec_from_file_location("bench_figure1", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 50, 4))
    Y = X @ rng.standard_normal((3, 4, 4)) + 0.1 * rng.standard_normal((3, 50, 4))
    U0 = 0.1 * rng.standard_normal((3, 4, 1))
    A_pub, _ = bench.published_alternating_gd(X.transpose(0, 2, 1), Y.transpose(0, 2, 1), U0, rounds=3)
    mom = stack_moments([moments_from_samples(X[t], Y[t]) for t in range(3)])
    same = meta_lora_gd(mom, U0, rounds=3, lr_U=0.003 * 3 / 2, lr_A=0.03 / 2).A
    other = meta_lora_gd(mom, U0, rounds=3).A
    assert np.max(np.abs(same - A_pub)) < 1e-12
    assert np.max(np.abs(other - A_pub)) > 1e-3
