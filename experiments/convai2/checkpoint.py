"""Checkpoints: tensors in safetensors, everything else in JSON, each file written atomically.

A checkpoint of epoch ``e`` is ``checkpoints/epoch-XXXX-{model,optim}.safetensors``; the run's
``state.json`` (written last, atomically) names the files of the latest complete checkpoint,
so a kill at any moment leaves a consistent run: either the old or the new checkpoint.
Older checkpoint files are removed after ``state.json`` moves on. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

__all__ = [
    "check_resume",
    "atomic_write_text",
    "save_json",
    "load_json",
    "save_tensors",
    "load_tensors",
    "optimizer_state",
    "load_optimizer_state",
]


def atomic_write_text(path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def load_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def check_resume(outdir: Path, cfg_dict: dict, resume: bool, *, exists: bool, what: str) -> None:
    """Refuse to overwrite a run (unless ``resume``) or to resume it with another configuration.

    ``exists`` says whether ``outdir`` already holds a run; the stored ``config.json`` must
    then match ``cfg_dict`` in every field but ``runtime`` (device, precision, workers).
    """
    from landscape.errors import InvalidArgument

    if not exists:
        return
    if not resume:
        raise InvalidArgument(
            f"`out`={str(outdir)!r} already holds {what}; pass resume=True (--resume) to continue it."
        )
    old = load_json(outdir / "config.json")["config"]
    diff = sorted(k for k in set(old) | set(cfg_dict) if k != "runtime" and old.get(k) != cfg_dict.get(k))
    if diff:
        raise InvalidArgument(
            f"--resume with a different configuration: {', '.join(diff)} differ from {outdir}/config.json."
        )


def save_tensors(path, tensors: dict, metadata: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    save_file(clean, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})
    os.replace(tmp, path)


def load_tensors(path, device="cpu") -> dict:
    return load_file(str(path), device=str(device))


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON-able metadata."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{idx}.{k}"] = v
            else:
                scalars[f"{idx}.{k}"] = v
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for key, v in tensors.items():
        idx, k = key.split(".", 1)
        state.setdefault(int(idx), {})[k] = v
    for key, v in meta["scalars"].items():
        idx, k = key.split(".", 1)
        state.setdefault(int(idx), {})[k] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
