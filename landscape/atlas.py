"""Atlas: how often each method ends in a spurious minimum, over a grid of ``(d, k, T)``.

For every cell ``(d, k, T)`` of the grid (cells with ``k > d`` are skipped) and every
instance ``i < instances``, the task draws ``Problem.random(d, k, T, seed=s_i)`` and runs
:func:`landscape.search.search` with each method on the same ``starts`` Gaussian starts.
Seeds derive from ``(seed, d, k, T, i)`` through :class:`numpy.random.SeedSequence`, so a
cell's numbers do not depend on the rest of the grid or on the order tasks finish in.

Tasks run in parallel through joblib (``jobs``, ``backend``: ``"loky"`` processes,
``"threading"``, ``"dask"`` — the current ``distributed`` client, a scheduler at
``scheduler`` (reached within ``scheduler_timeout`` seconds or refused), or a local
cluster — or ``"ray"``). The loky worker pool is shut down on every exit path (normal end,
error, Ctrl-C); a SIGKILL of the parent runs no cleanup, so each worker also runs a
watchdog thread that exits the worker within about a second of its parent's death, even
mid-instance.

Resuming (:class:`landscape.runs.RunDir`): ``out/manifest.json`` holds the fingerprint
of *every* setting that determines a result (grid, instances, starts, methods, seed,
each method's options such as ``max_iter``, and the record format), and each finished
instance is saved atomically to ``out/instances/<cell>_i<i>.json`` stamped with it. A
rerun reuses only records with the same fingerprint that are complete; a record made
with other settings, a stub or a corrupt file is recomputed (the count is reported in
:attr:`AtlasResult.recomputed`), never trusted.

Outputs: ``atlas.json`` (settings and per-cell aggregates; no timing, so the same
settings give the same bytes), ``atlas.timings.json``, ``atlas.csv``, ``atlas.md`` (a
table) and ``atlas.png`` (heatmaps of the fraction of starts ending in a spurious
minimum, one panel per method), each written atomically *before* the manifest declares
the run complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .validation import check_float, check_int
from .classify import KINDS
from .errors import InvalidArgument
from .problem import Problem
from .runs import RunDir, atomic_output, atomic_write_json, atomic_write_text, derive_seed

__all__ = ["AtlasResult", "atlas", "atlas_tasks", "run_instance", "check_atlas_budget", "BACKENDS"]

BACKENDS = ("loky", "threading", "dask", "ray")
#: Record/output format; part of the resume fingerprint (bump it when a record changes).
_FORMAT = "metalora.atlas/2"
#: Seconds an idle loky worker lives (joblib's default is 300).
_LOKY_IDLE_TIMEOUT = 10


def _ints(name, values, low):
    if isinstance(values, (int, np.integer)):
        values = [values]
    out = [check_int(name, v, low=low) for v in values]
    if not out:
        raise InvalidArgument(f"`{name}` must list at least one value; got {name}={values!r}.")
    return sorted(set(out))


def _seed_for(seed: int, d: int, k: int, T: int, i: int, purpose: str) -> int:
    """The seed of one instance's ``purpose`` ("problem" or "starts"): independent of the grid."""
    return derive_seed(seed, "atlas", d, k, T, i, purpose)


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
                    "problem_seed": _seed_for(seed, dd, kk, TT, i, "problem"),
                    "start_seed": _seed_for(seed, dd, kk, TT, i, "starts"),
                    "starts": starts, "methods": list(methods), "options": options,
                }
            )
    return tasks


def _task_name(task) -> str:
    return f"d{task['d']}_k{task['k']}_T{task['T']}_i{task['instance']}"


_WATCHDOG: list = []


def _exit_with(parent_pid: int | None) -> None:
    """In a pool worker started by ``parent_pid``: exit as soon as that process is gone.

    A SIGKILL of the parent runs no cleanup, so without this its loky workers would finish
    their task and idle on; the watchdog notices the re-parenting within a second.
    """
    if parent_pid is None or _WATCHDOG or os.getpid() == parent_pid:
        return  # no parent to watch, already watching, or the same process (threading)
    if os.getppid() != parent_pid:
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:  # the parent died before this task started
            os._exit(1)
        except OSError:
            pass
        return  # a worker someone else started (dask, ray)

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    thread = threading.Thread(target=watch, name="metalora-parent-watchdog", daemon=True)
    thread.start()
    _WATCHDOG.append(thread)


def run_instance(task: dict, parent_pid: int | None = None) -> dict:
    """Run every method of one atlas task; returns a JSON-able record (used by workers).

    ``parent_pid``: the process that started the pool; a worker exits when it dies.
    """
    from .search import search

    _exit_with(parent_pid)

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


