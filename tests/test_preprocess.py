from __future__ import annotations

import numpy as np

from distraction.preprocess import (
    RunningMoments,
    centre_square_box,
    crop_resize,
    crop_resize_subpixel,
    face_square,
    face_square_box,
    held_box,
    normalised_difference,
    resample_series,
)


def test_centre_square_box() -> None:
    assert centre_square_box(480, 640) == (80, 0, 480)
    assert centre_square_box(640, 480) == (0, 80, 480)


def test_held_box_keeps_the_last_crop_until_the_face_moves_past_the_tolerance() -> None:
    last = (10, 10, 40)  # centre (30, 30); tolerance 0.1 of 40 px: 4 px
    assert held_box(None, (12, 11, 42), 0.1) == (12, 11, 42)  # the first frame's crop
    assert held_box(last, (12, 11, 42), 0.1) == last  # centre (33, 32), side +2
    assert held_box(last, (14, 10, 40), 0.1) == last  # centre moved 4 px: held
    assert held_box(last, (15, 10, 40), 0.1) == (15, 10, 40)  # 5 px: followed
    assert held_box(last, (8, 8, 45), 0.1) == (8, 8, 45)  # side +5: followed
    assert held_box(last, (10, 10, 41), 0.0) == (10, 10, 41)  # 0 follows any change
    assert held_box(last, last, 0.0) == last


def test_face_square_box_enlarged_and_clipped() -> None:
    # A 100x100 face at (10, 10) enlarged 1.6x would start at x = -20: clipped to 0.
    assert face_square_box((10, 10, 100, 100), 480, 640, scale=1.6) == (0, 0, 160)
    x0, y0, side = face_square_box((300, 200, 50, 50), 480, 640, scale=2.0)
    assert (x0, y0, side) == (275, 175, 100)


def test_crop_resize_area_interpolation_averages_blocks() -> None:
    frame = np.zeros((72, 72, 3), dtype=np.uint8)
    frame[:, :36] = 200  # left half bright
    out = crop_resize(frame, (0, 0, 72), 36)
    assert out.shape == (36, 36, 3) and out.dtype == np.float32
    # Area interpolation by an exact factor 2 is a 2x2 block mean.
    assert np.all(out[:, :18] == 200) and np.all(out[:, 18:] == 0)


def test_normalised_difference_matches_definition() -> None:
    prev = np.array([[[100.0, 50.0, 10.0]]])
    cur = np.array([[[110.0, 50.0, 5.0]]])
    np.testing.assert_allclose(
        normalised_difference(prev, cur), [[[10 / 210, 0.0, -5 / 15]]], rtol=1e-5
    )
    # Black pixels stay finite.
    assert np.all(np.isfinite(normalised_difference(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))))


def test_running_moments_equal_numpy_over_blocks() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(1000.0, 0.5, size=(7, 36, 36, 3))
    moments = RunningMoments()
    for block in np.array_split(data, 3):
        moments.update(block)
    assert np.isclose(moments.mean, data.mean(), rtol=1e-12)
    assert np.isclose(moments.std, data.std(), rtol=1e-9)


def test_resample_series_interpolates_and_marks_outside_nan() -> None:
    source_t = np.array([0.0, 1.0, 2.0])
    values = np.array([0.0, 10.0, 20.0])
    out = resample_series(source_t, values, np.array([-0.5, 0.5, 1.5, 2.0, 2.5]))
    assert np.isnan(out[0]) and np.isnan(out[-1])
    np.testing.assert_allclose(out[1:4], [5.0, 15.0, 20.0])
    # A NaN dropout in the source is bridged by its neighbours.
    out = resample_series(source_t, np.array([0.0, np.nan, 20.0]), np.array([1.0]))
    np.testing.assert_allclose(out, [10.0])


def test_face_crop_falls_back_to_the_centre_without_a_face() -> None:
    from distraction.prepare import choose_crop

    blank = np.full((120, 160, 3), 128, dtype=np.uint8)
    assert choose_crop(blank, "face", 1.6) == ((20, 0, 120), "centre (no face found)")
    assert choose_crop(blank, "centre", 1.6) == ((20, 0, 120), "centre")


def test_a_subpixel_crop_at_whole_pixels_is_the_area_crop() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    small, large = crop_resize_subpixel(frame, (10.0, 5.0, 48.0), 12, 36)
    expected_small, expected_large = crop_resize(frame, (10, 5, 48), 12, 36)
    np.testing.assert_allclose(small, expected_small, atol=1e-4)
    np.testing.assert_allclose(large, expected_large, atol=1e-4)


def test_a_subpixel_crop_moves_with_its_box_by_fractions_of_a_pixel() -> None:
    # A horizontal ramp of 2 grey levels per pixel: a crop whose box moves right by 0.25 px
    # sees every value 0.5 higher (away from the edges, where the resampling reaches past
    # the box), and the same box at x0 + 1 sees 2 higher.
    ramp = np.tile((2.0 * np.arange(100))[None, :, None], (40, 1, 3)).astype(np.uint8)
    (at,) = crop_resize_subpixel(ramp, (30.0, 2.0, 32.0), 16)
    (quarter,) = crop_resize_subpixel(ramp, (30.25, 2.0, 32.0), 16)
    (whole,) = crop_resize_subpixel(ramp, (31.0, 2.0, 32.0), 16)
    inner = (slice(2, -2), slice(2, -2))
    np.testing.assert_allclose((quarter - at)[inner], 0.5, atol=1e-3)
    np.testing.assert_allclose((whole - at)[inner], 2.0, atol=1e-3)
    # Output pixel u covers frame pixels x0 + 2u .. x0 + 2u + 2: its mean ramp value.
    np.testing.assert_allclose(at[8, 4, 0], 2.0 * (30 + 2 * 4 + 0.5), atol=1e-3)


def test_the_face_square_is_centred_on_the_face_and_kept_in_the_frame() -> None:
    assert face_square((40.5, 30.25, 20.0, 20.0), 120, 160, 1.5) == (35.5, 25.25, 30.0)
    # Near the left edge: moved inside, not shrunk.
    assert face_square((2.0, 30.0, 20.0, 20.0), 120, 160, 1.5) == (0.0, 25.0, 30.0)
    # Larger than the frame's height: the height.
    assert face_square((50.0, 10.0, 100.0, 100.0), 120, 160, 1.6) == (40.0, 0.0, 120.0)
