"""One comparison helper for the whole suite: reports the worst entries, not a bare False."""

import numpy as np

#: Tolerances defined once. Analytic vs autodiff in float64 agree to rounding.
RTOL = 1e-9
ATOL = 1e-10


def assert_allclose_report(actual, desired, *, rtol=RTOL, atol=ATOL, name="value"):
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, f"{name}: shape {actual.shape} != {desired.shape}"
    err = np.abs(actual - desired)
    bound = atol + rtol * np.abs(desired)
    if np.all(err <= bound):
        return
    ratio = err / bound
    worst = np.argsort(ratio, axis=None)[::-1][:5]
    rows = [
        f"  at {np.unravel_index(i, actual.shape)}: got {actual.flat[i]:.17g}, want "
        f"{desired.flat[i]:.17g} (|diff|={err.flat[i]:.3g}, {ratio.flat[i]:.3g}x tolerance)"
        for i in worst
    ]
    raise AssertionError(
        f"{name}: {np.count_nonzero(err > bound)} of {err.size} entries exceed "
        f"atol={atol:g} + rtol={rtol:g}*|desired|; worst:\n" + "\n".join(rows)
    )
