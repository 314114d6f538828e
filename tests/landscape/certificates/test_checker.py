"""check_certificate(): tamper evidence, and two kernels that catch each other's bugs."""

import copy
import json

import numpy as np
import pytest

pytest.importorskip("flint")

from landscape import InvalidArgument, Problem  # noqa: E402
from landscape.certificates import certify, check_certificate  # noqa: E402
from landscape.certificates import checker as kernel_b  # noqa: E402
from landscape.certificates import exact as kernel_a_exact  # noqa: E402
from landscape.certificates import prover as kernel_a  # noqa: E402
from landscape.certificates.format import digest  # noqa: E402
from landscape.certificates.statement import render  # noqa: E402
from landscape.runs import Status  # noqa: E402

from .conftest import load_spurious  # noqa: E402


@pytest.fixture(scope="module")
def cert():
    p, U = load_spurious(0)
    return certify(p, U).certificate


@pytest.fixture(scope="module")
def nomin():
    p = Problem.random(3, 1, 3, seed=0)
    return certify(p, np.zeros((3, 3, 1)), kind="no-min").certificate


def _resign(c):
    """Re-render claim/statement and recompute the digest, as a careful forger would."""
    c["claim"], c["statement"] = render(c)
    c["digest"] = digest(c)
    return c


def _scale_hex(h, f):
    return float.hex(float.fromhex(h) * f)


def test_valid_and_both_kernels(cert, nomin):
    for c in (cert, nomin):
        for kernels in (("independent",), ("prover",), ("independent", "prover")):
            res = check_certificate(c, kernels=kernels)
            assert res.valid and res.status is Status.VALID, res.message


@pytest.mark.parametrize("name, side, factor", [
    ("mu", "lo", 1.5), ("lambda_center", "lo", 1.5), ("variation", "hi", 0.5), ("grad_norm", "hi", 0.0),
    ("distance", "hi", 0.5), ("loss_min", "lo", 1.001), ("center_norm", "hi", 0.9),
])
def test_any_strengthened_bound_is_rejected_even_when_re_signed(cert, name, side, factor):
    c = copy.deepcopy(cert)
    c["bounds"][name][side] = _scale_hex(c["bounds"][name][side], factor)
    _resign(c)
    assert not check_certificate(c, kernels=("independent",)).valid
    assert not check_certificate(c, kernels=("prover",)).valid


def test_data_edits_change_the_sha256(cert):
    c = copy.deepcopy(cert)
    ut = c["problem"]["U_test"]
    # two compensating edits of U_test (a linear fingerprint would not see them)
    a, b = float.fromhex(ut[0][0]), float.fromhex(ut[1][0])
    ut[0][0], ut[1][0] = float.hex(a + 0.156), float.hex(b - 0.156)
    c["digest"] = digest(c)
    res = check_certificate(c)
    assert not res.valid and "sha256" in res.message


def test_versions_and_timings_are_informational(cert):
    c = copy.deepcopy(cert)
    c["versions"]["python-flint"] = "0.0.1"
    c["timings"] = {"certify_seconds": 123.0}
    assert check_certificate(c).valid  # documented: these fields prove nothing and are not digested
    c["bounds"]["mu"]["lo"] = _scale_hex(c["bounds"]["mu"]["lo"], 1000.0)
    _resign(c)
    assert not check_certificate(c).valid  # a version mismatch never relaxes a check


@pytest.mark.parametrize("image", ["negate-task", "swap-columns"])
def test_symmetry_images_of_the_centre_are_rejected(image):
    p = Problem.random(5, 2, 3, seed=1)
    rng = np.random.default_rng(0)
    U = np.stack([p.U_star[t] @ np.linalg.qr(rng.standard_normal((2, 2)))[0] for t in range(3)])
    c = certify(p, U).certificate
    Z = c["center"]["Z"]
    if image == "negate-task":
        Z[0] = [[str(-int(x)) for x in row] for row in Z[0]]
    else:
        Z[1] = [[row[1], row[0]] for row in Z[1]]
    _resign(c)
    res = check_certificate(c, kernels=("independent",))
    assert not res.valid and "canonical" in res.message


def test_claim_and_statement_cannot_be_edited(cert):
    c = copy.deepcopy(cert)
    c["statement"][1] = c["statement"][1].replace(">=", "<=")
    c["digest"] = digest(c)
    assert not check_certificate(c).valid


def test_kind_relabel_is_rejected(cert):
    c = copy.deepcopy(cert)
    c["kind"] = "strict-min"
    _resign(c)
    assert not check_certificate(c).valid


