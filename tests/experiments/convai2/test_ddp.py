"""Data parallel: 2 CPU processes (gloo) launched by torchrun equal one process up to
floating-point reduction order, with DDP's bucketed all-reduce and with the flat one; only
rank 0 writes.
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

from experiments.convai2 import retrain_config  # noqa: E402
from experiments.engine.checkpoint import load_json, load_tensors  # noqa: E402
from experiments.convai2.retrain import retrain  # noqa: E402

from .conftest import FIXTURES  # noqa: E402

torch.set_num_threads(1)

ARGS = [
    "--method",
    "meta-lora",
    "--preset",
    "quick",
    "--tasks",
    "2",
    "--heldout-dialogues",
    "1",
    "--epochs",
    "2",
    "--max-length",
    "48",
    "--max-candidate-length",
    "12",
    "--rank",
    "2",
    "--lora-dropout",
    "0",
    "--model-dropout",
    "0",
    "--batch-size",
    "3",
    "--no-progress",
    "--threads",
    "1",
]


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one(out, seed=0):
    return retrain(
        retrain_config(
            str(FIXTURES),
            preset="quick",
            method="meta-lora",
            tasks=2,
            heldout_dialogues=1,
            epochs=2,
            max_length=48,
            max_candidate_length=12,
            lora_rank=2,
            lora_dropout=0.0,
            model_dropout=0.0,
            batch_size=3,
            seed=seed,
        ),
        out,
        progress=False,
    )


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    one = _one(root / "one")
    other = _one(root / "other", seed=1)
    return root, one, other


@pytest.mark.slow
@pytest.mark.parametrize("ddp", ["bucketed", "flat"])
def test_two_processes_equal_one(tmp_path, single, ddp):
    root, one, _ = single
    two = tmp_path / "two"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_port()),
        "-m",
        "metalora",
        "convai2",
        "retrain",
        "--data",
        str(FIXTURES),
        *ARGS,
        "--ddp",
        ddp,
        "--out",
        str(two),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("best epoch") == 1  # rank 0 prints (and writes) alone
    hist = load_json(two / "state.json")["history"]
    assert [h["heldout_accuracy"] for h in hist] == [h.heldout_accuracy for h in one.history]
    for h2, h1 in zip(hist, one.history):
        assert h2["train_loss"] == pytest.approx(h1.train_loss, rel=1e-5)
    a = load_tensors(next((two / "checkpoints").glob("*-model.safetensors")))
    b = load_tensors(next((root / "one" / "checkpoints").glob("*-model.safetensors")))
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-5, worst


@pytest.mark.slow
def test_comparison_is_sensitive(single):
    """A run that differs only in its seed is far from the reference."""
    root, _, _ = single
    b = load_tensors(next((root / "one" / "checkpoints").glob("*-model.safetensors")))
    c = load_tensors(next((root / "other" / "checkpoints").glob("*-model.safetensors")))
    assert max(float((c[k] - b[k]).abs().max()) for k in b) > 1e-3
