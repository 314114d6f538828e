"""Finite-sample linear experiments: the paper's Figure 1, reproduced correctly and fast.

Synthetic study of paper §4.1 (settings and the authors' traps: EXPERIMENTS.md §1;
conventions: docs/math.md §2 and §7). Every run draws its own ground truth
(:class:`landscape.Problem`), its data as exact second moments (so a step costs O(d³)
whatever the number of samples), retrains a base by standard retraining (SR) and by
Meta-LoRA (the paper's alternating gradient descent, and a fast exact solver), fine-tunes
a LoRA adapter on the test task, and reports the **population** test loss beside the
authors' in-sample metric. A ``convention`` (:mod:`.conventions`) selects our
normalisation (``"ours"``, default) or the published pipeline's, step for step
(``"paper-code"``).

Quick start::

    from experiments.linear import sweep, Schedule
    result = sweep("k", seeds=2, schedule=Schedule.quick(), out="results/figure1")
    result.panel_table("k")
    paper = sweep("k", seeds=2, schedule=Schedule.quick(), convention="paper-code")

Modules: :mod:`.conventions`, :mod:`.settings` (settings, schedule, panels), :mod:`.data` (second moments),
:mod:`.empirical` (finite-sample objectives), :mod:`.retrain` (gradient descent, SR),
:mod:`.fast` (exact solver), :mod:`.finetune` (LoRA fine-tuning, reduced-rank regression),
:mod:`.metrics`, :mod:`.run` (one setting, explicit inputs), :mod:`.sweep`, :mod:`.compare`,
:mod:`.rate`, :mod:`.plots`.
"""

from .conventions import (
    CONVENTION_NAMES,
    CONVENTIONS,
    DEFAULT_CONVENTION,
    Convention,
    check_convention_name,
    get_convention,
)
from .settings import (
    ALL_PANELS,
    DEFAULT_SETTING,
    METHODS,
    PANEL_ORDER,
    PANELS,
    Panel,
    Schedule,
    Setting,
    panel_settings,
    plan_settings,
)
from .data import Moments, draw_moments, moments_from_samples, sample_task, stack_moments
from .empirical import (
    adapter_products,
    empirical_A_of_U,
    empirical_grad,
    empirical_loss,
    meta_empirical_grad,
    meta_empirical_loss,
    pooled_least_squares,
    sr_empirical_loss,
)
from .retrain import RetrainResult, meta_lora_gd, sr_exact, sr_gd
from .fast import ReducedObjective, meta_lora_fast
from .finetune import FinetuneResult, lora_gd, reduced_rank_regression
from .metrics import authors_insample_metric, population_test_loss, rate_reference
from .run import (
    RECORD_FIELDS,
    STEP_KEYS,
    Inits,
    RunData,
    RunInputs,
    RunRecord,
    SettingResult,
    draw_inputs,
    run_setting,
    seed_streams,
)
from .rate import RateFit, fit_rate
from .sweep import SweepResult, array_digest, check_claim, load_setting, setting_path, sweep
from .compare import compare_sweeps
from .plots import (
    figure_curves,
    figure_overview,
    figure_panel,
    figure_rate,
    plot_panel,
    save_figures,
    to_png,
)

__all__ = [
    # conventions
    "Convention",
    "CONVENTIONS",
    "CONVENTION_NAMES",
    "DEFAULT_CONVENTION",
    "get_convention",
    "check_convention_name",
    # settings
    "Setting",
    "Schedule",
    "Panel",
    "PANELS",
    "PANEL_ORDER",
    "ALL_PANELS",
    "METHODS",
    "DEFAULT_SETTING",
    "panel_settings",
    "plan_settings",
    # data
    "Moments",
    "draw_moments",
    "sample_task",
    "moments_from_samples",
    "stack_moments",
    # finite-sample objectives
    "empirical_loss",
    "empirical_grad",
    "adapter_products",
    "meta_empirical_loss",
    "meta_empirical_grad",
    "empirical_A_of_U",
    "sr_empirical_loss",
    "pooled_least_squares",
    # retraining
    "RetrainResult",
    "meta_lora_gd",
    "sr_gd",
    "sr_exact",
    "ReducedObjective",
    "meta_lora_fast",
    # fine-tuning
    "FinetuneResult",
    "lora_gd",
    "reduced_rank_regression",
    # metrics
    "population_test_loss",
    "authors_insample_metric",
    "rate_reference",
    # runs and sweeps
    "RunRecord",
    "RECORD_FIELDS",
    "STEP_KEYS",
    "SettingResult",
    "RunData",
    "Inits",
    "RunInputs",
    "draw_inputs",
    "run_setting",
    "seed_streams",
    "SweepResult",
    "sweep",
    "check_claim",
    "setting_path",
    "load_setting",
    "array_digest",
    "compare_sweeps",
    "RateFit",
    "fit_rate",
    # figures
    "plot_panel",
    "figure_panel",
    "figure_overview",
    "figure_rate",
    "figure_curves",
    "save_figures",
    "to_png",
]