# -- each kernel catches a bug injected into the other -------------------------------------------
def test_checker_catches_a_prover_with_a_wrong_variation_bound(monkeypatch):
    """Kernel A with Lip/4 issues a certificate whose printed variation is too small: B rejects it."""
    p, U = load_spurious(0)
    real = kernel_a.lip
    monkeypatch.setattr(kernel_a, "lip", lambda a, rho, T: real(a, rho, T) / 4)
    res = certify(p, U, verify=False)
    assert res.issued
    chk = check_certificate(res.certificate, kernels=("independent",))
    assert not chk.valid and "variation" in chk.message


def test_checker_catches_a_prover_with_a_wrong_eigenvalue_bound(monkeypatch):
    p, U = load_spurious(0)
    real = kernel_a_exact.chol_lower_bound

    def inflated(M, **kw):
        lo, lam = real(M, **kw)
        return (None if lo is None else lo * 3), lam

    monkeypatch.setattr(kernel_a, "chol_lower_bound", inflated)
    res = certify(p, U, verify=False)
    assert res.issued
    chk = check_certificate(res.certificate, kernels=("independent",))
    assert not chk.valid and "lambda_center" in chk.message
    # with the independent check on, certify itself refuses
    assert not certify(p, U).issued


def test_prover_kernel_catches_a_checker_with_a_wrong_eigenvalue_bound(cert, monkeypatch):
    """Kernel B with an inflated λ_min bound accepts a forged, stronger certificate; kernel A does not."""
    forged = copy.deepcopy(cert)
    forged["bounds"]["lambda_center"]["lo"] = _scale_hex(forged["bounds"]["lambda_center"]["lo"], 3.0)
    lam = float.fromhex(forged["bounds"]["lambda_center"]["lo"])
    var = float.fromhex(forged["bounds"]["variation"]["hi"])
    forged["bounds"]["mu"]["lo"] = float.hex((lam - var) * (1 - 2.0**-30))
    _resign(forged)
    real = kernel_b.lambda_min_lower
    monkeypatch.setattr(kernel_b, "lambda_min_lower", lambda X: real(X) * 10)
    assert check_certificate(forged, kernels=("independent",)).valid  # the buggy kernel B is fooled
    res = check_certificate(forged, kernels=("prover",))
    assert not res.valid and "lambda_center" in res.message
    assert not check_certificate(forged).valid  # the default needs both kernels


def test_prover_kernel_catches_a_checker_with_a_wrong_variation_bound(nomin, monkeypatch):
    forged = copy.deepcopy(nomin)
    forged["bounds"]["variation"]["hi"] = _scale_hex(forged["bounds"]["variation"]["hi"], 0.25)
    R = float.fromhex(forged["bounds"]["rayleigh"]["hi"])
    forged["bounds"]["lambda_upper"]["hi"] = float.hex(R + float.fromhex(forged["bounds"]["variation"]["hi"]))
    _resign(forged)
    monkeypatch.setattr(kernel_b, "lip_arb", lambda a, rho, T: kernel_b.arb(0))
    assert check_certificate(forged, kernels=("independent",)).valid
    assert not check_certificate(forged, kernels=("prover",)).valid


# -- structure ------------------------------------------------------------------------------------
def test_structural_damage(cert, tmp_path):
    for mutate in (
        lambda c: c.pop("center"),
        lambda c: c.__setitem__("extra", 1),
        lambda c: c["problem"].__setitem__("k", True),
        lambda c: c["problem"].__setitem__("d", 3.0),
        lambda c: c["parameters"].__setitem__("precision", True),
        lambda c: c["center"].__setitem__("den", "0"),
        lambda c: c["bounds"]["mu"].__setitem__("hi", "0x1p+0"),
        lambda c: c["bounds"]["mu"].__setitem__("lo", "0x1p+1024"),
        lambda c: c.__setitem__("format", "metalora.certificate/1"),
    ):
        c = copy.deepcopy(cert)
        mutate(c)
        c["digest"] = digest(c)
        assert not check_certificate(c).valid
    text = json.dumps(cert)
    dup = text[:-1] + ', "kind": "strict-min"}'
    with pytest.raises(InvalidArgument, match="duplicate"):
        check_certificate(dup)
    with pytest.raises(InvalidArgument):
        check_certificate("[" * 100000 + "]" * 100000)
    with pytest.raises(InvalidArgument):
        check_certificate(tmp_path / "missing.json")
    with pytest.raises(InvalidArgument):
        check_certificate(cert, kernels=("magic",))
