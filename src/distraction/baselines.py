"""Unsupervised rPPG baselines over spatially averaged RGB traces.

Each method is a pure function ``(rgb (T, 3), fs) -> pulse (T,)``:

- `green`: the green channel (Verkruysse et al. 2008), detrended and standardised.
- `ica`: blind source separation (Poh et al. 2010, 2011).
- `chrom`: chrominance projection (de Haan & Jeanne 2013).
- `pos`: plane orthogonal to skin (Wang et al. 2017).

and one motion baseline for breathing, ``(frames (T, H, W[, 3]), fs) -> signal (T,)``:

- `vertical_motion`: the vertical head position from frame-to-frame phase correlation.

Polarity convention: every output rises with the light reflected by the skin along
the pulse direction (as the green channel does). Blood volume *absorbs* light, so
negate an output to get a waveform that rises with blood volume, like a contact PPG.
`chrom`'s formula gives the opposite sign natively and is negated here to follow the
convention; `ica` orients its component by the sign of its loading on green.

Detrending is Tarvainen et al.'s (2002) smoothness-priors method, with lambda chosen
so that its cut-off sits at about half the low edge of ``band`` (below the slowest
rate of interest), and band-passes are zero-phase 3rd-order Butterworth filters
(second-order sections). Both are private here so this module stands alone.
"""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import butter, sosfiltfilt
from scipy.signal.windows import hann

# The bands have one home, distraction.metrics; they are re-exported here.
from distraction.metrics import BR_BAND, HR_BAND
from distraction.signals import detrend_smoothness_priors

__all__ = [
    "BR_BAND",
    "HR_BAND",
    "chrom",
    "green",
    "ica",
    "motion_from_shifts",
    "pos",
    "vertical_motion",
    "vertical_shifts",
]


def _check_rgb(rgb: ArrayLike, fs: float, min_length: int = 3) -> NDArray[np.float64]:
    """Validate a (T, 3) trace and sampling rate; return the trace as float64."""
    array = np.asarray(rgb, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"rgb: expected shape (T, 3), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("rgb: contains NaN or infinite values (interpolate gaps first)")
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"fs: expected a positive sampling rate, got {fs}")
    if array.shape[0] < min_length:
        raise ValueError(f"rgb: needs at least {min_length} samples, got {array.shape[0]}")
    return array


def _check_band(band: tuple[float, float], fs: float) -> tuple[float, float]:
    low, high = (float(edge) for edge in band)
    if not 0 < low < high < fs / 2:
        raise ValueError(f"band: expected 0 < low < high < fs/2 = {fs / 2}, got {band}")
    return low, high


