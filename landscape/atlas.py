"""Atlas: how often each method ends in a spurious minimum, over a grid of ``(d, k, T)``.

For every cell ``(d, k, T)`` of the grid (cells with ``k > d`` are skipped) and every
instance ``i < instances``, the task draws ``Problem.random(d, k, T, seed=s_i)`` and runs
:func:`landscape.search.search` with each method on the same ``starts`` Gaussian starts.
Seeds derive from ``(seed, d, k, T, i)`` through :class:`numpy.random.SeedSequence`, so a
cell's numbers do not depend on the rest of the grid or on the order tasks finish in.

Tasks run in parallel through joblib (``jobs``, ``backend``: ``"loky"`` processes,
``"threading"``, ``"dask"`` — the current ``distributed`` client, or a local cluster —
or ``"ray"``). The parent writes each finished instance to
``out/instances/<cell>_i<i>.json`` atomically (temporary file, then ``os.replace``) and
skips instances already on disk, so an interrupted atlas resumes where it stopped.
``out/atlas.json`` records the settings; resuming with different settings is refused.

Outputs: ``atlas.json`` (settings and per-cell aggregates), ``atlas.csv``, ``atlas.md``
(a table) and ``atlas.png`` (heatmaps of the fraction of starts ending in a spurious
minimum, one panel per method).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import check_int
from .classify import KINDS
from .errors import InvalidArgument
from .problem import Problem

__all__ = ["AtlasResult", "atlas", "atlas_tasks", "run_instance", "BACKENDS"]

BACKENDS = ("loky", "threading", "dask", "ray")
_FORMAT = "metalora.atlas/1"


def _ints(name, values, low):
    if isinstance(values, (int, np.integer)):
        values = [values]
    out = [check_int(name, v, low=low) for v in values]
    if not out:
        raise InvalidArgument(f"`{name}` must list at least one value; got {name}={values!r}.")
    return sorted(set(out))


def _seed_for(seed: int, d: int, k: int, T: int, i: int, purpose: int) -> int:
    return int(np.random.SeedSequence([seed, d, k, T, i, purpose]).generate_state(1, dtype=np.uint32)[0])


def atlas_tasks(d, k, T, *, instances: int, starts: int, methods, seed: int, options: dict) -> list[dict]:
    """The task list (plain dicts, picklable) of an atlas; see :func:`atlas`."""
    tasks = []
    for dd, kk, TT in itertools.product(d, k, T):
        if kk > dd:
            continue
        for i in range(instances):
            tasks.append(
                {
                    "d": dd, "k": kk, "T": TT, "instance": i,
                    "problem_seed": _seed_for(seed, dd, kk, TT, i, 0),
                    "start_seed": _seed_for(seed, dd, kk, TT, i, 1),
                    "starts": starts, "methods": list(methods), "options": options,
                }
            )
    return tasks


def _task_name(task) -> str:
    return f"d{task['d']}_k{task['k']}_T{task['T']}_i{task['instance']}"


def run_instance(task: dict) -> dict:
    """Run every method of one atlas task; returns a JSON-able record (used by workers)."""
    from .search import search

    problem = Problem.random(task["d"], task["k"], task["T"], seed=task["problem_seed"])
    record = {key: task[key] for key in ("d", "k", "T", "instance", "problem_seed", "start_seed", "starts")}
    record["methods"] = {}
    spurious = []
    for method in task["methods"]:
        opts = dict(task["options"].get(method, {}))
        res = search(problem, starts=task["starts"], method=method, seed=task["start_seed"], **opts)
        s = res.summary
        record["methods"][method] = {
            "by_kind": s["by_kind"],
            "distinct_by_kind": s["distinct_by_kind"],
            "spurious_fraction": s["spurious_fraction"],
            "converged": s["converged"],
            "max_spurious_loss": s["max_spurious_loss"],
            "seconds": res.seconds,
        }
        spurious.extend(res.of_kind("spurious-min"))
    if spurious:
        from .dedup import merge_points

        spurious = merge_points(problem, spurious)
    record["spurious_points"] = [p.to_json() for p in spurious]
    record["has_spurious"] = bool(spurious)
    return record


@dataclass(frozen=True)
class AtlasResult:
    """Per-cell aggregates of an atlas run.

    Attributes
    ----------
    cells : tuple of dict
        One per ``(d, k, T)``: ``instances``, ``instances_with_spurious`` (found by any
        method), and per method ``starts``, ``spurious_starts``, ``spurious_fraction``
        (pooled over instances), ``instances_hit`` (instances where the method ended in a
        spurious minimum at least once), ``global_fraction``, ``saddle_fraction``.
    methods : tuple of str
    settings : dict
    records : tuple of dict
        The per-instance records.
    out : str or None
    seconds : float
    """

    cells: tuple
    methods: tuple
    settings: dict
    records: tuple = field(repr=False)
    out: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "format": _FORMAT,
            "settings": self.settings,
            "methods": list(self.methods),
            "cells": list(self.cells),
            "seconds": self.seconds,
        }

    def rows(self) -> list[dict]:
        """Flat table rows: one per (cell, method)."""
        rows = []
        for c in self.cells:
            for m in self.methods:
                mm = c["methods"][m]
                rows.append(
                    {
                        "d": c["d"], "k": c["k"], "T": c["T"], "method": m,
                        "instances": c["instances"],
                        "instances_with_spurious": c["instances_with_spurious"],
                        "instances_hit": mm["instances_hit"],
                        "starts": mm["starts"],
                        "spurious_starts": mm["spurious_starts"],
                        "spurious_fraction": mm["spurious_fraction"],
                        "global_fraction": mm["global_fraction"],
                        "saddle_fraction": mm["saddle_fraction"],
                    }
                )
        return rows

    def to_csv(self) -> str:
        buf = io.StringIO()
        rows = self.rows()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["d"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

    def to_markdown(self) -> str:
        head = "| d | k | T | instances | with spurious | " + " | ".join(
            f"{m}: spurious starts (instances hit)" for m in self.methods
        ) + " |"
        sep = "|" + "---|" * (5 + len(self.methods))
        lines = [head, sep]
        for c in self.cells:
            cols = [
                f"{c['methods'][m]['spurious_fraction']:.2%} ({c['methods'][m]['instances_hit']})"
                for m in self.methods
            ]
            lines.append(
                f"| {c['d']} | {c['k']} | {c['T']} | {c['instances']} | {c['instances_with_spurious']} | "
                + " | ".join(cols) + " |"
            )
        return "\n".join(lines) + "\n"

    def heatmap(self, path=None):
        """Heatmaps (rows ``(d, k)``, columns ``T``) of the spurious fraction per method.

        Returns the matplotlib Figure; saves it when ``path`` is given (Agg backend).
        """
        import matplotlib.pyplot as plt

        dks = sorted({(c["d"], c["k"]) for c in self.cells})
        Ts = sorted({c["T"] for c in self.cells})
        fig, axes = plt.subplots(
            1, len(self.methods), figsize=(2.2 + 1.1 * len(Ts) * len(self.methods), 1.2 + 0.45 * len(dks)),
            squeeze=False, sharey=True,
        )
        vmax = max([c["methods"][m]["spurious_fraction"] for c in self.cells for m in self.methods] + [1e-3])
        for ax, m in zip(axes[0], self.methods):
            Z = np.full((len(dks), len(Ts)), np.nan)
            for c in self.cells:
                Z[dks.index((c["d"], c["k"])), Ts.index(c["T"])] = c["methods"][m]["spurious_fraction"]
            im = ax.imshow(Z, cmap="magma_r", vmin=0, vmax=vmax, aspect="auto")
            for (r, col), v in np.ndenumerate(Z):
                if np.isfinite(v):
                    ax.text(col, r, f"{v:.1%}", ha="center", va="center", fontsize=7,
                            color="white" if v > vmax / 2 else "black")
            ax.set_xticks(range(len(Ts)), [str(t) for t in Ts])
            ax.set_yticks(range(len(dks)), [f"d={d},k={k}" for d, k in dks])
            ax.tick_params(axis="y", labelleft=ax is axes[0][0])
            ax.set_xlabel("T")
            ax.set_title(m)
        fig.colorbar(im, ax=axes[0].tolist(), label="fraction of starts ending in a spurious minimum")
        if path is not None:
            fig.savefig(path, dpi=120, bbox_inches="tight")
        return fig


def _aggregate(records, methods) -> list[dict]:
    cells = {}
    for r in records:
        cells.setdefault((r["d"], r["k"], r["T"]), []).append(r)
    out = []
    for (d, k, T), recs in sorted(cells.items()):
        cell = {"d": d, "k": k, "T": T, "instances": len(recs),
                "instances_with_spurious": sum(bool(r["has_spurious"]) for r in recs), "methods": {}}
        for m in methods:
            by = {kind: sum(r["methods"][m]["by_kind"][kind] for r in recs) for kind in KINDS}
            n = sum(by.values())
            cell["methods"][m] = {
                "starts": n,
                "spurious_starts": by["spurious-min"],
                "spurious_fraction": by["spurious-min"] / n if n else 0.0,
                "global_fraction": by["global-min"] / n if n else 0.0,
                "saddle_fraction": by["saddle"] / n if n else 0.0,
                "by_kind": by,
                "instances_hit": sum(r["methods"][m]["by_kind"]["spurious-min"] > 0 for r in recs),
                "seconds": sum(r["methods"][m]["seconds"] for r in recs),
            }
        out.append(cell)
    return out


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def _parallel_context(backend: str, jobs: int, scheduler: str | None):
    """A joblib ``parallel_config`` for the backend (plus whatever it must start)."""
    import contextlib

    import joblib

    stack = contextlib.ExitStack()
    if backend in ("loky", "threading"):
        stack.enter_context(joblib.parallel_config(backend=backend, n_jobs=jobs))
    elif backend == "dask":
        try:
            import distributed
        except ImportError:
            raise InvalidArgument("`backend='dask'` needs dask[distributed] (pip install metalora[dask]).") from None
        if scheduler is not None:
            stack.enter_context(distributed.Client(scheduler))
        else:
            try:
                distributed.get_client()
            except ValueError:  # no client yet: start a local cluster for this run
                cluster = stack.enter_context(
                    distributed.LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, dashboard_address=None)
                )
                stack.enter_context(distributed.Client(cluster))
        stack.enter_context(joblib.parallel_config(backend="dask", n_jobs=jobs))
    elif backend == "ray":
        try:
            from ray.util.joblib import register_ray
        except ImportError:
            raise InvalidArgument("`backend='ray'` needs ray (pip install 'ray[default]').") from None
        register_ray()
        stack.enter_context(joblib.parallel_config(backend="ray", n_jobs=jobs))
    else:
        raise InvalidArgument(f"`backend` must be one of {BACKENDS}; got backend={backend!r}.")
    return stack


def atlas(
    d=(3,),
    k=(1,),
    T=(2, 3),
    *,
    instances: int = 5,
    starts: int = 64,
    methods=("sosp", "gd", "pgd", "roots"),
    seed: int = 0,
    out=None,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    options: dict | None = None,
    progress: bool = False,
) -> AtlasResult:
    """Spurious-minimum frequencies over a grid of ``(d, k, T)`` (module docstring).

    Parameters
    ----------
    d, k, T : int or sequence of int
        The grid (all combinations with ``k <= d``).
    instances : int
        Random instances per cell.
    starts : int
        Starts per instance and method (the same starts for every method).
    methods : sequence of str
        Methods of :func:`landscape.search.search`.
    seed : int
        Master seed.
    out : path, optional
        Directory for per-instance files and the outputs; enables resuming.
    jobs : int
        Parallel workers (joblib ``n_jobs``; ``-1`` = all cores).
    backend : {"loky", "threading", "dask", "ray"}
    scheduler : str, optional
        Address of a running Dask scheduler (``backend="dask"``).
    options : dict, optional
        Per-method keyword arguments, e.g. ``{"gd": {"max_iter": 5000}}``.
    progress : bool
        Show a tqdm progress bar (stderr).

    Returns
    -------
    AtlasResult
    """
    from .search import METHODS

    d, k, T = _ints("d", d, 1), _ints("k", k, 1), _ints("T", T, 1)
    instances = check_int("instances", instances, low=1)
    starts = check_int("starts", starts, low=1)
    seed = check_int("seed", seed, low=0)
    jobs = check_int("jobs", jobs, low=-1)
    if jobs == 0:
        raise InvalidArgument("`jobs` must be a positive integer or -1; got jobs=0.")
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InvalidArgument(f"`methods` must be a non-empty subset of {sorted(METHODS)}; got methods={methods!r}.")
    if backend not in BACKENDS:
        raise InvalidArgument(f"`backend` must be one of {BACKENDS}; got backend={backend!r}.")
    options = {m: dict((options or {}).get(m, {})) for m in methods}
    settings = {"d": d, "k": k, "T": T, "instances": instances, "starts": starts,
                "methods": list(methods), "seed": seed, "options": options}
    tasks = atlas_tasks(d, k, T, instances=instances, starts=starts, methods=methods, seed=seed, options=options)
    if not tasks:
        raise InvalidArgument("the grid is empty: every cell has k > d.")
    t0 = time.perf_counter()
    records: dict[str, dict] = {}
    inst_dir = None
    if out is not None:
        out = Path(out)
        inst_dir = out / "instances"
        inst_dir.mkdir(parents=True, exist_ok=True)
        manifest = out / "atlas.json"
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text()).get("settings")
            except (json.JSONDecodeError, UnicodeDecodeError):
                old = None
            if old is not None and old != json.loads(json.dumps(settings)):
                raise InvalidArgument(
                    f"`out`={str(out)!r} holds an atlas with different settings; use another directory."
                )
        _write_json(manifest, {"format": _FORMAT, "settings": settings, "complete": False})
        for task in tasks:
            f = inst_dir / f"{_task_name(task)}.json"
            if f.exists():
                try:
                    rec = json.loads(f.read_text())
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue  # a torn file cannot exist (atomic writes), but be safe: redo it
                if rec.get("problem_seed") == task["problem_seed"] and rec.get("starts") == starts:
                    records[_task_name(task)] = rec
    todo = [t for t in tasks if _task_name(t) not in records]
    if todo:
        import joblib

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="atlas", unit="instance")
        with _parallel_context(backend, jobs, scheduler):
            par = joblib.Parallel(return_as="generator_unordered")
            for rec in par(joblib.delayed(run_instance)(t) for t in todo):
                name = _task_name(rec)
                records[name] = rec
                if inst_dir is not None:
                    _write_json(inst_dir / f"{name}.json", rec)
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
    ordered = [records[_task_name(t)] for t in tasks]
    result = AtlasResult(
        cells=tuple(_aggregate(ordered, methods)),
        methods=methods,
        settings=settings,
        records=tuple(ordered),
        out=None if out is None else str(out),
        seconds=time.perf_counter() - t0,
    )
    if out is not None:
        doc = result.to_json()
        doc["complete"] = True
        _write_json(out / "atlas.json", doc)
        (out / "atlas.csv").write_text(result.to_csv())
        (out / "atlas.md").write_text(result.to_markdown())
        import matplotlib.pyplot as plt

        fig = result.heatmap(out / "atlas.png")
        plt.close(fig)
    return result
