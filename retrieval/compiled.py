"""The one place that decides how hot loops are compiled.

numba is a dependency; without it (an unusual install) the same functions run as plain Python,
correct but only fit for small corpora.
"""

from __future__ import annotations

try:
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None


def kernel(func):
    """Compile *func* with numba (cached on disk, GIL released) or keep it as plain Python."""
    if numba is None:
        return func
    return numba.njit(cache=True, nogil=True)(func)
