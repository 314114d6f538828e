"""certify(): every kind issued where true, refused where false, adaptive centre precision."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import expm

pytest.importorskip("flint")

from landscape import InvalidArgument, Problem  # noqa: E402
from landscape.certificates import certify, check_certificate  # noqa: E402
from landscape.certificates.format import from_hex_array  # noqa: E402
from landscape.runs import ExitCode, Status  # noqa: E402

from .conftest import critical_points, load_spurious  # noqa: E402

SMALL = Path(__file__).with_name("small_curvature_d6_k2_T3.json")


def load_small():
    e = json.loads(SMALL.read_text())
    p = Problem.from_json(e["problem"])
    return p, from_hex_array(e["U"], (p.T, p.d, p.k))


def _valid(res):
    assert res.issued, res.message
    chk = check_certificate(res.certificate)
    assert chk.valid, chk.message
    return chk


def test_frozen_spurious_minimum(spurious):
    p, U = spurious
    res = certify(p, U)
    assert res.status is Status.ISSUED and res.kind == "spurious-min"
    assert _valid(res).kind == "spurious-min"
    lo, hi = res.bound("loss_min")
    assert 0 < lo <= hi
    assert res.bound("mu")[0] > 0


def test_small_curvature_minimum_is_certified():
    """λ_min ≈ 3e-6 modulo O(2)^3 (the int64 anchors of format 1 could not resolve such points)."""
    p, U = load_small()
    res = certify(p, U)
    assert res.kind == "spurious-min", res.message
    _valid(res)
    assert res.certificate["parameters"]["center_bits"] >= 53


def test_precision_adapts_and_refusal_names_it():
    """A tiny forced radius needs a finer centre: refused at a capped precision, issued without the cap."""
    p, U = load_small()
    capped = certify(p, U, radius=1e-12, max_center_bits=56)
    assert certify(p, U, kind="no-min").status is Status.REFUSED  # a minimum is never "no-min"
    # could not prove is "undecided" (exit 3), not a negative verdict
    assert capped.status is Status.UNDECIDED and "certificate refused at precision" in capped.message
    assert capped.exit_code == ExitCode.UNDECIDED and not capped.issued
    free = certify(p, U, radius=1e-12)
    assert free.kind == "spurious-min", free.message
    assert free.certificate["parameters"]["center_bits"] > 56
    _valid(free)


def test_minimum_is_refused_as_saddle_and_as_no_min(spurious):
    p, U = spurious
    for kind in ("saddle", "no-min"):
        res = certify(p, U, kind=kind)
        assert not res.issued and res.exit_code == ExitCode.NEGATIVE
        assert "minimum" in res.message


def test_zero_is_never_a_minimum():
    p = Problem.random(3, 1, 3, seed=0)
    Z = np.zeros((3, 3, 1))
    assert not certify(p, Z, kind="min").issued
    res = certify(p, Z, kind="no-min")
    assert res.kind == "no-local-min"
    _valid(res)
    assert res.bound("lambda_upper")[1] < 0


def test_degenerate_T2_saddle_gets_a_no_min_certificate():
    """U = 0 at T = 2: a null space far larger than the O(1,1) orbit; no strict-saddle proof, but no-min."""
    p = Problem.random(3, 1, 2, seed=0)
    Z = np.zeros((2, 3, 1))
    sad = certify(p, Z, kind="saddle")
    assert sad.status is Status.UNDECIDED and "degenerate" in sad.message
    res = certify(p, Z)  # auto
    assert res.kind == "no-local-min", res.message
    _valid(res)


def test_strict_saddle_with_krawczyk():
    p = Problem.random(3, 1, 3, seed=17)
    from landscape import min_eigenvalue, reduced_loss

    pts = [U for U in critical_points(p, 40, seed=1)
           if reduced_loss(p, U) > 1e-6 and min_eigenvalue(p, U, modulo_symmetry=True).value < -1e-3]
    assert pts
    issued = [certify(p, U, kind="saddle") for U in pts[:4]]
    ok = [r for r in issued if r.issued]
    assert ok, [r.message for r in issued]
    assert ok[0].kind == "strict-saddle"
    _valid(ok[0])
    assert not certify(p, pts[0], kind="min").issued


def test_global_minimum_T3_is_exact_and_strict_modulo_Ok():
    p = Problem.random(5, 2, 3, seed=1)
    rng = np.random.default_rng(0)
    U = np.stack([p.U_star[t] @ np.linalg.qr(rng.standard_normal((2, 2)))[0] for t in range(3)])
    res = certify(p, U)
    assert res.kind == "global-min" and res.certificate["parameters"]["strict"] is True
    _valid(res)


def test_Okk_family_at_T2_is_certified_global_modulo_Okk():
    p = Problem.random(5, 2, 2, seed=1)
    X = np.zeros((4, 4))
    B = np.array([[0.4, -0.2], [0.1, 0.3]])
    X[:2, 2:], X[2:, :2] = B, B.T
    S = np.concatenate([p.U_star[0], p.U_star[1]], axis=1) @ expm(X)  # a hyperbolic boost of U*
    U = np.stack([S[:, :2], S[:, 2:]])
    res = certify(p, U)
    assert res.kind == "global-min", res.message
    assert res.certificate["parameters"]["canonical"] == "O(2,2)"
    assert "O(2,2)" in res.message
    _valid(res)


def test_symmetry_images_give_the_same_certificate(spurious):
    p, U = spurious
    a = certify(p, U).certificate
    b = certify(p, -U).certificate
    assert a["center"] == b["center"]


def test_result_objects(spurious):
    p, U = spurious
    res = certify(p, U)
    doc = res.to_json()
    assert doc["status"] == "issued" and "seconds" not in doc and res.ok
    assert res.to_json(timing=True)["seconds"] >= 0
    no = certify(p, np.zeros_like(U), kind="min")
    assert no.status is Status.REFUSED and no.certificate is None and no.reason.startswith("refused")
    with pytest.raises(InvalidArgument):
        no.save("x.json")


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "maximum"}, "kind"),
    ({"radius": -1.0}, "radius"),
    ({"radius": True}, "radius"),
    ({"gauge": "weird"}, "gauge"),
    ({"precision": 10}, "precision"),
])
def test_bad_arguments(kwargs, match):
    p, U = load_spurious(0)
    with pytest.raises(InvalidArgument, match=match):
        certify(p, U, **kwargs)


def test_bad_point_and_problem():
    p, U = load_spurious(0)
    with pytest.raises(InvalidArgument):
        certify(p, U[:, :2])
    with pytest.raises(InvalidArgument):
        certify(p, np.full(U.shape, np.nan))
    with pytest.raises(InvalidArgument):
        certify(p, U.astype(complex) * 1j)
    with pytest.raises(InvalidArgument):
        certify("problem", U)
    with pytest.raises(InvalidArgument):
        certify(p, np.full(U.shape, 1e300))


def test_landscape_imports_without_flint():
    import subprocess
    import sys

    code = ("import sys; sys.modules['flint'] = None\n"
            "import landscape\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


@pytest.mark.parametrize("name", ["spurious_d3k1T3", "spurious_d6k2T3"])
def test_search_fixtures_are_certified_spurious(name):
    """The landscape-search issue's frozen spurious minima (default instances of `spurious-t3`)."""
    from metalora.commands.certify import load_point

    here = Path(__file__).resolve().parents[2] / "fixtures"
    if not (here / f"{name}_point.json").is_file():
        pytest.skip("search fixtures not present")
    p = Problem.load(here / f"{name}_problem.json")
    U, _ = load_point(str(here / f"{name}_point.json"))
    res = certify(p, U.reshape(p.T, p.d, p.k))
    assert res.kind == "spurious-min", res.message
    _valid(res)


