"""Throughput of Meta-LoRA training on ConvAI2-shaped data: ours (task cycling and mixed-task
batches) vs a naive reference.

Ours (experiments.convai2 on experiments.engine): dynamic padding with length bucketing, all
20 candidates of an example in one forward, vectorised collation from cached token arrays,
bf16 autocast with fp32 master weights (CUDA), fused AdamW (CUDA), SDPA attention (CUDA;
eager on CPU, where it is faster). Two ways to batch the tasks:

* ``cycle``: each batch is one task's, routed through that task's peft adapter
  (``set_adapter`` on one wrapped model), tasks cycled one batch at a time;
* ``mixed``: each batch mixes tasks; the batched LoRA layer routes every example to its own
  task's adapter and head (one gathered low-rank product per layer), so a batch can be as
  large as the device allows regardless of how many examples one task has.

Naive reference (written here, in the manner of the authors' scripts): fp32, eager attention,
every sequence of a task padded to the task's longest, batches collated by a Python loop over
examples, candidates and tokens, default (non-fused) AdamW.

Both variants do the same work (the same examples, one or more epochs over all tasks), are
timed in interleaved rounds (the best round is reported), and train the same architecture
(random weights: speed does not depend on their values) on the same synthetic data (random token ids with ConvAI2's length profile: a context that grows
by ~2 turns of ~12 tokens per reply, capped at ``max_length``, and 20 candidates of ~8-20
tokens). Reported: examples/s, real (non-pad) tokens/s, model FLOPs utilisation (useful FLOPs
on real tokens: ``6 N tokens + 12 L h sum(s_i^2)``, over the device's peak: bf16 dense peak of
the GPU, or a measured fp32 GEMM rate on CPU), and peak memory.

    python benchmarks/convai2_throughput.py                 # roberta-large on the GPU
    python benchmarks/convai2_throughput.py --quick         # tiny smoke run on CPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GPU_PEAK_BF16 = {
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "A40": 149.7e12,
    "L40S": 362e12,
    "A10": 125e12,
}


def synthetic_encoded(n_tasks, per_task, *, vocab, max_length, C=20, seed=0):
    """ConvAI2-shaped :class:`EncodedSet` with random token ids."""
    from experiments.convai2.encoding import EncodedSet

    rng = np.random.default_rng(seed)
    seqs, gold, label, task, tstart = [], [], [], [], []
    for t in range(n_tasks):
        for _ in range(per_task):
            turn = int(rng.integers(1, 8))
            ctx = min(int(rng.normal(13, 3) * (2 * turn - 1)) + 1, max_length - 30)
            g = int(rng.integers(C))
            for c in range(C):
                cand = int(np.clip(rng.normal(13, 4), 4, 26))
                body = rng.integers(5, vocab, size=ctx + cand).astype(np.int32)
                seqs.append(
                    np.concatenate([[0], body[:ctx], [2, 2], body[ctx:], [2]]).astype(np.int32)
                )
                tstart.append(ctx + 3)
            gold.append(np.arange(C) == g)
            label.append(g)
            task.append(t)
    lens = np.array([len(s) for s in seqs])
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    return EncodedSet(
        np.concatenate(seqs),
        offsets,
        np.array(tstart, np.int32),
        np.array(gold),
        np.array(label),
        np.array(task, np.int32),
        [f"t{t}" for t in range(n_tasks)],
    )


def build(model_size, n_tasks, rank, *, attn, vocab, max_length, seed=0, mixed=False):
    import torch

    from experiments.convai2.models import CrossEncoder, build_model
    from experiments.engine import add_task_parts, get_strategy

    class Tok:
        pad_token_id, cls_token_id, sep_token_id = 1, 0, 2

        def __len__(self):
            return vocab

    torch.manual_seed(seed)
    m = CrossEncoder(
        build_model(model_size, tokenizer=Tok(), max_length=max_length, dropout=0.1, attn=attn)
    )
    add_task_parts(
        m,
        get_strategy("meta-lora"),
        [f"t{t}" for t in range(n_tasks)],
        rank=rank,
        alpha=16,
        dropout=0.1,
        targets="all-linear",
        mixed=mixed,
    )
    return m


def naive_collate(enc, idx, task_max_len):
    """The authors' way: Python loops over examples, candidates and tokens; pad to the task max."""
    import torch

    C = enc.n_candidates
    ids, mask, gold = [], [], []
    for i in idx:
        for j in range(C):
            s = i * C + j
            row = [int(x) for x in enc.ids[enc.offsets[s] : enc.offsets[s + 1]]]
            m = [1] * len(row)
            while len(row) < task_max_len:
                row.append(1)
                m.append(0)
            ids.append(row)
            mask.append(m)
            gold.append(bool(enc.gold[i, j]))
    return torch.tensor(ids), torch.tensor(mask), torch.tensor(gold).view(len(idx), C)


