"""One setting of the shallow experiment: draw, retrain, fine-tune, measure — every seed at once.

:func:`run_setting` returns a :class:`SettingResult`: one record per (seed, fine-tuned
base, rank) with the fields :data:`RECORD_FIELDS`, and the retraining curves
``‖Â − A*‖_F`` and in-sample MSE per method and seed. Its JSON (:meth:`SettingResult.to_json`)
is byte-identical for the same inputs; wall times live in the separate ``timing`` field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from landscape.validation import check_float, check_int
from landscape.errors import InvalidArgument
from landscape.runs import jsonable, make_rng

from .data import draw_instance
from .metrics import insample_error, population_loss
from .settings import METHODS, TRUTH, Schedule, Setting, get_convention
from .train import finetune, retrain

__all__ = ["RECORD_FIELDS", "SettingResult", "run_setting"]

#: Fields of one record (one seed × fine-tuned base × rank).
RECORD_FIELDS = (
    "setting",
    "d",
    "T",
    "N",
    "n",
    "k",
    "sigma",
    "convention",
    "seed",
    "method",
    "rank",
    "pop_loss",
    "pop_loss_se",
    "insample_error",
    "finetune_mse",
    "base_pop_loss",
    "base_error",
    "retrain_mse",
)

_FIELD_DOC = """\
pop_loss, pop_loss_se: population test loss after fine-tuning and its Monte-Carlo standard
error; insample_error: clean-target error on the n' fine-tuning inputs (the paper code's
metric); finetune_mse: final fine-tuning objective (noisy targets); base_pop_loss:
population test loss of the base alone (no adapter); base_error: ‖Â − A*‖_F; retrain_mse:
final retraining in-sample MSE, mean over tasks (None for the truth base)."""


@dataclass(frozen=True, eq=False)
class SettingResult:
    """Everything one setting produced.

    Attributes
    ----------
    setting : Setting
    seeds : tuple of int
    schedule : Schedule
    convention : str
    methods : tuple of str
        Retraining methods run (the fine-tuned bases are ``("truth",) + methods``).
    corrupt_truth : float
        Size of the perturbation added to the reference base (0: the ground truth; a
        positive value exists to show that the noise-floor check fails on a bad base).
    records : tuple of dict
        One per (seed, base, rank), keys :data:`RECORD_FIELDS`.
    curves : dict
        ``steps`` (list) and, per method, ``base_error`` and ``train_mse`` (seeds × steps).
    timing : dict
        Wall seconds of the retraining, fine-tuning and metrics (not part of ``to_json``
        unless asked for).
    """

    setting: Setting
    seeds: tuple
    schedule: Schedule
    convention: str
    methods: tuple
    corrupt_truth: float
    records: tuple
    curves: dict
    timing: dict = field(default_factory=dict)

    @property
    def bases(self) -> tuple:
        return (TRUTH,) + tuple(self.methods)

    def select(self, method: str, field_: str, rank: int | None = None) -> np.ndarray:
        """``field_`` of every seed's record for ``method`` at ``rank`` (default: ``k``)."""
        rank = self.setting.k if rank is None else rank
        vals = [
            r[field_]
            for r in self.records
            if r["method"] == method and r["rank"] == rank
        ]
        if not vals:
            raise InvalidArgument(
                f"no records for method={method!r}, rank={rank} at {self.setting.name}."
            )
        return np.array([np.nan if v is None else v for v in vals], dtype=float)

    def to_json(self, *, timing: bool = False) -> dict:
        out = {
            "setting": self.setting.to_json(),
            "seeds": list(self.seeds),
            "schedule": self.schedule.to_json(),
            "convention": self.convention,
            "methods": list(self.methods),
            "corrupt_truth": self.corrupt_truth,
            "records": [dict(r) for r in self.records],
            "curves": self.curves,
        }
        if timing:
            out["timing"] = dict(self.timing)
        return jsonable(out)

    @classmethod
    def from_json(cls, obj: dict) -> "SettingResult":
        return cls(
            setting=Setting.from_json(obj["setting"]),
            seeds=tuple(obj["seeds"]),
            schedule=Schedule.from_json(obj["schedule"]),
            convention=obj["convention"],
            methods=tuple(obj["methods"]),
            corrupt_truth=float(obj["corrupt_truth"]),
            records=tuple(obj["records"]),
            curves=obj["curves"],
            timing=dict(obj.get("timing", {})),
        )