@pytest.mark.parametrize("i", range(10))
def test_curvature_collection_is_certified(i):
    """Spurious minima with λ_min modulo the symmetry from 3e-2 down to 2.9e-7 ≈ 2.2e-8·ρ (benchmarks use them too)."""
    e = json.loads(Path(__file__).with_name("spurious_minima_curvature.json").read_text())["minima"][i]
    p = Problem.random(e["d"], e["k"], e["T"], seed=e["seed"])
    res = certify(p, from_hex_array(e["U"], (p.T, p.d, p.k)))
    assert res.kind == "spurious-min", res.message


def test_size_limits(monkeypatch):
    p = Problem.random(40, 10, 10, seed=0)
    with pytest.raises(InvalidArgument, match="Tdk <= 3000"):
        certify(p, np.zeros((10, 40, 10)))
    import sys

    checker = sys.modules["landscape.certificates.checker"]
    q, U = load_spurious(0)
    cert = certify(q, U).certificate
    monkeypatch.setattr(checker, "MAX_N", 5)
    res = check_certificate(cert)
    assert not res.valid and "too large" in res.message


def test_strict_saddle_on_the_gauge_slice():
    """With k = 2 the Krawczyk proof runs on the slice transversal to O(2)^3 (checked by both kernels)."""
    from landscape.search import search

    p = Problem.random(10, 2, 3, seed=1)
    pts = [cp.U for cp in search(p, starts=4, method="roots", seed=0).points if cp.kind == "saddle"]
    assert pts
    res = certify(p, pts[0], kind="saddle")
    assert res.kind == "strict-saddle", res.message
    assert res.certificate["parameters"]["gauge"] == "slice"
    _valid(res)


def test_strict_raises_on_refusal_and_returns_when_issued():
    import numpy as np
    import pytest

    from landscape import CertificateRefused, Problem, certify

    p = Problem.random(3, 1, 3, seed=0)
    with pytest.raises(CertificateRefused) as exc:
        certify(p, np.zeros((3, 3, 1)), kind="min", strict=True)  # U = 0 is not a minimum
    assert not exc.value.result.issued and exc.value.result.message
    assert certify(p, p.U_star, strict=True).issued  # the global minimum
