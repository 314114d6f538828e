"""Exceptions and warnings raised by :mod:`landscape` (and the packages built on it)."""

__all__ = ["LandscapeError", "InvalidArgument", "Undecided", "CertificateRefused", "LandscapeWarning"]


class LandscapeError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InvalidArgument(LandscapeError, ValueError):
    """An argument has the wrong type, shape, value or dtype.

    A subclass of :class:`ValueError`, so ``except ValueError`` keeps working. The message
    names the parameter, shows the value and states the rule, e.g.
    "`rank` must be an integer in [0, d]=[0, 8]; got rank=10."
    """


class LandscapeWarning(UserWarning):
    """Something was computed, but a caveat applies (poor convergence, loose tolerance)."""


class Undecided(LandscapeError):
    """The question cannot be decided on this input (badly scaled data, a degenerate
    point, a precision limit reached). Commands map it to exit code 3 with the reason;
    it is never a negative verdict.
    """


class CertificateRefused(LandscapeError):
    """Raised by ``certify(..., strict=True)`` when no certificate is issued.

    ``.result`` is the :class:`~landscape.certificates.CertifyResult` (its ``status`` says refused
    or undecided, its ``message`` why).
    """

    def __init__(self, result):
        self.result = result
        super().__init__(f"certificate {result.status}: {result.message}")