def _check_seeds(seeds) -> tuple:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = tuple(range(check_int("seeds", seeds, low=1)))
    seeds = tuple(check_int("seed", s, low=0) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise InvalidArgument(f"`seeds` must be non-empty and distinct; got seeds={seeds!r}.")
    return seeds


def run_setting(setting: Setting, seeds=2, schedule: Schedule | None = None,
                convention="ours", *, methods=METHODS, corrupt_truth: float = 0.0,
                progress: bool = False) -> SettingResult:
    """Run one setting for all ``seeds`` in one vectorised batch.

    Parameters
    ----------
    setting : Setting
    seeds : int or sequence of int
        A count (seeds ``0..seeds−1``) or explicit non-negative seeds.
    schedule : Schedule, optional
        Default: the paper's (40,000 + 15,000 AdamW steps at lr 1e-3).
    convention : {"ours", "paper-code"} or Convention
    methods : sequence of str
        Retraining methods (default all of :data:`~.settings.METHODS`).
    corrupt_truth : float
        Add ``corrupt_truth · G`` (G with N(0, 1) entries, seeded) to the reference base
        ``A*`` before fine-tuning it. Only for showing that the noise-floor check fails.
    progress : bool

    Returns
    -------
    SettingResult
    """
    if not isinstance(setting, Setting):
        raise InvalidArgument(f"`setting` must be a Setting; got {type(setting).__name__}.")
    schedule = Schedule() if schedule is None else schedule
    if not isinstance(schedule, Schedule):
        raise InvalidArgument(f"`schedule` must be a Schedule; got {type(schedule).__name__}.")
    conv = get_convention(convention)
    seeds = _check_seeds(seeds)
    corrupt_truth = check_float("corrupt_truth", corrupt_truth, low=0.0)
    methods = tuple(m for m in METHODS if m in tuple(methods))

    t0 = time.perf_counter()
    insts = [draw_instance(setting, s) for s in seeds]
    rr = retrain(insts, methods, schedule, conv, progress=progress)
    t1 = time.perf_counter()
    truth = np.stack([i.A_star for i in insts])
    if corrupt_truth:
        d = setting.d
        truth = truth + corrupt_truth * np.stack(
            [make_rng(s, "shallow", "corrupt", d).standard_normal((d, d)) for s in seeds]
        )
    bases = {TRUTH: truth, **rr.bases}
    ft = finetune(insts, bases, setting.ranks, schedule, conv, progress=progress)
    t2 = time.perf_counter()

    names = list(bases)
    base_stack = np.stack([bases[b] for b in names], axis=1)  # (S, B, d, d)
    records = []
    for s, inst in enumerate(insts):
        X_pop = inst.population_inputs(schedule.n_test)
        loss, se = population_loss(inst, ft.W[s], X_pop)
        ins = insample_error(inst, ft.W[s])
        base_loss, _ = population_loss(inst, base_stack[s], X_pop)
        for e, (b, r) in enumerate(ft.entries):
            j = names.index(b)
            if b == TRUTH:
                err = float(np.linalg.norm(truth[s] - inst.A_star))
                rmse = None
            else:
                err = float(rr.base_error[b][s, -1])
                rmse = float(rr.train_mse[b][s, -1])
            records.append(
                {
                    "setting": setting.name,
                    "d": setting.d,
                    "T": setting.T,
                    "N": setting.N,
                    "n": setting.n,
                    "k": setting.k,
                    "sigma": setting.sigma,
                    "convention": conv.name,
                    "seed": inst.seed,
                    "method": b,
                    "rank": r,
                    "pop_loss": float(loss[e]),
                    "pop_loss_se": float(se[e]),
                    "insample_error": float(ins[e]),
                    "finetune_mse": float(ft.train_mse[s, e]),
                    "base_pop_loss": float(base_loss[j]),
                    "base_error": err,
                    "retrain_mse": rmse,
                }
            )
    curves = {
        "steps": rr.steps.tolist(),
        **{
            m: {"base_error": rr.base_error[m].tolist(), "train_mse": rr.train_mse[m].tolist()}
            for m in methods
        },
    }
    t3 = time.perf_counter()
    return SettingResult(
        setting=setting,
        seeds=seeds,
        schedule=schedule,
        convention=conv.name,
        methods=methods,
        corrupt_truth=corrupt_truth,
        records=tuple(records),
        curves=jsonable(curves),
        timing={"retrain_s": t1 - t0, "finetune_s": t2 - t1, "metrics_s": t3 - t2},
    )
