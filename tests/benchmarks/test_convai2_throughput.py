"""Smoke run of benchmarks/convai2_throughput.py --quick (tiny model on CPU)."""

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "convai2_throughput.py"


def test_quick_smoke(tmp_path, capsys):
    import torch

    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("convai2_throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--quick", "--threads", "1", "--out", str(tmp_path / "b.json")])
    data = json.loads((tmp_path / "b.json").read_text())
    assert [r["kind"] for r in data["results"]] == ["naive", "cycle", "mixed"]
    for r in data["results"]:
        assert r["examples_per_s"] > 0 and r["tokens_per_s"] > 0 and 0 < r["mfu"] < 1.5
    assert data["env"]["torch"] and data["speedup_examples_per_s"] == out["speedup_examples_per_s"]
    assert "speed-up" in capsys.readouterr().out
