"""certify(): planted minima, the frozen spurious minimum, saddles, refusals, bad inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("flint")

from landscape import InvalidArgument, Problem, min_eigenvalue, reduced_loss  # noqa: E402
from landscape.certify import certify, check_certificate  # noqa: E402
from landscape.strategies import problems  # noqa: E402

from .conftest import critical_points, load_spurious  # noqa: E402


def aligned_truth(p, U):
    """The point of the orbit {U*_t Q_t} closest to U (Procrustes per task; a sign for k = 1).

    It satisfies the slice equations Wᵀ(U*Q − U) = 0 exactly in exact arithmetic, so it is
    the minimiser a slice certificate around U must contain.
    """
    out = np.empty_like(U)
    for t in range(p.T):
        P, _, Qt = np.linalg.svd(p.U_star[t].T @ U[t])
        out[t] = p.U_star[t] @ (P @ Qt)
    return out


@settings(max_examples=10)
@given(problems(min_d=3, max_d=6, max_k=2, min_T=3, max_T=4, independent=True), st.integers(0, 2**32 - 1))
def test_planted_minimum_is_certified_and_contains_the_truth(p, seed):
    rng = np.random.default_rng(seed)
    U = aligned_truth(p, p.U_star @ np.linalg.qr(rng.standard_normal((p.k, p.k)))[0])
    U = U + 1e-7 * np.linalg.norm(p.U_star) * rng.standard_normal(U.shape)
    res = certify(p, U, kind="min")
    assert res.issued, res.reason
    assert res.kind == "strict-min"
    star = aligned_truth(p, U)
    dist = np.linalg.norm(star - U)
    lo_d, hi_d = res.bound("distance")
    r = float.fromhex(res.certificate["parameters"]["radius"])
    assert dist <= hi_d * (1 + 1e-6) and dist <= r  # the known minimiser is the certified U♯
    lo, hi = res.bound("loss_min_lower")[0], res.bound("loss_min_upper")[1]
    assert lo <= 0.0 <= hi  # G(U♯) = G(U*) = 0 lies in the certified enclosure
    assert check_certificate(res.certificate).valid


def test_exact_truth_is_a_global_minimum():
    p = Problem.random(5, 2, 3, seed=2)
    res = certify(p, p.U_star)
    assert res.issued and res.kind == "global-min"
    assert res.certificate["checks"]["strict"] is True
    assert res.bound("loss_center") == (0.0, 0.0)
    assert check_certificate(res.certificate).valid
    # one ulp away it is no longer an exact zero
    res2 = certify(p, np.nextafter(p.U_star, 10))
    assert res2.kind == "strict-min"


def test_frozen_spurious_minimum(spurious):
    p, U = spurious
    res = certify(p, U)
    assert res.issued and res.kind == "spurious-min", res.reason
    lo, _ = res.bound("loss_min_lower")
    _, hi = res.bound("loss_min_upper")
    G = reduced_loss(p, U)
    assert 0 < lo <= G * (1 + 1e-12) and G <= hi * (1 + 1e-12)  # agrees with the float loss
    mu_lo, _ = res.bound("mu")
    lam = min_eigenvalue(p, U).value
    assert 0 < mu_lo <= lam  # a lower bound on λ_min over the ball, below the float value at U
    lam_lo, _ = res.bound("lambda_anchor")
    assert lam_lo <= lam * (1 + 1e-6) and lam_lo > 0.9 * lam  # tight at the anchor
    chk = check_certificate(res.certificate)
    assert chk.valid and chk.kind == "spurious-min"
    assert any("spurious" in s for s in res.certificate["statement"])


def test_zero_is_never_a_minimum_and_is_a_saddle():
    for (d, k, T) in [(3, 1, 3), (4, 2, 3), (3, 1, 2), (6, 1, 2)]:
        p = Problem.random(d, k, T, seed=d + k + T)
        U = np.zeros(p.U_star.shape)
        assert not certify(p, U, kind="min").issued
        res = certify(p, U)
        assert res.issued and res.kind == "strict-saddle", (d, k, T, res.reason)
        assert res.bound("lambda_upper")[1] < 0
        assert check_certificate(res.certificate).valid


def test_singular_zero_uses_the_exact_critical_point():
    p = Problem.random(6, 1, 2, seed=9)  # ∇²G(0) is singular when d > Tk
    res = certify(p, np.zeros(p.U_star.shape), kind="saddle")
    assert res.issued and res.certificate["parameters"]["method"] == "exact-critical"


@pytest.mark.parametrize("dkT,seed", [((3, 1, 2), 0), ((4, 2, 2), 1), ((3, 1, 3), 2), ((4, 1, 3), 3)])
def test_critical_points_with_negative_curvature_are_never_minima(dkT, seed):
    d, k, T = dkT
    p = Problem.random(d, k, T, seed=seed)
    n_saddle = 0
    for U in critical_points(p, 12, seed):
        lam = min_eigenvalue(p, U, modulo_symmetry=True).value
        if lam > -1e-6:
            continue
        n_saddle += 1
        assert not certify(p, U, kind="min").issued
        res = certify(p, U, kind="saddle")
        if res.issued:  # isolated (modulo symmetry) saddles are certified, degenerate ones refused
            assert res.bound("lambda_upper")[1] < 0
            assert check_certificate(res.certificate).valid
    assert n_saddle > 0


def test_saddle_with_gauge_k2():
    import scipy.optimize as so

    from landscape import reduced_grad, reduced_hessian

    p = Problem.random(6, 2, 3, seed=3)
    U0 = p.U_star.copy()
    U0[0] = 0.3 * np.random.default_rng(0).standard_normal((6, 2))
    sol = so.root(lambda x: reduced_grad(p, x.reshape(3, 6, 2)).ravel(), U0.ravel(),
                  jac=lambda x: reduced_hessian(p, x.reshape(3, 6, 2)), method="lm")
    U = sol.x.reshape(3, 6, 2)
    res = certify(p, U)
    assert res.issued and res.kind == "strict-saddle", res.reason
    assert "transversality_margin" in res.bounds and res.bound("transversality_margin")[0] > 0
    assert not certify(p, U, kind="min").issued
    assert check_certificate(res.certificate).valid


def test_points_moved_off_by_more_than_the_radius_are_refused():
    p, U = load_spurious(0)
    r = 1e-3
    rng = np.random.default_rng(0)
    D = rng.standard_normal(U.shape)
    D /= np.linalg.norm(D)
    far = certify(p, U + 3 * r * D, kind="min", radius=r)
    assert not far.issued and "gradient_small" in far.reason
    # a move small enough for g < μ r (g grows like λ_max·‖move‖) is certified ...
    from landscape import reduced_hessian

    ev = np.linalg.eigvalsh(reduced_hessian(p, U))
    move = 0.2 * r * ev[0] / ev[-1]
    near = certify(p, U + move * D, kind="min", radius=r)
    assert near.issued and near.kind == "spurious-min", near.reason
    # ... and soundly: the minimiser it encloses is the original one, at distance `move`
    assert near.bound("distance")[1] >= move * (1 - 1e-6)


def test_degenerate_minima_need_the_gauge():
    p = Problem.random(6, 2, 3, seed=4)
    U = p.U_star + 1e-8
    assert not certify(p, U, kind="min", gauge="none").issued
    assert certify(p, U, kind="min").issued
    # T = 2: the zero-loss set is a continuum (O(k,k)); only the O(k,k) slice isolates a point
    p2 = Problem.random(3, 1, 2, seed=0)
    U2 = p2.U_star + 1e-8
    assert not certify(p2, U2, kind="min", gauge="none").issued
    res = certify(p2, U2, kind="min")
    assert res.issued and "O(1,1)" in " ".join(res.certificate["statement"])


def test_precision_is_recorded_and_used():
    p, U = load_spurious(0)
    a = certify(p, U, precision=64)
    b = certify(p, U, precision=256)
    assert a.issued and b.issued
    assert len(b.bounds["mu"]["ball"]) > len(a.bounds["mu"]["ball"])
    assert a.certificate["parameters"]["precision"] == 64


def test_result_objects():
    p, U = load_spurious(0)
    res = certify(p, U)
    js = res.to_json()
    assert js["issued"] and js["kind"] == "spurious-min" and js["certificate"]["format"] == "metalora.certificate/1"
    assert "spurious-min" in repr(res)
    refused = certify(p, np.zeros(U.shape), kind="min")
    assert refused.certificate is None and refused.bounds == {} and refused.reason.startswith("refused")
    with pytest.raises(InvalidArgument, match="no certificate"):
        refused.save("x.json")


BAD = [
    (dict(kind="maximum"), "`kind` must be one of"),
    (dict(radius=-1.0), "`radius` must be None or a finite number > 0"),
    (dict(radius=float("nan")), "`radius` must be None or a finite number > 0"),
    (dict(radius="big"), "`radius` must be None or a positive number"),
    (dict(gauge="fixed"), "`gauge` must be one of"),
    (dict(precision=10), "`precision` must be an integer in"),
    (dict(precision=1.5), "`precision` must be an integer"),
]


@pytest.mark.parametrize("kwargs,match", BAD, ids=[b[1][:25] for b in BAD])
def test_bad_arguments(kwargs, match):
    p, U = load_spurious(0)
    with pytest.raises(InvalidArgument, match=match):
        certify(p, U, **kwargs)


def test_bad_point_and_problem():
    p, U = load_spurious(0)
    with pytest.raises(InvalidArgument, match="must have shape"):
        certify(p, U[:2])
    with pytest.raises(InvalidArgument, match="must be finite"):
        certify(p, U * np.nan)
    with pytest.raises(InvalidArgument, match="`problem` must be a landscape.Problem"):
        certify("problem.json", U)


def test_landscape_imports_without_flint():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['flint'] = None\n"
        "import landscape\n"
        "assert 'flint' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "p = landscape.Problem.random(3, 1, 3, seed=0)\n"
        "try:\n"
        "    landscape.certify(p, p.U_star)\n"
        "except ImportError:\n"
        "    print('lazy-ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "lazy-ok" in out.stdout


@pytest.mark.parametrize("name", ["spurious_d3k1T3", "spurious_d6k2T3"])
def test_search_fixtures_are_certified_spurious(name):
    """The landscape-search issue's frozen spurious minima (default instances of `spurious-t3`)."""
    from pathlib import Path

    from metalora.commands.certify import load_point

    here = Path(__file__).resolve().parents[2] / "fixtures"
    if not (here / f"{name}_point.json").is_file():
        pytest.skip("search fixtures not present")
    p = Problem.load(here / f"{name}_problem.json")
    U, _ = load_point(str(here / f"{name}_point.json"))
    res = certify(p, U.reshape(p.T, p.d, p.k))
    assert res.issued and res.kind == "spurious-min", res.reason
    assert check_certificate(res.certificate).valid
