"""Tests for distraction.windows."""

from __future__ import annotations

import numpy as np
import pytest

from distraction.windows import block_bounds, overlap_add, sliding_windows, window_starts


def test_window_starts_regular_and_tail_aligned() -> None:
    np.testing.assert_array_equal(window_starts(150, 60, 30), [0, 30, 60, 90])
    np.testing.assert_array_equal(window_starts(160, 60, 30), [0, 30, 60, 90, 100])
    np.testing.assert_array_equal(window_starts(60, 60, 30), [0])
    with pytest.raises(ValueError):
        window_starts(59, 60, 30)


def test_sliding_windows_1d_and_2d() -> None:
    x = np.arange(160.0)
    w = sliding_windows(x, 60, 30)
    assert w.shape == (5, 60)
    np.testing.assert_array_equal(w[1], np.arange(30.0, 90.0))
    np.testing.assert_array_equal(w[-1], np.arange(100.0, 160.0))
    x2 = np.stack([x, -x, 2 * x, x + 1], axis=1)
    w2 = sliding_windows(x2, 60, 30)
    assert w2.shape == (5, 60, 4)
    np.testing.assert_array_equal(w2[2, :, 2], 2 * np.arange(60.0, 120.0))


def test_taper_reconstructs_constant_exactly() -> None:
    total = 1031
    starts = window_starts(total, 60, 30)
    w = np.full((starts.size, 60), 3.7)
    np.testing.assert_allclose(overlap_add(w, total, starts=starts, mode="taper"), 3.7)


def test_taper_reconstructs_windows_of_one_signal() -> None:
    x = np.random.default_rng(0).standard_normal((500, 2))
    starts = window_starts(500, 60, 30)
    out = overlap_add(sliding_windows(x, 60, 30), 500, starts=starts, mode="taper")
    np.testing.assert_allclose(out, x, atol=1e-12)


def test_taper_uncovered_samples_are_zero() -> None:
    out = overlap_add(np.ones((2, 4)), 12, stride=4, mode="taper")
    np.testing.assert_array_equal(out, [1] * 8 + [0] * 4)


def test_overwrite_later_window_wins() -> None:
    w = np.array([[1.0] * 4, [2.0] * 4, [3.0] * 4])
    out = overlap_add(w, 10, stride=2, mode="overwrite")
    np.testing.assert_array_equal(out, [1, 1, 2, 2, 3, 3, 3, 3, 0, 0])
    out = overlap_add(w, 10, stride=2, mode="overwrite", drop_last=True)
    np.testing.assert_array_equal(out, [1, 1, 2, 2, 2, 2, 0, 0, 0, 0])
    # Windows running past the end are cut off.
    out = overlap_add(w, 5, stride=2, mode="overwrite")
    np.testing.assert_array_equal(out, [1, 1, 2, 2, 3])


def test_overwrite_keeps_trailing_axis() -> None:
    w = np.arange(12.0).reshape(3, 4, 1)
    out = overlap_add(w, 8, stride=2, mode="overwrite")
    assert out.shape == (8, 1)
    np.testing.assert_array_equal(out[:, 0], [0, 1, 4, 5, 8, 9, 10, 11])


def test_overlap_add_rejects_bad_mode() -> None:
    with pytest.raises(ValueError):
        overlap_add(np.ones((2, 4)), 8, stride=4, mode="mean")  # type: ignore[arg-type]


def test_block_bounds_cover_the_length_in_order() -> None:
    assert block_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert block_bounds(8, 4) == [(0, 4), (4, 8)]
    assert block_bounds(0, 4) == []
    with pytest.raises(ValueError, match="block"):
        block_bounds(5, 0)
