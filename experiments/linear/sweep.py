"""Sweeps of the linear experiment: parallel, with a progress bar, saved as they go, resumable.

:func:`sweep` plans the unique settings of the requested panels (the default setting,
shared by most panels, runs once), runs the missing ones with joblib (``jobs``
processes), saves each finished setting atomically (``settings/<name>-<hash>.json`` plus
its loss curves as ``.npz``; temp file then ``os.replace``) and, on a later call with the
same seeds and schedule, loads instead of recomputing. At the end it writes every run's
final numbers (``runs.csv``, ``runs.json``), the rate fit (``rate.json``), the figures
(PNG) and ``summary.json``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landscape._validation import check_int
from landscape.errors import InvalidArgument

from .rate import RateFit, fit_rate
from .run import RECORD_FIELDS, SettingResult, run_setting
from .settings import DEFAULT_SETTING, PANELS, Schedule, Setting, plan_settings

__all__ = ["SweepResult", "sweep", "setting_path", "load_setting", "check_claim"]

_FORMAT = "metalora.figure1.sweep/1"


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Everything a sweep produced.

    Attributes
    ----------
    results : tuple of SettingResult
        One per unique setting, in plan order.
    panels : dict
        Panel name → indices into ``results`` (in the panel's value order).
    seeds : tuple of int
    schedule : Schedule
    base : Setting
        The setting every panel varies one field of.
    computed, resumed : int
        Settings run now / loaded from earlier saves.
    wall_s : float
    rate : RateFit or None
        Fit on the ``rate`` panel (else the ``n`` panel), when present.
    claim : dict
        :func:`check_claim`: Meta-LoRA's mean population test loss below SR's at every
        setting (the paper's headline for Figure 1).
    files : tuple of str
        Files written (empty without ``out``).
    """

    results: tuple
    panels: dict
    seeds: tuple
    schedule: Schedule
    base: Setting
    computed: int
    resumed: int
    wall_s: float
    rate: RateFit | None
    claim: dict
    files: tuple = field(default=())

    @property
    def records(self) -> list:
        """Every run's :class:`~.run.RunRecord` (each setting once)."""
        return [rec for res in self.results for rec in res.records]

    def panel_results(self, panel: str) -> list[SettingResult]:
        if panel not in self.panels:
            raise InvalidArgument(
                f"`panel` must be one of {tuple(self.panels)}; got panel={panel!r}."
            )
        return [self.results[i] for i in self.panels[panel]]

    def panel_table(self, panel: str, metric: str = "test_loss") -> list[dict]:
        """Per panel value and method: mean, min and max of ``metric`` over the seeds."""
        p = PANELS[panel]
        rows = []
        for res in self.panel_results(panel):
            for m in p.methods:
                v = res.select(m, metric)
                rows.append(
                    {
                        "panel": panel,
                        p.field: getattr(res.setting, p.field),
                        "method": m,
                        "mean": float(np.mean(v)),
                        "min": float(np.min(v)),
                        "max": float(np.max(v)),
                    }
                )
        return rows

    def to_json(self) -> dict:
        return {
            "format": _FORMAT,
            "seeds": list(self.seeds),
            "schedule": self.schedule.to_json(),
            "base": self.base.to_json(),
            "panels": {
                k: [self.results[i].setting.name for i in v] for k, v in self.panels.items()
            },
            "settings": [
                r.setting.to_json() | {"wall_s": r.wall_s, "cpu_s": r.cpu_s} for r in self.results
            ],
            "computed": self.computed,
            "resumed": self.resumed,
            "wall_s": self.wall_s,
            "rate": None if self.rate is None else self.rate.to_json(),
            "claim": self.claim,
            "files": list(self.files),
        }


