"""The litert engine: exported networks give what Keras gives, the exports are reproducible
and tied to their source model, and the network stages run on them without TensorFlow."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distraction.cli import main
from distraction.engines import predict_can, predict_lstm
from distraction.errors import InputError
from distraction.litert import (
    export_litert,
    gpu_visible,
    load_litert,
    resolve_engine,
    sidecar_path,
)
from distraction.models import load_model
from distraction.store import open_group

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "distraction" / "weights"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped HR CAN, HR LSTM and BR LSTM (bidirectional), exported once."""
    folder = tmp_path_factory.mktemp("litert")
    models = {}
    for name in ("hr_can", "hr_lstm", "br_lstm"):
        models[name] = folder / f"{name}.tflite"
        export_litert(WEIGHTS / f"{name}.keras", models[name])
    return models


def test_exported_can_gives_the_keras_signal_and_masks(exported: dict[str, Path]) -> None:
    rng = np.random.default_rng(0)
    # Normalised frame differences and standardised frames, as the preparation writes them;
    # 23 frames in batches of 8 also exercise a last, smaller batch.
    motion = rng.normal(0, 0.5, (23, 36, 36, 3)).astype(np.float32)
    appearance = rng.normal(0, 1.0, (23, 36, 36, 3)).astype(np.float32)
    keras_out = predict_can(load_model(WEIGHTS / "hr_can.keras"), motion, appearance, 8)
    litert_out = predict_can(load_litert(exported["hr_can"]), motion, appearance, 8)
    for name, a, b in zip(("signal", "mask1", "mask2"), keras_out, litert_out, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        # float32 arithmetic in another order (XNNPACK vs oneDNN): agreement to ~1e-6.
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-5, err_msg=name)
    assert np.ptp(keras_out[0]) > 0.01  # a signal that varies, so the comparison means something


@pytest.mark.parametrize("name", ["hr_lstm", "br_lstm"])
def test_exported_lstm_gives_the_keras_waveforms(exported: dict[str, Path], name: str) -> None:
    model = load_model(WEIGHTS / f"{name}.keras")
    windows = np.random.default_rng(1).uniform(-1, 1, (5, 60, 4)).astype(np.float32)
    expected = np.asarray(model(windows, training=False))[..., 0]
    got = predict_lstm(load_litert(exported[name]), windows, 256)
    assert got.shape == (5, 60)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


