"""Smoke run of benchmarks/bench_derivatives.py --quick: it runs, agrees, and writes its JSON."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_derivatives.py"


def test_bench_derivatives_quick(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HVP vs autograd" in proc.stdout
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert {"python", "numpy", "scipy", "cpu_count", "torch"} <= set(data["environment"])
    ops = {(r["d"], r["op"]) for r in data["derivatives"]}
    assert {op for _, op in ops} == {"grad", "hvp", "hessian"}
    for row in data["derivatives"]:
        # All three implementations compute the same derivative (timings are not asserted).
        assert row["max_rel_diff_autograd"] < 1e-12, row
        assert row["max_rel_diff_torch_func"] < 1e-12, row
        assert row["ours_s"] > 0 and row["autograd_s"] > 0 and row["torch_func_s"] > 0
    for row in data["min_eigenvalue"]:
        assert row["residual"] < 1e-8 * max(1.0, abs(row["lambda_min"])), row
        if row["closed_form"] is not None:
            assert row["abs_error_vs_closed_form"] < 1e-8 * max(1.0, abs(row["closed_form"]))
    assert set(data["targets"]) == {"hvp_vs_autograd", "hvp_vs_torch_func", "lambda_min_seconds"}
