"""Honest model selection, and the test-set number only beside it.

Every selection in the engine uses data that is not the evaluation data: retraining epochs
are chosen on held-out data of the retraining tasks, fine-tuning epochs on a selection split
of the test task. The best-on-evaluation number ("paper": early stopping on the test data
itself, what several papers report) is computed too, but always labelled and returned next
to the honest one, never instead of it.
"""

from __future__ import annotations

import numpy as np

from landscape.errors import InvalidArgument

__all__ = ["select_epochs", "improved"]


def select_epochs(select_acc, eval_acc, *, first_epoch: int = 1) -> tuple[int, float, int, float]:
    """(honest epoch, its eval metric, paper epoch, its eval metric).

    Honest: argmax of the selection metric (earliest on ties). Paper: argmax of the
    evaluation metric itself (earliest on ties). Entry ``i`` is epoch ``first_epoch + i``
    (``first_epoch=0`` when the untrained state is evaluated too).
    """
    s = np.asarray(select_acc, dtype=float)
    e = np.asarray(eval_acc, dtype=float)
    if s.shape != e.shape or s.size == 0:
        raise InvalidArgument(
            f"the selection and evaluation accuracies must be non-empty and of equal length; got {s.size}, {e.size}."
        )
    h = int(np.argmax(s))
    p = int(np.argmax(e))
    return h + first_epoch, float(e[h]), p + first_epoch, float(e[p])


def improved(metric: float, best: float) -> bool:
    """Strictly better (the earliest epoch wins ties)."""
    return metric > best
