"""The GPU suite runs end to end on CPU (so it is ready when a GPU is lent) and labels CPU figures."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_suite_cpu_smoke(tmp_path):
    out = tmp_path / "gpu"
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_suite.py", "--cpu", "--quick", "--steps", "landscape-search,ddp",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((out / "gpu_suite.json").read_text())
    assert doc["environment"]["device"] == "cpu"
    search = next(s for s in doc["steps"] if s["step"] == "landscape-search")
    for row in search["rows"]:
        assert row["numpy"]["converged"] > 0 and row["torch"]["converged"] > 0
    ddp = next(s for s in doc["steps"] if s["step"] == "ddp")
    assert "not measurable" in ddp["skipped"]
    assert "CPU (not a GPU figure)" in (out / "gpu_suite.md").read_text()
