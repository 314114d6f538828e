"""Settings of the finite-sample linear experiment (paper §4.1, Figure 1) and its sweeps.

A :class:`Setting` is one point of a sweep (sizes, noise, which methods to run); a
:class:`Schedule` holds the optimisation hyperparameters (the paper's step sizes and
iteration counts by default); :data:`PANELS` lists the one-at-a-time sweeps of Figure 1
plus this toolkit's extra panels (noise level, retraining-adapter symmetry, a denser
``n'`` grid for the rate fit). Settings come from EXPERIMENTS.md §1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from landscape.validation import check_float, check_int
from landscape.errors import InvalidArgument

from .conventions import DEFAULT_CONVENTION, get_convention

__all__ = [
    "METHODS",
    "Setting",
    "Schedule",
    "DEFAULT_SETTING",
    "Panel",
    "PANELS",
    "PANEL_ORDER",
    "ALL_PANELS",
    "panel_settings",
    "plan_settings",
]

#: Methods, in plotting order. ``Meta-LoRA`` retrains with symmetric adapters ``U_tU_tᵀ``
#: (the theory's objective); ``Meta-LoRA-asym`` with asymmetric ``U_tV_tᵀ`` (not covered
#: by the theory); ``SR`` is standard retraining (pooled least squares).
METHODS = ("SR", "Meta-LoRA", "Meta-LoRA-asym")

_SOLVERS = ("gd", "fast")
_SAMPLERS = ("wishart", "samples")


@dataclass(frozen=True)
class Setting:
    """One experimental setting (EXPERIMENTS.md §1).

    Parameters
    ----------
    d : int
        Input/output dimension.
    T : int
        Number of retraining tasks.
    N : int
        Samples per retraining task.
    n : int
        Fine-tuning samples on the test task (the paper's ``n'``).
    k : int
        Rank of the ground-truth task adapters and of the retraining adapters.
    sigma : float
        Noise **standard deviation** (the authors' code drew noise with std ``σ²``).
    methods : tuple of str
        Subset of :data:`METHODS` to run.
    ft_steps : int or None
        Fine-tuning step count of this setting (the ``paper-code`` convention fixes one per
        panel); None: the schedule's, else the convention's default.

    Notes
    -----
    Fine-tuning uses rank ``r = 3k`` when ``T = 2`` (two retraining tasks only pin the
    base down to a rank-2k error, docs/math.md §5 item 6) and ``r = k`` otherwise, for every
    method, as in the paper.
    """

    d: int = 10
    T: int = 3
    N: int = 5000
    n: int = 100
    k: int = 1
    sigma: float = 0.1
    methods: tuple[str, ...] = ("SR", "Meta-LoRA")
    ft_steps: int | None = None

    def __post_init__(self):
        if self.ft_steps is not None:
            object.__setattr__(self, "ft_steps", check_int("ft_steps", self.ft_steps, low=0))
        d = check_int("d", self.d, low=1)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "T", check_int("T", self.T, low=1))
        object.__setattr__(self, "N", check_int("N", self.N, low=1))
        object.__setattr__(self, "n", check_int("n", self.n, low=1))
        object.__setattr__(self, "k", check_int("k", self.k, low=1, high=d))
        object.__setattr__(self, "sigma", check_float("sigma", self.sigma, low=0.0))
        methods = tuple(self.methods)
        bad = [m for m in methods if m not in METHODS]
        if bad or not methods or len(set(methods)) != len(methods):
            raise InvalidArgument(
                f"`methods` must be a non-empty tuple of distinct names from {METHODS}; "
                f"got methods={methods!r}."
            )
        object.__setattr__(self, "methods", tuple(m for m in METHODS if m in methods))
        if self.T * self.N < d:
            raise InvalidArgument(
                f"`N` must satisfy T·N >= d (else the pooled second moment is singular and the "
                f"base is not identifiable); got T={self.T}, N={self.N}, d={d}."
            )
        if self.rank > d:
            raise InvalidArgument(
                f"the fine-tuning rank r={self.rank} (3k when T=2, else k) must be <= d={d}."
            )

    @property
    def rank(self) -> int:
        """Fine-tuning adapter rank: ``3k`` when ``T = 2``, else ``k``."""
        return 3 * self.k if self.T == 2 else self.k

    def replace(self, **changes) -> "Setting":
        return dataclasses.replace(self, **changes)

    @property
    def name(self) -> str:
        """A readable, file-name-safe identifier of sizes, noise and fine-tuning count."""
        name = f"d{self.d}_T{self.T}_N{self.N}_n{self.n}_k{self.k}_s{self.sigma:g}"
        return name if self.ft_steps is None else f"{name}_f{self.ft_steps}"

    def physical(self) -> tuple:
        """Sizes and noise without the methods (equal ``physical()`` means the same data)."""
        return (self.d, self.T, self.N, self.n, self.k, self.sigma)

    def key(self) -> tuple:
        """``physical()`` and the fine-tuning count: settings with equal keys run once."""
        return self.physical() + (self.ft_steps,)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "methods": list(self.methods), "rank": self.rank}

    @classmethod
    def from_json(cls, obj: dict) -> "Setting":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(
            **{k: (tuple(v) if k == "methods" else v) for k, v in obj.items() if k in fields}
        )


#: The paper's defaults: d = 10, T = 3, N = 5000, n' = 100, k = 1, σ = 0.1.
DEFAULT_SETTING = Setting()


@dataclass(frozen=True)
class Schedule:
    """Optimisation hyperparameters; the defaults are the paper's (EXPERIMENTS.md §1).

    Parameters
    ----------
    rounds, u_steps : int
        Meta-LoRA retraining: ``rounds`` rounds of {``u_steps`` gradient steps on all
        adapters, then one step on ``A``} (paper: 3000 rounds of 10 + 1).
    lr_U, lr_A : float
        Step sizes of the adapter and base steps (paper: 0.003 and 0.03).
    init_scale : float
        Retraining init: ``A = 0``, adapter entries ``N(0, init_scale²)`` (paper: 0.1).
    sr_steps, lr_sr : int, float
        Standard retraining by gradient descent on ``A`` from 0 (the paper gives no count;
        we use as many steps as Meta-LoRA's base steps, with its base step size).
    ft_steps, ft_tol, lr_ft : int or None, float, float
        Fine-tuning: gradient steps on the LoRA factors with step 0.005 as in the paper.
        The paper does not state a count. Under the ``ours`` convention we run until the
        in-sample objective falls by at most ``ft_tol`` over 500 steps (convergence), at
        most ``ft_steps`` (None: 30000). At the defaults this stops after 1000–3000 steps
        at the closed-form optimum; when ``T = 2`` Meta-LoRA's base leaves directions with
        singular values ~0.05 that GD fits slowly (up to ~30000 steps). The gap to the
        optimum is reported per run. Under ``paper-code`` exactly the setting's count
        (per panel), else ``ft_steps``, else 10000 steps run.
    ft_init_scale : float
        Fine-tuning init: both LoRA factors with entries ``N(0, ft_init_scale²)``, the same
        draw for every method of a run.
    solver : {"gd", "fast"}
        Which retrained base is fine-tuned: the paper's gradient descent (``"gd"``) or the
        fast exact solver (``"fast"``: L-BFGS then Newton on the finite-sample objective
        with ``A`` eliminated; for SR the pooled least-squares solution).
    check_solver : bool
        With ``solver="gd"``, also run the fast solver and report ``‖Â_gd − Â_fast‖_F``.
    sampler : {"wishart", "samples"}
        How second moments are drawn (both exact in distribution, see
        :func:`~experiments.linear.data.draw_moments`).

    Notes
    -----
    The step sizes are **nominal**: the run's convention
    (:mod:`~experiments.linear.conventions`) says which loss they multiply. Under ``ours``
    all losses are means over samples and tasks without a factor 1/2 (docs/math.md §2), so the
    gradients the step sizes multiply are ``∇_A L = (2/T) Σ_t G_t`` etc.; ``paper-code``
    rescales them to the published pipeline's effective steps.
    """

    rounds: int = 3000
    u_steps: int = 10
    lr_U: float = 0.003
    lr_A: float = 0.03
    init_scale: float = 0.1
    sr_steps: int = 3000
    lr_sr: float = 0.03
    ft_steps: int | None = None
    ft_tol: float = 1e-12
    lr_ft: float = 0.005
    ft_init_scale: float = 0.1
    solver: str = "gd"
    check_solver: bool = True
    sampler: str = "wishart"

    def __post_init__(self):
        for name in ("rounds", "u_steps", "sr_steps"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), low=0))
        if self.ft_steps is not None:
            object.__setattr__(self, "ft_steps", check_int("ft_steps", self.ft_steps, low=0))
        object.__setattr__(self, "ft_tol", check_float("ft_tol", self.ft_tol, low=0.0))
        for name in ("lr_U", "lr_A", "lr_sr", "lr_ft"):
            object.__setattr__(self, name, check_float(name, getattr(self, name), positive=True))
        for name in ("init_scale", "ft_init_scale"):
            object.__setattr__(self, name, check_float(name, getattr(self, name), positive=True))
        if self.solver not in _SOLVERS:
            raise InvalidArgument(
                f"`solver` must be one of {_SOLVERS}; got solver={self.solver!r}."
            )
        if self.sampler not in _SAMPLERS:
            raise InvalidArgument(
                f"`sampler` must be one of {_SAMPLERS}; got sampler={self.sampler!r}."
            )
        if not isinstance(self.check_solver, bool):
            raise InvalidArgument(
                f"`check_solver` must be a bool; got check_solver={self.check_solver!r}."
            )

    @classmethod
    def quick(cls, **changes) -> "Schedule":
        """A smoke-test schedule: 1000 rounds and 1000 SR steps (fine-tuning as by default)."""
        return cls(**{"rounds": 1000, "sr_steps": 1000, **changes})

    def replace(self, **changes) -> "Schedule":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> "Schedule":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in fields})

    def nominal_steps(self) -> dict:
        """The four nominal step sizes (``lr_U``, ``lr_A``, ``lr_sr``, ``lr_ft``)."""
        return {"lr_U": self.lr_U, "lr_A": self.lr_A, "lr_sr": self.lr_sr, "lr_ft": self.lr_ft}


@dataclass(frozen=True)
class Panel:
    """A one-at-a-time sweep: ``field`` of the base setting takes each of ``values``."""

    name: str
    field: str
    values: tuple
    label: str
    methods: tuple[str, ...] = ("SR", "Meta-LoRA")
    log_x: bool = False


#: Figure 1's panels (d, T, N, n, k) plus noise, adapter symmetry, a denser n' grid, and
#: ``base`` (the base setting alone: for explicit problems and data).
PANELS: dict[str, Panel] = {
    p.name: p
    for p in (
        Panel("base", "n", (), "the base setting alone"),
        Panel("d", "d", (5, 10, 20), "dimension d"),
        Panel("T", "T", (2, 3, 5), "retraining tasks T"),
        Panel("N", "N", (100, 1000, 10000), "retraining samples per task N", log_x=True),
        Panel("n", "n", (100, 1000, 10000), "fine-tuning samples n'", log_x=True),
        Panel("k", "k", (1, 2, 3), "adapter rank k"),
        Panel("noise", "sigma", (0.01, 0.03, 0.1, 0.3, 1.0), "noise σ (std σ; paper-code: σ²)", log_x=True),
        Panel(
            "adapters",
            "T",
            (2, 3, 5),
            "retraining tasks T (symmetric vs asymmetric adapters)",
            methods=("SR", "Meta-LoRA", "Meta-LoRA-asym"),
        ),
        Panel("rate", "n", (100, 300, 1000, 3000, 10000), "fine-tuning samples n'", log_x=True),
    )
}
PANEL_ORDER = tuple(PANELS)
#: What ``"all"`` expands to: every panel but ``base`` (which every other panel contains).
ALL_PANELS = tuple(p for p in PANEL_ORDER if p != "base")


def _check_panels(panels) -> tuple[str, ...]:
    if isinstance(panels, str):
        panels = (panels,)
    panels = tuple(panels)
    names = []
    for p in panels:
        if p == "all":
            names.extend(ALL_PANELS)
        elif p in PANELS:
            names.append(p)
        else:
            raise InvalidArgument(
                f"`panel` must be one of {PANEL_ORDER + ('all',)}; got panel={p!r}."
            )
    if not names:
        raise InvalidArgument("`panels` must name at least one panel; got an empty list.")
    return tuple(dict.fromkeys(names))


def panel_settings(
    panel: str, base: Setting = DEFAULT_SETTING, convention=DEFAULT_CONVENTION
) -> list[Setting]:
    """The settings of one panel: ``base`` with the panel's field set to each value.

    The convention may fix the fine-tuning step count per panel (``paper-code``); a count
    already set on ``base`` wins.
    """
    if panel not in PANELS:
        raise InvalidArgument(f"`panel` must be one of {PANEL_ORDER}; got panel={panel!r}.")
    p = PANELS[panel]
    ft = base.ft_steps if base.ft_steps is not None else get_convention(convention).ft_steps_for(panel)
    if not p.values:  # the base setting alone
        return [base.replace(methods=p.methods, ft_steps=ft)]
    return [base.replace(**{p.field: v, "methods": p.methods, "ft_steps": ft}) for v in p.values]


def plan_settings(
    panels, base: Setting = DEFAULT_SETTING, convention=DEFAULT_CONVENTION
) -> tuple[tuple[Setting, ...], dict]:
    """Unique settings for ``panels`` and, per panel, the indices of its settings.

    Settings with the same sizes, noise and fine-tuning count are merged (their method
    lists united), so the default setting, which appears in most panels, runs once (under
    ``paper-code`` once per distinct fine-tuning count).
    """
    names = _check_panels(panels)
    merged: dict[tuple, Setting] = {}
    index: dict[str, list[tuple]] = {}
    for name in names:
        keys = []
        for s in panel_settings(name, base, convention):
            key = s.key()
            if key in merged:
                united = tuple(dict.fromkeys(merged[key].methods + s.methods))
                merged[key] = merged[key].replace(methods=united)
            else:
                merged[key] = s
            keys.append(key)
        index[name] = keys
    order = list(merged)
    settings = tuple(merged[k] for k in order)
    panel_index = {name: [order.index(k) for k in keys] for name, keys in index.items()}
    return settings, panel_index
