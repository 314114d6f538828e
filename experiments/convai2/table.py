"""Table 1 of the paper from fine-tuning runs: per test persona and average, over seeds.

Rows are grouped by the fine-tuning adapter (``LoRA rank k`` or ``last layer``) and the
retraining method (labelled as in the paper: ``SR+LoRA``, ``Meta-LoRA-8``, ...). Each
fine-tuning run directory is one seed. Two tables are produced, each cell over seeds:

* **median** (the paper's statistic) and **mean ± s.e.** (standard error of the mean,
  ``std(ddof=1)/sqrt(n)``; blank for one seed);
* for two accuracies: **honest** (evaluation accuracy at the epoch chosen on the separate
  selection dialogues) and **paper** (best evaluation accuracy over epochs: test-set early
  stopping, as in the paper's Table 1 - shown only beside the honest number).

The average column of the median table is the mean over personas of the per-persona medians
(how the paper's average column is computed: e.g. 41.52 for SR+LoRA rank 8); the mean ± s.e.
table averages each seed over personas first. Accuracies are in percent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from landscape.validation import read_json
from landscape.errors import InvalidArgument
from landscape.runs import jsonable


__all__ = ["TableRow", "Table1", "method_label", "build_table", "format_table", "PAPER_TABLE1"]

#: v1 Table 1 (accuracy %, median over 5 trials of the best held-out epoch), for reference.
PAPER_TABLE1 = {
    ("LoRA rank 8", "SR+LoRA"): [
        43.75,
        40.00,
        43.48,
        41.94,
        41.03,
        37.23,
        42.73,
        43.20,
        41.13,
        40.76,
        41.52,
    ],
    ("LoRA rank 8", "Meta-LoRA-8"): [
        50.00,
        50.00,
        47.82,
        48.39,
        46.15,
        41.49,
        44.55,
        44.00,
        42.55,
        42.68,
        45.76,
    ],
    ("LoRA rank 16", "SR+LoRA"): [
        43.75,
        43.33,
        39.13,
        38.71,
        39.74,
        35.11,
        38.18,
        39.20,
        39.72,
        38.85,
        39.57,
    ],
    ("LoRA rank 16", "Meta-LoRA-8"): [
        50.0,
        53.33,
        50.0,
        50.0,
        48.72,
        42.55,
        45.45,
        44.80,
        45.39,
        44.59,
        47.48,
    ],
    ("LoRA rank 16", "Meta-LoRA-16"): [
        43.75,
        33.33,
        36.96,
        40.32,
        43.59,
        39.36,
        42.73,
        41.60,
        40.43,
        40.13,
        40.22,
    ],
}


@dataclass(frozen=True)
class TableRow:
    """One (block, method) row: per-persona statistics over seeds, in percent."""

    block: str
    method: str
    n_seeds: int
    runs: tuple
    honest_median: tuple
    honest_mean: tuple
    honest_se: tuple
    paper_median: tuple
    paper_mean: tuple
    paper_se: tuple
    pooled: dict = None


def pooled_ci(correct: int, total: int, level: float = 0.95) -> tuple[float, float, float]:
    """Accuracy ``correct/total`` (in %) and its exact (Clopper-Pearson) confidence interval."""
    from scipy.stats import binomtest

    if total == 0:
        return float("nan"), float("nan"), float("nan")
    ci = binomtest(int(correct), int(total)).proportion_ci(confidence_level=level, method="exact")
    return 100 * correct / total, 100 * float(ci.low), 100 * float(ci.high)


def _pooled(members) -> dict:
    """Evaluation examples pooled over a row's personas and seeds: correct, total, accuracy
    and 95% CI, for the honest and the paper-style epochs (the counts are exact: accuracy x
    examples of each persona).
    """
    out = {}
    for which in ("honest", "paper"):
        correct = total = 0
        for _, res in members:
            for t in res["tasks"]:
                acc, n = t.get(f"{which}_accuracy"), int(t.get("n_eval", 0))
                if acc is None or n == 0:
                    continue
                correct += int(round(acc * n))
                total += n
        if total:
            acc, lo, hi = pooled_ci(correct, total)
            out[which] = {"correct": correct, "total": total, "accuracy": acc, "ci95": [lo, hi]}
    return out


@dataclass(frozen=True)
class Table1:
    """The table: persona names (T1..Tn in size order) and rows; averages are the last column."""

    personas: tuple
    rows: tuple

    def to_json(self) -> dict:
        """Plain JSON values (the project's result protocol: a dict, not text)."""
        return jsonable(asdict(self))


def method_label(method: str, base_rank: int | None, adapter: str) -> str:
    """Paper-style row label: ``SR+LoRA``, ``Meta-LoRA-8``, ``Reptile+LL`` ..."""
    suffix = "+LoRA" if adapter == "lora" else "+LL"
    if method == "meta-lora":
        return f"Meta-LoRA-{base_rank}" + ("" if adapter == "lora" else "+LL")
    name = {"sr": "SR", "last-layer-ml": "LL-ML", "reptile": "Reptile"}.get(method, method)
    return name + suffix


def _block(adapter: str, rank) -> str:
    return f"LoRA rank {rank}" if adapter == "lora" else "last layer"


def _se(x: np.ndarray) -> np.ndarray:
    if x.shape[0] < 2:
        return np.full(x.shape[1:], np.nan)
    return x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])