def useful_flops(model, enc, idx):
    cfg = model.hf.config
    n = sum(p.numel() for n_, p in model.hf.named_parameters() if "embeddings" not in n_)
    C = enc.n_candidates
    seq = (np.asarray(idx)[:, None] * C + np.arange(C)).reshape(-1)
    lens = (enc.offsets[seq + 1] - enc.offsets[seq]).astype(np.float64)
    return 6.0 * n * lens.sum() + 12.0 * cfg.num_hidden_layers * cfg.hidden_size * (
        lens**2
    ).sum(), float(lens.sum())


def cpu_peak_flops(seconds=1.0):
    import torch

    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2 * 1024**3 * n / (time.perf_counter() - t0)


def make_variant(kind, enc, args, device):
    """Build one variant; returns ``(run_epochs, info)`` where ``run_epochs()`` times the same
    work (``args.epochs`` passes over every task) and returns seconds, useful FLOPs, tokens, examples.
    """
    import torch

    from experiments.convai2.batching import plan_batches
    from experiments.convai2.models import pair_loss
    from experiments.convai2.workload import PersonaWorkload
    from experiments.engine import Runtime, make_optimizer, train_step

    ours = kind != "naive"
    mixed = kind == "mixed"
    amp = torch.bfloat16 if ours and (device.type == "cuda" or args.amp == "bf16") else None
    rt = Runtime(device=device, amp_dtype=amp, fused_adamw=ours and device.type == "cuda")
    attn = (
        "eager"
        if not ours
        else (args.attn if args.attn != "auto" else ("sdpa" if device.type == "cuda" else "eager"))
    )
    model = build(
        args.model, args.tasks, args.rank, attn=attn, vocab=args.vocab, max_length=args.max_length, mixed=mixed
    ).to(device)
    workload = PersonaWorkload(
        {"train": enc},
        "train",
        batch_size=args.batch_size,
        max_tokens=args.max_tokens,
        loss_kind="pointwise",
        pad_id=1,
        pad_multiple=8,
        eval_max_tokens=65536,
        token_types=False,
    )
    if ours and args.grad_checkpointing:
        model.hf.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    if ours and args.compile:
        model.net.forward = torch.compile(model.net.forward, dynamic=True)
    model.train()
    opt = (
        make_optimizer(model.parameters(), lr=1e-5, weight_decay=0.01, rt=rt)
        if ours
        else torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01, foreach=False)
    )
    task_max = {t: int(enc.example_max_length[enc.examples_of(t)].max()) for t in range(args.tasks)}

    def epoch_plan(seed):
        """One pass over every task's examples: tasks cycled one minibatch at a time, or (mixed)
        batches drawn from all tasks' examples together.
        """
        rng = np.random.default_rng(seed)
        if mixed:
            return [(None, b) for b in workload.train_batches(None, rng)]
        plans = []
        for t in range(args.tasks):
            ex = enc.examples_of(t)
            if ours:
                bs = plan_batches(
                    enc, ex, batch_size=args.batch_size, max_tokens=args.max_tokens, rng=rng
                )
            else:
                ex = ex[rng.permutation(len(ex))]
                bs = [ex[i : i + args.batch_size] for i in range(0, len(ex), args.batch_size)]
            plans.append(bs)
        return [
            (t, plans[t][r])
            for r in range(max(map(len, plans)))
            for t in range(args.tasks)
            if r < len(plans[t])
        ]

    def one(t, b):
        if t is not None:
            model.use(f"t{t}")
        if ours:
            train_step(model, workload, b, rt=rt, optimizer=opt, lr=1e-5)
        else:
            ids, mask, gold = naive_collate(enc, b, task_max[t])
            ids, mask, gold = ids.to(device), mask.to(device), gold.to(device)
            opt.zero_grad()
            logits = model(ids, mask).view(len(b), enc.n_candidates, 2)
            loss, n = pair_loss(logits, gold, gold.long().argmax(1))
            (loss / n).backward()
            opt.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for t, b in epoch_plan(1000)[: args.warmup]:
        one(t, b)
    sync()

    def run_epochs():
        steps = [
            s for e in range(args.epochs) for s in epoch_plan(e)
        ]  # the same examples for both variants
        flops = tokens = examples = 0.0
        for _, b in steps:
            f, k = useful_flops(model, enc, b)
            flops, tokens, examples = flops + f, tokens + k, examples + len(b)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        sync()
        t0 = time.perf_counter()
        for t, b in steps:
            one(t, b)
        sync()
        secs = time.perf_counter() - t0
        mem = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else _rss()
        return {
            "seconds": secs,
            "flops": flops,
            "tokens": tokens,
            "examples": examples,
            "steps": len(steps),
            "mem": mem,
        }

    info = {
        "kind": kind,
        "precision": "bf16 autocast" if amp is not None else "fp32",
        "attention": attn,
        "optimizer": "AdamW fused" if rt.fused_adamw else ("AdamW" if ours else "AdamW (for-loop)"),
        "padding": "dynamic, length-bucketed" if ours else "whole task",
        "task_batching": "mixed (batched LoRA)" if mixed else "cycle (peft)",
        "collation": "vectorised" if ours else "Python loops",
    }
    return run_epochs, info


