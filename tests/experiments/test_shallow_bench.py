"""Smoke run of benchmarks/bench_shallow.py --quick: it runs, both implementations agree."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_shallow.py"


@pytest.mark.slow
def test_bench_shallow_quick(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["quick"] is True and {"torch", "cpu_count"} <= set(data["env"])
    one = data["one_setting"]
    # Same iterates (timings are printed, not asserted).
    assert one["max_abs_diff_A_float64_20_steps"] < 1e-10
    assert len(data["grid"]["settings"]) == 6
