"""Shallow nonlinear experiment (paper v2): Meta-LoRA vs standard retraining on sigmoid networks.

Task ``t`` maps ``x ~ N(0, I_d)`` to ``y = cᵀ σ((A* + U*_tU*_tᵀ) x) + ε`` (EXPERIMENTS.md §3b).
A base is retrained on ``T`` tasks by standard retraining (SR, pooled), by Meta-LoRA with
symmetric adapters ``U_tU_tᵀ`` (the theory's form) and by Meta-LoRA with asymmetric
adapters ``B_tC_tᵀ`` (``B_t = 0`` at the start, the paper code's form); then one fresh
rank-k adapter is fine-tuned on an unseen task's ``n'`` samples, on each base and on the
ground truth ``A*`` (the reference that calibrates the fine-tuning). All seeds and methods
of a setting train in one vectorised batch (hand-written gradients, :mod:`.model`), so the
paper's grid runs on a CPU.

Quick start::

    from experiments.shallow import sweep, Schedule
    result = sweep("T", seeds=2, schedule=Schedule.quick(), out="shallow_run")
    result.panel_table("T"); result.check.status

Modules: :mod:`.settings` (settings, schedule, conventions, panels), :mod:`.data` (seeded
draws), :mod:`.model` (batched gradients, AdamW, adapters), :mod:`.train` (retraining,
fine-tuning), :mod:`.metrics`, :mod:`.run` (one setting), :mod:`.checks`, :mod:`.sweep`,
:mod:`.plots`. Docs: ``docs/shallow.md``.
"""

from .settings import (
    BASES,
    CONVENTIONS,
    DEFAULT_CONVENTION,
    DEFAULT_SETTING,
    METHODS,
    PANEL_ORDER,
    PANELS,
    TRUTH,
    Convention,
    Panel,
    Schedule,
    Setting,
    get_convention,
    plan_settings,
)
from .data import Instance, draw_instance, network, sigmoid
from .model import ADAPTERS, AdamW, stacked_loss_grad
from .train import METHOD_ADAPTER, METHOD_STRATEGY, ShallowFinetuneResult, ShallowRetrainResult, finetune, retrain
from .metrics import insample_error, population_loss
from .run import RECORD_FIELDS, SettingResult, run_setting
from .checks import GapCheck, check_gap, paired
from .sweep import SweepResult, load_sweep_records, sweep
from .plots import figure_curves, figure_overview, figure_panel, plot_panel, save_figures, to_png

__all__ = [
    # settings
    "METHODS", "BASES", "TRUTH", "Setting", "Schedule", "Convention", "CONVENTIONS",
    "DEFAULT_CONVENTION", "DEFAULT_SETTING", "Panel", "PANELS", "PANEL_ORDER",
    "get_convention", "plan_settings",
    # data and model
    "Instance", "draw_instance", "network", "sigmoid", "ADAPTERS", "AdamW",
    "stacked_loss_grad",
    # training and metrics
    "METHOD_ADAPTER", "METHOD_STRATEGY", "ShallowRetrainResult", "ShallowFinetuneResult", "retrain", "finetune",
    "population_loss", "insample_error",
    # runs, checks, sweeps, figures
    "RECORD_FIELDS", "SettingResult", "run_setting", "GapCheck", "check_gap", "paired",
    "SweepResult", "sweep", "load_sweep_records",
    "plot_panel", "figure_panel", "figure_overview", "figure_curves", "save_figures", "to_png",
]
