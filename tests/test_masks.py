"""Tests of distraction.masks: hand-made masks and the authors' MMSE-HR sample."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from distraction.masks import (
    attention_regions,
    corruption_traces,
    inverse_masks,
    normalise_masks,
    region_traces,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
SAMPLE = REFERENCE / "mmse_hr_sample"


# --- analytic tests on hand-made 2x2 masks -------------------------------------------


def test_normalise_masks_min_max_per_frame():
    masks = np.array([[[2.0, 4.0], [6.0, 10.0]], [[-1.0, 0.0], [1.0, 3.0]]])
    expected = np.array([[[0.0, 0.25], [0.5, 1.0]], [[0.0, 0.25], [0.5, 1.0]]])
    np.testing.assert_allclose(normalise_masks(masks), expected)


def test_normalise_masks_constant_frame_is_zero_not_nan():
    masks = np.array([[[5.0, 5.0], [5.0, 5.0]], [[0.0, 1.0], [2.0, 4.0]]])
    out = normalise_masks(masks)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[1], [[0.0, 0.25], [0.5, 1.0]])


def test_normalise_masks_accepts_trailing_channel_axis():
    masks = np.array([[[0.0, 1.0], [2.0, 4.0]]])
    np.testing.assert_allclose(normalise_masks(masks[..., None]), normalise_masks(masks))


def test_inverse_masks_binary_threshold_is_inclusive():
    # Normalised values: 0, 0.1, 0.5, 1 (0.1 exactly representable after scaling by 10).
    masks = np.array([[[0.0, 1.0], [5.0, 10.0]]])
    out = inverse_masks(masks, mode="binary", threshold=0.1)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[1.0, 1.0], [0.0, 0.0]]])
    np.testing.assert_array_equal(
        attention_regions(masks, threshold=0.1), [[[0.0, 0.0], [1.0, 1.0]]]
    )


def test_inverse_masks_continuous_is_one_minus_normalised():
    masks = np.array([[[0.0, 1.0], [5.0, 10.0]]])
    out = inverse_masks(masks, mode="continuous", threshold=0.1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[1.0, 0.9], [0.5, 0.0]]], rtol=1e-6)


def test_inverse_masks_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        inverse_masks(np.zeros((1, 2, 2)), mode="soft", threshold=0.1)  # type: ignore[arg-type]


def test_corruption_traces_mean_over_all_pixels():
    frames = np.zeros((1, 2, 2, 3))
    frames[0, :, :, 0] = [[4.0, 8.0], [12.0, 16.0]]
    frames[0, :, :, 1] = 1.0
    frames[0, :, :, 2] = [[0.0, 0.0], [0.0, 2.0]]
    inverse = np.array([[[1.0, 1.0], [0.0, 0.0]]])
    # Sum over the masked pixels divided by all 4 pixels, not by the 2 masked ones.
    np.testing.assert_allclose(corruption_traces(frames, inverse), [[3.0, 0.5, 0.0]])


def test_corruption_traces_is_chunkable_and_broadcasts_2d_mask():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(6, 3, 4, 3), dtype=np.uint8)
    mask = (rng.random((3, 4)) > 0.5).astype(np.float32)
    whole = corruption_traces(frames, mask)
    chunks = np.concatenate(
        [corruption_traces(frames[:2], mask), corruption_traces(frames[2:], mask)]
    )
    np.testing.assert_allclose(whole, chunks)
    expected = (frames.astype(float) * mask[None, :, :, None]).mean(axis=(1, 2))
    np.testing.assert_allclose(whole, expected)


def test_corruption_traces_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="inverse"):
        corruption_traces(np.zeros((2, 4, 4, 3)), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="frames"):
        corruption_traces(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)))


def test_region_traces_true_mean_inside_region():
    frames = np.zeros((2, 2, 2, 3))
    frames[:, :, :, 0] = [[4.0, 8.0], [12.0, 16.0]]
    frames[:, :, :, 1] = [[1.0, 3.0], [5.0, 7.0]]
    frames[:, :, :, 2] = 2.0
    weights = np.array([[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]])
    out = region_traces(frames, weights)
    np.testing.assert_allclose(out, [[6.0, 2.0, 2.0], [16.0, 7.0, 2.0]])


def test_region_traces_empty_region():
    frames = np.zeros((2, 2, 2, 3))
    frames[:, :, :, 0] = [[4.0, 8.0], [12.0, 16.0]]
    weights = np.array([[[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]])
    nan_out = region_traces(frames, weights)
    assert np.isnan(nan_out[0]).all()
    np.testing.assert_allclose(nan_out[1], [4.0, 0.0, 0.0])
    fallback = region_traces(frames, weights, empty="frame_mean")
    np.testing.assert_allclose(fallback, [[10.0, 0.0, 0.0], [4.0, 0.0, 0.0]])


# --- the authors' MMSE-HR sample -----------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    if not SAMPLE.is_dir():
        pytest.skip(f"reference sample not available at {SAMPLE}")
    h5py = pytest.importorskip("h5py")
    from scipy.io import loadmat

    data = {"mask1": loadmat(SAMPLE / "attention_mask.mat")["mask1"]}
    # MATLAB v7.3 files: h5py gives every array with its axes reversed, so `.T`
    # restores MATLAB's (T, H, W) order.
    with h5py.File(SAMPLE / "inverse_mask.mat", "r") as f:
        data["mask_noise_raw"] = f["mask_noise"][()]
    for colour in ("red", "green", "blue"):
        with h5py.File(SAMPLE / f"noise_{colour}.mat", "r") as f:
            data[colour] = f[f"mask_noise_{colour}"][()].T
            data[f"{colour}_mean"] = f[f"mask_noise_{colour}_mean"][()].ravel()
    return data


def test_reference_inverse_mask_orientation_and_agreement(sample):
    ours = inverse_masks(sample["mask1"], mode="binary", threshold=0.1)
    assert ours.shape == (861, 34, 34)
    raw = sample["mask_noise_raw"]
    full_reversal = (ours == raw.T).mean()
    swapped_spatial = (ours == np.transpose(raw, (2, 0, 1))).mean()
    # Reversing all axes (the h5py rule) is the orientation that matches, at 88.2 %.
    # It cannot be exact: the published mask_noise is not a threshold of any
    # per-frame monotone function of mask1 (in 99.8 % of frames some pixel marked
    # inverse has a larger mask1 value than one that is not), so it was made from
    # another version's attention map, as the reference README warns.
    assert full_reversal > swapped_spatial + 0.1
    assert full_reversal == pytest.approx(0.8815, abs=0.002)


def test_reference_inverse_mask_is_a_near_threshold_of_mask1(sample):
    # Even so, the published mask is closely tied to mask1: the pixels it marks have
    # low normalised attention. The best single threshold (0.04) agrees on 95 %.
    normalised = normalise_masks(sample["mask1"])
    inverse = sample["mask_noise_raw"].T
    assert normalised[inverse == 1].mean() < 0.1 < normalised[inverse == 0].mean()
    agreement = (inverse_masks(sample["mask1"], threshold=0.04) == inverse).mean()
    assert agreement > 0.95


def test_reference_corruption_trace_is_mean_over_all_pixels(sample):
    for colour in ("red", "green", "blue"):
        np.testing.assert_allclose(
            sample[colour].mean(axis=(1, 2)), sample[f"{colour}_mean"], rtol=0, atol=1e-12
        )


def test_reference_corruption_traces_reproduced(sample):
    # mask_noise_<c> is the frame channel times the binary inverse mask, so using it
    # as the frame (mask * mask = mask) must give back the published traces.
    frames = np.stack([sample["red"], sample["green"], sample["blue"]], axis=-1)
    inverse = sample["mask_noise_raw"].T
    traces = corruption_traces(frames, inverse)
    expected = np.stack([sample["red_mean"], sample["green_mean"], sample["blue_mean"]], axis=1)
    np.testing.assert_allclose(traces, expected, rtol=0, atol=1e-12)


def test_skin_pixels_by_ycrcb_rule() -> None:
    from distraction.masks import skin_pixels

    # Worked by hand: (224, 172, 105) has Cr 159.4, Cb 85.8 (skin); blue and grey do not.
    frames = np.array([[[[224, 172, 105], [50, 80, 200], [128, 128, 128]]]], dtype=float)
    np.testing.assert_array_equal(skin_pixels(frames), [[[True, False, False]]])


def test_skin_attention_ratio_by_hand() -> None:
    from distraction.masks import skin_attention_ratio

    cover = np.array([[1.0, 1.0, 0.5], [0.0, 0.0, 0.0]])
    # Two frames: time mean is [[3, 5, 100], [1, 2, 1]]; skin mean 4, background mean 4/3.
    masks = np.array([[[2.0, 4.0, 100.0], [1.0, 1.0, 1.0]], [[4.0, 6.0, 100.0], [1.0, 3.0, 1.0]]])
    assert skin_attention_ratio(masks, cover) == pytest.approx(3.0)
    assert skin_attention_ratio(masks[0], cover) == pytest.approx(3.0 / 1.0)
    assert np.isnan(skin_attention_ratio(masks, np.zeros((2, 3))))
    with pytest.raises(ValueError, match="skin_cover"):
        skin_attention_ratio(masks, np.zeros((3, 2)))


def test_skin_cover_by_hand() -> None:
    from distraction.masks import skin_cover

    # 8×8 map, skin (255) in columns 2-5 of rows 0-3; a 4-px crop at (2, 0) down to 2×2:
    # every output pixel averages a 2×2 block, all skin.
    skin = np.zeros((8, 8), np.uint8)
    skin[0:4, 2:6] = 255
    np.testing.assert_allclose(skin_cover(skin, (2, 0, 4), 2), np.ones((2, 2)))
    # Crop (4, 2, 4): blocks rows 2-3 × cols 4-5 (all skin), rows 2-3 × cols 6-7 (none), lower
    # blocks none.
    np.testing.assert_allclose(skin_cover(skin, (4, 2, 4), 2), [[1.0, 0.0], [0.0, 0.0]])
    # Half a block of skin gives 0.5; soft values at or below 127 are not skin.
    soft = skin.copy()
    soft[0:4, 4:6] = 127
    np.testing.assert_allclose(skin_cover(soft, (2, 0, 4), 2), [[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(skin_cover(skin, (1, 0, 4), 2), [[0.5, 1.0], [0.5, 1.0]])
    # A crop reaching past the top-left corner sees no skin outside the frame.
    np.testing.assert_allclose(skin_cover(skin, (0, -4, 8), 2), [[0.0, 0.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="skin"):
        skin_cover(np.zeros((2, 2, 3)), (0, 0, 2), 2)


# --- the stable skin region -------------------------------------------------------------

SKIN_RGB = (200.0, 140.0, 110.0)  # Cr ~ 160, Cb ~ 107: inside the YCrCb box
BLUE_RGB = (40.0, 60.0, 200.0)  # Cb far above 127: not skin


def test_stable_skin_region_min_fraction_by_hand() -> None:
    from distraction.masks import skin_pixels, stable_skin_region

    # 1 x 3 pixels over 4 frames: skin in 4, 2 and 1 of the frames.
    frames = np.empty((4, 1, 3, 3))
    frames[:] = BLUE_RGB
    frames[:, 0, 0] = SKIN_RGB
    frames[:2, 0, 1] = SKIN_RGB
    frames[:1, 0, 2] = SKIN_RGB
    assert skin_pixels(frames).sum(axis=0).tolist() == [[4, 2, 1]]
    for fraction, expected in ((0.5, [True, True, False]), (1.0, [True, False, False])):
        region = stable_skin_region(frames, min_fraction=fraction, refine="none")
        assert region.shape == (1, 3) and region.dtype == bool
        assert region[0].tolist() == expected
    assert stable_skin_region(frames, min_fraction=0.25, refine="none").all()
    with pytest.raises(ValueError, match="min_fraction"):
        stable_skin_region(frames, min_fraction=0.0)
    with pytest.raises(ValueError, match="refine"):
        stable_skin_region(frames, refine="largest")  # type: ignore[arg-type]


def test_stable_skin_region_centre_colour_drops_other_skin_tones() -> None:
    from distraction.masks import stable_skin_region

    # A skin-coloured 3x3 centre and a darker skin-coloured border (hair-like: inside
    # the YCrCb box, but 40 % darker than the centre).
    frames = np.empty((5, 9, 9, 3))
    frames[:] = np.array(SKIN_RGB) * 0.6
    frames[:, 3:6, 3:6] = SKIN_RGB
    assert stable_skin_region(frames, refine="none").all()
    region = stable_skin_region(frames)
    expected = np.zeros((9, 9), dtype=bool)
    expected[3:6, 3:6] = True
    np.testing.assert_array_equal(region, expected)


def test_region_traces_accepts_static_region() -> None:
    from distraction.masks import stable_skin_region

    frames = np.random.default_rng(0).uniform(0, 255, size=(6, 4, 4, 3))
    frames[:, 1:3, 1:3] = SKIN_RGB
    region = stable_skin_region(frames)
    assert region.shape == (4, 4) and region[1:3, 1:3].all()
    traces = region_traces(frames, region)
    expected = (frames * region[None, :, :, None]).sum(axis=(1, 2)) / region.sum()
    np.testing.assert_allclose(traces, expected)


@pytest.mark.parametrize("condition", ["flicker", "illumination"])
def test_stable_skin_region_precision_on_rendered_faces(condition: str) -> None:
    """On 34 x 34 centre crops of rendered faces (six skin tones), >= 80 % of the stable
    region is true skin. The per-frame rule reaches only 0.18-0.90 here: brown hair and
    warm backgrounds pass the YCrCb box in every frame."""
    from distraction import synth
    from distraction.masks import stable_skin_region
    from distraction.preprocess import centre_square_box, crop_resize

    width, height, n_frames, seed = 160, 120, 60, 0
    box = centre_square_box(height, width)
    for subject in range(6):  # subjects 0-5 cover the six skin tones
        identity = synth.make_identity(subject, seed)
        phys_seed, render_seed = synth.clip_seeds(seed, subject, condition)
        physiology = synth.simulate_physiology(3.0, synth.GROUND_TRUTH_FS, phys_seed)
        rendered = synth.render_frames(
            identity,
            physiology,
            synth.CONDITIONS[condition],
            width=width,
            height=height,
            fps=30.0,
            seed=render_seed,
        )
        frames = np.stack(
            [crop_resize(frame, box, 36, 34)[1] for frame in islice(rendered, n_frames)]
        )
        truth = synth.skin_mask(identity, width=width, height=height).astype(np.float32)
        cover = crop_resize(np.repeat(truth[..., None], 3, axis=-1), box, 34)[..., 0]
        region = stable_skin_region(frames)
        assert region.sum() >= 40, subject
        precision = float(np.mean(cover[region] > 0.5))
        assert precision >= 0.8, (subject, precision)


# ------------------------------------------------------------ traces per part of the frame


def test_partitioned_traces_are_true_means_inside_each_half():
    from distraction.masks import partitioned_corruption_traces

    frames = np.zeros((1, 4, 4, 3))
    frames[0, :, :2] = (10, 20, 30)  # left half
    frames[0, :, 2:] = (50, 60, 70)  # right half
    frames[0, 0, :] += 8  # top row brighter
    inverse = np.zeros((4, 4))
    inverse[0, 0] = inverse[3, 3] = 1.0  # one pixel top-left, one bottom-right
    out = partitioned_corruption_traces(frames, inverse)[0]
    # left: only (0, 0); right: only (3, 3); top: only (0, 0); bottom: only (3, 3).
    np.testing.assert_allclose(out[0:3], [18, 28, 38])
    np.testing.assert_allclose(out[3:6], [50, 60, 70])
    np.testing.assert_allclose(out[6:9], [18, 28, 38])
    np.testing.assert_allclose(out[9:12], [50, 60, 70])
    # An empty inverse region falls back to the part's mean.
    empty = partitioned_corruption_traces(frames, np.zeros((4, 4)))[0]
    np.testing.assert_allclose(empty[0:3], [12, 22, 32])


def test_linear_light_inverts_the_srgb_curve():
    from distraction.masks import linear_light

    # sRGB: 0 -> 0, 255 -> 1, code 10 (below the knee) -> (10/255)/12.92,
    # code 128 -> ((128/255 + 0.055)/1.055)**2.4 = 0.2158605.
    np.testing.assert_allclose(
        linear_light(np.array([0, 10, 128, 255])),
        [0.0, 10 / 255 / 12.92, 0.2158605, 1.0],
        rtol=1e-6,
    )


def test_halves_cancel_a_flicker_whose_phase_changes_across_the_frame():
    # The face (centre) sees the flicker of a lamp on the left and of another on the right
    # in different phases; one whole-mask mean mixes them into a third phase, which a fit
    # of it and its derivative cannot match where the two halves are weighted differently.
    from distraction.cancellation import cancel_corruption
    from distraction.masks import partitioned_corruption_traces

    t = np.arange(900) / 30.0
    left = np.sin(2 * np.pi * 1.7 * t)
    right = np.sin(2 * np.pi * 2.1 * t + 1.0)
    pulse = 0.3 * np.sin(2 * np.pi * 1.2 * t)
    frames = np.zeros((t.size, 4, 4, 3))
    frames[:, :, :2] = 100 + 5 * left[:, None, None, None]
    frames[:, :, 2:] = 100 + 5 * right[:, None, None, None]
    inverse = np.ones((4, 4))
    whole = corruption_traces(frames, inverse)
    halves = partitioned_corruption_traces(frames, inverse)
    signal = 0.8 * left + 0.2 * right + pulse  # the face is nearer the left lamp
    residual_whole = cancel_corruption(signal, whole).signal
    residual_halves = cancel_corruption(signal, halves).signal
    pulse_unit = pulse / np.abs(pulse).max()
    assert np.corrcoef(residual_halves, pulse_unit)[0, 1] > 0.99
    assert np.corrcoef(residual_whole, pulse_unit)[0, 1] < 0.8
