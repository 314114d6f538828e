"""Sweeps of the linear experiment: parallel, with a progress bar, saved as they go, resumable.

:func:`sweep` plans the unique settings of the requested panels (the default setting,
shared by most panels, runs once per fine-tuning count), runs the missing ones with joblib
(``jobs`` processes) and saves each finished setting through a
:class:`landscape.runs.RunDir`: ``settings/<name>.npz`` (curves, bases, fine-tuned maps)
then ``settings/<name>.json`` (the numbers, the ``.npz``'s SHA-256, and the run's
fingerprint), both atomically. The fingerprint covers everything that determines a result
(convention, schedule with its step sizes and counts, seeds, explicit problem, data and
inits), so a later call resumes only settings computed with the same inputs; records made
with other settings, damaged records and mismatched arrays are recomputed. At the end it
writes every run's final numbers (``runs.csv``, ``runs.json``), the rate fit
(``rate.json``), the figures (PNG), ``summary.json`` (no timings: the same seeds give the
same bytes) and ``timing.json``, then marks the run complete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landscape import Problem
from landscape.validation import check_int
from landscape.errors import InvalidArgument
from landscape.runs import RunDir, atomic_output, atomic_write_json, atomic_write_text, seed_list

from .conventions import DEFAULT_CONVENTION, get_convention
from .rate import RateFit, fit_rate
from .run import RECORD_FIELDS, STEP_KEYS, Inits, SettingResult, run_setting
from .settings import DEFAULT_SETTING, PANELS, Schedule, Setting, plan_settings

__all__ = ["SweepResult", "sweep", "setting_path", "load_setting", "check_claim", "array_digest"]

_FORMAT = "metalora.figure1.sweep/2"
_KIND = "figure1"
#: Panels that vary d, T or k: impossible with one explicit ground truth.
_SHAPE_PANELS = ("d", "T", "k", "adapters")


class PanelSweep:
    """What every panel sweep's result shares (Figure 1 here, the shallow suite too).

    Subclasses have ``results`` (one setting result per setting, each with ``records``)
    and ``panels`` (panel name -> indices into ``results``).
    """

    @property
    def records(self) -> list:
        """Every run's record (each setting once)."""
        return [rec for res in self.results for rec in res.records]

    def panel_results(self, panel: str) -> list:
        if panel not in self.panels:
            raise InvalidArgument(
                f"`panel` must be one of {tuple(self.panels)}; got panel={panel!r}."
            )
        return [self.results[i] for i in self.panels[panel]]


