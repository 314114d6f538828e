"""The vision results table: test-task accuracy per method over seeds, honest and best-on-test.

Rows are grouped by the fine-tuning setting (``LoRA rank k`` or ``last layer``, and the
number of fine-tuning images) and the retraining method; each fine-tuning run directory is
one seed. Per row, over seeds (accuracies in percent):

* **honest**: the evaluation accuracy at the fine-tuning epoch chosen on the selection
  images - median, [min, max] (the spread) and mean ± s.e. (``std(ddof=1)/sqrt(n)``);
* **before**: the accuracy of the retrained model with its retrained head, before any
  fine-tuning step (epoch 0);
* **best-on-test**: the best evaluation accuracy over epochs (early stopping on the test
  images, the authors' statistic) - labelled, beside the honest number only;
* **above chance**: seeds whose honest accuracy is above 50 % by a one-sided binomial test
  at level 0.01 (``k`` correct of ``n`` evaluation images).

For every fine-tuning setting with both SR and Meta-LoRA rows the table adds the paired
comparison (seeds matched): the median of ``Meta-LoRA - SR``, in how many seeds Meta-LoRA
is higher, and the one-sided sign test's p-value (with 5 seeds it is at least 1/32).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from landscape.errors import InvalidArgument

__all__ = ["VisionRow", "Comparison", "VisionTable", "build_table", "format_table", "plot_table", "expand_runs"]

_ORDER = {"sr": 0, "meta-lora": 1, "last-layer-ml": 2, "reptile": 3}
_LABEL = {"sr": "SR", "meta-lora": "Meta-LoRA", "last-layer-ml": "last-layer ML", "reptile": "Reptile"}


@dataclass(frozen=True)
class VisionRow:
    """One (fine-tuning setting, method) row; accuracies in percent, one entry per seed."""

    block: str
    method: str
    seeds: tuple
    honest: tuple
    paper: tuple
    before: tuple
    above_chance: tuple
    n_eval: tuple

    def stats(self, which: str = "honest") -> dict:
        v = np.asarray(getattr(self, which), dtype=float)
        se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None
        return {
            "median": float(np.median(v)),
            "min": float(v.min()),
            "max": float(v.max()),
            "mean": float(v.mean()),
            "se": se,
        }


@dataclass(frozen=True)
class Comparison:
    """Meta-LoRA minus SR, seeds paired, in percentage points."""

    block: str
    seeds: tuple
    differences: tuple
    median_difference: float
    meta_lora_higher: int
    sr_higher: int
    sign_test_p: float


@dataclass(frozen=True)
class VisionTable:
    rows: tuple
    comparisons: tuple
    runs: tuple

    def to_json(self) -> dict:
        return {
            "rows": [
                {
                    **asdict(r),
                    "honest_stats": r.stats("honest"),
                    "paper_stats": r.stats("paper"),
                    "before_stats": r.stats("before"),
                }
                for r in self.rows
            ],
            "comparisons": [asdict(c) for c in self.comparisons],
            "runs": list(self.runs),
        }


def expand_runs(paths) -> list[Path]:
    """Fine-tuning run folders: each path itself if it holds ``results.json``, else every such folder below it."""
    out = []
    for p in map(Path, paths):
        if (p / "results.json").is_file():
            out.append(p)
        elif p.is_dir():
            found = sorted(q.parent for q in p.rglob("results.json"))
            out.extend(f for f in found if _is_finetune(f))
        else:
            raise InvalidArgument(f"`runs`: {str(p)!r} is neither a fine-tuning run nor a folder holding them.")
    return out


def _is_finetune(run: Path) -> bool:
    try:
        return json.loads((run / "config.json").read_text())["kind"] == "vision-finetune"
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _block(r: dict) -> str:
    what = f"LoRA rank {r['rank']}" if r["adapter"] == "lora" else "last layer"
    return f"{what}, {r['n_finetune']} images"


def _above_chance(acc: float, n: int) -> bool:
    from scipy.stats import binomtest

    k = int(round(acc * n))
    return bool(binomtest(k, n, 0.5, alternative="greater").pvalue < 0.01)


def _sign_p(wins: int, losses: int) -> float:
    """One-sided sign test of "Meta-LoRA higher" over the seeds without a tie."""
    from scipy.stats import binomtest

    n = wins + losses
    return 1.0 if n == 0 else float(binomtest(wins, n, 0.5, alternative="greater").pvalue)


def build_table(runs) -> VisionTable:
    """The table from fine-tuning run folders (see the module doc)."""
    runs = expand_runs(runs)
    if not runs:
        raise InvalidArgument("`runs`: no vision fine-tuning results (results.json) found.")
    groups: dict = {}
    for run in runs:
        try:
            r = json.loads((run / "results.json").read_text())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"{run}/results.json is not readable JSON ({exc}).") from None
        method = r["method"] + ("" if r.get("meta_heads") in (None, "shared") else f" ({r['meta_heads']} heads)")
        groups.setdefault((_block(r), method, r["adapter"], r.get("rank") or 0, r["n_finetune"]), []).append(r)
    rows = []
    for key in sorted(groups, key=lambda k: (k[2] != "lora", k[3], k[4], _ORDER.get(k[1].split()[0], 9), k[1])):
        rs = sorted(groups[key], key=lambda r: (r["base_seed"], r["seed"]))
        seeds = tuple(r["base_seed"] for r in rs)
        if len(set(seeds)) != len(seeds):
            raise InvalidArgument(f"two runs of {key[1]} / {key[0]} share base seed(s) {seeds}; give each seed once.")
        rows.append(
            VisionRow(
                block=key[0],
                method=key[1],
                seeds=seeds,
                honest=tuple(100 * r["honest_accuracy"] for r in rs),
                paper=tuple(100 * r["paper_accuracy"] for r in rs),
                before=tuple(100 * r["before_accuracy"] for r in rs),
                above_chance=tuple(_above_chance(r["honest_accuracy"], r["n_eval"]) for r in rs),
                n_eval=tuple(r["n_eval"] for r in rs),
            )
        )
    comps = []
    for block in dict.fromkeys(r.block for r in rows):
        by = {r.method: r for r in rows if r.block == block}
        if "sr" in by and "meta-lora" in by:
            sr = dict(zip(by["sr"].seeds, by["sr"].honest))
            ml = dict(zip(by["meta-lora"].seeds, by["meta-lora"].honest))
            common = tuple(sorted(set(sr) & set(ml)))
            if common:
                d = np.array([ml[s] - sr[s] for s in common])
                wins, losses = int((d > 0).sum()), int((d < 0).sum())
                comps.append(
                    Comparison(
                        block, common, tuple(d.tolist()), float(np.median(d)), wins, losses, _sign_p(wins, losses)
                    )
                )
    return VisionTable(tuple(rows), tuple(comps), tuple(str(r) for r in runs))


def _cell(st: dict) -> str:
    return f"{st['median']:.1f} [{st['min']:.1f}, {st['max']:.1f}]"


def format_table(table: VisionTable) -> str:
    """Markdown: one line per row, then the Meta-LoRA vs SR comparisons."""
    lines = [
        "Test-task accuracy (%), over seeds: median [min, max]. Honest = epoch chosen on the "
        "test task's selection images; best-on-test = early stopping on the evaluation images "
        "themselves (the authors' statistic, optimistic; shown only for comparison). Chance = 50.",
        "",
        "| fine-tuning | method | seeds | honest | mean ± s.e. | before fine-tuning | best-on-test (labelled) | above chance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.rows:
        h = r.stats("honest")
        se = f"{h['mean']:.1f} ± {h['se']:.1f}" if h["se"] is not None else f"{h['mean']:.1f}"
        name = _LABEL.get(r.method, r.method)
        lines.append(
            f"| {r.block} | {name} | {len(r.seeds)} | {_cell(h)} | {se} | {_cell(r.stats('before'))} | "
            f"{_cell(r.stats('paper'))} | {sum(r.above_chance)}/{len(r.seeds)} |"
        )
    if table.comparisons:
        lines += ["", "Meta-LoRA vs SR (honest accuracy, seeds paired):", ""]
        for c in table.comparisons:
            lines.append(
                f"- {c.block}: median difference {c.median_difference:+.1f} points; Meta-LoRA higher in "
                f"{c.meta_lora_higher} of {len(c.seeds)} seeds, SR higher in {c.sr_higher} "
                f"(one-sided sign test p = {c.sign_test_p:.3g})."
            )
    return "\n".join(lines) + "\n"


def plot_table(table: VisionTable, path) -> Path:
    """Honest accuracy per method and fine-tuning setting: one dot per seed, a bar at the median."""
    import matplotlib.pyplot as plt

    from landscape.runs import atomic_output

    blocks = list(dict.fromkeys(r.block for r in table.rows))
    fig, axes = plt.subplots(1, len(blocks), figsize=(3.2 * len(blocks) + 1, 3.4), squeeze=False, sharey=True)
    for ax, block in zip(axes[0], blocks):
        rows = [r for r in table.rows if r.block == block]
        for i, r in enumerate(rows):
            ax.scatter(np.full(len(r.honest), i), r.honest, s=14, color="C0", zorder=3)
            ax.scatter(np.full(len(r.paper), i + 0.18), r.paper, s=10, color="C1", marker="x", zorder=3)
            ax.hlines(np.median(r.honest), i - 0.25, i + 0.25, color="C0", lw=2)
        ax.axhline(50, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(rows)), [_LABEL.get(r.method, r.method) for r in rows], rotation=30, ha="right")
        ax.set_title(block, fontsize=9)
    axes[0][0].set_ylabel("test-task accuracy (%)")
    axes[0][-1].scatter([], [], color="C0", s=14, label="honest (per seed)")
    axes[0][-1].scatter([], [], color="C1", marker="x", s=10, label="best-on-test")
    axes[0][-1].legend(fontsize=7, loc="best", framealpha=0.8)
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path
