"""The authors' MMSE-HR evaluation against the numbers published in their README."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distraction.errors import InputError
from distraction.reference import (
    evaluate_reference,
    evaluate_windowed_prediction,
    load_reference_inputs,
)

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mmse_hr_sample"

# README of the reference folder: rate (bpm), SNR (dB), waveform MAE.
EXPECTED = {
    "ground truth": (94.1915, None, None),
    "CAN signal": (91.0, 1.6101, 0.6935),
    "published denoised prediction": (91.5, 4.5203, 0.3126),
}


@pytest.fixture(scope="module")
def sample_dir() -> Path:
    if not (SAMPLE / "lstm_input.mat").is_file():
        pytest.skip("reference sample not available")
    return SAMPLE


@pytest.fixture(scope="module")
def table(sample_dir: Path):
    return evaluate_reference(sample_dir)


def test_reference_table_matches_readme(table) -> None:
    assert list(table.index) == list(EXPECTED)
    assert list(table.columns) == ["rate_bpm", "snr_db", "waveform_mae"]
    for name, (rate, snr, mae) in EXPECTED.items():
        row = table.loc[name]
        assert row["rate_bpm"] == pytest.approx(rate, abs=1e-3)
        if snr is None:
            assert np.isnan(row["snr_db"]) and np.isnan(row["waveform_mae"])
        else:
            assert row["snr_db"] == pytest.approx(snr, abs=1e-3)
            assert row["waveform_mae"] == pytest.approx(mae, abs=1e-3)


def test_extra_row_from_keras_shaped_prediction(sample_dir: Path, table) -> None:
    published = load_reference_inputs(sample_dir).predicted
    keras_shaped = published[:, :, None]  # model.predict output (33, 60, 1)
    extended = evaluate_reference(sample_dir, denoised=keras_shaped, denoised_label="again")
    assert list(extended.index)[-1] == "again"
    np.testing.assert_allclose(
        extended.loc["again"].to_numpy(),
        table.loc["published denoised prediction"].to_numpy(),
    )
    row = evaluate_windowed_prediction(sample_dir, keras_shaped, label="x")
    assert row.shape == (1, 3)
    assert row.loc["x", "snr_db"] == pytest.approx(4.5203, abs=1e-3)


def test_missing_folder_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"lstm_input\.mat"):
        evaluate_reference(tmp_path)


def test_reference_rows_to_published_values(table) -> None:
    # The README's numbers, asserted one by one (a regression guard independent of EXPECTED).
    assert table.loc["ground truth", "rate_bpm"] == pytest.approx(94.1915, abs=1e-3)
    can = table.loc["CAN signal"]
    assert can["rate_bpm"] == pytest.approx(91.0, abs=1e-3)
    assert can["snr_db"] == pytest.approx(1.6101, abs=1e-3)
    assert can["waveform_mae"] == pytest.approx(0.6935, abs=1e-3)
    published = table.loc["published denoised prediction"]
    assert published["rate_bpm"] == pytest.approx(91.5, abs=1e-3)
    assert published["snr_db"] == pytest.approx(4.5203, abs=1e-3)
    assert published["waveform_mae"] == pytest.approx(0.3126, abs=1e-3)


def test_imported_hr_lstm_row_equals_numpy_forward_pass(sample_dir: Path, table) -> None:
    """The row of the imported hr_lstm, against an independent NumPy forward pass."""
    weights = sample_dir.parent / "weights" / "hr_lstm.h5"
    if not weights.is_file():
        pytest.skip(f"authors' weights not found at {weights}")
    from test_weights_import import numpy_hr_lstm

    from distraction.weights_import import import_weights

    xtest = load_reference_inputs(sample_dir).xtest.astype(np.float32)
    model = import_weights(weights, "hr_lstm")
    keras_prediction = np.asarray(model(xtest, training=False))
    extended = evaluate_reference(
        sample_dir, denoised=keras_prediction, denoised_label="imported hr_lstm.h5"
    )
    row = extended.loc["imported hr_lstm.h5"]
    independent = evaluate_windowed_prediction(
        sample_dir, numpy_hr_lstm(weights, xtest), label="numpy"
    ).loc["numpy"]
    assert np.all(np.isfinite(independent.to_numpy()))
    for column in ("rate_bpm", "snr_db", "waveform_mae"):
        assert row[column] == pytest.approx(independent[column], abs=1e-3)
    # The other rows are unchanged by the extra one.
    for name in EXPECTED:
        np.testing.assert_array_equal(extended.loc[name].to_numpy(), table.loc[name].to_numpy())
