"""Rigorous certificates for critical points of the reduced loss ``G`` (MATH.md §4, §6).

``certify(problem, U)`` proves, in exact rational and arb ball arithmetic (python-flint),
that a float point is close to a strict local minimum (spurious when ``G > 0`` is proved),
a global minimum (``G = 0`` exactly) or a strict saddle, and returns a JSON certificate;
``check_certificate(cert)`` re-derives every bound from the file's data alone.

This package needs ``python-flint`` (the ``flint`` extra); ``import landscape`` does not
import it — the flint-dependent modules load on first use.
"""

from __future__ import annotations

from .results import CertifyResult, CheckResult, KINDS

__all__ = ["certify", "check_certificate", "CertifyResult", "CheckResult", "KINDS"]


def certify(problem, U, *, kind="auto", radius=None, gauge="auto", precision=128) -> CertifyResult:
    """Prove that ``U`` is near a strict/spurious/global local minimum or a strict saddle of ``G``.

    Parameters
    ----------
    problem : Problem
    U : (T, d, k) array
        The point ``Ũ`` (its exact binary64 values are used).
    kind : {"auto", "min", "saddle"}
        What to prove; ``auto`` picks by the sign of the (gauge-fixed) float Hessian, and
        an exact zero of ``G`` gives a ``global-min`` certificate.
    radius : float, optional
        Radius of the certified ball; by default a few radii are tried, largest first.
    gauge : {"auto", "slice", "none"}
        ``auto``/``slice`` work on a slice transversal to the O(k) orbit when ``k > 1``.
    precision : int
        Bits of the arb ball arithmetic used for the final inequalities.

    Returns
    -------
    CertifyResult
        ``issued``, ``kind`` (``strict-min``, ``spurious-min``, ``global-min``,
        ``strict-saddle`` or ``None``), ``reason``, ``certificate`` (JSON dict), ``seconds``.

    See :func:`landscape.certify.certifier.certify` and ``docs/certificates.md``.
    """
    from .certifier import certify as _certify

    return _certify(problem, U, kind=kind, radius=radius, gauge=gauge, precision=precision)


def check_certificate(obj) -> CheckResult:
    """Re-check a certificate (dict, JSON text, or path) from its data alone.

    Recomputes every bound with its own exact/interval computation; ``valid`` only if all
    stored bounds are reproduced exactly, every inequality holds, the kind matches and the
    digest matches. See :func:`landscape.certify.checker.check_certificate`.
    """
    from .checker import check_certificate as _check

    return _check(obj)


