"""A model-agnostic meta-retraining engine: SR, Meta-LoRA, last-layer ML and Reptile on any
torch module, then per-task low-rank (or last-layer) fine-tuning, with checkpoints that
resume bit for bit and honest model selection. ConvAI2 (``experiments.convai2``) is built on
it; see ``docs/engine.md`` for how another suite plugs in.

A suite supplies four things:

1. **a model builder**: any ``nn.Module`` whose head (a module at an attribute path such as
   ``"classifier"`` or ``"head"``) is per task, wrapped as ``TaskModel(net, head="head")``;
   the LoRA targets are the full names of its linear layers;
2. **tasks as batches**: a :class:`Workload` subclass whose ``train_batches(task, rng)`` returns
   one epoch's batches of a task (``task=None``: all tasks pooled) and whose
   ``eval_batches(split, task, rt)`` returns evaluation batches;
3. **a loss**: ``Workload.loss(model, batch, rt) -> (summed loss, tokens)`` (and ``count`` /
   ``shard`` for data parallelism);
4. **an evaluation**: ``Workload.score(model, batch, rt) -> (correct, n)``.

The engine supplies the rest: :func:`add_task_parts` (heads/adapters per :class:`Strategy`),
:func:`retrain_loop` (epochs, warm-up schedule, Reptile's outer update, per-epoch held-out
evaluation, best epoch, checkpoints, resume), :func:`finetune_loop` (fresh parts per test
task, honest and best-on-evaluation epochs), :class:`RuntimeOptions` / :func:`setup_runtime`
(device, bf16 autocast, fused AdamW, DDP), and the mixed-task :class:`BatchedLoRALinear`.

torch and peft are needed; ``import experiments.engine`` itself imports neither (names are
loaded on first use; :class:`RuntimeOptions` is plain Python).
"""

from importlib import import_module

from .options import RuntimeOptions, validate_runtime

_LAZY = {
    "BatchedLoRALinear": ".batched_lora",
    "Router": ".batched_lora",
    "OutDir": ".checkpoint",
    "check_resume": ".checkpoint",
    "load_json": ".checkpoint",
    "load_optimizer_state": ".checkpoint",
    "load_tensors": ".checkpoint",
    "optimizer_state": ".checkpoint",
    "save_json": ".checkpoint",
    "save_tensors": ".checkpoint",
    "settings_fingerprint": ".checkpoint",
    "EpochRecord": ".loop",
    "FinetuneSettings": ".loop",
    "RetrainSettings": ".loop",
    "TaskResult": ".loop",
    "add_task_parts": ".loop",
    "evaluate": ".loop",
    "finetune_loop": ".loop",
    "make_optimizer": ".loop",
    "retrain_loop": ".loop",
    "train_step": ".loop",
    "wrap_ddp": ".loop",
    "Runtime": ".runtime",
    "all_reduce_": ".runtime",
    "all_reduce_grads": ".runtime",
    "peak_memory": ".runtime",
    "seed_torch": ".runtime",
    "setup_runtime": ".runtime",
    "check_warmup": ".schedule",
    "linear_lr": ".schedule",
    "improved": ".selection",
    "select_epochs": ".selection",
    "SHARED": ".strategies",
    "STRATEGIES": ".strategies",
    "Strategy": ".strategies",
    "get_strategy": ".strategies",
    "plan_steps": ".strategies",
    "register_strategy": ".strategies",
    "reptile_update": ".strategies",
    "MultiHead": ".taskmodel",
    "TaskModel": ".taskmodel",
    "Workload": ".workload",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BatchedLoRALinear",
    "Router",
    "OutDir",
    "check_resume",
    "load_json",
    "load_optimizer_state",
    "load_tensors",
    "optimizer_state",
    "save_json",
    "save_tensors",
    "settings_fingerprint",
    "EpochRecord",
    "FinetuneSettings",
    "RetrainSettings",
    "TaskResult",
    "add_task_parts",
    "evaluate",
    "finetune_loop",
    "make_optimizer",
    "retrain_loop",
    "train_step",
    "wrap_ddp",
    "Runtime",
    "RuntimeOptions",
    "all_reduce_",
    "all_reduce_grads",
    "peak_memory",
    "seed_torch",
    "setup_runtime",
    "validate_runtime",
    "check_warmup",
    "linear_lr",
    "improved",
    "select_epochs",
    "SHARED",
    "STRATEGIES",
    "Strategy",
    "get_strategy",
    "plan_steps",
    "register_strategy",
    "reptile_update",
    "MultiHead",
    "TaskModel",
    "Workload",
]
