"""Retraining on the train split's largest personas: SR, Meta-LoRA, last-layer ML, Reptile.

Methods (paper §4.2 and v2; EXPERIMENTS.md §2)
-----------------------------------------------
``sr``
    Standard retraining: one model, one head, the tasks' examples pooled and shuffled.
``meta-lora``
    The base weights are trained jointly with one LoRA adapter and one head per task
    (adapters on every linear layer of the encoder by default); the tasks are cycled one
    minibatch at a time, each minibatch going through its own task's adapter and head:
    ``min_{W, (A_t, B_t, h_t)} sum_t L_t(W + B_t A_t, h_t)``.
``last-layer-ml``
    Last-layer meta-training: the base with one head per task (no adapters), tasks cycled.
``reptile``
    Reptile (Nichol et al. 2018): for each task in turn, ``k`` AdamW steps from the current
    weights ``phi`` on that task's minibatches give ``phi'``; then
    ``phi <- phi + eps (phi' - phi)`` with ``eps`` annealed linearly from
    ``reptile_outer_lr`` to 0. One head.

Each epoch ends with an evaluation on the held-out dialogues (per task; Meta-LoRA and
last-layer ML through the task's own adapter/head); the epoch with the best mean held-out
accuracy gives the base for fine-tuning. Checkpoints are written every epoch and
``resume=True`` continues a killed run with identical results (every random stream is
derived from ``(seed, epoch)``).

Run directory: ``config.json``, ``tokenizer/``, ``model/config.json``, ``cache/*.npz``,
``checkpoints/``, ``best/``, ``state.json``, ``result.json``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from experiments.engine import (
    EpochRecord,
    OutDir,
    RetrainSettings,
    add_task_parts,
    check_resume,
    get_strategy,
    peak_memory,
    retrain_loop,
    save_json,
    seed_torch,
    setup_runtime,
)
from experiments.engine.runtime import Runtime
from landscape.validation import read_json
from landscape.errors import InvalidArgument
from landscape.runs import jsonable

from .data import load_split
from .encoding import cached_encode, load_tokenizer, train_bpe_tokenizer
from .models import CrossEncoder, ModelSource, build_model, resolve_model
from .presets import RetrainConfig, validate_retrain
from .runtime import resolve_attn
from .tasks import group_tasks, load_split_cluster_map, member_fingerprints, retrain_splits
from .workload import PersonaWorkload

__all__ = ["EpochRecord", "ConvAI2RetrainResult", "retrain", "load_base"]


@dataclass(frozen=True)
class ConvAI2RetrainResult:
    """Outcome of :func:`retrain` (also written to ``RUN/result.json``)."""

    run_dir: str
    method: str
    tasks: tuple
    epochs_done: int
    finished: bool
    best_epoch: int
    best_mean_heldout_accuracy: float
    history: tuple
    n_train_examples: int
    n_heldout_examples: int
    n_parameters: int
    seconds: float
    runtime: dict
    peak_memory: dict

    def to_json(self) -> dict:
        """Plain JSON values (the project's result protocol: a dict, not text)."""
        return jsonable(asdict(self))


# --------------------------------------------------------------------------- shared set-up


def _texts(dialogues):
    seen = set()
    for d in dialogues:
        for s in d.persona:
            if s not in seen:
                seen.add(s)
                yield s
        for e in d.examples:
            for s in (*e.history, *e.candidates):
                if s not in seen:
                    seen.add(s)
                    yield s


def prepare_tokenizer(cfg: RetrainConfig, source: ModelSource, run: Path, dialogues, rt: Runtime):
    """The run's tokenizer, saved in ``RUN/tokenizer``: a BPE trained on the train split for
    random configurations, the pretrained model's own otherwise.
    """
    tdir = run / "tokenizer"
    if rt.is_main and not (tdir / "tokenizer_config.json").is_file():
        if source.random:
            train_bpe_tokenizer(
                _texts(dialogues), cfg.tokenizer_vocab, tdir, max_length=cfg.max_length
            )
        else:
            try:
                tok = load_tokenizer(source.path)
            except Exception as exc:
                raise InvalidArgument(
                    f"`--model` {cfg.model!r}: no tokenizer could be read from {source.path} ({exc})."
                ) from None
            tok.save_pretrained(str(tdir))
    rt.barrier()
    return load_tokenizer(tdir)


def encode_on_main(rt: Runtime, cache: Path, role: str, tokenizer, tasks, **settings):
    """Rank 0 tokenises and caches; the other ranks read the cache."""
    if rt.is_main:
        enc = cached_encode(cache, role, tokenizer, tasks, **settings)
    rt.barrier()
    if not rt.is_main:
        enc = cached_encode(cache, role, tokenizer, tasks, **settings)
    return enc


def finish_model(model: CrossEncoder, rt: Runtime, options) -> CrossEncoder:
    model.to(rt.device)
    if options.grad_checkpointing:
        model.hf.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    if options.compile:
        import torch._dynamo

        torch._dynamo.config.cache_size_limit = max(64, torch._dynamo.config.cache_size_limit)
        model.net.forward = torch.compile(model.net.forward, dynamic=True)
    model.train()
    return model


def retrain(
    config: RetrainConfig, out, *, resume: bool = False, progress: bool = True, on_epoch_end=None
) -> ConvAI2RetrainResult:
    """Retrain with ``config.method`` and write the run to ``out``.

    Parameters
    ----------
    config : RetrainConfig
    out : path
        Run directory (created). An existing run is continued only with ``resume=True``.
    resume : bool
        Continue from the last complete epoch checkpoint (the configuration must match).
    progress : bool
        Show tqdm progress bars (rank 0).
    on_epoch_end : callable, optional
        Called with each :class:`~experiments.engine.EpochRecord` after its checkpoint is
        written (tests use it to simulate a kill).

    Returns
    -------
    ConvAI2RetrainResult
    """
    validate_retrain(config)
    cfg = config
    strategy = get_strategy(cfg.method)
    rt = setup_runtime(cfg.runtime)
    run = Path(out)
    started = time.perf_counter()
    state_path = run / "state.json"
    cfg_dict = cfg.to_json()
    check_resume(
        run, cfg_dict, resume, exists=state_path.is_file() or (run / "config.json").is_file(), what="a run"
    )
    with OutDir(run, create=rt.is_main):
        rt.barrier()
        return _retrain(cfg, strategy, rt, run, cfg_dict, started, resume, progress, on_epoch_end)


def split_tasks(data, split: str, cluster_map):
    """Tasks of a split (grouped with the split's cluster map) and the map's report."""
    dialogues = load_split(data, split)
    report = None
    if cluster_map:
        cmap, f = load_split_cluster_map(cluster_map, split)
        report = {"file": f}
        tasks = group_tasks(dialogues, cmap, report=report, source=f)
    else:
        tasks = group_tasks(dialogues)
    return dialogues, tasks, report


def report_map(report: dict, split: str) -> None:
    """One line on stderr: how many personas of ``split`` the cluster map matched."""
    print(
        f"cluster map {report['file']}: {report['matched']} of {report['personas']} {split} personas "
        f"matched, {report['clusters']} clusters",
        file=sys.stderr,
    )


def _retrain(cfg, strategy, rt, run, cfg_dict, started, resume, progress, on_epoch_end):
    # ---- weights (resolved first: a missing snapshot is a usage error before any work)
    source = resolve_model(cfg.model)
    # ---- data and tokens
    dialogues, tasks, map_report = split_tasks(cfg.data, "train", cfg.cluster_map)
    splits = retrain_splits(tasks, cfg.tasks, cfg.heldout_dialogues, ranking=cfg.task_ranking)
    if map_report and rt.is_main:
        report_map(map_report, "train")
    if source.random and rt.is_main:  # (after the inputs are read: a usage error stays one line)
        print(
            f"note: --model {cfg.model} is randomly initialised (no pretrained weights); "
            "give a pretrained name or directory to retrain real weights.",
            file=sys.stderr,
        )
    tokenizer = prepare_tokenizer(cfg, source, run, dialogues, rt)
    settings = dict(
        max_length=cfg.max_length,
        max_candidate_length=cfg.max_candidate_length,
        persona_in_context=cfg.persona_in_context,
    )
    enc_train = encode_on_main(
        rt, run / "cache", "train", tokenizer, [(s.name, s.train) for s in splits], **settings
    )
    enc_held = encode_on_main(
        rt, run / "cache", "heldout", tokenizer, [(s.name, s.heldout) for s in splits], **settings
    )
    opts = cfg.runtime

    # ---- model (identical construction on every rank and on resume)
    seed_torch(cfg.seed, 0)
    hf = build_model(
        cfg.model,
        tokenizer=tokenizer,
        max_length=cfg.max_length,
        dropout=cfg.model_dropout,
        attn=resolve_attn(opts.attn, rt),
    )
    model = CrossEncoder(hf)
    names = [s.name for s in splits]
    by_name = {t.name: t for t in tasks}
    add_task_parts(
        model,
        strategy,
        names,
        rank=cfg.lora_rank,
        alpha=cfg.lora_alpha,
        dropout=cfg.lora_dropout,
        targets=model.lora_targets(cfg.lora_targets) if strategy.adapters else (),
        mixed=cfg.task_batching == "mixed",
    )
    finish_model(model, rt, opts)
    n_params = sum(p.numel() for p in model.parameters())

    if rt.is_main:
        hf.config.save_pretrained(str(run / "model"))
        save_json(
            run / "config.json",
            {
                "kind": "convai2-retrain",
                "config": cfg_dict,
                "tasks": [
                    {
                        "rank": i + 1,
                        "name": s.name,
                        "train_dialogues": len(s.train),
                        "heldout_dialogues": len(s.heldout),
                        "train_examples": int((enc_train.task == i).sum()),
                        "heldout_examples": int((enc_held.task == i).sum()),
                        "personas": member_fingerprints(by_name[s.name]),
                    }
                    for i, s in enumerate(splits)
                ],
                "task_ranking": cfg.task_ranking,
                "cluster_map": map_report,
                "weights": source.describe(),
                "n_personas_in_split": len(tasks),
                "n_parameters": n_params,
            },
        )

    workload = PersonaWorkload(
        {"train": enc_train, "heldout": enc_held},
        "train",
        batch_size=cfg.batch_size,
        max_tokens=cfg.max_tokens,
        loss_kind=cfg.loss,
        pad_id=int(tokenizer.pad_token_id),
        pad_multiple=opts.pad_multiple,
        eval_max_tokens=opts.eval_max_tokens,
        token_types=model.token_types,
        bucketing=cfg.bucketing,
    )
    state = retrain_loop(
        model,
        workload,
        strategy,
        RetrainSettings(
            epochs=cfg.epochs,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=cfg.seed,
            inner_steps=cfg.reptile_inner_steps,
            outer_lr=cfg.reptile_outer_lr,
            warmup_ratio=cfg.warmup_ratio,
            mixed=cfg.task_batching == "mixed",
            label=cfg.method,
        ),
        run,
        rt=rt,
        resume=resume,
        progress=progress,
        on_epoch_end=on_epoch_end,
    )
    result = ConvAI2RetrainResult(
        run_dir=str(run),
        method=cfg.method,
        tasks=tuple(names),
        epochs_done=state["epochs_done"],
        finished=bool(state["finished"]),
        best_epoch=state["best_epoch"],
        best_mean_heldout_accuracy=state["best_mean_heldout_accuracy"],
        history=tuple(EpochRecord(**h) for h in state["history"]),
        n_train_examples=enc_train.n_examples,
        n_heldout_examples=enc_held.n_examples,
        n_parameters=n_params,
        seconds=time.perf_counter() - started,
        runtime=rt.describe(),
        peak_memory=peak_memory(rt),
    )
    if rt.is_main:
        save_json(run / "result.json", result.to_json())
    return result


def load_base(run) -> dict:
    """What fine-tuning needs from a retraining run: config, tokenizer dir, best weights."""
    run = Path(run)
    if not (run / "state.json").is_file() or not (run / "config.json").is_file():
        raise InvalidArgument(
            f"`--base` {str(run)!r} is not a retraining run directory (no state.json/config.json)."
        )
    state = read_json(run / "state.json", what="run state file", arg="--base")
    if not isinstance(state, dict) or "best" not in state:
        raise InvalidArgument(f"`--base` {str(run)!r} has no completed epoch yet.")
    conf = read_json(run / "config.json", what="run config file", arg="--base")
    try:  # a damaged or foreign run folder is an input error, not a crash
        return {
            "config": RetrainConfig.from_dict(conf["config"]),
            "tasks": conf["tasks"],
            "state": state,
            "tokenizer": run / "tokenizer",
            "model_config": run / "model",
            "base": run / "best" / state["best"]["base"],
            "heads": run / "best" / state["best"]["heads"],
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"`--base` {str(run)!r}: damaged config.json/state.json ({type(exc).__name__}: {exc})."
        ) from None