def _is_num(x) -> bool:
    if isinstance(x, float):
        return bool(np.isfinite(x))
    return isinstance(x, int) and not isinstance(x, bool) and abs(x) < 1 << 53


def _read_results(f: Path) -> dict:
    """A fine-tuning ``results.json``, read strictly and checked for the fields the table uses
    (a malformed or foreign file is an input error naming it, never a crash).
    """
    res = read_json(f, what="fine-tuning results file", arg="runs")

    def bad(why):
        return InvalidArgument(f"`runs`: {str(f)!r} is not a fine-tuning results file ({why}).")

    if not isinstance(res, dict) or "tasks" not in res or "adapter" not in res:
        raise bad("no 'tasks' and 'adapter' fields")
    for key in ("adapter", "method"):
        if not isinstance(res.get(key), str):
            raise bad(f"{key!r} must be a string")
    for key in ("rank", "base_rank"):
        v = res.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 31):
            raise bad(f"{key!r} must be a small integer or null")
    tasks = res["tasks"]
    if not isinstance(tasks, list) or not tasks:
        raise bad("'tasks' must be a non-empty list")
    for t in tasks:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise bad("each task must be an object with a string 'name'")
        if not _is_num(t.get("paper_accuracy")):
            raise bad("each task needs a finite number 'paper_accuracy'")
        if t.get("honest_accuracy") is not None and not _is_num(t["honest_accuracy"]):
            raise bad("'honest_accuracy' must be a finite number or null")
        n = t.get("n_eval", 0)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < 1 << 40:
            raise bad("'n_eval' must be a non-negative integer")
    return res


def build_table(runs) -> Table1:
    """Aggregate fine-tuning run directories (or their ``results.json`` files).

    Raises
    ------
    InvalidArgument
        A path is not a finished fine-tuning run, or runs of one row disagree on the personas.
    """
    groups: dict = {}
    personas = None
    for r in runs:
        p = Path(r)
        f = p / "results.json" if p.is_dir() else p
        if not f.is_file():
            raise InvalidArgument(
                f"`runs`: {str(p)!r} is not a finished fine-tuning run (no results.json)."
            )
        res = _read_results(f)
        names = tuple(t["name"] for t in res["tasks"])
        if personas is None:
            personas = names
        elif names != personas:
            raise InvalidArgument(
                f"`runs`: {str(f)!r} has other test personas than the first run; all runs must share them."
            )
        paper_split = any(t.get("honest_accuracy") is None for t in res["tasks"])
        key = (
            _block(res["adapter"], res.get("rank")),
            method_label(res["method"], res.get("base_rank"), res["adapter"])
            + (" [paper split]" if paper_split else ""),
        )
        groups.setdefault(key, []).append((str(p), res))
    if personas is None:
        raise InvalidArgument("`runs` must name at least one fine-tuning run.")
    rows = []

    def block_order(b):
        return (0, int(b.split()[-1])) if b.startswith("LoRA") else (1, 0)

    for block, label in sorted(groups, key=lambda k: (block_order(k[0]), k[1])):
        members = groups[(block, label)]
        honest = (
            np.array(
                [[np.nan if t.get("honest_accuracy") is None else t["honest_accuracy"] for t in res["tasks"]] for _, res in members],
                dtype=float,
            )
            * 100
        )
        paper = np.array([[t["paper_accuracy"] for t in res["tasks"]] for _, res in members]) * 100

        def stats(x):
            if np.isnan(x).all():  # paper split: no selection dialogues, no honest number
                none = (None,) * (x.shape[1] + 1)
                return none, none, none
            med = np.median(x, axis=0)
            per_seed_avg = x.mean(axis=1, keepdims=True)
            full = np.concatenate([x, per_seed_avg], axis=1)
            se = [None if not np.isfinite(v) else v for v in _se(full).tolist()]
            return (
                tuple(np.append(med, med.mean()).tolist()),
                tuple(full.mean(axis=0).tolist()),
                tuple(se),
            )

        hm, hmean, hse = stats(honest)
        pm, pmean, pse = stats(paper)
        rows.append(
            TableRow(
                block,
                label,
                len(members),
                tuple(m for m, _ in members),
                hm,
                hmean,
                hse,
                pm,
                pmean,
                pse,
                _pooled(members),
            )
        )
    return Table1(personas=personas, rows=tuple(rows))


