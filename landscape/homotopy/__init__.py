"""Homotopy continuation for the critical points of ``G``: the census (see ``docs/census.md``).

- :func:`census`: every finite critical point of an instance, real ones classified,
  grouped modulo the sign flips and certified (:mod:`.census`);
- :func:`certify_point`: Krawczyk existence/uniqueness + certified Hessian index (:mod:`.krawczyk`);
- :func:`track`: the vectorised predictor–corrector path tracker (:mod:`.tracker`);
- :func:`generic_start`: cached generic start systems for parameter homotopies (:mod:`.cache`).
"""

from .census import METHODS, CensusPoint, CensusResult, census, generic_start
from .krawczyk import PointCertificate, certify_point
from .tracker import TrackResult, TrackSettings, track

__all__ = [
    "census",
    "CensusResult",
    "CensusPoint",
    "METHODS",
    "generic_start",
    "certify_point",
    "PointCertificate",
    "track",
    "TrackSettings",
    "TrackResult",
]
