"""Every notebook in notebooks/ runs top to bottom, warns nowhere and draws its figures.

Outputs are not committed. Each notebook declares what it must draw: cells tagged
``figure`` must each produce an ``image/png`` output, and ``metadata.metalora.min_figures``
is the notebook's total. The notebooks run with ``MPLBACKEND=Agg`` (no display), so a
notebook that only calls ``plt.show()`` under a non-inline backend draws nothing and fails;
``%matplotlib inline`` (or ``display(fig)``) draws whatever the backend.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

# How warnings.showwarning prints ("path:line: SomeWarning: message"), and tqdm's
# "IProgress not found" notice; any of these in a cell's stderr fails the notebook.
_WARNING = re.compile(r"\b\w*Warning\b:|IProgress not found")


def notebook_problems(nb) -> list[str]:
    """What is wrong with an *executed* notebook: warnings, missing figures (empty if nothing)."""
    problems = []
    total = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        images = 0
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = out.get("text", "")
                if _WARNING.search(text):
                    problems.append(f"cell {i} warns: {text.strip()[:300]}")
            if out.get("output_type") in ("display_data", "execute_result") and "image/png" in out.get("data", {}):
                images += 1
        total += images
        if "figure" in cell.get("metadata", {}).get("tags", []) and images == 0:
            problems.append(f"cell {i} is tagged 'figure' but drew no image/png")
    declared = nb.metadata.get("metalora", {}).get("min_figures")
    if declared is None:
        problems.append("metadata.metalora.min_figures is not declared")
    elif total < declared:
        problems.append(f"{total} figures drawn, {declared} declared (metadata.metalora.min_figures)")
    return problems


def _execute(nb, cwd, timeout=600):
    nbclient = pytest.importorskip("nbclient")
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("METALORA_NOTEBOOK_TEST", "1")
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs; clear them"
    )
    _execute(nb, tmp_path)
    problems = notebook_problems(nb)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.slow
def test_the_check_fails_on_a_warning_and_on_a_figure_lost_to_the_agg_backend(tmp_path, monkeypatch):
    # Falsifiability: a plt.show() under Agg draws nothing, a warning reaches stderr, a
    # notebook without the declaration is refused; the same figure with %matplotlib inline passes.
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    v4 = nbformat.v4
    plot = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"
    bad = v4.new_notebook(cells=[
        v4.new_code_cell(plot, metadata={"tags": ["figure"]}),
        v4.new_code_cell("import warnings\nwarnings.warn('something is off', FutureWarning)"),
    ])
    _execute(bad, tmp_path, timeout=120)
    problems = notebook_problems(bad)
    assert any("tagged 'figure' but drew no image" in p for p in problems)
    assert any("warns" in p and "FutureWarning" in p for p in problems)
    assert any("min_figures is not declared" in p for p in problems)

    good = v4.new_notebook(
        cells=[v4.new_code_cell("%matplotlib inline\n" + plot, metadata={"tags": ["figure"]})],
        metadata={"metalora": {"min_figures": 1}},
    )
    _execute(good, tmp_path, timeout=120)
    assert notebook_problems(good) == []
    good.metadata["metalora"]["min_figures"] = 2
    assert notebook_problems(good) == ["1 figures drawn, 2 declared (metadata.metalora.min_figures)"]