def format_table(table: Table1, *, paper_reference: bool = True) -> str:
    """Markdown: the median tables (honest, paper) and the mean ± s.e. tables."""
    n = len(table.personas)
    head = (
        "| fine-tune | method | seeds | " + " | ".join(f"T{i + 1}" for i in range(n)) + " | avg |"
    )
    sep = "|" + "---|" * (n + 4)
    out = []

    def section(title, field, se_field=None):
        out.append(f"### {title}\n")
        out.append(head)
        out.append(sep)
        for r in table.rows:
            vals = getattr(r, field)
            if se_field is None:
                cells = ["—" if v is None else f"{v:.2f}" for v in vals]
            else:
                ses = getattr(r, se_field)
                cells = [
                    "—" if v is None else (f"{v:.2f}" if s is None else f"{v:.2f} ± {s:.2f}")
                    for v, s in zip(vals, ses)
                ]
            out.append(f"| {r.block} | {r.method} | {r.n_seeds} | " + " | ".join(cells) + " |")
        out.append("")

    section(
        "Honest: evaluation accuracy at the epoch chosen on selection dialogues (median over seeds, %)",
        "honest_median",
    )
    section(
        "Paper's number: best evaluation accuracy over epochs = test-set early stopping (median over seeds, %)",
        "paper_median",
    )
    section("Honest, mean ± s.e. over seeds (%)", "honest_mean", "honest_se")
    section("Paper's number, mean ± s.e. over seeds (%)", "paper_mean", "paper_se")
    if any(r.pooled for r in table.rows):
        out.append("### Pooled over personas and seeds: accuracy with its exact 95% confidence interval (%)\n")
        out.append("| fine-tune | method | honest: correct / examples | honest [95% CI] | paper's: correct / examples | paper's [95% CI] |")
        out.append("|---|---|---|---|---|---|")
        for r in table.rows:
            cells = []
            for which in ("honest", "paper"):
                p = (r.pooled or {}).get(which)
                if p is None:
                    cells += ["—", "—"]
                else:
                    cells += [f"{p['correct']} / {p['total']}", f"{p['accuracy']:.2f} [{p['ci95'][0]:.2f}, {p['ci95'][1]:.2f}]"]
            out.append(f"| {r.block} | {r.method} | " + " | ".join(cells) + " |")
        out.append("")
    if any(r.method.endswith("[paper split]") for r in table.rows):
        out.append(
            "Rows marked [paper split] fine-tuned on every dialogue but the evaluation ones "
            "(--select-dialogues 0, the paper's protocol): they have only the paper-style number "
            "(test-set early stopping), no honest one (—).\n"
        )
    out.append(
        "Personas T1..Tn are the validation split's largest, in size order: "
        + ", ".join(table.personas)
        + "."
    )
    if paper_reference:
        out.append("")
        out.append(
            "### Reference: the paper's v1 Table 1 (median of 5 trials, best epoch on the evaluation data, %)\n"
        )
        out.append(
            "| fine-tune | method | " + " | ".join(f"T{i + 1}" for i in range(10)) + " | avg |"
        )
        out.append("|" + "---|" * 13)
        for (block, label), vals in PAPER_TABLE1.items():
            out.append(f"| {block} | {label} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    return "\n".join(out) + "\n"
