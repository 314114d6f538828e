"""Re-check a certificate with the prover's own exact kernel (kernel A).

The proof is re-run from the stored centre and proposals (radius, direction; the shift,
Cholesky factor and Krawczyk inverse are re-proposed here), and every printed bound must be
implied by the recomputation: a printed ``lo`` at most, a printed ``hi`` at least, the
recomputed value. The independent kernel B (:mod:`.checker`) is the other half of
``check_certificate``.
"""

from __future__ import annotations

from flint import fmpq  # noqa: F401

from .checker import _need, parse
from .prover import Prover
from .statement import render

__all__ = ["recheck"]


def _fq(x: float) -> fmpq:
    return fmpq(*float(x).as_integer_ratio())


def recheck(cert: dict) -> str:
    """Kind of ``cert`` if kernel A reproduces it (raises the checker's rejection otherwise)."""
    problem, Z, N, params, B = parse(cert)
    kind = cert["kind"]
    gauge = params.get("gauge")
    _need(gauge in ("slice", "none"), "parameter 'gauge' must be 'slice' or 'none'")
    pr = Prover(problem, Z, N, gauge)
    r = float.fromhex(params["radius"])
    if kind == "global-min":
        _need(pr.c.loss() == 0, "G(c) != 0")
        if not params.get("strict"):
            _need(set(B) == {"loss_center"}, "unexpected bounds")
            proof_bounds = {"loss_center": pr.center_bounds()["loss_center"]}
        else:
            proof = pr.min_proof(r)
            _need(proof.holds and proof.kind == "global-min", "kernel A: the minimum proof fails")
            proof_bounds = proof.bounds
    elif kind in ("strict-min", "spurious-min"):
        proof = pr.min_proof(r)
        _need(proof.holds, "kernel A: the proof fails: " + ", ".join(proof.failed))
        _need(proof.kind == kind, f"kernel A proves {proof.kind!r}, not {kind!r}")
        proof_bounds = proof.bounds
    elif kind == "no-local-min":
        proof = pr.nomin_proof(params["direction"], r)
        _need(proof.holds, "kernel A: no negative curvature proved on the ball")
        proof_bounds = proof.bounds
    else:
        kd = pr.krawczyk(pr.jacobian_exp())
        _need(kd is not None, "kernel A: singular Jacobian")
        proof = pr.saddle_proof(params["direction"], r, kd)
        _need(proof.holds, "kernel A: the saddle proof fails: " + ", ".join(proof.failed))
        proof_bounds = proof.bounds
    _need(set(proof_bounds) == set(B), "kernel A: the set of bounds differs")
    for name, b in B.items():
        mine = proof_bounds[name]
        for side, v in b.items():
            own = _fq(mine[side])
            if side == "lo":
                _need(v <= own, f"kernel A: printed {name}.lo exceeds the recomputed bound")
            else:
                _need(v >= own, f"kernel A: printed {name}.hi is below the recomputed bound")
    claim, statement = render(cert)
    _need(cert["claim"] == claim and cert["statement"] == statement, "stored claim/statement differ from the rendering")
    return kind
