"""check_certificate(): valid certificates pass; any edited field is rejected (hypothesis-driven)."""

import copy
import functools
import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("flint")

from landscape import InvalidArgument, Problem  # noqa: E402
from landscape.certify import certify, check_certificate  # noqa: E402
from landscape.certify.format import digest  # noqa: E402

from .conftest import load_spurious  # noqa: E402


def _saddle_k2():
    import scipy.optimize as so

    from landscape import reduced_grad, reduced_hessian

    p = Problem.random(5, 2, 3, seed=3)
    U0 = p.U_star.copy()
    U0[0] = 0.3 * np.random.default_rng(0).standard_normal((5, 2))
    sol = so.root(lambda x: reduced_grad(p, x.reshape(3, 5, 2)).ravel(), U0.ravel(),
                  jac=lambda x: reduced_hessian(p, x.reshape(3, 5, 2)), method="lm")
    return p, sol.x.reshape(3, 5, 2)


@functools.lru_cache(maxsize=None)
def certificate(name: str) -> str:
    """A valid certificate of each kind and method (JSON text, cached)."""
    if name == "spurious":
        p, U = load_spurious(0)
        res = certify(p, U)
    elif name == "strict-k2":
        p = Problem.random(6, 2, 3, seed=1)
        res = certify(p, p.U_star + 1e-7)
    elif name == "global":
        p = Problem.random(4, 2, 3, seed=2)
        res = certify(p, p.U_star)
    elif name == "global-T2":  # not strict: the zero set is a continuum... unless gauged
        p = Problem.random(3, 1, 2, seed=2)
        res = certify(p, p.U_star, gauge="none")
    elif name == "saddle-k2":
        res = certify(*_saddle_k2())
    elif name == "saddle-exact":
        p = Problem.random(6, 1, 2, seed=9)
        res = certify(p, np.zeros(p.U_star.shape), kind="saddle")
    assert res.issued, (name, res.reason)
    return json.dumps(res.certificate)


NAMES = ["spurious", "strict-k2", "global", "global-T2", "saddle-k2", "saddle-exact"]


def leaves(obj, path=()):
    """Every (path, value) of a JSON tree whose value is a scalar."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, path + (i,))
    else:
        yield path, obj


def _set(obj, path, value):
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def _flip_bit(x: float, bit: int) -> float:
    (u,) = struct.unpack("<Q", struct.pack("<d", x))
    return struct.unpack("<d", struct.pack("<Q", u ^ (1 << bit)))[0]


def mutate(value, rnd: np.random.Generator):
    """A different value of the same JSON type (hex floats get a flipped bit)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + int(rnd.choice([-2, -1, 1, 2, 1000]))
    if isinstance(value, float):
        return value * (1 + 2.0**-30) + 1e-300
    if isinstance(value, str):
        try:
            x = float.fromhex(value)
        except ValueError:
            x = None
        if x is not None and np.isfinite(x):
            return _flip_bit(x, int(rnd.choice([0, 1, 7, 30, 51, 52, 60]))).hex()
        i = int(rnd.integers(0, len(value) + 1))
        return value[:i] + rnd.choice(list("x7 .-")) + value[i:]
    return value


def _valid(obj) -> bool:
    return check_certificate(obj).valid


@pytest.mark.parametrize("name", NAMES)
def test_certificates_round_trip(name, tmp_path):
    cert = json.loads(certificate(name))
    res = check_certificate(cert)
    assert res.valid and res.kind == cert["kind"], res.reason
    path = tmp_path / "c.json"
    path.write_text(certificate(name))
    assert check_certificate(path).valid and check_certificate(str(path)).valid
    assert check_certificate(certificate(name)).valid  # JSON text


