"""The authors' MMSE-HR reference evaluation, reproduced.

Inputs (from the authors' published sample folder, passed in as ``sample_dir``):
``lstm_input.mat`` (``Xtest``: windows of [R, G, B, CAN pulse]), ``lstm_output.mat``
(``predicted``: their denoised windows) and, from ``noise_red.mat`` (MATLAB v7.3 =
HDF5), ``GT_HR_bp`` (contact heart rate at 1000 Hz) and ``bp_gt_resamp`` (contact
waveform at 30 fps).

Evaluation: windows are stitched with "later overwrites" overlap-add (last window
dropped) onto the length of the true waveform; every waveform is band-passed
(3rd-order Butterworth 0.7-2.5 Hz, MATLAB ``filtfilt``), centred and divided by its
max |x|; then rate, SNR and waveform MAE per non-overlapping 30-s window (see
:mod:`distraction.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io
from numpy.typing import ArrayLike, NDArray

from distraction.errors import InputError
from distraction.metrics import HR_BAND, window_metrics
from distraction.windows import overlap_add

__all__ = [
    "FS",
    "GT_RATE_FS",
    "ReferenceInputs",
    "evaluate_reference",
    "evaluate_windowed_prediction",
    "load_reference_inputs",
    "stitch_reference_windows",
]

FS = 30.0
"""Rate of the denoiser windows and of the true waveform (Hz)."""
GT_RATE_FS = 1000.0
"""Rate of ``GT_HR_bp`` (Hz)."""
WINDOW_STRIDE = 30
WINDOW_S = 30.0
COLUMNS = ["rate_bpm", "snr_db", "waveform_mae"]


@dataclass(frozen=True)
class ReferenceInputs:
    """The fixed inputs of the reference evaluation.

    Attributes
    ----------
    xtest : ndarray, shape (n, 60, 4)
        Denoiser input windows [R, G, B, CAN pulse].
    predicted : ndarray, shape (n, 60)
        The authors' published denoised windows.
    gt_rate : ndarray, shape (N,)
        Contact-sensor heart rate in bpm at :data:`GT_RATE_FS`.
    gt_waveform : ndarray, shape (T,)
        Contact-sensor waveform at :data:`FS`.
    """

    xtest: NDArray[np.float64]
    predicted: NDArray[np.float64]
    gt_rate: NDArray[np.float64]
    gt_waveform: NDArray[np.float64]


def _loadmat_var(path: Path, name: str) -> NDArray[np.float64]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        data = scipy.io.loadmat(path)
    except (ValueError, OSError, NotImplementedError) as exc:
        raise InputError(f"{path}: cannot read MATLAB file ({exc})") from exc
    if name not in data:
        raise InputError(f"{path}: variable '{name}' missing")
    return np.asarray(data[name], dtype=np.float64)


def _h5_var(path: Path, name: str) -> NDArray[np.float64]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as f:
            if name not in f:
                raise InputError(f"{path}: variable '{name}' missing")
            # v7.3 arrays have reversed axes; these are vectors, so ravel is enough.
            return np.asarray(f[name][()], dtype=np.float64).ravel()
    except OSError as exc:
        raise InputError(f"{path}: cannot read MATLAB v7.3 file ({exc})") from exc


def load_reference_inputs(sample_dir: Path | str) -> ReferenceInputs:
    """Read the evaluation inputs from the authors' ``mmse_hr_sample`` folder.

    Raises
    ------
    distraction.errors.InputError
        If a file or variable is missing or unreadable.
    """
    d = Path(sample_dir)
    xtest = _loadmat_var(d / "lstm_input.mat", "Xtest")
    predicted = _loadmat_var(d / "lstm_output.mat", "predicted")
    if xtest.ndim != 3 or xtest.shape[2] != 4:
        raise InputError(f"{d / 'lstm_input.mat'}: Xtest has shape {xtest.shape}, not (n, L, 4)")
    gt_rate = _h5_var(d / "noise_red.mat", "GT_HR_bp")
    gt_waveform = _h5_var(d / "noise_red.mat", "bp_gt_resamp")
    return ReferenceInputs(xtest, predicted, gt_rate, gt_waveform)


def stitch_reference_windows(windows: ArrayLike, total_length: int) -> NDArray[np.float64]:
    """The reference's reconstruction: stride-30 "later overwrites", last window dropped.

    Parameters
    ----------
    windows : array_like, shape (n, L) or (n, L, 1)
    total_length : int

    Returns
    -------
    ndarray, shape (total_length,)
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim == 3 and w.shape[2] == 1:
        w = w[:, :, 0]
    if w.ndim != 2:
        raise ValueError(f"windows: expected shape (n, L) or (n, L, 1), got {w.shape}")
    return overlap_add(w, total_length, stride=WINDOW_STRIDE, mode="overwrite", drop_last=True)


