"""distraction: camera-based HR/BR measurement denoised with inverse attention.

``distraction.estimate(video)`` measures one video in Python (:mod:`distraction.api`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Estimate", "__version__", "estimate"]


def __getattr__(name: str) -> Any:
    # Lazy: `import distraction` (every CLI job) must not import the numerical stack.
    if name in ("estimate", "Estimate"):
        from distraction import api

        return getattr(api, name)
    raise AttributeError(f"module 'distraction' has no attribute {name!r}")
