"""Small sorting and searching kernels shared by the Numba kernels.

Numba's generic ``np.argsort``/``np.sort``/``np.partition``/
``np.searchsorted`` pull in many helper functions (sort kinds, NaN-aware
comparisons, argument checks with formatted error messages), and their
compilation dominated the first run after an install. These hand-written
versions give the same results for the float arrays the kernels pass
(NaN ordered last, as NumPy does) and compile in a fraction of the time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["lower_bound", "argsort_stable", "kth_smallest"]


@njit(cache=True, nogil=True)
def _lt(a, b):
    """NumPy's sort order for floats: ``a < b``, NaN after everything."""
    return a < b or (np.isnan(b) and not np.isnan(a))


@njit(cache=True, nogil=True)
def lower_bound(a, x):
    """``np.searchsorted(a, x)`` (side 'left', NaN-aware like NumPy) for a
    sorted float64 ``a`` and a float ``x``, without the compile cost of
    Numba's generic ``np.searchsorted``."""
    lo = 0
    hi = a.shape[0]
    while lo < hi:
        mid = lo + ((hi - lo) >> 1)
        if _lt(a[mid], x):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def argsort_stable(keys):
    """``np.argsort(keys, kind='mergesort')`` of a float64 ``keys``: the
    same (stable, NaN last) order, as a small bottom-up merge sort that
    compiles far faster than Numba's generic argsort."""
    n = keys.shape[0]
    idx = np.empty(n, np.int64)
    buf = np.empty(n, np.int64)
    run = 8
    for start in range(0, n, run):  # insertion sort of short runs
        stop = min(start + run, n)
        for i in range(start, stop):
            v = i
            j = i
            while j > start and _lt(keys[v], keys[idx[j - 1]]):
                idx[j] = idx[j - 1]
                j -= 1
            idx[j] = v
    width = run
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                if _lt(keys[idx[j]], keys[idx[i]]):
                    buf[k] = idx[j]
                    j += 1
                else:
                    buf[k] = idx[i]
                    i += 1
                k += 1
            while i < mid:
                buf[k] = idx[i]
                i += 1
                k += 1
            while j < hi:
                buf[k] = idx[j]
                j += 1
                k += 1
        idx, buf = buf, idx
        width *= 2
    return idx


@njit(cache=True, nogil=True)
def kth_smallest(a, k):
    """``np.partition(a, k)[k]`` for a float array without NaN: the value
    of rank ``k`` (0-based). Reorders ``a`` (a scratch copy) in place."""
    lo = 0
    hi = a.shape[0] - 1
    while lo < hi:
        mid = lo + ((hi - lo) >> 1)
        # median of three as the pivot value
        x, y, z = a[lo], a[mid], a[hi]
        if x > y:
            x, y = y, x
        if y > z:
            y = z
        if x > y:
            y = x
        pivot = y
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        # now a[lo:j+1] <= pivot <= a[i:hi+1], a[j+1:i] == pivot
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]
