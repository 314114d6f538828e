"""metalora: theory verification, landscape analysis and certificates for Meta-LoRA.

The mathematics lives in :mod:`landscape`, the claim checks in :mod:`theorems`, the
experiment runners in :mod:`experiments`; this package holds the ``metalora`` command line.
"""

__version__ = "0.1.0"
