"""Smoke run of benchmarks/bench_figure1.py --quick: it runs, both implementations agree."""

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
    assert "per-sample numpy baseline" in proc.stdout
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert {"python", "numpy", "scipy", "cpu_count", "load_average"} <= set(data["environment"])
    single = data["single_run"]
    # Same iterates from the samples and from their second moments (timings are not asserted).
    assert single["max_abs_diff_A_vs_baseline"] < 1e-10
    assert single["baseline_extrapolated"] is True and single["baseline_rounds"] == 3
    assert single["ours_gd_s"] > 0 and single["baseline_full_run_s"] > 0
    assert data["sweep"]["settings"] == 3 and data["sweep"]["claim"]["holds"] is True
    assert set(data["targets"]) == {"single_run_speedup"}
