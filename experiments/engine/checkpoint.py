"""Checkpoints: tensors in safetensors, everything else in JSON, each file written atomically.

Nothing is unpickled. A run's ``state.json`` is written last and names the files of its
latest complete checkpoint, so a kill at any moment leaves a consistent run (the old or the
new checkpoint); older checkpoint files are removed only after ``state.json`` moved on.

Resume protocol (:func:`check_resume`): a run directory holds ``config.json`` with the
settings that determine its results and their :func:`landscape.runs.fingerprint`; a run is
continued only when asked (``--resume``) and only with the same fingerprint (the message
lists the settings that differ). Runtime options (device, precision, threads) are not part
of it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from landscape.errors import InvalidArgument
from landscape.runs import atomic_output, atomic_write_json, check_output_dir, fingerprint

__all__ = [
    "settings_fingerprint",
    "check_resume",
    "save_json",
    "load_json",
    "save_tensors",
    "load_tensors",
    "optimizer_state",
    "load_optimizer_state",
    "prune",
    "OutDir",
]


def save_json(path, obj) -> None:
    """Atomic, deterministic JSON (sorted keys, 2-space indent)."""
    atomic_write_json(path, obj, indent=2, sort_keys=True)


def load_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def settings_fingerprint(settings: dict, *, ignore=("runtime",)) -> str:
    """:func:`landscape.runs.fingerprint` of the settings that determine a run's results."""
    return fingerprint({k: v for k, v in settings.items() if k not in ignore})


def check_resume(
    outdir: Path, settings: dict, resume: bool, *, exists: bool, what: str, flag: str = "--out"
) -> None:
    """Refuse to overwrite a run (unless ``resume``) or to resume it with other settings.

    ``exists`` says whether ``outdir`` already holds a run; its ``config.json`` must then
    hold the same settings (every field but ``runtime``).
    """
    if not exists:
        return
    if not resume:
        raise InvalidArgument(
            f"`{flag}` {str(outdir)!r} already holds {what}; pass --resume to continue it "
            "or choose another folder."
        )
    old = load_json(Path(outdir) / "config.json")["config"]
    if settings_fingerprint(old) == settings_fingerprint(settings):
        return
    diff = sorted(
        k for k in set(old) | set(settings) if k != "runtime" and old.get(k) != settings.get(k)
    )
    raise InvalidArgument(
        f"--resume with a different configuration: {', '.join(diff)} differ from "
        f"{outdir}/config.json; rerun with the same options or choose another `{flag}`."
    )


def save_tensors(path, tensors: dict, metadata: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_output(path) as tmp:
        save_file(clean, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})


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
    groups = [dict(g) for g in sd["param_groups"]]
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


def save_training_state(folder: Path, files: dict, tensors: dict, optimizer) -> None:
    """Write ``files['model' or 'params']`` (tensors) and the optimizer (``optim``, ``optim_meta``)."""
    key = "model" if "model" in files else "params"
    save_tensors(folder / files[key], tensors)
    ot, om = optimizer_state(optimizer)
    save_tensors(folder / files["optim"], ot)
    save_json(folder / files["optim_meta"], om)


def load_training_state(folder: Path, files: dict, optimizer, device) -> dict:
    """Inverse of :func:`save_training_state`: loads the optimizer, returns the tensors."""
    key = "model" if "model" in files else "params"
    tensors = load_tensors(folder / files[key], device)
    load_optimizer_state(
        optimizer, load_tensors(folder / files["optim"]), load_json(folder / files["optim_meta"])
    )
    return tensors


def prune(folder: Path, keep, pattern: str) -> None:
    """Remove the files of ``folder`` matching ``pattern`` except those named in ``keep``."""
    keep = set(keep)
    if Path(folder).is_dir():
        for f in Path(folder).glob(pattern):
            if f.name not in keep:
                f.unlink(missing_ok=True)


class OutDir:
    """An output folder that a failed run does not leave behind empty.

    ``with OutDir(path, create=is_main) as out:`` creates the folder (and missing parents)
    and, if the block raises before anything was written into a folder it created, removes
    it again (and the parents it created), so a usage error leaves no empty ``--out``.
    """

    def __init__(self, path, *, create: bool = True, arg: str = "--out"):
        self.path = Path(path)
        self.create = create
        self.arg = arg
        self.created: list[Path] = []

    def __enter__(self) -> Path:
        if self.create:
            missing = []
            p = self.path
            while not p.exists() and p != p.parent:
                missing.append(p)
                p = p.parent
            # the folder itself, or the top missing one (whose parent must then be a writable
            # folder: not a file, as in `--out afile/run`) - an input error, before any work
            check_output_dir(missing[-1] if missing else self.path, arg=self.arg, create=False)
            if missing:
                self.path.mkdir(parents=True, exist_ok=True)
                self.created = missing  # deepest first
        return self.path

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for p in self.created:
                try:
                    if p.is_dir() and not any(p.iterdir()):
                        p.rmdir()
                    elif p == self.path and _only_bookkeeping(p):
                        shutil.rmtree(p, ignore_errors=True)
                except OSError:
                    break
        return False


def _only_bookkeeping(p: Path) -> bool:
    """A folder holding only what set-up wrote (no finished epoch): safe to drop on failure."""
    return p.is_dir() and not (p / "state.json").exists() and not (p / "checkpoints").exists()
