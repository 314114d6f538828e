"""Sweeps of the shallow experiment: parallel over settings, saved as they go, resumable.

:func:`sweep` plans the unique settings of the requested panels (the base setting
``d = 10, T = 3`` belongs to both and runs once), runs each setting's seeds and methods in
one vectorised batch (:func:`~.run.run_setting`), settings in ``jobs`` worker processes,
and saves each finished setting in a :class:`landscape.runs.RunDir` whose fingerprint
covers the seeds, the schedule, the convention and the methods — so a later call resumes
finished settings and never reuses work made with other settings. At the end it writes
every record (``runs.csv``, ``runs.json``), the check (``check.json``), ``summary.json``
(deterministic: no timings), ``timings.json`` and the figures (PNG).
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from experiments.linear.sweep import PanelSweep
from landscape.validation import check_int
from landscape.errors import InvalidArgument
from landscape.runs import RunDir, atomic_write_json, atomic_write_text, jsonable, seed_list

from .checks import GapCheck, check_gap
from .run import RECORD_FIELDS, SettingResult, run_setting
from .train import METHOD_STRATEGY
from .settings import (
    DEFAULT_SETTING,
    METHODS,
    PANELS,
    Schedule,
    Setting,
    get_convention,
    plan_settings,
)

__all__ = ["SweepResult", "sweep", "load_sweep_records"]

_FORMAT = "metalora.shallow.sweep/1"


@dataclass(frozen=True, eq=False)
class SweepResult(PanelSweep):
    """Everything a sweep produced.

    Attributes
    ----------
    results : tuple of SettingResult
        One per unique setting, in plan order.
    panels : dict
        Panel name → indices into ``results``, in the panel's value order.
    seeds : tuple of int
    schedule : Schedule
    convention : str
    base : Setting
    computed, resumed : int
        Settings run now / loaded from an earlier run with the same fingerprint.
    wall_s : float
    check : GapCheck
        :func:`~.checks.check_gap` on every setting.
    files : tuple of str
    """

    results: tuple
    panels: dict
    seeds: tuple
    schedule: Schedule
    convention: str
    base: Setting
    computed: int
    resumed: int
    wall_s: float
    check: GapCheck
    files: tuple = field(default=())


    def panel_table(self, panel: str, metric: str = "pop_loss") -> list[dict]:
        """Per panel value, base and rank: mean, standard error, median, min, max over seeds."""
        p = PANELS[panel]
        rows = []
        for res in self.panel_results(panel):
            for r in res.setting.ranks:
                for b in res.bases:
                    v = res.select(b, metric, r)
                    rows.append(
                        {
                            "panel": panel,
                            p.field: getattr(res.setting, p.field),
                            "method": b,
                            "rank": r,
                            "mean": float(np.mean(v)),
                            "se": float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else None,
                            "median": float(np.median(v)),
                            "min": float(np.min(v)),
                            "max": float(np.max(v)),
                        }
                    )
        return rows

    def to_json(self) -> dict:
        """Deterministic summary (timings are in :meth:`timings`)."""
        return jsonable(
            {
                "format": _FORMAT,
                "seeds": list(self.seeds),
                "schedule": self.schedule.to_json(),
                "convention": get_convention(self.convention).to_json(),
                "engine_strategies": {m: METHOD_STRATEGY[m][0] for m in METHODS},
                "base": self.base.to_json(),
                "panels": {
                    k: [self.results[i].setting.name for i in v] for k, v in self.panels.items()
                },
                "tables": {
                    f"{p}/{metric}": self.panel_table(p, metric)
                    for p in self.panels
                    for metric in ("pop_loss", "insample_error", "base_error")
                },
                "check": self.check.to_json(),
                "files": sorted(Path(f).name for f in self.files),
            }
        )

    def timings(self) -> dict:
        return jsonable(
            {
                "wall_s": self.wall_s,
                "computed": self.computed,
                "resumed": self.resumed,
                "settings": {r.setting.name: r.timing for r in self.results},
            }
        )


def _run_settings(seeds, schedule: Schedule, conv) -> dict:
    """What the run folder's fingerprint covers (everything that determines a record)."""
    return {
        "format": _FORMAT,
        "seeds": list(seeds),
        "schedule": schedule.to_json(),
        "convention": conv.to_json(),
        "methods": list(METHODS),
    }


def record_name(s: Setting) -> str:
    """Where a finished setting is saved inside the run folder."""
    return f"settings/{s.name}.json"


def _cost(s: Setting) -> float:
    """Rough relative cost of a setting, to start the slowest first."""
    return s.T * s.N * s.d * (s.d + 6)


def _csv(records) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(RECORD_FIELDS), lineterminator="\n")
    w.writeheader()
    for rec in records:
        w.writerow({k: ("" if rec[k] is None else repr(rec[k]) if isinstance(rec[k], float)
                        else rec[k]) for k in RECORD_FIELDS})
    return buf.getvalue()


def load_sweep_records(path) -> list[dict]:
    """The records of a finished sweep's ``runs.json`` (plain dicts, keys :data:`RECORD_FIELDS`)."""
    import json

    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{path}: cannot read sweep records ({exc}).") from None
    if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
        raise InvalidArgument(f"{path}: expected a JSON list of records.")
    return obj


