"""Smoke run of benchmarks/bench_certify.py --quick: it runs, certifies, checks, writes its JSON."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_certify.py"


def test_bench_certify_quick(tmp_path):
    pytest.importorskip("flint")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert {"python", "numpy", "scipy", "python-flint", "cpu_count"} <= set(data["env"])
    kinds = {r["case"]: r["kind"] for r in data["rows"]}
    assert kinds == {"planted-min": "strict-min", "spurious-min": "spurious-min"}
    for row in data["rows"]:
        assert row["issued"] and row["check_valid"], row
        # the rigorous bound never exceeds the float estimate (timings are not asserted)
        assert row["mu"] <= row["float_lambda_min"], row
        if "naive_arb_lambda_lower" in row:
            assert row["naive_arb_lambda_lower"] <= row["float_lambda_min"] * (1 + 1e-9), row
