"""Rigorous certificates for critical points of the reduced loss ``G`` (docs/math.md §4, §6).

``certify(problem, U)`` proves, in exact rational and ball arithmetic (python-flint), that a
float point is close to a strict local minimum (spurious when ``G > 0`` is proved), a global
minimum (``G = 0`` exactly, strict modulo the symmetry — ``O(k, k)`` at T = 2), a strict
saddle, or that a ball around it contains no local minimum at all (``no-local-min``), and
returns a JSON certificate. ``check_certificate(cert)`` re-derives every printed bound from
the file alone with two kernels: an independent one (:mod:`.checker`, arb balls, its own
Hessian, gradient, eigenvalue and variation bounds) and the prover's exact one
(:mod:`.recheck`). Modules: :mod:`.exact` (exact arithmetic), :mod:`.prover` (kernel A),
:mod:`.certifier` (proposals, polishing, adaptive precision), :mod:`.format` and
:mod:`.statement` (the file format), :mod:`.gauge` (the symmetry and its slice).

This package needs ``python-flint`` (the ``flint`` extra); ``import landscape`` does not
import it — the flint-dependent modules load on first use.
"""

from __future__ import annotations

from .results import CertifyResult, CheckResult, KINDS

__all__ = ["certify", "check_certificate", "CertifyResult", "CheckResult", "KINDS"]


def certify(problem, U, *, kind="auto", radius=None, gauge="auto", precision=128, strict=False,
            **options) -> CertifyResult:
    """Prove that ``U`` is near a strict/spurious/global local minimum or a strict saddle of ``G``.

    Parameters
    ----------
    problem : Problem
    U : (T, d, k) array
        The point ``Ũ`` (its exact binary64 values are used).
    kind : {"auto", "min", "saddle", "no-min"}
        What to prove; ``auto`` picks by the sign of the float Hessian modulo the symmetry
        (a minimum; else a strict saddle; else ``no-local-min``).
    radius : float, optional
        Radius of the certified ball; by default a few radii are tried, largest first.
    gauge : {"auto", "slice", "none"}
        ``auto``/``slice`` work on a slice transversal to the O(k) orbit when ``k > 1``.
    precision : int
        Bits of the arb balls of the independent check (at least 128 are used).
    strict : bool
        For scripts: raise :class:`~landscape.errors.CertificateRefused` (carrying the
        result as ``.result``) unless a certificate is issued, instead of returning a
        refusal.
    **options
        ``max_center_bits`` (finest centre grid, default 2048), ``verify`` (run the
        independent checker before issuing, default True).

    Returns
    -------
    CertifyResult
        ``status`` (ISSUED / REFUSED), ``kind`` (``strict-min``, ``spurious-min``,
        ``global-min``, ``strict-saddle``, ``no-local-min`` or ``None``), ``message``,
        ``certificate`` (JSON dict), ``seconds``; ``issued`` and ``reason`` as properties.

    See :func:`landscape.certificates.certifier.certify` and ``docs/certificates.md``.
    """
    from ..errors import CertificateRefused
    from .certifier import certify as _certify

    res = _certify(problem, U, kind=kind, radius=radius, gauge=gauge, precision=precision, **options)
    if strict and not res.issued:
        raise CertificateRefused(res)
    return res


def check_certificate(obj, **options) -> CheckResult:
    """Re-check a certificate (dict, JSON text, or path) from its data alone.

    ``valid`` only if both kernels (``kernels=("independent", "prover")`` by default) imply
    every printed bound, every inequality holds, the kind, claim and statement match, and
    the problem's sha256 and the digest match. See
    :func:`landscape.certificates.checker.check_certificate`.
    """
    from .checker import check_certificate as _check

    return _check(obj, **options)


