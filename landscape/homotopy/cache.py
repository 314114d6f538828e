"""On-disk cache of generic start systems for parameter homotopies, one per ``(d, k, T)``.

A start system is a generic complex instance ``W₀`` (scaled factors, (T, d, k)) with all
its finite solutions, one per flip orbit, found by a complete two-γ total-degree run.
Files live in ``$METALORA_CACHE_DIR`` or the user cache directory
(``platformdirs.user_cache_dir("metalora")``, else ``~/.cache/metalora``) under ``census/``, named by a fingerprint of
``(d, k, T)``, the code version of the census (:data:`CODE_VERSION`) and the seed that
draws ``W₀``: changing any of these makes a new file instead of reusing a stale one. Files
are written atomically and read with ``allow_pickle=False``; a file that does not parse,
or whose stored fingerprint differs, is ignored (and rebuilt).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from ..runs import atomic_write_bytes, fingerprint

__all__ = ["CODE_VERSION", "cache_dir", "start_key", "load_start", "save_start"]

#: Bump when anything that changes start systems or their solutions changes.
CODE_VERSION = "census/2"


def cache_dir(path=None) -> Path:
    """The census cache folder: ``path``, else ``$METALORA_CACHE_DIR``, else the user cache dir."""
    if path is not None:
        return Path(path)
    env = os.environ.get("METALORA_CACHE_DIR")
    if env:
        return Path(env) / "census"
    try:
        import platformdirs
    except ImportError:  # not a declared dependency: fall back to the XDG convention
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "metalora"
    else:
        base = Path(platformdirs.user_cache_dir("metalora"))
    return base / "census"


def start_key(d: int, k: int, T: int, seed: int) -> str:
    return fingerprint({"d": d, "k": k, "T": T, "code": CODE_VERSION, "seed": seed})


def _file(d, k, T, seed, path=None) -> Path:
    return cache_dir(path) / f"start_d{d}_k{k}_T{T}_{start_key(d, k, T, seed)[:16]}.npz"


def load_start(d: int, k: int, T: int, seed: int, path=None) -> dict | None:
    """The cached start system or None (absent, unreadable, or made with other settings)."""
    f = _file(d, k, T, seed, path)
    try:
        with np.load(f, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("key") != start_key(d, k, T, seed):
                return None
            return {"W0": z["W0"], "V": z["V"], "weights": z["weights"], "meta": meta, "file": str(f)}
    except (OSError, ValueError, KeyError):
        return None


def save_start(d: int, k: int, T: int, seed: int, W0, V, weights, meta: dict, path=None) -> Path:
    f = _file(d, k, T, seed, path)
    f.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(meta, key=start_key(d, k, T, seed))
    buf = io.BytesIO()
    np.savez(buf, W0=np.asarray(W0, dtype=complex), V=np.asarray(V, dtype=complex),
             weights=np.asarray(weights, dtype=np.int64), meta=np.array(json.dumps(meta, sort_keys=True)))
    return atomic_write_bytes(f, buf.getvalue())