def _rss():
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def summarize(info, runs, peak):
    secs = float(
        np.min([r["seconds"] for r in runs])
    )  # best of the rounds (timeit's rule on a shared machine)
    r0 = runs[0]
    return {
        **info,
        "repeats": len(runs),
        "seconds_best": secs,
        "seconds_all": [r["seconds"] for r in runs],
        "steps": r0["steps"],
        "examples_per_s": r0["examples"] / secs,
        "tokens_per_s": r0["tokens"] / secs,
        "tflops_per_s": r0["flops"] / secs / 1e12,
        "mfu": r0["flops"] / secs / peak,
        "peak_memory_bytes": max(r["mem"] for r in runs),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny model, few steps (CPU smoke run)")
    ap.add_argument(
        "--model",
        default="roberta-large-random",
        choices=("roberta-large-random", "roberta-base-random", "roberta-tiny-random"),
        help="random weights (speed does not depend on their values)",
    )
    ap.add_argument(
        "--variants",
        default="naive,cycle,mixed",
        help="comma-separated subset of naive, cycle, mixed",
    )
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--tasks", type=int, default=10, help="tasks (one LoRA adapter + head each)")
    ap.add_argument("--per-task", type=int, default=48, help="examples per task")
    ap.add_argument("--batch-size", type=int, default=4, help="examples (x20 candidates) per step")
    ap.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="our token budget per batch instead of --batch-size",
    )
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=50265)
    ap.add_argument(
        "--epochs",
        type=int,
        default=1,
        help="timed passes over all tasks' examples (same work for both)",
    )
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument(
        "--repeats", type=int, default=3, help="interleaved timed rounds; the best is reported"
    )
    ap.add_argument(
        "--attn",
        choices=("auto", "sdpa", "eager"),
        default="auto",
        help="ours (auto: sdpa on CUDA, eager on CPU)",
    )
    ap.add_argument(
        "--amp", choices=("auto", "bf16"), default="auto", help="bf16: autocast for ours on CPU too"
    )
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="device peak for MFU (default: known GPUs / measured CPU GEMM)",
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="results/convai2_throughput.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.model, args.tasks, args.per_task, args.epochs, args.warmup, args.repeats = (
            "roberta-tiny-random",
            2,
            8,
            1,
            1,
            1,
        )
        args.vocab, args.max_length = 1000, 128
        if args.device == "auto":
            args.device = "cpu"

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = (
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    device = torch.device(dev)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = next((v for k, v in GPU_PEAK_BF16.items() if k in name), None)
        peak_note = f"{name} bf16 dense peak"
    else:
        name = platform.processor() or platform.machine()
        peak = cpu_peak_flops()
        peak_note = "measured fp32 1024^3 GEMM rate of this CPU"
    if args.peak_tflops:
        peak, peak_note = args.peak_tflops * 1e12, "given by --peak-tflops"
    if peak is None:
        peak, peak_note = float("nan"), "unknown GPU: pass --peak-tflops"
    enc = synthetic_encoded(args.tasks, args.per_task, vocab=args.vocab, max_length=args.max_length)
    kinds = [k.strip() for k in args.variants.split(",") if k.strip()]
    if not kinds or any(k not in ("naive", "cycle", "mixed") for k in kinds):
        ap.error("--variants must be a comma-separated subset of naive, cycle, mixed")
    variants = [make_variant(k, enc, args, device) for k in kinds]
    timings = [[] for _ in variants]
    for _ in range(args.repeats):  # interleaved, so that a change in machine load hits both alike
        for i, (run_epochs, _) in enumerate(variants):
            timings[i].append(run_epochs())
    rows = [summarize(info, t, peak) for (_, info), t in zip(variants, timings)]
    by = {r["kind"]: r for r in rows}
    print(
        f"ConvAI2 Meta-LoRA training, {args.model}, T={args.tasks} adapters (rank {args.rank}), batch {args.batch_size} "
        f"examples x 20 candidates, {args.epochs} epoch(s) of {args.tasks}x{args.per_task} examples, device {name}"
    )
    mem_note = (
        "peak GPU memory" if device.type == "cuda" else "peak MiB = process max RSS so far (CPU)"
    )
    print(
        f"{'':7s}{'precision':>14s}{'attention':>10s}{'examples/s':>12s}{'tokens/s':>11s}{'TFLOP/s':>9s}{'MFU':>8s}{'peak MiB':>10s}"
    )
    for r in rows:
        print(
            f"{r['kind']:7s}{r['precision']:>14s}{r['attention']:>10s}{r['examples_per_s']:12.2f}{r['tokens_per_s']:11.0f}"
            f"{r['tflops_per_s']:9.3f}{100 * r['mfu']:7.1f}%{r['peak_memory_bytes'] / 2**20:10.0f}"
        )
    ratios = {}
    for a, b in (("cycle", "naive"), ("mixed", "naive"), ("mixed", "cycle")):
        if a in by and b in by:
            ratios[f"{a}/{b}"] = by[a]["examples_per_s"] / by[b]["examples_per_s"]
    print(
        "speed-up (examples/s): "
        + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
        + f"   [MFU relative to: {peak_note}, {peak / 1e12:.2f} TFLOP/s; {mem_note}]"
    )
    import peft
    import transformers

    out = {
        "benchmark": "convai2_throughput",
        "args": vars(args),
        "device": name,
        "peak_flops": peak,
        "peak_note": peak_note,
        "memory_note": mem_note,
        "results": rows,
        "speedup_examples_per_s": ratios,
        "env": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