def _window_length(window_s: float, fs: float) -> int:
    if not (np.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s: expected a positive duration, got {window_s}")
    # The tolerance keeps e.g. 1.1 s x 30 Hz = 33.000000000000004 at 33 samples.
    return max(2, math.ceil(window_s * fs - 1e-9))


def _detrend_lambda(fs: float, band: tuple[float, float]) -> float:
    """Smoothness-priors lambda whose cut-off is half the band's low edge.

    The trend estimate is ``(I + lambda^2 D2'D2)^-1 z``; its response at angular
    frequency w is ``1 / (1 + 16 lambda^2 sin^4(w/2))``, which falls to 1/2 at
    ``w ~ 1/sqrt(lambda)``, i.e. ``f_c = fs / (2 pi sqrt(lambda))``.
    """
    cutoff = band[0] / 2
    return (fs / (2 * math.pi * cutoff)) ** 2


def _bandpass(
    x: NDArray[np.float64], fs: float, band: tuple[float, float], axis: int = 0
) -> NDArray[np.float64]:
    """Zero-phase 3rd-order Butterworth band-pass along ``axis``."""
    sos = butter(3, band, btype="bandpass", fs=fs, output="sos")
    n = x.shape[axis]
    # Short windows (CHROM's 1.6 s) cannot take scipy's default padding.
    padlen = min(3 * (2 * len(sos) + 1), n - 1)
    return sosfiltfilt(sos, x, axis=axis, padlen=padlen)


def _standardise(x: NDArray[np.float64]) -> NDArray[np.float64]:
    centred = x - x.mean(axis=0)
    spread = centred.std(axis=0)
    return centred / np.where(spread > 0, spread, 1.0)


def _temporal_normalise(windows: NDArray[np.float64]) -> NDArray[np.float64]:
    """Divide each window (axis 1 is time) by its per-channel mean."""
    means = windows.mean(axis=1, keepdims=True)
    if np.any(means <= 0):
        raise ValueError("rgb: channel means must be positive (reflected intensities)")
    return windows / means


def green(rgb: ArrayLike, fs: float, *, band: tuple[float, float] = HR_BAND) -> NDArray[np.float64]:
    """GREEN: the green-channel trace, detrended and standardised.

    Parameters
    ----------
    rgb : array_like, shape (T, 3)
        Spatially averaged R, G, B traces.
    fs : float
        Sampling rate in Hz.
    band : (float, float)
        Band of interest in Hz; only its low edge is used, to set the detrending
        cut-off (about ``band[0] / 2``). No band-pass is applied.

    Returns
    -------
    numpy.ndarray of float64, shape (T,)
        Zero-mean, unit-variance pulse estimate.
    """
    trace = _check_rgb(rgb, fs)
    band = _check_band(band, fs)
    return _standardise(detrend_smoothness_priors(trace[:, 1], _detrend_lambda(fs, band)))


def ica(
    rgb: ArrayLike,
    fs: float,
    seed: int = 0,
    *,
    band: tuple[float, float] = HR_BAND,
) -> NDArray[np.float64]:
    """ICA (Poh et al. 2010, 2011): the independent source with the strongest in-band peak.

    Steps: detrend each channel (smoothness priors), standardise, separate three
    sources with scikit-learn's FastICA, pick the source whose power spectrum
    (normalised by its total power) has the highest peak inside ``band``, orient it
    by its loading on green, band-pass it and standardise it.

    FastICA is used instead of Poh's JADE: for three mixtures both estimate the same
    sources (up to order, sign and scale, which the selection and orientation steps
    resolve), and FastICA is a maintained, tested implementation that is
    deterministic for a given ``random_state`` (``seed``).

    Parameters
    ----------
    rgb : array_like, shape (T, 3)
        Spatially averaged R, G, B traces.
    fs : float
        Sampling rate in Hz.
    seed : int
        Random state of FastICA's initial unmixing matrix.
    band : (float, float)
        Band in Hz for the selection and the final band-pass: `HR_BAND` for the
        pulse, `BR_BAND` for breathing.

    Returns
    -------
    numpy.ndarray of float64, shape (T,)
        Zero-mean, unit-variance pulse estimate.
    """
    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    trace = _check_rgb(rgb, fs, min_length=8)
    band = _check_band(band, fs)
    detrended = detrend_smoothness_priors(trace, _detrend_lambda(fs, band))
    if np.any(detrended.std(axis=0) == 0):
        raise ValueError("rgb: a channel has no variation after detrending")
    normalised = _standardise(detrended)

    model = FastICA(n_components=3, whiten="unit-variance", random_state=seed, max_iter=1000)
    with warnings.catch_warnings():
        # A source that is nearly Gaussian may converge slowly; the estimate is still used.
        warnings.simplefilter("ignore", ConvergenceWarning)
        sources = model.fit_transform(normalised)

    n = sources.shape[0]
    power = np.abs(np.fft.rfft(sources - sources.mean(axis=0), axis=0)) ** 2
    freqs = np.fft.rfftfreq(n, d=1 / fs)
    power, freqs = power[1:], freqs[1:]  # drop DC, as Poh's selection does
    power = power / np.where(power.sum(axis=0) > 0, power.sum(axis=0), 1.0)
    in_band = (freqs >= band[0]) & (freqs <= band[1])
    if not in_band.any():
        raise ValueError(f"rgb: {n} samples at {fs} Hz are too few to resolve band {band}")
    chosen = int(np.argmax(power[in_band].max(axis=0)))

    source = sources[:, chosen]
    if model.mixing_[1, chosen] < 0:
        source = -source
    return _standardise(_bandpass(source, fs, band))


def chrom(
    rgb: ArrayLike,
    fs: float,
    window_s: float = 1.6,
    *,
    band: tuple[float, float] = HR_BAND,
) -> NDArray[np.float64]:
    """CHROM (de Haan & Jeanne 2013): chrominance signals combined per window.

    In windows of ``window_s`` seconds (rounded up to an even number of samples)
    with 50 % overlap, each channel is divided by its window mean, then
    ``Xs = 3R - 2G`` and ``Ys = 1.5R + G - 1.5B`` are band-passed to ``Xf, Yf``,
    and ``S = Xf - alpha Yf`` with ``alpha = std(Xf) / std(Yf)``. The windows are
    Hann-tapered and overlap-added. A periodic Hann window is used (not the
    symmetric one of the iPhys toolbox) because it sums to exactly one at 50 %
    overlap.

    Parameters
    ----------
    rgb : array_like, shape (T, 3)
        Spatially averaged R, G, B traces (positive intensities), T >= one window.
    fs : float
        Sampling rate in Hz.
    window_s : float
        Window length in seconds (the paper's 32 frames at 20 fps = 1.6 s).
    band : (float, float)
        Band-pass applied inside each window, in Hz.

    Returns
    -------
    numpy.ndarray of float64, shape (T,)
        Pulse estimate (negated ``S``, see the module's polarity convention). The
        first half window rises with the taper, and the trailing samples that no
        complete window reaches (fewer than half a window) are 0.
    """
    trace = _check_rgb(rgb, fs)
    band = _check_band(band, fs)
    length = _window_length(window_s, fs)
    length += length % 2  # even, so that half-window hops tile the signal
    n = trace.shape[0]
    if n < length:
        raise ValueError(f"rgb: needs at least one window of {length} samples, got {n}")
    hop = length // 2
    starts = np.arange(0, n - length + 1, hop)
    index = starts[:, None] + np.arange(length)  # (windows, length)
    normalised = _temporal_normalise(trace[index]) - 1.0  # (windows, length, 3)
    red, grn, blue = normalised[..., 0], normalised[..., 1], normalised[..., 2]
    xf = _bandpass(3.0 * red - 2.0 * grn, fs, band, axis=1)
    yf = _bandpass(1.5 * red + grn - 1.5 * blue, fs, band, axis=1)
    y_spread = yf.std(axis=1)
    alpha = xf.std(axis=1) / np.where(y_spread > 0, y_spread, np.inf)
    tapered = (xf - alpha[:, None] * yf) * hann(length, sym=False)
    pulse = np.zeros(n)
    np.add.at(pulse, index, tapered)
    return -pulse


def pos(rgb: ArrayLike, fs: float, window_s: float = 1.6) -> NDArray[np.float64]:
    """POS (Wang et al. 2017): projection on the plane orthogonal to the skin tone.

    For every window of ``window_s`` seconds (hop of one sample), the channels are
    divided by their window mean, projected with ``P = [[0, 1, -1], [-2, 1, 1]]`` to
    ``S1, S2``, combined as ``h = S1 + std(S1)/std(S2) S2``, made zero-mean and
    overlap-added. Both rows of P are orthogonal to [1, 1, 1], so intensity changes
    common to the normalised channels cancel. As in the paper no band-pass is applied.

    Parameters
    ----------
    rgb : array_like, shape (T, 3)
        Spatially averaged R, G, B traces (positive intensities), T >= one window.
    fs : float
        Sampling rate in Hz.
    window_s : float
        Window length in seconds (the paper's 32 frames at 20 fps = 1.6 s).

    Returns
    -------
    numpy.ndarray of float64, shape (T,)
        Pulse estimate (unnormalised; samples within one window of either end are
        covered by fewer windows).
    """
    trace = _check_rgb(rgb, fs)
    length = _window_length(window_s, fs)
    n = trace.shape[0]
    if n < length:
        raise ValueError(f"rgb: needs at least one window of {length} samples, got {n}")
    windows = np.lib.stride_tricks.sliding_window_view(trace, length, axis=0)  # (W, 3, L)
    normalised = _temporal_normalise(np.moveaxis(windows, 2, 1))  # (W, L, 3)
    s1 = normalised[..., 1] - normalised[..., 2]
    s2 = -2.0 * normalised[..., 0] + normalised[..., 1] + normalised[..., 2]
    s2_spread = s2.std(axis=1)
    ratio = s1.std(axis=1) / np.where(s2_spread > 0, s2_spread, np.inf)
    h = s1 + ratio[:, None] * s2
    h -= h.mean(axis=1, keepdims=True)
    pulse = np.zeros(n)
    n_windows = h.shape[0]
    for offset in range(length):  # L vectorised adds instead of W python-level ones
        pulse[offset : offset + n_windows] += h[:, offset]
    return pulse


def _as_grey(frames: ArrayLike) -> NDArray[np.float32]:
    """Return (T, H, W) float32 grey frames; RGB frames are converted with BT.601 luma."""
    array = np.asarray(frames, dtype=np.float32)
    if array.ndim == 4 and array.shape[-1] == 3:
        array = array @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    elif array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(f"frames: expected shape (T, H, W) or (T, H, W, 3), got {array.shape}")
    if min(array.shape[1:]) < 2:
        raise ValueError(f"frames: expected frames of at least 2x2 pixels, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("frames: contains NaN or infinite values")
    return np.ascontiguousarray(array)


def vertical_motion(
    frames: ArrayLike, fs: float, *, band: tuple[float, float] = BR_BAND
) -> NDArray[np.float64]:
    """Breathing from head motion: the vertical image position, band-passed.

    For each pair of consecutive grey frames the vertical shift is measured to sub-pixel
    precision by phase correlation (``cv2.phaseCorrelate`` with a Hann window); the
    shifts are cumulated into a vertical position trace (0 at the first frame),
    detrended (smoothness priors, cut-off about ``band[0] / 2``), band-passed
    (zero-phase 3rd-order Butterworth) and standardised.

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3)
        Grey or RGB frames (any common scale), T >= 8.
    fs : float
        Frame rate in Hz.
    band : (float, float)
        Band-pass in Hz (default the breathing band).

    Returns
    -------
    numpy.ndarray of float64, shape (T,)
        Zero-mean, unit-variance signal that rises as the image content moves *up*
        (image rows grow downwards), i.e. with inhalation when breathing lifts the head.

    Notes
    -----
    Breathing moves the head by about a pixel at 320 px face-frame height; on the
    34 x 34 crops the networks see that is only about 0.1-0.2 px, close to the
    precision of phase correlation on so few pixels.
    """
    grey = _as_grey(frames)
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"fs: expected a positive sampling rate, got {fs}")
    band = _check_band(band, fs)
    if grey.shape[0] < 8:
        raise ValueError(f"frames: needs at least 8 frames, got {grey.shape[0]}")
    return motion_from_shifts(vertical_shifts(grey), fs, band=band)


def vertical_shifts(frames: ArrayLike, previous: ArrayLike | None = None) -> NDArray[np.float64]:
    """The vertical shift of each frame from the one before (phase correlation, Hann
    window), in pixels, rows growing downwards: :func:`vertical_motion`'s first step, which
    a stream of frames takes block by block.

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3)
        Grey or RGB frames.
    previous : array_like, shape (H, W) or (H, W, 3), optional
        The frame before the block (the last of the block before); without it the first
        shift is 0, as at a video's first frame.

    Returns
    -------
    numpy.ndarray of float64, shape (T,)
    """
    grey = _as_grey(frames)
    n, height, width = grey.shape
    if previous is not None:
        before = _as_grey(np.asarray(previous)[np.newaxis])
        if before.shape[1:] != grey.shape[1:]:
            raise ValueError(f"previous: expected a {height}x{width} frame, got {before.shape}")
        grey = np.concatenate([before, grey])
    window = cv2.createHanningWindow((width, height), cv2.CV_32F)
    shifts = np.zeros(len(grey))
    for t in range(1, len(grey)):
        (_, dy), _ = cv2.phaseCorrelate(grey[t - 1], grey[t], window)
        shifts[t] = dy
    return shifts[len(grey) - n :]


def motion_from_shifts(
    shifts: ArrayLike, fs: float, *, band: tuple[float, float] = BR_BAND
) -> NDArray[np.float64]:
    """:func:`vertical_motion` from the frames' :func:`vertical_shifts`: the upward
    position (0 at the first frame), detrended, band-passed and standardised."""
    shifts = np.asarray(shifts, dtype=np.float64)
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"fs: expected a positive sampling rate, got {fs}")
    band = _check_band(band, fs)
    if shifts.ndim != 1 or len(shifts) < 8:
        raise ValueError(f"shifts: needs at least 8 frames, got shape {shifts.shape}")
    position = -np.cumsum(shifts)  # upward motion positive
    detrended = detrend_smoothness_priors(position, _detrend_lambda(fs, band))
    return _standardise(_bandpass(detrended, fs, band))