@dataclass(frozen=True, eq=False)
class SweepResult(PanelSweep):
    """Everything a sweep produced.

    Attributes
    ----------
    results : tuple of SettingResult
        One per unique setting, in plan order.
    panels : dict
        Panel name → indices into ``results`` (in the panel's value order).
    seeds : tuple of int
    schedule : Schedule
    convention : str
    base : Setting
        The setting every panel varies one field of.
    computed, resumed : int
        Settings run now / loaded from earlier saves.
    stale : int
        Saved settings found but not reused (made with other settings, damaged, or
        arrays that do not match their record).
    wall_s : float
        Not part of :meth:`to_json` (see ``timing.json``).
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
    convention: str
    base: Setting
    computed: int
    resumed: int
    stale: int
    wall_s: float
    rate: RateFit | None
    claim: dict
    files: tuple = field(default=())


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
        """The summary (no timings: the same inputs give the same JSON)."""
        return {
            "format": _FORMAT,
            "convention": self.convention,
            "seeds": list(self.seeds),
            "schedule": self.schedule.to_json(),
            "base": self.base.to_json(),
            "panels": {
                k: [self.results[i].setting.name for i in v] for k, v in self.panels.items()
            },
            "settings": [{**r.setting.to_json(), "steps": r.steps} for r in self.results],
            "computed": self.computed,
            "resumed": self.resumed,
            "stale": self.stale,
            "rate": None if self.rate is None else self.rate.to_json(),
            "claim": self.claim,
            "files": list(self.files),
        }


def array_digest(obj) -> str | None:
    """SHA-256 of the exact float64 contents and shapes of nested arrays (None for None).

    Used in the resume fingerprint for explicit problems, data and inits: any changed bit
    changes it.
    """
    if obj is None:
        return None
    h = hashlib.sha256()

    def feed(x, path):
        if isinstance(x, Problem):
            x = {"A_star": x.A_star, "U_star": x.U_star, "U_test": x.U_test}
        elif isinstance(x, Inits):
            x = {f: getattr(x, f) for f in x.__dataclass_fields__}
        elif hasattr(x, "retrain") and hasattr(x, "finetune"):  # RunData
            x = {"retrain": x.retrain, "finetune": x.finetune}
        elif hasattr(x, "Sxx") and hasattr(x, "n"):  # Moments
            x = {"Sxx": x.Sxx, "Syx": x.Syx, "Syy": x.Syy, "n": np.array(x.n)}
        if isinstance(x, dict):
            for key in sorted(x):
                feed(x[key], f"{path}/{key}")
        elif isinstance(x, (list, tuple)):
            for i, item in enumerate(x):
                feed(item, f"{path}/{i}")
        else:
            a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
            h.update(f"{path}:{a.shape}".encode())
            h.update(a.tobytes())

    feed(obj, "")
    return h.hexdigest()


def setting_path(out, setting: Setting) -> Path:
    """Where :func:`sweep` saves ``setting`` (``.json``; arrays in the sibling ``.npz``)."""
    return Path(out) / "settings" / f"{setting.name}.json"


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save_setting(run: RunDir, setting: Setting, res: SettingResult) -> Path:
    name = f"settings/{setting.name}"
    npz = run.path(name + ".npz")
    with atomic_output(npz) as tmp:
        np.savez(tmp, **res.arrays())
    # The JSON is written last: its presence marks the setting as finished.
    return run.save(
        name + ".json",
        {
            "result": res.to_json(),
            "arrays_sha256": _sha256_file(npz),
            "timing": {"wall_s": res.wall_s, "cpu_s": res.cpu_s},
        },
    )


def _load_arrays(npz: Path) -> dict:
    with np.load(npz, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_setting(path) -> SettingResult:
    """Read a setting saved by :func:`sweep` (JSON + its ``.npz``; no pickles).

    The arrays are loaded only if their SHA-256 matches the record. This reads a record
    whatever run it belongs to; :func:`sweep` itself reuses only records whose fingerprint
    matches its inputs.
    """
    path = Path(path)
    doc = RunDir._read(path)
    if doc is None or not isinstance(doc.get("record"), dict):
        raise InvalidArgument(f"{path}: cannot read a saved figure1 setting.")
    rec = doc["record"]
    npz = path.with_suffix(".npz")
    arrays = {}
    try:
        if npz.is_file() and _sha256_file(npz) == rec.get("arrays_sha256"):
            arrays = _load_arrays(npz)
        return SettingResult.from_json(rec["result"], arrays, rec.get("timing"))
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise InvalidArgument(f"{path}: malformed saved setting ({exc}).") from None


def _reusable(run: RunDir, setting: Setting) -> SettingResult | None:
    name = f"settings/{setting.name}"
    rec = run.load(name + ".json")
    if rec is None:
        return None
    try:
        npz = run.root / (name + ".npz")
        if not npz.is_file() or _sha256_file(npz) != rec.get("arrays_sha256"):
            run.stale.append(name + ".npz")
            return None
        res = SettingResult.from_json(rec["result"], _load_arrays(npz), rec.get("timing"))
    except (InvalidArgument, KeyError, TypeError, ValueError, OSError):
        run.stale.append(name + ".json")
        return None  # a damaged record is recomputed and overwritten
    if res.setting.key() != setting.key() or not set(setting.methods) <= set(res.setting.methods):
        return None
    return res


def check_claim(results) -> dict:
    """The paper's Figure-1 headline, where the theory predicts it.

    Corollary 1 (docs/math.md §5) gives SR a positive floor ``ℓ_r(A_SR) > 0`` only when the
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
    ft = (setting.ft_steps or 2000) / 3000.0
    return sum(per[m] for m in setting.methods) * size * max(schedule.rounds, 1) + ft


