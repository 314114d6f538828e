"""ConvAI2 persona tasks (paper §4.2, Table 1): Meta-LoRA vs standard retraining.

Pure-Python parts (imported eagerly, no torch): :mod:`.data` (ParlAI text and PersonaChat
JSON readers), :mod:`.tasks` (personas as tasks, cluster maps, selection), :mod:`.synth`
(a synthetic corpus), :mod:`.presets` (settings). The torch parts are imported on first use
of their names (:func:`build_table`, :func:`format_table`, result types); the runners live
in the submodules of the same name: ``experiments.convai2.retrain.retrain`` and
``experiments.convai2.finetune.finetune`` (the package attributes ``retrain`` and
``finetune`` are those submodules).

Example
-------
>>> from experiments.convai2 import write_synth, retrain_config                   # doctest: +SKIP
>>> from experiments.convai2.retrain import retrain                                # doctest: +SKIP
>>> write_synth("corpus", seed=0)                                                  # doctest: +SKIP
>>> res = retrain(retrain_config("corpus", preset="quick", method="meta-lora"), "runs/ml")  # doctest: +SKIP
"""

from importlib import import_module

from .data import (
    DataFormatError,
    Dialogue,
    Example,
    load_split,
    read_dialogues,
    read_parlai,
    read_personachat_json,
)
from .presets import FinetuneConfig, RetrainConfig, RuntimeOptions, finetune_config, retrain_config
from .synth import synth_dialogues, write_synth
from .tasks import (
    Task,
    UnsafePickleError,
    group_tasks,
    largest_tasks,
    load_cluster_map,
    restricted_load,
    retrain_splits,
    test_splits,
)

_LAZY = {
    "ConvAI2RetrainResult": ".retrain",
    "load_base": ".retrain",
    "ConvAI2FinetuneResult": ".finetune",
    "select_epochs": ".finetune",
    "build_table": ".table",
    "format_table": ".table",
    "Table1": ".table",
    "PAPER_TABLE1": ".table",
}

__all__ = [
    "DataFormatError",
    "Dialogue",
    "Example",
    "read_parlai",
    "read_personachat_json",
    "read_dialogues",
    "load_split",
    "Task",
    "UnsafePickleError",
    "group_tasks",
    "largest_tasks",
    "load_cluster_map",
    "restricted_load",
    "retrain_splits",
    "test_splits",
    "synth_dialogues",
    "write_synth",
    "RetrainConfig",
    "FinetuneConfig",
    "RuntimeOptions",
    "retrain_config",
    "finetune_config",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
