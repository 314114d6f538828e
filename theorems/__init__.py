"""Checks of the paper's claims (docs/math.md §5), one module per claim, and ``metalora verify``.

Each check takes a :class:`landscape.Problem` and keyword options and returns a
:class:`ClaimResult` (``holds``, ``status``, measured quantities, tolerances and why,
timing). Run one with :func:`check`; run them all on default instances with :func:`verify`.

=================  ==================================  ===================================
claim id           module                              statement
=================  ==================================  ===================================
``thm3.1``         :mod:`theorems.sr_rank_gap`          rank(A_SR − A*) = Tk
``cor1``           :mod:`theorems.sr_not_adaptable`     ℓ_r(A_SR) > 0 for r < (T+1)k
``thm3.2``         :mod:`theorems.zero_loss_rank`       L = 0 ⇒ rank(Â − A*) ≤ 2k
``cor2``           :mod:`theorems.zero_loss_rank`       L = 0 ⇒ ℓ_3k(Â) = 0
``thm3.3``         :mod:`theorems.exact_recovery`       T ≥ 3, L = 0 ⇒ Â = A*
``cor3``           :mod:`theorems.exact_recovery`       T ≥ 3, L = 0 ⇒ ℓ_k(Â) = 0
``thm3.4``         :mod:`theorems.two_task_landscape`   T = 2: SOSP ⇔ L = 0
``t2-nonunique``   :mod:`theorems.two_task_nonunique`   T = 2: an O(k,k) family of minima
``spurious-t3``    :mod:`theorems.spurious_minima`      T ≥ 3: spurious local minima exist
=================  ==================================  ===================================
"""

from landscape.zero_loss import ZeroLossSearch, search_zero_loss

from .result import ClaimResult, Status
from .registry import CLAIMS, check, claim_ids, get_claim
from .sr_rank_gap import check_sr_rank_gap
from .sr_not_adaptable import check_sr_not_adaptable
from .zero_loss_rank import check_zero_loss_adaptable, check_zero_loss_rank
from .exact_recovery import check_exact_recovery, check_recovered_adaptable
from .two_task_landscape import check_two_task_landscape
from .two_task_nonunique import check_two_task_nonunique, okk_element, symbolic_hyperbola
from .spurious_minima import check_spurious_minima
from .verify import PROFILES, SPURIOUS_INSTANCES, VerifyReport, default_instances, verify

__all__ = [
    # results
    "ClaimResult",
    "Status",
    # registry
    "CLAIMS",
    "claim_ids",
    "get_claim",
    "check",
    # one check per claim
    "check_sr_rank_gap",
    "check_sr_not_adaptable",
    "check_zero_loss_rank",
    "check_zero_loss_adaptable",
    "check_exact_recovery",
    "check_recovered_adaptable",
    "check_two_task_landscape",
    "check_two_task_nonunique",
    "check_spurious_minima",
    # tools
    "search_zero_loss",
    "ZeroLossSearch",
    "okk_element",
    "symbolic_hyperbola",
    # the main job
    "verify",
    "VerifyReport",
    "PROFILES",
    "default_instances",
    "SPURIOUS_INSTANCES",
]
