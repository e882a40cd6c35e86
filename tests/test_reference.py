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
