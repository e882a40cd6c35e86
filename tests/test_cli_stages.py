"""The per-video network stages through the CLI: `infer` (what the workflow runs) equals
infer-can -> corruption -> denoise run one by one, bad models are recorded as failures, and
the denoiser's in-memory training inputs equal the stored ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distraction.cancellation import cancel_corruption
from distraction.cli import main
from distraction.models import load_model
from distraction.settings import task_settings
from distraction.store import open_group
from distraction.train import lstm_example, lstm_example_from_can

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "distraction" / "weights"
GROUPS = ("can_hr", "corruption_hr", "denoised_hr")


def _copy(store: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(store, target)
    return target


def _infer_with_shipped_networks(store: Path, task: str) -> str:
    """``distraction infer`` with the task's shipped networks; returns the LSTM's path."""
    can, lstm = str(WEIGHTS / f"{task}_can.keras"), str(WEIGHTS / f"{task}_lstm.keras")
    args = ["infer", "--store", str(store), "--task", task, "--can-model", can]
    assert main([*args, "--lstm-model", lstm]) == 0
    return lstm


def test_infer_equals_the_three_stages_run_one_by_one(prepared_store: Path, tmp_path: Path) -> None:
    combined = _copy(prepared_store, tmp_path, "combined.zarr")
    staged = _copy(prepared_store, tmp_path, "staged.zarr")
    can, lstm = str(WEIGHTS / "hr_can.keras"), str(WEIGHTS / "hr_lstm.keras")
    common = ["--task", "hr"]
    assert (
        main(["infer", "--store", str(combined), *common, "--can-model", can, "--lstm-model", lstm])
        == 0
    )
    assert main(["infer-can", "--store", str(staged), *common, "--model", can]) == 0
    assert main(["corruption", "--store", str(staged), *common]) == 0
    assert main(["denoise", "--store", str(staged), *common, "--model", lstm]) == 0
    for group in GROUPS:
        a, b = open_group(combined, group), open_group(staged, group)
        assert set(a.data_vars) == set(b.data_vars) and a.data_vars
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    denoised = open_group(combined, "denoised_hr")["denoised"].values
    assert np.isfinite(denoised).all() and np.abs(denoised).max() > 0


def test_infer_records_a_bad_model_in_every_network_group(
    prepared_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _copy(prepared_store, tmp_path, "bad.zarr")
    bad = tmp_path / "broken.keras"
    bad.write_text("not a model")
    args = ["infer", "--store", str(store), "--task", "hr", "--can-model", str(bad)]
    args += ["--lstm-model", str(WEIGHTS / "hr_lstm.keras")]
    # Without --record-failures: one line naming the file, exit status 2, nothing written.
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("distraction infer: error:") and str(bad) in error
    assert not any((store / group).exists() for group in GROUPS)
    # With it: the reason is recorded in each network group, and the job succeeds.
    assert main([*args, "--record-failures"]) == 0
    for group in GROUPS:
        attrs = open_group(store, group).attrs
        assert str(bad) in attrs["failed"]
        assert attrs["failed_stage"] == "infer-can"
    # Its example figures state the reason instead of failing the job.
    figures = [tmp_path / "masks.png", tmp_path / "waveforms.png"]
    assert main(["figures", "--store", str(store), "--task", "hr", "--triptych", str(figures[0]),
                 "--waveforms", str(figures[1])]) == 0  # fmt: skip
    assert all(path.stat().st_size > 1000 for path in figures)


def test_denoiser_training_inputs_in_memory_equal_the_stored_ones(
    prepared_store: Path, tmp_path: Path
) -> None:
    store = _copy(prepared_store, tmp_path, "train.zarr")
    can = WEIGHTS / "hr_can.keras"
    assert main(["infer-can", "--store", str(store), "--task", "hr", "--model", str(can)]) == 0
    assert main(["corruption", "--store", str(store), "--task", "hr"]) == 0
    settings = task_settings("hr")
    stored = lstm_example(store, settings)
    in_memory = lstm_example_from_can(store, load_model(can), settings)
    # 12 s at 30 fps: 359 frame differences -> (359 - 60) // 30 + 1 = 10 windows.
    assert stored.inputs[0].shape == in_memory.inputs[0].shape == (10, 60, 4)
    # Same functions on the same arrays; only the CAN's batching could differ (it does not
    # here), so a float32-level tolerance.
    np.testing.assert_allclose(in_memory.inputs[0], stored.inputs[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(in_memory.target, stored.target, rtol=0, atol=1e-9)
    assert (in_memory.name, in_memory.subject) == (stored.name, stored.subject)


def test_hr_denoising_cancels_the_corruption_the_traces_explain_before_the_lstm(
    prepared_store: Path, tmp_path: Path
) -> None:
    store = _copy(prepared_store, tmp_path, "cancel.zarr")
    lstm = _infer_with_shipped_networks(store, "hr")
    corruption = open_group(store, "corruption_hr")
    denoised = open_group(store, "denoised_hr")
    assert denoised.attrs["cancel_corruption"] is True  # the HR default
    # The default regresses on the traces of each half of the frame: 4 halves x R, G, B.
    assert corruption["region_traces_conditioned"].shape[1] == 12
    expected = cancel_corruption(
        corruption["can_conditioned"].values, corruption["region_traces_conditioned"].values
    )
    np.testing.assert_array_equal(denoised["cancelled"].values, expected.signal)
    assert denoised.attrs["cancelled_variance_fraction"] == pytest.approx(expected.explained)
    # The denoiser is trained on what it is run on: its fourth channel is the cancelled
    # signal, window by window (60 samples, stride 30).
    example = lstm_example(store, task_settings("hr"))
    np.testing.assert_allclose(example.inputs[0][1, :, 3], expected.signal[30:90], atol=1e-6)
    np.testing.assert_allclose(
        example.inputs[0][1, :, :3], corruption["traces_conditioned"].values[30:90], atol=1e-6
    )
    # Switched off, the denoiser sees the CAN signal itself and nothing else is stored.
    assert main(["denoise", "--store", str(store), "--task", "hr", "--model", lstm,
                 "--no-cancel-corruption"]) == 0  # fmt: skip
    off = open_group(store, "denoised_hr")
    assert off.attrs["cancel_corruption"] is False and "cancelled" not in off
    plain = lstm_example(store, task_settings("hr", cancel_corruption=False))
    np.testing.assert_allclose(
        plain.inputs[0][1, :, 3], corruption["can_conditioned"].values[30:90], atol=1e-6
    )


def test_breathing_is_conditioned_at_5_hz_so_the_denoiser_sees_12_s(
    prepared_store: Path, tmp_path: Path
) -> None:
    store = _copy(prepared_store, tmp_path, "br.zarr")
    _infer_with_shipped_networks(store, "br")
    corruption = open_group(store, "corruption_br")
    assert corruption.attrs["fs_out"] == 5.0
    # 12 s at 30 fps: 359 frame differences span 358 / 30 = 11.93 s, so samples at
    # 0, 0.2, ..., 11.8 s: 60 of them, exactly one 60-sample (12-s) denoiser window.
    np.testing.assert_allclose(corruption["time_out"].values, np.arange(60) * 0.2, atol=1e-9)
    denoised = open_group(store, "denoised_br")
    assert denoised.attrs["fs_out"] == 5.0 and denoised["denoised"].shape == (60,)
    # An explicit rate still wins over the task's.
    assert main(["corruption", "--store", str(store), "--task", "br", "--fs-out", "30"]) == 0
    assert open_group(store, "corruption_br").attrs["fs_out"] == 30.0


def test_evaluation_slides_its_windows_and_compares_breathing_with_head_motion(
    prepared_store: Path, tmp_path: Path
) -> None:
    store = _copy(prepared_store, tmp_path, "eval.zarr")
    _infer_with_shipped_networks(store, "br")
    out = tmp_path / "br.csv"
    args = ["evaluate", "--store", str(store), "--task", "br", "--output", str(out)]
    assert main([*args, "--window-s", "10", "--stride-s", "1"]) == 0
    table = pd.read_csv(out)
    # 60 samples at 5 Hz; 10-s windows (50 samples) every 1 s (5 samples) start at 0, 1, 2 s.
    for _, rows in table.groupby("method"):
        assert rows["window_start_s"].tolist() == [0.0, 1.0, 2.0]
    # The colour baselines that model the pulse are not breathing methods; head motion is.
    assert set(table["method"]) == {
        "can",
        "cancelled",
        "lstm",
        "denoised",
        "green",
        "ica",
        "motion",
    }
    # Both SNR conventions: the reference's 20·log10 of a power ratio is twice the dB value.
    np.testing.assert_allclose(table["snr_db"], 2 * table["snr_db_conventional"], atol=1e-5)
