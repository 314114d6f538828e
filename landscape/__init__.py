"""Population landscape of the Meta-LoRA objective for linear models (docs/math.md).

Everything is float64. Arrays: ``A`` (d, d), adapters ``U`` (T, d, k); parameter vectors
are ``np.concatenate([A.ravel(), U.ravel()])``.
"""

from .errors import CertificateRefused, InvalidArgument, LandscapeError, LandscapeWarning, Undecided
from .problem import Problem
from .objectives import (
    A_of_U,
    Adaptation,
    adaptability,
    gram,
    meta_loss,
    reduced_loss,
    sr_loss,
    sr_solution,
    task_losses,
    test_loss,
)
from .derivatives import (
    meta_grad,
    meta_hessian,
    meta_hvp,
    pack,
    reduced_grad,
    reduced_hessian,
    reduced_hvp,
    schur_complement,
    unpack,
)
from .linops import MinEig, meta_hessian_operator, min_eigenvalue, reduced_hessian_operator
from .symmetry import canonical_form, orbit_dimension, orbit_distance, orbit_tangent_basis

__version__ = "0.1.0"

__all__ = [
    # errors
    "InvalidArgument",
    "Undecided",
    "CertificateRefused",
    "LandscapeError",
    "LandscapeWarning",
    # ground truth
    "Problem",
    # objectives
    "meta_loss",
    "task_losses",
    "sr_loss",
    "sr_solution",
    "A_of_U",
    "reduced_loss",
    "adaptability",
    "Adaptation",
    "test_loss",
    "gram",
    # derivatives
    "meta_grad",
    "meta_hvp",
    "meta_hessian",
    "reduced_grad",
    "reduced_hvp",
    "reduced_hessian",
    "schur_complement",
    "pack",
    "unpack",
    # curvature operators
    "meta_hessian_operator",
    "reduced_hessian_operator",
    "min_eigenvalue",
    "MinEig",
    # symmetry
    "orbit_dimension",
    "orbit_tangent_basis",
    "canonical_form",
    "orbit_distance",
]

# Certificates: ``landscape.certify`` is the function; the machinery is the subpackage
# ``landscape.certificates``. python-flint is imported lazily, on the first call.
from .certificates import CertifyResult, CheckResult, certify, check_certificate  # noqa: E402

__all__ += ["certify", "check_certificate", "CertifyResult", "CheckResult"]

# -- landscape exploration: batched solvers, classification, search, atlas ------
from .multistart import MultiStartResult, problem_scale, random_starts
from .sosp import find_sosp
from .descent import gradient_descent, perturbed_gradient_descent
from .roots import find_roots
from .classify import KINDS, CriticalPoint, classify_point
from .dedup import group_points, merge_points
from .search import SearchResult, find_spurious_minimum, load_points, save_point, scan_for_spurious, search
from .atlas import AtlasResult, atlas

__all__ += [
    # landscape exploration
    "MultiStartResult",
    "problem_scale",
    "random_starts",
    "find_sosp",
    "gradient_descent",
    "perturbed_gradient_descent",
    "find_roots",
    "KINDS",
    "CriticalPoint",
    "classify_point",
    "group_points",
    "merge_points",
    "SearchResult",
    "search",
    "load_points",
    "save_point",
    "find_spurious_minimum",
    "scan_for_spurious",
    "AtlasResult",
    "atlas",
]

# -- census (issue 13): every critical point by homotopy continuation (landscape.homotopy) --
from .homotopy import CensusPoint, CensusResult, census  # noqa: E402

__all__ += ["census", "CensusResult", "CensusPoint"]