def _usable(record, task) -> bool:
    """Whether a stored record is a complete result of ``task`` (a stub or a record of
    another task is recomputed, never trusted).
    """
    try:
        if any(record[key] != task[key] for key in ("d", "k", "T", "instance", "problem_seed", "start_seed",
                                                     "starts")):
            return False
        for m in task["methods"]:
            mm = record["methods"][m]
            if any(not isinstance(mm["by_kind"][kind], int) for kind in KINDS):
                return False
            if not isinstance(mm["seconds"], (int, float)):
                return False
        return isinstance(record["has_spurious"], bool) and isinstance(record["spurious_points"], list)
    except (KeyError, TypeError, AttributeError):
        return False


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
        No timing (see ``timings``).
    methods : tuple of str
    settings : dict
    records : tuple of dict
        The per-instance records.
    out : str or None
    seconds : float
    timings : dict
        Wall-clock seconds per cell and method (summed over instances).
    reused, recomputed : int
        Records taken from ``out`` / found there but recomputed (made with other
        settings, stubs, corrupt files).
    """

    cells: tuple
    methods: tuple
    settings: dict
    records: tuple = field(repr=False)
    out: str | None = None
    seconds: float = 0.0
    timings: dict = field(default_factory=dict, repr=False)
    reused: int = 0
    recomputed: int = 0

    def to_json(self) -> dict:
        """Settings and aggregates; no timing, so the same settings give the same JSON."""
        return {
            "format": _FORMAT,
            "settings": self.settings,
            "methods": list(self.methods),
            "cells": list(self.cells),
        }

    def timings_json(self) -> dict:
        return {"format": _FORMAT + "/timings", "seconds": self.seconds, **self.timings}

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
            from pathlib import Path

            with atomic_output(path) as tmp:
                fig.savefig(tmp, dpi=120, bbox_inches="tight", format=Path(path).suffix[1:] or "png")
        return fig


def _aggregate(records, methods) -> tuple[list[dict], dict]:
    """Per-cell aggregates (deterministic) and per-cell timings."""
    cells = {}
    for r in records:
        cells.setdefault((r["d"], r["k"], r["T"]), []).append(r)
    out, timings = [], []
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
            }
        out.append(cell)
        timings.append({"d": d, "k": k, "T": T,
                        "seconds": {m: sum(r["methods"][m]["seconds"] for r in recs) for m in methods}})
    return out, {"cells": timings}


@contextlib.contextmanager
def _parallel_context(backend: str, jobs: int, scheduler: str | None, scheduler_timeout: float):
    """A joblib ``parallel_config`` for the backend (plus whatever it must start), torn
    down on every exit path.
    """
    import joblib

    with contextlib.ExitStack() as stack:
        if backend == "loky":
            stack.callback(_shutdown_loky)
            stack.enter_context(joblib.parallel_config(backend="loky", n_jobs=jobs,
                                                       idle_worker_timeout=_LOKY_IDLE_TIMEOUT))
        elif backend == "threading":
            stack.enter_context(joblib.parallel_config(backend=backend, n_jobs=jobs))
        elif backend == "dask":
            try:
                import distributed
            except ImportError:
                raise InvalidArgument("`backend='dask'` needs dask[distributed] (pip install metalora[dask]).") from None
            if scheduler is not None:
                try:
                    client = distributed.Client(scheduler, timeout=scheduler_timeout, set_as_default=True)
                except (OSError, ValueError, TypeError) as exc:  # unreachable, refused, malformed
                    why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                    raise InvalidArgument(
                        f"`scheduler`: cannot reach the Dask scheduler {scheduler!r} within "
                        f"{scheduler_timeout:g} s ({why})."
                    ) from None
                stack.enter_context(client)
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
        yield


def _shutdown_loky() -> None:
    """Stop joblib's reusable loky pool now (it would otherwise idle for
    ``_LOKY_IDLE_TIMEOUT`` s), killing workers still busy after an error or Ctrl-C.
    """
    with contextlib.suppress(Exception):
        from joblib.externals.loky import reusable_executor

        executor = getattr(reusable_executor, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True, kill_workers=True)


def check_atlas_budget(d, k, T, *, instances: int, starts: int, methods, jobs: int = 1,
                       options: dict | None = None, force: bool = False, arg: str = "--force") -> None:
    """Refuse (exit 2) an atlas whose largest search exceeds the memory limit (times the
    workers running at once) or whose total work exceeds the work limit, unless ``force``
    (limits: :data:`landscape.search.MEMORY_LIMIT`, :data:`~landscape.search.WORK_LIMIT`).
    """
    from .search import check_memory, check_work, search_cost

    d, k, T = _ints("d", d, 1), _ints("k", k, 1), _ints("T", T, 1)
    options = options or {}
    peak, total = 0.0, 0.0
    for dd, kk, TT in itertools.product(d, k, T):
        if kk > dd:
            continue
        for m in methods:
            mem, work = search_cost(dd, kk, TT, starts, m, max_iter=options.get(m, {}).get("max_iter"))
            peak = max(peak, mem)
            total += instances * work
    par = max(1, jobs)
    check_memory(f"the atlas's largest search ({par} at once)", peak * par, force=force, arg=arg)
    check_work("the atlas", total, force=force, arg=arg)


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
    scheduler_timeout: float = 10.0,
    options: dict | None = None,
    progress: bool = False,
    resume: bool = True,
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
        Address of a running Dask scheduler (``backend="dask"`` only).
    scheduler_timeout : float
        Seconds to wait for ``scheduler`` before refusing with :class:`InvalidArgument`.
    options : dict, optional
        Per-method keyword arguments, e.g. ``{"gd": {"max_iter": 5000}}`` (part of the
        resume fingerprint).
    progress : bool
        Show a tqdm progress bar (stderr).
    resume : bool
        Reuse the records in ``out`` made with the same settings (default); False
        recomputes everything.

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
    if bad or not methods or len(set(methods)) != len(methods):
        raise InvalidArgument(
            f"`methods` must be a non-empty subset of {sorted(METHODS)} without repeats; got methods={methods!r}."
        )
    if backend not in BACKENDS:
        raise InvalidArgument(f"`backend` must be one of {BACKENDS}; got backend={backend!r}.")
    if scheduler is not None and backend != "dask":
        raise InvalidArgument(f"`scheduler` needs backend='dask'; got backend={backend!r}.")
    scheduler_timeout = check_float("scheduler_timeout", scheduler_timeout, positive=True)
    if options is not None and not isinstance(options, dict):
        raise InvalidArgument(f"`options` must be a dict of per-method options; got {type(options).__name__}.")
    options = {m: dict((options or {}).get(m, {})) for m in methods}
    settings = {"format": _FORMAT, "d": d, "k": k, "T": T, "instances": instances, "starts": starts,
                "methods": list(methods), "seed": seed, "options": options}
    tasks = atlas_tasks(d, k, T, instances=instances, starts=starts, methods=methods, seed=seed, options=options)
    if not tasks:
        raise InvalidArgument("the grid is empty: every cell has k > d.")
    t0 = time.perf_counter()
    records: dict[str, dict] = {}
    run = None
    recomputed = 0
    if out is not None:
        run = RunDir(out, kind="atlas", settings=settings, resume=resume, arg="out")
        for task in tasks:
            name = f"instances/{_task_name(task)}.json"
            rec = run.load(name)
            if rec is not None and _usable(rec, task):
                records[_task_name(task)] = rec
            elif rec is not None or (run.root / name).exists():
                recomputed += 1  # stale settings, a stub or a corrupt file: never trusted
    reused = len(records)
    todo = [t for t in tasks if _task_name(t) not in records]
    if todo:
        import joblib

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="atlas", unit="instance")
        try:
            with _parallel_context(backend, jobs, scheduler, scheduler_timeout):
                par = joblib.Parallel(return_as="generator_unordered")
                pid = os.getpid()
                for rec in par(joblib.delayed(run_instance)(t, pid) for t in todo):
                    name = _task_name(rec)
                    records[name] = rec
                    if run is not None:
                        run.save(f"instances/{name}.json", rec)
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    ordered = [records[_task_name(t)] for t in tasks]
    cells, timings = _aggregate(ordered, methods)
    result = AtlasResult(
        cells=tuple(cells),
        methods=methods,
        settings=settings,
        records=tuple(ordered),
        out=None if out is None else str(run.root),
        seconds=time.perf_counter() - t0,
        timings=timings,
        reused=reused,
        recomputed=recomputed,
    )
    if run is not None:
        # Every output is written (atomically) before the manifest declares completion.
        root = run.root
        atomic_write_json(root / "atlas.json", result.to_json())
        atomic_write_json(root / "atlas.timings.json", result.timings_json())
        atomic_write_text(root / "atlas.csv", result.to_csv())
        atomic_write_text(root / "atlas.md", result.to_markdown())
        import matplotlib.pyplot as plt

        fig = result.heatmap(root / "atlas.png")
        plt.close(fig)
        run.mark_complete({"instances": len(ordered), "reused": reused, "recomputed": recomputed})
    return result
