"""The Python examples in README.md and docs/*.md run as written.

Every ```python block of a page is executed, in order, in one namespace, in a temporary
working directory (examples may write files). Functions named ``test_*`` that a page
defines (the example property suite of docs/strategies.md) are then called, so a page's
suite is run, not only defined. A block that cannot run as written is listed in ``SKIP``
with the reason; everything else must pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)

#: (page, 1-based block number) -> why it is not executed.
SKIP = {
    ("certificates.md", 1): "a fragment: `problem` and `U` are the reader's own",
    ("convai2.md", 1): "a full synthetic retrain + fine-tune run (minutes of CPU); tests/experiments cover it",
    ("engine.md", 2): "a fragment: `test_workload` is the reader's own",
    ("figure1.md", 1): "the full default sweep (about a minute on 2 cores); tests/experiments cover it",
}
# Pages whose examples take more than a few seconds.
SLOW = {"README.md", "census.md", "engine.md", "search.md", "shallow.md", "strategies.md", "theorems.md"}
#: Pages whose examples are known to fail as written (a bug to fix in the page), page -> why.
KNOWN_BROKEN: dict = {}


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text)]


def run_page(path: Path, skip=SKIP) -> int:
    """Execute a page's blocks and its test_* functions; return how many blocks ran."""
    ns: dict = {"__name__": f"docs_{path.stem}"}
    ran = 0
    for i, code in enumerate(python_blocks(path.read_text()), start=1):
        if (path.name, i) in skip:
            continue
        exec(compile(code, f"{path.name}[python block {i}]", "exec"), ns)
        ran += 1
    for name, fn in list(ns.items()):
        if name.startswith("test_") and callable(fn):
            fn()
    return ran


def _params():
    out = []
    for path in PAGES:
        marks = [pytest.mark.slow] if path.name in SLOW else []
        if path.name in KNOWN_BROKEN:
            marks.append(pytest.mark.xfail(reason=KNOWN_BROKEN[path.name], strict=False))
        out.append(pytest.param(path, id=path.name, marks=marks))
    return out


@pytest.mark.parametrize("path", _params())
def test_page_examples_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run_page(path)


def test_skip_list_names_existing_blocks():
    # A stale entry would silently skip a new block that happens to get its number.
    for page, i in SKIP:
        path = ROOT / "docs" / page if (ROOT / "docs" / page).exists() else ROOT / page
        assert path.exists(), f"SKIP names a missing page {page}"
        assert i <= len(python_blocks(path.read_text())), f"SKIP names a missing block {page}#{i}"


def test_a_broken_example_fails(tmp_path, monkeypatch):
    # Falsifiability: a wrong claim in an example, and a failing test_* it defines, both raise.
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text("text\n```python\nx = 0.1 + 0.2\n```\n\n```python\nassert x == 0.3\n```\n")
    with pytest.raises(AssertionError):
        run_page(page)
    page.write_text("```python\ndef test_wrong():\n    assert 1 + 1 == 3\n```\n")
    with pytest.raises(AssertionError):
        run_page(page)
    page.write_text("```python\nimport math\nassert math.isclose(0.1 + 0.2, 0.3)\n```\n```bash\nexit 1\n```\n")
    assert run_page(page) == 1