def _write_outputs(run: RunDir, result: SweepResult, figures: bool) -> list[str]:
    out = run.root
    files = []
    records = result.records
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(RECORD_FIELDS), lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow(
            {k: repr(v) if isinstance(v, float) else v for k, v in rec.to_json().items()}
        )
    atomic_write_text(out / "runs.csv", buf.getvalue())
    atomic_write_json(out / "runs.json", [r.to_json() for r in records], indent=1)
    files += [str(out / "runs.csv"), str(out / "runs.json")]
    if result.rate is not None:
        atomic_write_json(out / "rate.json", result.rate.to_json(), indent=1)
        files.append(str(out / "rate.json"))
    if figures:
        from .plots import save_figures

        files += save_figures(result, out)
    return files


def _explicit_base(base: Setting, panels, problem, samples):
    """The base setting and panels when the ground truth or the data are given."""
    names = (panels,) if isinstance(panels, str) else tuple(panels)
    if problem is not None:
        probs = problem if isinstance(problem, (list, tuple)) else [problem]
        if not probs or not all(isinstance(p, Problem) for p in probs):
            raise InvalidArgument("`problem` must be a landscape.Problem or a list of them.")
        shapes = {(p.d, p.k, p.T) for p in probs}
        if len(shapes) != 1:
            raise InvalidArgument(f"`problem`: every problem must have the same (d, k, T); got {sorted(shapes)}.")
        d, k, T = shapes.pop()
        base = base.replace(d=d, k=k, T=T)
        bad = [p for p in names if p in _SHAPE_PANELS or p == "all"]
        if bad:
            raise InvalidArgument(
                f"`panel` {bad[0]!r} varies d, T or k, which an explicit problem fixes; choose "
                f"among base, N, n, noise, rate."
            )
    if samples is not None:
        if problem is None:
            raise InvalidArgument("`samples` need the `problem` they were drawn from (for the test loss).")
        if tuple(names) != ("base",):
            raise InvalidArgument("with explicit `samples` only the `base` panel can run.")
        first = samples[0] if isinstance(samples, (list, tuple)) else samples
        if not isinstance(first, dict) or not {"X", "X_test"} <= set(first):
            raise InvalidArgument("`samples` must be a dict with X, Y, X_test, Y_test (or a list of them).")
        X, Xt = np.asarray(first["X"]), np.asarray(first["X_test"])
        if X.ndim != 3 or Xt.ndim != 2:
            raise InvalidArgument(
                f"`samples`: X must have shape (T, N, d) and X_test (n', d); got {X.shape} and {Xt.shape}."
            )
        base = base.replace(N=X.shape[1], n=Xt.shape[0])
    return base


