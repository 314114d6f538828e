"""Census atlas: exact landscape statistics over many random instances.

For instances ``i < instances`` of one size ``(d, k, T)`` the task draws
``Problem.random(d, k, T, seed=derive_seed(seed, "census-atlas", d, k, T, i, "problem"))``,
runs :func:`~landscape.homotopy.census.census` on it and, for each search method (the
public :func:`landscape.search.search`, ``starts`` random starts), checks which of the
census's *true* spurious minima the search found (orbit distance
``max_t ‖U_tU_tᵀ − V_tV_tᵀ‖_F ≤ 10⁻⁶ρ``). Aggregates:

- ``spurious_fraction``: instances with a spurious minimum / complete instances — exact,
  since a complete census lists every real critical point (not a lower bound as in
  :func:`landscape.atlas`);
- ``by_index``: real critical points (flip orbits) by Hessian index, summed;
- ``recall[method]``: true spurious minima found / true spurious minima, and the instance
  recall (instances where the search found at least one of them);
- ``false_spurious[method]``: spurious minima a search reports that the census does not
  have (should be 0; a positive count points at a bug in one of the two).

Records go to ``out/instances/i<i>.json`` through :class:`landscape.runs.RunDir`, so an
interrupted atlas resumes, and records made with other settings are recomputed. The
generic start system is built once in the parent (and cached) before workers start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..validation import check_int
from ..errors import InvalidArgument
from ..runs import Result, RunDir, Status, atomic_write_json, atomic_write_text, derive_seed

__all__ = ["CensusAtlasResult", "census_atlas", "census_instance"]

BACKENDS = ("loky", "threading", "dask", "ray")


def census_instance(task: dict) -> dict:
    """One atlas record (JSON-able, no timings inside ``record``; they go to ``seconds``)."""
    from ..multistart import problem_scale
    from ..problem import Problem
    from ..search import search
    from ..symmetry import orbit_distance
    from .census import census

    t0 = time.perf_counter()
    problem = Problem.random(task["d"], task["k"], task["T"], seed=task["problem_seed"])
    res = census(problem, method=task["method"], seed=task["census_seed"], certify=task["certify"],
                 cache=task["cache"])
    rho = problem_scale(problem)
    true_sp = res.of_kind("spurious-min")
    rec = {key: task[key] for key in ("d", "k", "T", "instance", "problem_seed", "census_seed")}
    rec.update(complete=res.complete, status=res.status.value, message=res.message, counts=res.counts,
               evidence_ok=bool(res.evidence["all_paths_accounted"] and res.evidence["runs_agree"]),
               spurious_losses=[p.loss for p in true_sp],
               spurious_certified=[bool(p.certified) for p in true_sp], methods={})
    t_census = time.perf_counter() - t0
    seconds = {"census": t_census}
    for m in task["methods"]:
        t1 = time.perf_counter()
        sr = search(problem, starts=task["starts"], method=m, seed=task["search_seed"])
        found = sr.of_kind("spurious-min")
        hit = [any(orbit_distance(p.U, q.U) <= 1e-6 * rho for q in found) for p in true_sp]
        false = [q for q in found if not any(orbit_distance(p.U, q.U) <= 1e-6 * rho for p in true_sp)]
        rec["methods"][m] = {"found": int(sum(hit)), "true": len(true_sp), "false_spurious": len(false),
                             "spurious_starts": int(sr.summary["by_kind"]["spurious-min"]),
                             "starts": int(sr.starts)}
        seconds[m] = time.perf_counter() - t1
    return {"record": rec, "seconds": seconds}


@dataclass(frozen=True, eq=False)
class CensusAtlasResult(Result):
    """Aggregates of a census atlas (module docstring); ``status`` done when every census
    was complete, undecided otherwise.
    """

    settings: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    records: tuple = field(default=(), repr=False)
    reused: int = 0
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    _timing_fields = ("seconds", "timings", "reused")

    def to_markdown(self) -> str:
        s = self.summary
        lines = [
            f"Census atlas, (d, k, T) = ({self.settings['d']}, {self.settings['k']}, {self.settings['T']}), "
            f"{s['instances']} instances ({s['complete']} complete)",
            "",
            "| quantity | value |",
            "|---|---|",
            f"| instances with a spurious minimum | {s['with_spurious']} / {s['complete']} "
            f"({s['spurious_fraction']:.2%}) |",
            f"| spurious minima (flip orbits), certified | {s['spurious_total']}, {s['spurious_certified']} |",
            f"| real critical points per instance (orbits, mean) | {s['real_orbits_mean']:.2f} |",
            f"| finite complex solutions per instance (min–max) | {s['solutions_min']}–{s['solutions_max']} |",
            "| by Hessian index (orbits, total) | " + ", ".join(f"{i}: {v}" for i, v in s["by_index"].items()) + " |",
        ]
        for m, r in s["recall"].items():
            lines.append(f"| recall of `{m}` ({self.settings['starts']} starts) | {r['found']}/{r['true']} minima"
                         f" ({r['recall']:.2%}), {r['instances_found']}/{r['instances']} instances, "
                         f"{r['false_spurious']} false |")
        return "\n".join(lines) + "\n"

    def figure(self, path=None):
        """Bar charts: critical points by index, and recall per method."""
        import matplotlib.pyplot as plt

        s = self.summary
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        idx = list(s["by_index"])
        axes[0].bar(idx, [s["by_index"][i] for i in idx], color="tab:blue")
        axes[0].set_xlabel("Hessian index")
        axes[0].set_ylabel("real critical points (flip orbits)")
        axes[0].set_title(f"{s['complete']} complete censuses")
        ms = list(s["recall"])
        axes[1].bar(ms, [s["recall"][m]["recall"] for m in ms], color="tab:orange")
        axes[1].set_ylim(0, 1)
        axes[1].set_ylabel("recall of true spurious minima")
        axes[1].set_title(f"spurious in {s['spurious_fraction']:.1%} of instances")
        fig.tight_layout()
        if path is not None:
            from ..runs import atomic_output

            with atomic_output(path) as tmp:
                fig.savefig(tmp, dpi=110, format="png")
        return fig


def _summarize(records, methods) -> dict:
    comp = [r for r in records if r["complete"]]
    by_index: dict[str, int] = {}
    for r in comp:
        for i, v in r["counts"]["by_index"].items():
            by_index[i] = by_index.get(i, 0) + v
    recall = {}
    for m in methods:
        found = sum(r["methods"][m]["found"] for r in comp)
        true = sum(r["methods"][m]["true"] for r in comp)
        inst = [r for r in comp if r["methods"][m]["true"] > 0]
        recall[m] = {"found": found, "true": true, "recall": found / true if true else float("nan"),
                     "instances": len(inst), "instances_found": sum(r["methods"][m]["found"] > 0 for r in inst),
                     "false_spurious": sum(r["methods"][m]["false_spurious"] for r in comp),
                     "spurious_starts": sum(r["methods"][m]["spurious_starts"] for r in comp),
                     "starts": sum(r["methods"][m]["starts"] for r in comp)}
    sols = [r["counts"]["solutions"] for r in comp]
    with_sp = sum(r["counts"]["spurious"] > 0 for r in comp)
    return {
        "instances": len(records),
        "complete": len(comp),
        "incomplete_instances": [r["instance"] for r in records if not r["complete"]],
        "with_spurious": with_sp,
        "spurious_fraction": with_sp / len(comp) if comp else float("nan"),
        "spurious_total": sum(r["counts"]["spurious"] for r in comp),
        "spurious_certified": sum(sum(r["spurious_certified"]) for r in comp),
        "by_index": dict(sorted(by_index.items(), key=lambda kv: int(kv[0]))),
        "real_orbits_mean": float(np.mean([r["counts"]["real_orbits"] for r in comp])) if comp else float("nan"),
        "solutions_min": min(sols, default=0),
        "solutions_max": max(sols, default=0),
        "recall": recall,
    }


def census_atlas(d: int = 3, k: int = 1, T: int = 3, *, instances: int = 10, starts: int = 200,
                 methods=("sosp", "gd", "roots"), seed: int = 0, out=None, jobs: int = 1, backend: str = "loky",
                 method: str = "auto", certify: bool = True, cache=None, progress: bool = False,
                 resume: bool = True) -> CensusAtlasResult:
    """Census of ``instances`` random ``(d, k, T)`` instances plus search recall (module docstring).

    Parameters
    ----------
    d, k, T : int
    instances : int
    starts : int
        Random starts of each search method.
    methods : sequence of str
        Methods of :func:`landscape.search.search` whose recall is measured.
    seed : int
        Master seed (problems, census γ's, search starts all derive from it).
    out : path, optional
        Run folder (resumable); outputs ``census_atlas.json``, ``census_atlas.md``,
        ``census_atlas.png``, ``timings.json``.
    jobs : int
        joblib workers (``-1`` all cores); ``backend`` one of loky, threading, dask, ray.
    method, certify, cache
        Passed to :func:`~landscape.homotopy.census.census`.
    """
    from ..search import METHODS as SEARCH_METHODS
    from .census import METHODS, generic_start

    d, k, T = check_int("d", d, low=1), check_int("k", k, low=1, high=d), check_int("T", T, low=1)
    instances = check_int("instances", instances, low=1)
    starts = check_int("starts", starts, low=1)
    seed = check_int("seed", seed, low=0)
    jobs = check_int("jobs", jobs, low=-1)
    if jobs == 0:
        raise InvalidArgument("`jobs` must be a positive integer or -1; got jobs=0.")
    methods = tuple(methods)
    for m in methods:
        if m not in SEARCH_METHODS:
            raise InvalidArgument(f"`methods` must be among {sorted(SEARCH_METHODS)}; got {m!r}.")
    if backend not in BACKENDS:
        raise InvalidArgument(f"`backend` must be one of {BACKENDS}; got backend={backend!r}.")
    if method not in METHODS:
        raise InvalidArgument(f"`method` must be one of {METHODS}; got method={method!r}.")
    t0 = time.perf_counter()
    settings = {"d": d, "k": k, "T": T, "instances": instances, "starts": starts, "methods": list(methods),
                "seed": seed, "method": method, "certify": bool(certify), "code": _code_version()}
    # records depend on everything but the number of instances (seeds derive per instance),
    # so an atlas can be extended or cut short and resumed with another --instances
    rd_settings = {key: v for key, v in settings.items() if key != "instances"}
    rd = RunDir(out, kind="census-atlas", settings=rd_settings, resume=resume) if out is not None else None
    if method in ("auto", "parameter") and k == 1 and T >= 3:
        generic_start(d, k, T, cache=cache, progress=progress)  # once, before the workers
    cache_s = None if cache is None else str(cache)
    tasks = []
    for i in range(instances):
        tasks.append({"d": d, "k": k, "T": T, "instance": i, "method": method, "certify": bool(certify),
                      "problem_seed": derive_seed(seed, "census-atlas", d, k, T, i, "problem"),
                      "census_seed": derive_seed(seed, "census-atlas", d, k, T, i, "census"),
                      "search_seed": derive_seed(seed, "census-atlas", d, k, T, i, "search"),
                      "starts": starts, "methods": list(methods), "cache": cache_s})
    records: dict[int, dict] = {}
    timings: dict[str, dict] = {}
    reused = 0
    todo = []
    for t in tasks:
        rec = rd.load(f"instances/i{t['instance']}.json") if rd is not None else None
        if rec is not None and isinstance(rec, dict) and rec.get("problem_seed") == t["problem_seed"]:
            records[t["instance"]] = rec
            reused += 1
        else:
            todo.append(t)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="census atlas", unit="instance")
    for t, out_i in zip(todo, _run_parallel(todo, jobs, backend)):
        records[t["instance"]] = out_i["record"]
        timings[f"i{t['instance']}"] = out_i["seconds"]
        if rd is not None:
            rd.save(f"instances/i{t['instance']}.json", out_i["record"])
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    recs = tuple(records[i] for i in range(instances))
    summary = _summarize(recs, methods)
    complete = summary["complete"] == instances
    status = Status.DONE if complete else Status.UNDECIDED
    msg = (f"{summary['with_spurious']}/{summary['complete']} complete instances have a spurious minimum"
           + ("" if complete else f"; {instances - summary['complete']} censuses incomplete: "
              f"instances {summary['incomplete_instances']}"))
    res = CensusAtlasResult(status=status, message=msg, settings=settings, summary=summary, records=recs,
                            reused=reused, seconds=time.perf_counter() - t0, timings=timings)
    if rd is not None:
        atomic_write_json(rd.path("census_atlas.json"), {**res.to_json(), "records": list(recs)})
        atomic_write_text(rd.path("census_atlas.md"), res.to_markdown())
        atomic_write_json(rd.path("timings.json"), {"seconds": res.seconds, "reused": reused, "instances": timings})
        import matplotlib.pyplot as plt

        fig = res.figure(rd.path("census_atlas.png"))
        plt.close(fig)
        rd.mark_complete(summary)
    return res


def _code_version() -> str:
    from .cache import CODE_VERSION

    return CODE_VERSION


def _run_parallel(tasks, jobs, backend):
    """Yield results in task order (joblib generator), one worker call per task."""
    if not tasks:
        return iter(())
    if jobs == 1 and backend in ("loky", "threading"):
        return (census_instance(t) for t in tasks)
    import joblib

    from ..runs import blas_threads  # noqa: F401  (workers limit BLAS threads themselves)

    if backend in ("dask", "ray"):
        try:
            from ..atlas import _parallel_context
        except ImportError:
            raise InvalidArgument(f"`backend={backend!r}` is not available in this installation.") from None
        ctx = _parallel_context(backend, jobs, None, 10.0)
    else:
        ctx = joblib.parallel_config(backend=backend, n_jobs=jobs)

    def gen():
        with ctx:
            yield from joblib.Parallel(return_as="generator")(joblib.delayed(census_instance)(t) for t in tasks)

    return gen()