@settings(max_examples=80)
@given(st.sampled_from(NAMES), st.integers(0, 10**6), st.integers(0, 2**32 - 1), st.booleans())
def test_any_edited_field_is_rejected(name, which, seed, redigest):
    cert = json.loads(certificate(name))
    rnd = np.random.default_rng(seed)
    # With a recomputed digest the only fields a proof never reads are versions and timings
    # (protected by the digest alone, see docs/certificates.md); everything else must be
    # caught by the recomputation itself.
    cands = [(p, v) for p, v in leaves(cert) if not (redigest and p[0] in ("versions", "timings", "digest"))]
    path, value = cands[which % len(cands)]
    new = mutate(value, rnd)
    if new == value or (isinstance(new, str) and isinstance(value, str) and _same_float(new, value)):
        return
    bad = copy.deepcopy(cert)
    _set(bad, path, new)
    if redigest:
        bad["digest"] = digest(bad)
    res = check_certificate(bad)
    assert not res.valid, f"edit of {path}: {value!r} -> {new!r} accepted (redigest={redigest})"


def cert_leaf_array(cert, path):
    obj = cert
    for key in path[:-1]:
        obj = obj[key]
    return obj


def _same_float(a, b):
    try:
        return float.fromhex(a) == float.fromhex(b)
    except ValueError:
        return False


@pytest.mark.parametrize("name", NAMES)
def test_every_single_field_edit_is_rejected_even_with_a_new_digest(name):
    cert = json.loads(certificate(name))
    rnd = np.random.default_rng(0)
    n = 0
    for path, value in leaves(cert):
        if path[0] in ("versions", "timings", "digest"):
            continue
        # every scalar field; of the long data arrays (problem, point, direction, A_center)
        # the first and last entries and every seventh one (hypothesis covers the rest)
        idx = [x for x in path if isinstance(x, int)]
        if idx and path[0] in ("problem", "point", "parameters", "bounds") and len(cert_leaf_array(cert, path)) > 6:
            if not (idx[-1] in (0, len(cert_leaf_array(cert, path)) - 1) or idx[-1] % 7 == 0):
                continue
        new = mutate(value, rnd)
        if new == value:
            continue
        bad = copy.deepcopy(cert)
        _set(bad, path, new)
        bad["digest"] = digest(bad)
        assert not _valid(bad), f"edit of {path}: {value!r} -> {new!r} accepted"
        n += 1
    assert n > 30


def test_versions_and_timings_are_protected_by_the_digest():
    cert = json.loads(certificate("spurious"))
    cert["timings"]["certify_seconds"] += 1
    assert not check_certificate(cert).valid
    cert["digest"] = digest(cert)
    assert check_certificate(cert).valid  # a re-digested timing edit changes no proven statement


def test_the_kernel_rejects_a_false_claim_with_consistent_bounds():
    # A minimum certificate transplanted onto a saddle: every stored number is recomputed
    # for the new point, so the proof itself must fail (μ <= 0), not a comparison.
    cert = json.loads(certificate("spurious"))
    cert["point"]["U"] = [[["0x0.0p+0"]] * 3] * 3
    cert["digest"] = digest(cert)
    res = check_certificate(cert)
    assert not res.valid and "does not go through" in res.reason


def test_structural_damage():
    cert = json.loads(certificate("spurious"))
    for key in ("bounds", "parameters", "problem", "point", "digest"):
        bad = copy.deepcopy(cert)
        del bad[key]
        assert not _valid(bad)
    bad = copy.deepcopy(cert)
    bad["extra"] = 1
    bad["digest"] = digest(bad)
    assert not _valid(bad)
    bad = copy.deepcopy(cert)
    bad["parameters"]["radius"] = 1e-3  # a number instead of a hex string
    bad["digest"] = digest(bad)
    assert "malformed" in check_certificate(bad).reason or not _valid(bad)
    bad = copy.deepcopy(cert)
    bad["kind"] = "strict-saddle"
    bad["digest"] = digest(bad)
    assert not _valid(bad)
    bad = copy.deepcopy(cert)
    bad["problem"]["d"] = 4
    bad["digest"] = digest(bad)
    assert not _valid(bad)


def test_unreadable_inputs_raise():
    with pytest.raises(InvalidArgument, match="existing file"):
        check_certificate("/nonexistent/cert.json")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        check_certificate("{not json")
    with pytest.raises(InvalidArgument, match="must be a dict"):
        check_certificate(42)