def test_litert_outputs_do_not_depend_on_its_threads() -> None:
    # A batch runs the interpreter with one thread per job, a lone video with two: the stored
    # groups must be the same either way.
    rng = np.random.default_rng(3)
    motion = rng.normal(0, 0.5, (40, 36, 36, 3)).astype(np.float32)
    appearance = rng.normal(0, 1.0, (40, 36, 36, 3)).astype(np.float32)
    windows = rng.uniform(-1, 1, (7, 60, 4)).astype(np.float32)
    can = [load_litert(WEIGHTS / "hr_can.tflite", threads=t) for t in (1, 2)]
    lstm = [load_litert(WEIGHTS / "hr_lstm.tflite", threads=t) for t in (1, 2)]
    for a, b in zip(*(predict_can(m, motion, appearance, 16) for m in can), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(*(predict_lstm(m, windows, 256) for m in lstm))


def test_export_is_reproducible_and_records_its_source(
    exported: dict[str, Path], tmp_path: Path
) -> None:
    again = tmp_path / "hr_can.tflite"
    export_litert(WEIGHTS / "hr_can.keras", again)
    # Same model, same bytes: a re-export never makes the workflow rerun inference.
    assert again.read_bytes() == exported["hr_can"].read_bytes()
    meta = json.loads(sidecar_path(exported["hr_can"]).read_text())
    source = hashlib.sha256((WEIGHTS / "hr_can.keras").read_bytes()).hexdigest()
    assert meta["kind"] == "can" and meta["source_sha256"] == source
    assert meta["inputs"] == [[-1, 36, 36, 3], [-1, 36, 36, 3]]
    assert meta["outputs"] == [[-1, 1], [-1, 34, 34, 1], [-1, 15, 15, 1]]
    assert json.loads(sidecar_path(exported["hr_lstm"]).read_text())["inputs"] == [[1, 60, 4]]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_bad_exports_fail_with_one_line_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(InputError, match=f"^{broken}: not a LiteRT model"):
        load_litert(broken)
    with pytest.raises(InputError, match=r"must end in \.tflite"):
        export_litert(WEIGHTS / "hr_can.keras", tmp_path / "model.keras")
    not_a_model = tmp_path / "x.keras"
    not_a_model.write_text("nothing")
    with pytest.raises(InputError, match=f"^{not_a_model}: cannot load model"):
        export_litert(not_a_model, tmp_path / "x.tflite")
    assert not (tmp_path / "x.tflite").exists() and not (tmp_path / "model.keras").exists()


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert not gpu_visible()
    assert resolve_engine("auto", exported=True) == "litert"
    assert resolve_engine("auto", exported=False) == "keras"
    assert resolve_engine("keras", exported=True) == "keras"
    with pytest.raises(InputError, match=r"no exported \.tflite"):
        resolve_engine("litert", exported=False)
    # A job that sees a GPU runs TensorFlow, which uses it.
    monkeypatch.setattr("distraction.litert.gpu_visible", lambda: True)
    monkeypatch.setattr("distraction.litert.tensorflow_installed", lambda: True)
    assert resolve_engine("auto", exported=True) == "keras"
    assert resolve_engine("litert", exported=True) == "litert"
    # Without the train/gpu extra a GPU is of no use: LiteRT on the CPU.
    monkeypatch.setattr("distraction.litert.tensorflow_installed", lambda: False)
    assert resolve_engine("auto", exported=True) == "litert"


def _infer(store: Path, engine: str, exported: dict[str, Path], *extra: str) -> int:
    return main([
        "infer", "--store", str(store), "--task", "hr", "--engine", engine,
        "--can-model", str(WEIGHTS / "hr_can.keras"),
        "--lstm-model", str(WEIGHTS / "hr_lstm.keras"),
        "--can-litert", str(exported["hr_can"]), "--lstm-litert", str(exported["hr_lstm"]),
        *extra,
    ])  # fmt: skip


def test_infer_on_litert_stores_what_keras_stores(
    prepared_store: Path, exported: dict[str, Path], tmp_path: Path
) -> None:
    stores = {}
    for engine in ("keras", "litert"):
        stores[engine] = tmp_path / f"{engine}.zarr"
        shutil.copytree(prepared_store, stores[engine])
        assert _infer(stores[engine], engine, exported) == 0
    for group, names in {
        "can_hr": ("can_signal", "attention_mask"),
        "corruption_hr": ("corruption_traces", "can_conditioned"),
        "denoised_hr": ("cancelled", "lstm", "denoised"),
    }.items():
        a, b = open_group(stores["keras"], group), open_group(stores["litert"], group)
        for name in names:
            np.testing.assert_allclose(b[name].values, a[name].values, rtol=0, atol=1e-4)
    can = open_group(stores["litert"], "can_hr").attrs
    assert can["engine"] == "litert" and can["litert_model"] == str(exported["hr_can"])
    assert (
        can["model_sha256"] == hashlib.sha256((WEIGHTS / "hr_can.keras").read_bytes()).hexdigest()
    )
    assert open_group(stores["keras"], "denoised_hr").attrs["engine"] == "keras"


def test_litert_export_of_another_model_is_refused(
    prepared_store: Path, exported: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    store = tmp_path / "other.zarr"
    shutil.copytree(prepared_store, store)
    swapped = dict(exported, hr_can=exported["hr_lstm"])
    assert _infer(store, "litert", swapped) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(exported["hr_lstm"]) in error and "expected 'can'" in error
    assert not (store / "can_hr").exists()
    other = WEIGHTS / "br_can.keras"
    args = ["--store", str(store), "--task", "hr", "--engine", "litert"]
    assert (
        main(["infer-can", *args, "--model", str(other), "--litert", str(exported["hr_can"])]) == 2
    )
    assert "exported from another model" in capsys.readouterr().err


def test_the_litert_engine_never_starts_tensorflow(
    prepared_store: Path, exported: dict[str, Path], tmp_path: Path
) -> None:
    store = tmp_path / "lean.zarr"
    shutil.copytree(prepared_store, store)
    args = [
        "--store", str(store), "--task", "hr", "--engine", "litert",
        "--can-model", str(WEIGHTS / "hr_can.keras"),
        "--lstm-model", str(WEIGHTS / "hr_lstm.keras"),
        "--can-litert", str(exported["hr_can"]), "--lstm-litert", str(exported["hr_lstm"]),
    ]  # fmt: skip
    code = (
        "import sys; from distraction.cli import main; code = main(['infer', *sys.argv[1:]]); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "on CPU (litert)" in result.stderr


# Runs the CLI with TensorFlow and Keras uninstalled, as far as the process can tell.
WITHOUT_TENSORFLOW = (
    "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None; "
    "from distraction.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_the_default_install_runs_the_jobs_without_tensorflow(
    prepared_store: Path, exported: dict[str, Path], tmp_path: Path
) -> None:
    """Without the train extra, the shipped networks run on LiteRT (engine auto) and the
    jobs after them work; a job that needs TensorFlow fails with one line naming the extra."""
    store = tmp_path / "lean.zarr"
    shutil.copytree(prepared_store, store)
    networks = [
        "--can-model", str(WEIGHTS / "hr_can.keras"),
        "--lstm-model", str(WEIGHTS / "hr_lstm.keras"),
        "--can-litert", str(exported["hr_can"]), "--lstm-litert", str(exported["hr_lstm"]),
    ]  # fmt: skip
    commands = [
        ["infer", "--store", str(store), "--task", "hr", "--engine", "auto", *networks],
        ["evaluate", "--store", str(store), "--task", "hr", "--output", str(tmp_path / "w.csv"),
         "--status", str(tmp_path / "status.csv")],
        ["figures", "--store", str(store), "--task", "hr", "--triptych",
         str(tmp_path / "t.png"), "--waveforms", str(tmp_path / "w.png")],
    ]  # fmt: skip
    for command in commands:
        result = subprocess.run(
            [sys.executable, "-c", WITHOUT_TENSORFLOW, *command], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "w.csv").stat().st_size > 0 and (tmp_path / "w.png").exists()
    for command in (
        ["export-litert", "--model", str(WEIGHTS / "hr_can.keras"), "--output",
         str(tmp_path / "x.tflite")],
        ["infer", "--store", str(tmp_path / "other.zarr"), "--task", "hr", "--engine", "keras",
         *networks],
    ):  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-c", WITHOUT_TENSORFLOW, *command], capture_output=True, text=True
        )
        assert result.returncode == 2
        error = result.stderr.strip().splitlines()
        assert len(error) == 1 and "install the train extra" in error[0], result.stderr