def _digest(seeds, schedule: Schedule) -> str:
    blob = json.dumps({"seeds": list(seeds), "schedule": schedule.to_json()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def setting_path(out, setting: Setting, seeds, schedule: Schedule) -> Path:
    """Where :func:`sweep` saves ``setting`` (``.json``; curves in the sibling ``.npz``)."""
    return Path(out) / "settings" / f"{setting.name}-{_digest(seeds, schedule)}.json"


def _atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_setting(path: Path, res: SettingResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **{m: c for m, c in res.curves.items()})
    _atomic_bytes(path.with_suffix(".npz"), buf.getvalue())
    # The JSON is written last: its presence marks the setting as finished.
    _atomic_bytes(path, json.dumps(res.to_json(), indent=1).encode())


def load_setting(path) -> SettingResult:
    """Read a setting saved by :func:`sweep` (JSON + optional ``.npz`` curves; no pickles)."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{path}: cannot read a saved setting ({exc}).") from None
    curves = {}
    npz = path.with_suffix(".npz")
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as data:
            curves = {k: data[k] for k in data.files}
    try:
        return SettingResult.from_json(obj, curves)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"{path}: malformed saved setting ({exc}).") from None


def _reusable(path: Path, setting: Setting, seeds, schedule: Schedule) -> SettingResult | None:
    if not path.is_file():
        return None
    try:
        res = load_setting(path)
    except InvalidArgument:
        return None  # a damaged file is recomputed and overwritten
    ok = (
        res.seeds == tuple(seeds)
        and res.schedule == schedule
        and res.setting.physical() == setting.physical()
        and set(setting.methods) <= set(res.setting.methods)
    )
    return res if ok else None


def check_claim(results) -> dict:
    """The paper's Figure-1 headline, where the theory predicts it.

    Corollary 1 (MATH.md §5) gives SR a positive floor ``ℓ_r(A_SR) > 0`` only when the
    fine-tuning rank ``r`` is below ``rank(Δ) = min((T+1)k, d)``. At those settings the
    claim is "Meta-LoRA's mean population test loss is below SR's"; settings where
    ``r ≥ rank(Δ)`` (e.g. ``T = 2, k = 1``, where fine-tuning uses rank ``3k = (T+1)k``)
    predict no gap and are listed separately with their ratios.
    """
    checked, no_gap = [], []
    for res in results:
        st = res.setting
        if not {"SR", "Meta-LoRA"} <= set(st.methods):
            continue
        sr = float(np.mean(res.select("SR", "test_loss")))
        meta = float(np.mean(res.select("Meta-LoRA", "test_loss")))
        ratio = meta / sr if sr > 0 else float("inf")
        ratio = ratio if np.isfinite(ratio) else float("inf")
        entry = {"setting": st.name, "ratio_meta_over_sr": ratio}
        (checked if st.rank < min((st.T + 1) * st.k, st.d) else no_gap).append(entry)
    if not checked:
        return {
            "holds": None,
            "statement": "no setting where SR's floor is predicted positive",
            "no_gap_predicted": no_gap,
        }
    worst = max(checked, key=lambda e: e["ratio_meta_over_sr"])
    return {
        "holds": bool(worst["ratio_meta_over_sr"] < 1.0),
        "statement": "mean population test loss of Meta-LoRA < that of SR at every setting "
        "with r < min((T+1)k, d)",
        "settings_checked": len(checked),
        "worst_setting": worst["setting"],
        "worst_ratio_meta_over_sr": worst["ratio_meta_over_sr"],
        "no_gap_predicted": no_gap,
    }


def _cost(setting: Setting, schedule: Schedule) -> float:
    """Rough relative cost, to start the slowest settings first."""
    per = {"SR": 0.1, "Meta-LoRA": 1.0, "Meta-LoRA-asym": 1.6}
    size = setting.T * (1.0 + (setting.d / 10.0) ** 2) * (1.0 + 0.2 * setting.k)
    return sum(per[m] for m in setting.methods) * size * max(schedule.rounds, 1)


def _write_outputs(out: Path, result: SweepResult, figures: bool) -> list[str]:
    files = []
    records = result.records
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(RECORD_FIELDS), lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow(
            {k: repr(v) if isinstance(v, float) else v for k, v in rec.to_json().items()}
        )
    _atomic_bytes(out / "runs.csv", buf.getvalue().encode())
    _atomic_bytes(out / "runs.json", json.dumps([r.to_json() for r in records], indent=1).encode())
    files += [str(out / "runs.csv"), str(out / "runs.json")]
    if result.rate is not None:
        _atomic_bytes(out / "rate.json", json.dumps(result.rate.to_json(), indent=1).encode())
        files.append(str(out / "rate.json"))
    if figures:
        from .plots import save_figures

        files += save_figures(result, out)
    return files


def sweep(
    panels="all",
    *,
    seeds=5,
    seed: int = 0,
    schedule: Schedule | None = None,
    base: Setting = DEFAULT_SETTING,
    out=None,
    jobs: int = 1,
    resume: bool = True,
    progress: bool = True,
    figures: bool = True,
    on_setting_done=None,
) -> SweepResult:
    """Run the panels of the finite-sample experiment.

    Parameters
    ----------
    panels : str or sequence of str
        Names from :data:`~.settings.PANELS`, or ``"all"``.
    seeds : int or sequence of int
        A count (seeds ``seed, seed+1, …``) or explicit seeds.
    seed : int
        First seed when ``seeds`` is a count.
    schedule : Schedule, optional
        Default: the paper's.
    base : Setting
        The setting the panels vary (default: the paper's defaults).
    out : path, optional
        Output folder; without it nothing is saved and nothing resumed.
    jobs : int
        Worker processes (joblib/loky); ``-1`` means one per CPU.
    resume : bool
        Load settings already saved under ``out`` with the same seeds and schedule.
    progress : bool
        Show a tqdm progress bar (on stderr).
    figures : bool
        Write PNG figures (needs ``out``).
    on_setting_done : callable, optional
        Called as ``on_setting_done(result, path)`` after each new setting is saved (the
        test suite uses it to simulate an interruption).

    Returns
    -------
    SweepResult
    """
    schedule = Schedule() if schedule is None else schedule
    if not isinstance(schedule, Schedule):
        raise InvalidArgument(f"`schedule` must be a Schedule; got {type(schedule).__name__}.")
    if not isinstance(base, Setting):
        raise InvalidArgument(f"`base` must be a Setting; got {type(base).__name__}.")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        count = check_int("seeds", seeds, low=1)
        first = check_int("seed", seed, low=0)
        seeds = tuple(range(first, first + count))
    else:
        seeds = tuple(check_int("seed", s, low=0) for s in seeds)
        if not seeds or len(set(seeds)) != len(seeds):
            raise InvalidArgument(f"`seeds` must be non-empty and distinct; got seeds={seeds!r}.")
    jobs = check_int("jobs", jobs, low=-1)
    if jobs == 0:
        raise InvalidArgument("`jobs` must be -1 (all CPUs) or a positive integer; got jobs=0.")
    settings, panel_index = plan_settings(panels, base)
    out = None if out is None else Path(out)
    t0 = time.perf_counter()

    results: list[SettingResult | None] = [None] * len(settings)
    paths = [None] * len(settings)
    resumed = 0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(settings):
            paths[i] = setting_path(out, s, seeds, schedule)
            if resume:
                results[i] = _reusable(paths[i], s, seeds, schedule)
                resumed += results[i] is not None
    pending = sorted(
        (i for i, r in enumerate(results) if r is None),
        key=lambda i: -_cost(settings[i], schedule),
    )

    from tqdm import tqdm

    bar = tqdm(
        total=len(settings), initial=resumed, desc="figure1", unit="setting", disable=not progress
    )
    try:

        def finish(i, res):
            results[i] = res
            if paths[i] is not None:
                _save_setting(paths[i], res)
            bar.update(1)
            bar.set_postfix_str(res.setting.name)
            if on_setting_done is not None:
                on_setting_done(res, paths[i])

        if jobs == 1 or len(pending) <= 1:
            for i in pending:
                finish(i, run_setting(settings[i], seeds, schedule))
        else:
            from joblib import Parallel, delayed

            def task(i):
                return i, run_setting(settings[i], seeds, schedule)

            gen = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(task)(i) for i in pending
            )
            for i, res in gen:
                finish(i, res)
    finally:
        bar.close()

    results = tuple(results)
    rate = None
    for name in ("rate", "n"):
        if name in panel_index:
            recs = [rec for i in panel_index[name] for rec in results[i].records]
            if any(rec.method == "Meta-LoRA" for rec in recs):
                rate = fit_rate(recs)
                break
    result = SweepResult(
        results=results,
        panels=panel_index,
        seeds=seeds,
        schedule=schedule,
        base=base,
        computed=len(pending),
        resumed=resumed,
        wall_s=time.perf_counter() - t0,
        rate=rate,
        claim=check_claim(results),
    )
    if out is not None:
        files = _write_outputs(out, result, figures)
        files.append(str(out / "summary.json"))
        result = SweepResult(
            **{**result.__dict__, "files": tuple(files), "wall_s": time.perf_counter() - t0}
        )
        _atomic_bytes(out / "summary.json", json.dumps(result.to_json(), indent=1).encode())
    return result
