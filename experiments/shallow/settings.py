"""Settings, schedules, conventions and panels of the shallow nonlinear experiment.

The model (v2 paper; EXPERIMENTS.md §3b): task ``t`` maps ``x ∈ R^d`` to

    y = cᵀ σ((A* + U*_t U*_tᵀ) x) + ε,    σ(z) = 1 / (1 + e^{−z}),

with ``A*`` (d×d) and ``U*_t`` (d×k) of N(0, 1) entries, ``c ~ N(0, I_d)`` the known
readout, ``x ~ N(0, I_d)`` and ``ε ~ N(0, σ²)``. ``T`` retraining tasks with ``N`` samples
each, one test task with ``n'`` fine-tuning samples.

A :class:`Setting` is one point of a sweep (sizes and noise), a :class:`Schedule` the
optimisation budget (the paper's: AdamW, lr 1e-3, full batch, 40,000 retraining and 15,000
fine-tuning steps), a :class:`Convention` the choices on which the paper's published code
and this toolkit differ (issue 18: loss normalisation, weight decay, initialisation, the
fine-tuning init policy; see ``docs/shallow.md``). :data:`PANELS` are the paper's two
one-at-a-time sweeps, ``d ∈ {5, 10, 20}`` at ``T = 3`` and ``T ∈ {2, 3, 5, 10}`` at
``d = 10``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from landscape.validation import check_float, check_int
from landscape.errors import InvalidArgument

__all__ = [
    "METHODS",
    "BASES",
    "TRUTH",
    "Setting",
    "Schedule",
    "Convention",
    "CONVENTIONS",
    "DEFAULT_CONVENTION",
    "DEFAULT_SETTING",
    "Panel",
    "PANELS",
    "PANEL_ORDER",
    "plan_settings",
    "get_convention",
]

#: Retraining methods, in plotting order (the names of ``metalora figure1``).
#: ``SR``: standard retraining of ``A`` on the pooled data of all tasks. ``Meta-LoRA``:
#: retraining ``A`` with one symmetric adapter ``U_tU_tᵀ`` per task (the theory's form).
#: ``Meta-LoRA-asym``: the same with asymmetric adapters ``B_tC_tᵀ``, ``B_t`` (the
#: up-projection) initialised at zero, as the paper's code does.
METHODS = ("SR", "Meta-LoRA", "Meta-LoRA-asym")

#: The reference base: the ground truth ``A*`` itself, fine-tuned like the others (it
#: calibrates the fine-tuning: from ``A*`` a rank-k adapter can reach the noise floor).
TRUTH = "truth"

#: Bases that are fine-tuned, in plotting order.
BASES = (TRUTH,) + METHODS


@dataclass(frozen=True)
class Setting:
    """One experimental setting (EXPERIMENTS.md §3b).

    Parameters
    ----------
    d : int
        Input dimension (``A`` is d×d).
    T : int
        Number of retraining tasks.
    N : int
        Samples per retraining task.
    n : int
        Fine-tuning samples on the test task (the paper's ``n'``).
    k : int
        Rank of the ground-truth task adapters, of the retraining adapters and of the
        fine-tuning adapter.
    sigma : float
        Noise standard deviation.

    Notes
    -----
    Fine-tuning runs at rank ``k`` and, when ``T = 2``, also at rank ``3k`` (the paper's
    T = 2 panel): two tasks leave SR an error of rank up to ``(T+1)k = 3k`` on the test
    task in the linear theory, so rank ``3k`` is where SR's gap can close.
    """

    d: int = 10
    T: int = 3
    N: int = 1000
    n: int = 100
    k: int = 1
    sigma: float = 0.1

    def __post_init__(self):
        d = check_int("d", self.d, low=1)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "T", check_int("T", self.T, low=1))
        object.__setattr__(self, "N", check_int("N", self.N, low=1))
        object.__setattr__(self, "n", check_int("n", self.n, low=1))
        object.__setattr__(self, "k", check_int("k", self.k, low=1, high=d))
        object.__setattr__(self, "sigma", check_float("sigma", self.sigma, low=0.0))
        if max(self.ranks) > d:
            raise InvalidArgument(
                f"the fine-tuning rank 3k={3 * self.k} (used when T=2) must be <= d={d}."
            )

    @property
    def ranks(self) -> tuple[int, ...]:
        """Fine-tuning ranks: ``(k, 3k)`` when ``T = 2``, else ``(k,)``."""
        return (self.k, 3 * self.k) if self.T == 2 else (self.k,)

    @property
    def name(self) -> str:
        """A readable, file-name-safe identifier."""
        return f"d{self.d}_T{self.T}_N{self.N}_n{self.n}_k{self.k}_s{self.sigma:g}"

    def replace(self, **changes) -> "Setting":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "ranks": list(self.ranks)}

    @classmethod
    def from_json(cls, obj: dict) -> "Setting":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})


#: The paper's base setting of the shallow experiment.
DEFAULT_SETTING = Setting()

_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Schedule:
    """Optimisation budget; the defaults are the paper's (EXPERIMENTS.md §3b).

    Parameters
    ----------
    retrain_steps : int
        Full-batch AdamW steps of retraining (paper: 40,000; one step per epoch).
    finetune_steps : int
        Full-batch AdamW steps of fine-tuning (paper: 15,000).
    lr : float
        AdamW learning rate, retraining and fine-tuning (paper: 1e-3).
    record_every : int
        ``‖Â − A*‖_F`` and the training loss are recorded every this many steps.
    n_test : int
        Fresh test inputs per seed for the population test loss (Monte Carlo; its
        standard error is reported).
    dtype : {"float32", "float64"}
        Precision of the training loops. Metrics are always computed in float64.
        float32 is the default: a step costs ~3× less, and its rounding (relative
        ~1e-7 per operation, ~1e-5 after a sum over N = 1000 samples) is far below the
        quantities compared (losses and gaps of 1e-3 and more); the test suite checks
        that both precisions give the same numbers to 1e-4 on a short run.
    """

    retrain_steps: int = 40_000
    finetune_steps: int = 15_000
    lr: float = 1e-3
    record_every: int = 200
    n_test: int = 10_000
    dtype: str = "float32"

    def __post_init__(self):
        for name in ("retrain_steps", "finetune_steps"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), low=0))
        object.__setattr__(self, "record_every", check_int("record_every", self.record_every, low=1))
        object.__setattr__(self, "n_test", check_int("n_test", self.n_test, low=2))
        object.__setattr__(self, "lr", check_float("lr", self.lr, positive=True))
        if self.dtype not in _DTYPES:
            raise InvalidArgument(f"`dtype` must be one of {_DTYPES}; got dtype={self.dtype!r}.")

    @classmethod
    def quick(cls, **changes) -> "Schedule":
        """Smoke profile: 1/20 of the paper's steps at 10× the learning rate.

        2,000 retraining and 1,500 fine-tuning steps at lr 1e-2 travel as far as the paper's
        budget (Adam moves each parameter by about ``lr`` per step); the numbers are
        noisier but show the same ordering.
        """
        base = {
            "retrain_steps": 2000,
            "finetune_steps": 1500,
            "lr": 1e-2,
            "record_every": 50,
            "n_test": 4000,
        }
        return cls(**{**base, **changes})

    def replace(self, **changes) -> "Schedule":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> "Schedule":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})


@dataclass(frozen=True)
class Convention:
    """What the paper's published code and this toolkit do differently (issue 18).

    Attributes
    ----------
    name : str
        ``"paper-code"`` or ``"ours"``.
    task_loss : {"sum", "mean"}
        Meta-LoRA's retraining objective over tasks: the published code sums the
        per-task mean squared errors (one optimiser step after adding all tasks'
        gradients); ours averages them (docs/math.md §2). SR is the pooled mean in both.
        (With Adam the factor ``T`` matters only through ``eps``.)
    weight_decay : float
        AdamW's decoupled weight decay: 0.01 (torch's default, the published code) or 0
        (ours: the minimiser of the retraining objective is then the one the theory
        studies, not a shrunken one).
    base_init : {"torch-linear", "zero"}
        ``A`` at the start of retraining: ``nn.Linear``'s default U(−1/√d, 1/√d) entries
        (published code) or ``A = 0`` (ours, as the linear experiment).
    factor_init : {"torch-linear", "normal"}
        The trained factor ``C`` of an asymmetric adapter ``BCᵀ`` (``B = 0`` in both):
        U(−1/√d, 1/√d) like ``nn.Linear(d, k)`` (published code) or N(0, 1/d) (ours).
    finetune_init : {"per-base", "shared"}
        Fine-tuning adapters: a fresh draw for every base (published code) or one draw
        per seed shared by every base (ours: the comparison is paired).
    description : str
        One line for tables and docs.

    Notes
    -----
    Both conventions draw the noise with standard deviation ``σ`` (the σ² trap of
    EXPERIMENTS.md §1 belongs to the published *linear* code), keep the readout ``c``
    fixed at its true value, train symmetric adapters from N(0, 0.1²) entries (the
    published code has no symmetric variant) and use the same step counts and learning
    rate (the paper's). The published code plots the in-sample metric (median over
    trials); both conventions report it beside the population loss.
    """

    name: str
    task_loss: str
    weight_decay: float
    base_init: str
    factor_init: str
    finetune_init: str
    description: str

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


#: The two conventions, by name.
CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            name="ours",
            task_loss="mean",
            weight_decay=0.0,
            base_init="zero",
            factor_init="normal",
            finetune_init="shared",
            description="mean over tasks, no weight decay, A = 0, one shared fine-tuning init",
        ),
        Convention(
            name="paper-code",
            task_loss="sum",
            weight_decay=0.01,
            base_init="torch-linear",
            factor_init="torch-linear",
            finetune_init="per-base",
            description="sum over tasks, AdamW weight decay 0.01, nn.Linear inits, "
            "a fresh fine-tuning init per base",
        ),
    )
}

#: Ours by default: the objective the theory analyses (no weight decay), paired
#: comparisons (shared fine-tuning init). ``paper-code`` reproduces the published choices.
DEFAULT_CONVENTION = "ours"


def get_convention(convention) -> Convention:
    """A :class:`Convention` from itself or its name."""
    if isinstance(convention, Convention):
        return convention
    if convention not in CONVENTIONS:
        raise InvalidArgument(
            f"`convention` must be one of {tuple(CONVENTIONS)}; got convention={convention!r}."
        )
    return CONVENTIONS[convention]


@dataclass(frozen=True)
class Panel:
    """A one-at-a-time sweep: ``field`` of the base setting takes each of ``values``."""

    name: str
    field: str
    values: tuple
    label: str


#: The paper's two panels.
PANELS: dict[str, Panel] = {
    p.name: p
    for p in (
        Panel("d", "d", (5, 10, 20), "dimension d (T = 3)"),
        Panel("T", "T", (2, 3, 5, 10), "retraining tasks T (d = 10)"),
    )
}
PANEL_ORDER = tuple(PANELS)


def plan_settings(panels="all", base: Setting = DEFAULT_SETTING):
    """Unique settings of ``panels`` and, per panel, the indices of its settings.

    The base setting (``d = 10, T = 3``) belongs to both panels and runs once.
    """
    if isinstance(panels, str):
        panels = (panels,)
    names: list[str] = []
    for p in panels:
        if p == "all":
            names.extend(PANEL_ORDER)
        elif p in PANELS:
            names.append(p)
        else:
            raise InvalidArgument(
                f"`panel` must be one of {PANEL_ORDER + ('all',)}; got panel={p!r}."
            )
    if not names:
        raise InvalidArgument("`panels` must name at least one panel; got an empty list.")
    names = list(dict.fromkeys(names))
    order: list[Setting] = []
    index: dict[str, list[int]] = {}
    for name in names:
        p = PANELS[name]
        idx = []
        for v in p.values:
            s = base.replace(**{p.field: v})
            if s not in order:
                order.append(s)
            idx.append(order.index(s))
        index[name] = idx
    return tuple(order), index
