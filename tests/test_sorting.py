"""The hand-written sorting kernels against NumPy."""

import numpy as np
import pytest

from denovo.core.beam import _top_desc
from denovo.core.sorting import argsort_stable, kth_smallest, lower_bound


def _arrays(rng, dtype=np.float64):
    for n in (0, 1, 2, 3, 7, 8, 9, 16, 17, 31, 64, 100, 257, 1000):
        yield rng.normal(size=n).astype(dtype)
        yield rng.integers(0, 5, size=n).astype(dtype)  # many ties
        yield np.sort(rng.normal(size=n)).astype(dtype)
        yield np.sort(rng.normal(size=n))[::-1].astype(dtype).copy()
        yield np.full(n, 1.5, dtype)


def test_argsort_stable_is_numpy_mergesort():
    rng = np.random.default_rng(0)
    for a in _arrays(rng):
        np.testing.assert_array_equal(argsort_stable(a),
                                      np.argsort(a, kind="mergesort"))
    a = np.array([3.0, np.nan, -0.0, 0.0, 1.0, np.nan, -np.inf, np.inf, 0.0])
    np.testing.assert_array_equal(argsort_stable(a),
                                  np.argsort(a, kind="mergesort"))


def test_lower_bound_is_searchsorted():
    rng = np.random.default_rng(1)
    for a in _arrays(rng):
        a = np.sort(a)
        xs = np.concatenate([a, a + 1e-9, a - 1e-9, [-np.inf, np.inf,
                                                     np.nan, 0.0]])
        for x in xs:
            assert lower_bound(a, float(x)) == np.searchsorted(a, x)
    a = np.array([0.0, 1.0, np.nan, np.nan])
    for x in (np.nan, 0.5, 2.0):
        assert lower_bound(a, x) == np.searchsorted(a, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kth_smallest_is_partition(dtype):
    rng = np.random.default_rng(2)
    for a in _arrays(rng, dtype):
        for k in {0, a.size // 3, a.size // 2, a.size - 1} if a.size else ():
            expect = np.partition(a, k)[k]
            scratch = a.copy()
            assert kth_smallest(scratch, k) == expect
            np.testing.assert_array_equal(np.sort(scratch), np.sort(a))


def test_top_desc_is_head_of_stable_argsort():
    rng = np.random.default_rng(3)
    for a in _arrays(rng):
        if rng.random() < 0.5 and a.size:
            a[rng.integers(0, a.size, size=max(1, a.size // 5))] = np.nan
        for k in (1, 3, 5, 10):
            order = np.empty(k, np.int64)
            n = rng.integers(0, a.size + 1)
            m = _top_desc(a, n, k, order)
            expect = np.argsort(-a[:n], kind="mergesort")[:k]
            assert m == expect.size
            np.testing.assert_array_equal(order[:m], expect)
