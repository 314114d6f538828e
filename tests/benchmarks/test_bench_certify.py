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
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert {"python", "numpy", "scipy", "python-flint", "cpu_count"} <= set(data["env"])
    cases = [r["case"] for r in data["rows"]]
    assert "planted-min" in cases and any(c.startswith("spurious") for c in cases)
    for row in data["rows"]:
        assert row["issued"] and row["valid_independent"] and row["valid_prover"], row
        assert "prove_s" in row["timings"]
        if "mu" in row:  # the rigorous bound never exceeds the float estimate
            assert row["mu"] <= row["float_lambda_min"] * (1 + 1e-9), row
        if row["case"].startswith("spurious"):
            assert row["kind"] == "spurious-min" and row["center_bits"] >= 53