def sweep(
    panels="all",
    *,
    seeds=5,
    seed: int = 0,
    schedule: Schedule | None = None,
    convention=DEFAULT_CONVENTION,
    base: Setting = DEFAULT_SETTING,
    problem=None,
    samples=None,
    inits=None,
    step_sizes: dict | None = None,
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
        Names from :data:`~.settings.PANELS`, or ``"all"`` (every panel but ``base``).
    seeds : int or sequence of int
        A count (seeds ``seed, seed+1, …``) or explicit seeds.
    seed : int
        First seed when ``seeds`` is a count.
    schedule : Schedule, optional
        Nominal hyperparameters. Default: the paper's.
    convention : {"ours", "paper-code"}
        See :mod:`~experiments.linear.conventions`.
    base : Setting
        The setting the panels vary (default: the paper's defaults).
    problem : landscape.Problem or list of them (one per seed), optional
        Explicit ground truth: the base takes its ``(d, k, T)``; panels varying them are
        refused.
    samples : dict or list of dicts, optional
        Explicit data (see :func:`~.run.run_setting`; needs ``problem``; only the ``base``
        panel, whose ``N`` and ``n'`` are taken from the data).
    inits : Inits, dict or list of them, optional
        Explicit initialisations (see :func:`~.run.run_setting`).
    step_sizes : dict, optional
        Nominal step sizes overriding the schedule's (``lr_U``, ``lr_A``, ``lr_sr``, ``lr_ft``).
    out : path, optional
        Output folder (its parent must exist); without it nothing is saved or resumed.
    jobs : int
        Worker processes (joblib/loky); ``-1`` means one per CPU.
    resume : bool
        Reuse settings saved under ``out`` by a run with the same fingerprint.
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
    conv = get_convention(convention)
    if step_sizes:
        if not isinstance(step_sizes, dict) or set(step_sizes) - set(STEP_KEYS):
            raise InvalidArgument(
                f"`step_sizes` must be a dict with keys among {STEP_KEYS}; got {step_sizes!r}."
            )
        schedule = schedule.replace(**step_sizes)
    seeds = seed_list(seeds, seed)
    jobs = check_int("jobs", jobs, low=-1)
    if jobs == 0:
        raise InvalidArgument("`jobs` must be -1 (all CPUs) or a positive integer; got jobs=0.")
    base = _explicit_base(base, panels, problem, samples)
    settings, panel_index = plan_settings(panels, base, conv)
    explicit = {"problem": problem, "samples": samples, "inits": inits}
    t0 = time.perf_counter()

    run = None
    if out is not None:
        run = RunDir(
            out,
            kind=_KIND,
            settings={
                "format": _FORMAT,
                "convention": conv.to_json(),
                "schedule": schedule.to_json(),
                "seeds": list(seeds),
                "problem": array_digest(problem),
                "samples": array_digest(samples),
                "inits": array_digest(inits),
            },
            resume=resume,
        )
    results: list[SettingResult | None] = [None] * len(settings)
    resumed = 0
    if run is not None:
        for i, s in enumerate(settings):
            results[i] = _reusable(run, s)
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
            path = None if run is None else _save_setting(run, settings[i], res)
            bar.update(1)
            bar.set_postfix_str(res.setting.name)
            if on_setting_done is not None:
                on_setting_done(res, path)

        def task(i):
            return i, run_setting(settings[i], seeds, schedule, convention=conv.name, **explicit)

        if jobs == 1 or len(pending) <= 1:
            for i in pending:
                finish(*task(i))
        else:
            from joblib import Parallel, delayed

            gen = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(task)(i) for i in pending
            )
            try:
                for i, res in gen:
                    finish(i, res)
            finally:
                gen.close()  # on an interruption, cancel what is still queued
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
        convention=conv.name,
        base=base,
        computed=len(pending),
        resumed=resumed,
        stale=0 if run is None else len(set(run.stale)),
        wall_s=time.perf_counter() - t0,
        rate=rate,
        claim=check_claim(results),
    )
    if run is not None:
        files = _write_outputs(run, result, figures)
        out = run.root
        files += [str(out / "summary.json"), str(out / "timing.json")]
        result = SweepResult(**{**result.__dict__, "files": tuple(files), "wall_s": time.perf_counter() - t0})
        atomic_write_json(out / "summary.json", result.to_json(), indent=1)
        atomic_write_json(
            out / "timing.json",
            {
                "wall_s": result.wall_s,
                "settings": {
                    r.setting.name: {"wall_s": r.wall_s, "cpu_s": r.cpu_s} for r in result.results
                },
            },
            indent=1,
        )
        run.mark_complete({"claim": result.claim, "settings": len(results)})
    return result
