"""Shared data for the certificate tests: a frozen spurious minimum and a critical-point finder."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flint")

from landscape import Problem, reduced_grad, reduced_hessian  # noqa: E402

FIXTURE = Path(__file__).with_name("spurious_d3_k1_T3.json")


def load_spurious(i: int = 0):
    """``(problem, U)`` of a frozen T = 3 spurious minimum (see the fixture's note)."""
    from landscape.certificates.format import from_hex_array

    entry = json.loads(FIXTURE.read_text())["spurious_minima"][i]
    p = Problem.from_json(entry["problem"])
    return p, from_hex_array(entry["U"], (p.T, p.d, p.k))


@pytest.fixture(params=[0, 1], ids=["seed30", "seed147"])
def spurious(request):
    return load_spurious(request.param)


def critical_points(problem, starts: int, seed: int, tol: float = 1e-10):
    """Roots of ∇G from random starts (landscape.roots when present, else scipy's LM)."""
    T, d, k = problem.T, problem.d, problem.k
    try:
        from landscape.multistart import random_starts
        from landscape.roots import find_roots
    except ImportError:  # the search package is optional for these tests
        find_roots = None
    if find_roots is not None:
        res = find_roots(problem, random_starts(problem, starts, seed=seed))
        pts = [U for U, ok in zip(res.U, res.converged) if ok]
    else:
        import scipy.optimize as so

        rng = np.random.default_rng(seed)
        pts = []
        for _ in range(starts):
            sol = so.root(
                lambda x: reduced_grad(problem, x.reshape(T, d, k)).ravel(),
                rng.standard_normal(T * d * k),
                jac=lambda x: reduced_hessian(problem, x.reshape(T, d, k)),
                method="lm",
            )
            pts.append(sol.x.reshape(T, d, k))
    return [U for U in pts if np.all(np.isfinite(U)) and np.linalg.norm(reduced_grad(problem, U)) < tol]