def sweep(
    panels="all",
    *,
    seeds=10,
    seed: int = 0,
    schedule: Schedule | None = None,
    convention="ours",
    base: Setting = DEFAULT_SETTING,
    out=None,
    jobs: int = 1,
    resume: bool = True,
    progress: bool = True,
    figures: bool = True,
    on_setting_done=None,
) -> SweepResult:
    """Run the panels of the shallow nonlinear experiment.

    Parameters
    ----------
    panels : str or sequence of str
        Names from :data:`~.settings.PANELS` (``"d"``, ``"T"``) or ``"all"``.
    seeds : int or sequence of int
        A count (seeds ``seed, seed+1, …``; the paper: 10 trials) or explicit seeds.
    seed : int
        First seed when ``seeds`` is a count.
    schedule : Schedule, optional
        Default: the paper's (AdamW lr 1e-3, 40,000 + 15,000 full-batch steps).
    convention : {"ours", "paper-code"}
        See :class:`~.settings.Convention`.
    base : Setting
        The setting the panels vary (default ``d = 10, T = 3, N = 1000, n' = 100, k = 1``).
    out : path, optional
        Output folder (a :class:`~landscape.runs.RunDir`); without it nothing is saved.
    jobs : int
        Worker processes over settings (``-1``: one per CPU). Seeds and methods are
        vectorised inside each setting.
    resume : bool
        Reuse settings saved under ``out`` with the same fingerprint.
    progress : bool
        tqdm progress bars on stderr.
    figures : bool
        Write PNG figures (needs ``out``).
    on_setting_done : callable, optional
        ``on_setting_done(result)`` after each newly computed setting is saved (tests use
        it to simulate an interruption).

    Returns
    -------
    SweepResult
    """
    schedule = Schedule() if schedule is None else schedule
    if not isinstance(schedule, Schedule):
        raise InvalidArgument(f"`schedule` must be a Schedule; got {type(schedule).__name__}.")
    if not isinstance(base, Setting):
        raise InvalidArgument(f"`base` must be a Setting; got {type(base).__name__}.")
    conv = get_convention(convention)
    seeds = seed_list(seeds, seed)
    jobs = check_int("jobs", jobs, low=-1)
    if jobs == 0:
        raise InvalidArgument("`jobs` must be -1 (all CPUs) or a positive integer; got jobs=0.")
    settings, panel_index = plan_settings(panels, base)
    t0 = time.perf_counter()

    run = None
    if out is not None:
        run = RunDir(out, kind="shallow", settings=_run_settings(seeds, schedule, conv),
                     resume=resume)

    results: list[SettingResult | None] = [None] * len(settings)
    resumed = 0
    if run is not None:
        for i, s in enumerate(settings):
            rec = run.load(record_name(s))
            if rec is None:
                continue
            try:
                res = SettingResult.from_json(rec)
            except (KeyError, TypeError, ValueError, InvalidArgument):
                continue  # damaged: recomputed and overwritten
            if res.setting == s and res.seeds == seeds:
                results[i] = res
                resumed += 1
    pending = sorted((i for i, r in enumerate(results) if r is None),
                     key=lambda i: -_cost(settings[i]))

    from tqdm import tqdm

    bar = tqdm(total=len(settings), initial=resumed, desc="shallow", unit="setting",
               disable=not progress)

    def finish(i, res):
        results[i] = res
        if run is not None:
            run.save(record_name(res.setting), res.to_json(timing=True))
        bar.update(1)
        bar.set_postfix_str(res.setting.name)
        if on_setting_done is not None:
            on_setting_done(res)

    try:
        if jobs == 1 or len(pending) <= 1:
            for i in pending:
                finish(i, run_setting(settings[i], seeds, schedule, conv, progress=progress))
        else:
            from joblib import Parallel, delayed

            def task(i):
                return i, run_setting(settings[i], seeds, schedule, conv)

            for i, res in Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(task)(i) for i in pending
            ):
                finish(i, res)
    finally:
        bar.close()

    results = tuple(results)
    result = SweepResult(
        results=results,
        panels=panel_index,
        seeds=seeds,
        schedule=schedule,
        convention=conv.name,
        base=base,
        computed=len(pending),
        resumed=resumed,
        wall_s=time.perf_counter() - t0,
        check=check_gap(results),
    )
    if run is not None:
        files = []
        records = result.records
        files.append(str(atomic_write_text(run.path("runs.csv"), _csv(records))))
        files.append(str(atomic_write_json(run.path("runs.json"), records, indent=1)))
        files.append(str(atomic_write_json(run.path("check.json"), result.check.to_json(), indent=1)))
        if figures:
            from .plots import save_figures

            files += save_figures(result, run.root)
        files += [str(run.path("summary.json")), str(run.path("timings.json"))]
        result = replace(result, files=tuple(files), wall_s=time.perf_counter() - t0)
        atomic_write_json(run.path("summary.json"), result.to_json(), indent=1)
        atomic_write_json(run.path("timings.json"), result.timings(), indent=1)
        run.mark_complete({"check": result.check.status, "settings": len(results)})
    return result

