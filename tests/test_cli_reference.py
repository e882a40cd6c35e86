"""The `reference` subcommand reproduces the authors' published table (README of the sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distraction.cli import main

# The expected numbers published with the reference sample.
EXPECTED = {
    "CAN signal": (91.0, 1.6101, 0.6935),
    "published denoised prediction": (91.5, 4.5203, 0.3126),
}


def test_reference_subcommand_matches_published_table(reference_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "reference.csv"
    code = main(
        [
            "reference",
            "--sample",
            str(reference_dir / "mmse_hr_sample"),
            "--hr-lstm",
            str(reference_dir / "weights" / "hr_lstm.h5"),
            "--output",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out).set_index("signal")
    assert table.loc["ground truth", "rate_bpm"] == pytest.approx(94.1915, abs=1e-3)
    for name, (rate, snr, wmae) in EXPECTED.items():
        assert table.loc[name, "rate_bpm"] == pytest.approx(rate, abs=1e-3)
        assert table.loc[name, "snr_db"] == pytest.approx(snr, abs=1e-3)
        assert table.loc[name, "waveform_mae"] == pytest.approx(wmae, abs=1e-3)
    # The imported network's row, against an independent NumPy forward pass of its weights.
    from test_weights_import import numpy_hr_lstm

    from distraction.reference import evaluate_windowed_prediction, load_reference_inputs

    sample, weights = reference_dir / "mmse_hr_sample", reference_dir / "weights" / "hr_lstm.h5"
    xtest = load_reference_inputs(sample).xtest.astype(np.float32)
    independent = evaluate_windowed_prediction(
        sample, numpy_hr_lstm(weights, xtest), label="numpy"
    ).loc["numpy"]
    imported = table.loc["imported hr_lstm.h5"]
    for column in ("rate_bpm", "snr_db", "waveform_mae"):
        assert imported[column] == pytest.approx(independent[column], abs=1e-3)