def _rows_to_values(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r[key] is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _evaluate(inputs: ReferenceInputs, windows: ArrayLike) -> dict[str, float]:
    est = stitch_reference_windows(windows, inputs.gt_waveform.size)
    rows = window_metrics(
        est,
        inputs.gt_waveform,
        inputs.gt_rate,
        FS,
        window_s=WINDOW_S,
        band=HR_BAND,
        rate_fs=GT_RATE_FS,
    )
    return {
        "rate_bpm": _rows_to_values(rows, "est_rate"),
        "snr_db": _rows_to_values(rows, "snr_db"),
        "waveform_mae": _rows_to_values(rows, "waveform_mae"),
    }


def _true_rate(inputs: ReferenceInputs) -> float:
    rows = window_metrics(
        inputs.gt_waveform,
        None,
        inputs.gt_rate,
        FS,
        window_s=WINDOW_S,
        band=HR_BAND,
        rate_fs=GT_RATE_FS,
    )
    return _rows_to_values(rows, "true_rate")


def evaluate_windowed_prediction(
    sample_dir: Path | str, windows: ArrayLike, *, label: str
) -> pd.DataFrame:
    """One table row for another windowed prediction of the reference clip.

    Parameters
    ----------
    sample_dir : Path
        The ``mmse_hr_sample`` folder.
    windows : array_like, shape (n, 60) or (n, 60, 1)
        Prediction per window of ``Xtest`` (e.g. ``model.predict(Xtest)``).
    label : str
        Row name.

    Returns
    -------
    pandas.DataFrame
        One row indexed by ``label``, columns ``rate_bpm``, ``snr_db``, ``waveform_mae``.
    """
    inputs = load_reference_inputs(sample_dir)
    return pd.DataFrame([_evaluate(inputs, windows)], index=[label], columns=COLUMNS)


def evaluate_reference(
    sample_dir: Path | str,
    *,
    denoised: ArrayLike | None = None,
    denoised_label: str = "denoised prediction",
) -> pd.DataFrame:
    """Reproduce the README table of the authors' MMSE-HR clip.

    Rate and error values are means over the 30-s windows (the clip has one).

    Parameters
    ----------
    sample_dir : Path
        The ``mmse_hr_sample`` folder.
    denoised : array_like, shape (n, 60) or (n, 60, 1), optional
        Another prediction for the ``Xtest`` windows, added as a fourth row.
    denoised_label : str
        Name of that row.

    Returns
    -------
    pandas.DataFrame
        Rows ``"ground truth"``, ``"CAN signal"``, ``"published denoised prediction"``
        (and ``denoised_label``); columns ``rate_bpm``, ``snr_db``, ``waveform_mae``
        (NaN where not applicable).
    """
    inputs = load_reference_inputs(sample_dir)
    rows = {
        "ground truth": {"rate_bpm": _true_rate(inputs), "snr_db": np.nan, "waveform_mae": np.nan},
        "CAN signal": _evaluate(inputs, inputs.xtest[:, :, 3]),
        "published denoised prediction": _evaluate(inputs, inputs.predicted),
    }
    if denoised is not None:
        rows[denoised_label] = _evaluate(inputs, denoised)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)
    table.index.name = "signal"
    return table


def reference_job(sample: Path, output: Path, *, hr_lstm: Path | None = None) -> str:
    """The ``reference`` job: the reference table of the sample, written as a CSV.

    With ``hr_lstm`` (the authors' ``hr_lstm.h5``), the imported network is run on the
    sample's denoiser input and its row is added. Returns the job's one-line summary.
    """
    from distraction.files import write_csv

    table = evaluate_reference(sample)
    if hr_lstm is not None:
        from distraction.weights_import import import_weights

        model = import_weights(hr_lstm, "hr_lstm")
        windows = np.asarray(model.predict(load_reference_inputs(sample).xtest, verbose=0))
        row = evaluate_windowed_prediction(sample, windows, label="imported hr_lstm.h5")
        table = pd.concat([table, row])
    table.index.name = "signal"
    write_csv(table.reset_index(), output)
    lines = "; ".join(
        f"{name}: {row.rate_bpm:.4f} bpm, SNR {row.snr_db:.4f} dB, WMAE {row.waveform_mae:.4f}"
        for name, row in table.iterrows()
    )
    return f"reference {sample}: {lines}"
