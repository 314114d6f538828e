"""Data parallel through the engine: 2 CPU processes (gloo, torchrun) equal one up to reduction order.

The batch plan (rows, shifts, flips) is drawn once per epoch and sliced per rank, so the two
processes see exactly the single process's augmented examples.
"""

import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

from experiments.engine import RuntimeOptions  # noqa: E402
from experiments.engine.checkpoint import load_json, load_tensors  # noqa: E402
from experiments.vision.presets import retrain_config  # noqa: E402
from experiments.vision.retrain import retrain  # noqa: E402

SIZES = dict(width=32, token_hidden=16, channel_hidden=16, heldout=20, train_per_task=60, epochs=2, batch_size=32,
             dropout=0.0, method="meta-lora")  # fmt: skip


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("ddp", ["bucketed", "flat"])
def test_two_processes_equal_one(idx_dir, tmp_path, ddp):
    one = retrain(
        retrain_config(idx_dir, preset="quick", runtime=RuntimeOptions(device="cpu", threads=1), **SIZES),
        tmp_path / "one",
        progress=False,
    )
    args = []
    for k, v in SIZES.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_port()), "-m", "metalora", "vision", "retrain", "--data", str(idx_dir),
           "--preset", "quick", *args, "--threads", "1", "--device", "cpu", "--no-progress", "--ddp", ddp,
           "--out", str(tmp_path / "two")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("best epoch") == 1  # rank 0 prints and writes alone
    hist = load_json(tmp_path / "two" / "state.json")["history"]
    assert [h["heldout_accuracy"] for h in hist] == [h["heldout_accuracy"] for h in one.history]
    for h2, h1 in zip(hist, one.history):
        assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-5)
    a = load_tensors(next((tmp_path / "two" / "checkpoints").glob("*-model.safetensors")))
    b = load_tensors(next((tmp_path / "one" / "checkpoints").glob("*-model.safetensors")))
    assert set(a) == set(b)
    # The token-mixing output bias adds one constant to all channels of a token, which every
    # LayerNorm after it removes: its true gradient is 0, and Adam turns the rounding noise
    # of that zero (different in 1 and 2 processes) into steps of size ~lr. Compare the rest.
    null = "token_mix.3.base_layer.bias"
    diffs = sorted(((float((a[k] - b[k]).abs().max()), k) for k in a if not k.endswith(null)), reverse=True)
    assert diffs[0][0] < 1e-5, diffs[:5]
