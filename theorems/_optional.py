"""Lazy access to the landscape search and certificate packages (built separately).

Each accessor returns the function, or raises :class:`Unavailable` with a one-line reason
that the checks report as ``status = "unavailable"``.
"""

from __future__ import annotations

import importlib


class Unavailable(RuntimeError):
    """An optional component a check needs is missing."""


def _get(module: str, name: str):
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{module} is not available ({exc})") from None
    try:
        return getattr(mod, name)
    except AttributeError:
        raise Unavailable(f"{module} has no `{name}`") from None


def search_fn():
    """``landscape.search.search(problem, *, starts, method, seed, **options)``."""
    return _get("landscape.search", "search")


def classify_fn():
    """``landscape.classify.classify_point(problem, U, ...)``."""
    return _get("landscape.classify", "classify_point")


def certify_fn():
    """``landscape.certify.certify(problem, U, *, kind, ...)`` (needs python-flint)."""
    return _get("landscape.certify", "certify")


def check_certificate_fn():
    """``landscape.certify.check_certificate(obj)``."""
    return _get("landscape.certify", "check_certificate")
