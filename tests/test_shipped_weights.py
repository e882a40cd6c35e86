"""The networks shipped with the package: loadable in safe mode, accurate on a held-out
synthetic subject, and attending to the skin of a photographed one."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import prepared_clip

from distraction.engines import load_network
from distraction.evaluate import method_signals
from distraction.infer import denoise, estimate_corruption, infer_can
from distraction.metrics import window_metrics
from distraction.models import load_model
from distraction.settings import task_settings
from distraction.store import open_group

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "distraction" / "weights"
# All four networks trained on photographed faces (workflow/configs/train_faces.yaml); the
# drawn subjects below are faces none of them saw.
HELD_OUT_SUBJECT = 300


def _network(name: str, *, litert: bool = False):
    """A shipped network on TensorFlow, or on LiteRT from its shipped export."""
    litert_path = WEIGHTS / f"{name}.tflite" if litert else None
    return load_network(WEIGHTS / f"{name}.keras", litert_path, name[3:])


@pytest.mark.parametrize("name", ["hr_can", "hr_lstm", "br_can", "br_lstm"])
def test_shipped_model_loads_in_safe_mode_with_provenance(name: str) -> None:
    path = WEIGHTS / f"{name}.keras"
    assert path.stat().st_size < 4_000_000  # a few MB at most
    model = load_model(path)
    provenance = json.loads((WEIGHTS / f"{name}.json").read_text())
    assert provenance["task"] == name[:2]
    assert provenance["training_recordings"]
    # No validation or test identity, of the drawn or the photographed faces, trained it.
    held_out = ("synth_validation", "synth_test", "faces_validation", "faces_test")
    assert not any(h in r for r in provenance["training_recordings"] for h in held_out)
    assert any("faces_train" in r for r in provenance["training_recordings"])
    assert model.count_params() > 0


@pytest.mark.parametrize("name", ["hr_can", "hr_lstm", "br_can", "br_lstm"])
def test_shipped_litert_copies_are_exported_from_the_shipped_weights(name: str) -> None:
    # The workflow runs these on CPU (models.engine auto); a stale copy would silently run
    # other networks than the .keras files, so its sidecar must name this very file.
    sidecar = json.loads((WEIGHTS / f"{name}.tflite.json").read_text())
    source = hashlib.sha256((WEIGHTS / f"{name}.keras").read_bytes()).hexdigest()
    assert sidecar["source_sha256"] == source
    assert sidecar["kind"] == name[3:]
    assert (WEIGHTS / f"{name}.tflite").stat().st_size < 4_000_000


@pytest.fixture(scope="module")
def held_out_clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("held_out")
    store = prepared_clip(
        root,
        "s300",
        "clean",
        dataset="held_out",
        subject_index=HELD_OUT_SUBJECT,
        duration_s=31.0,
        width=160,
        height=120,
        seed=11,
    )
    infer_can(store, _network("hr_can"), task_settings("hr"), batch_size=256)
    return root, store


def test_shipped_can_measures_heart_rate_of_a_held_out_subject(
    held_out_clean: tuple[Path, Path],
) -> None:
    _, store = held_out_clean
    settings = task_settings("hr")
    estimate_corruption(store, settings)
    corruption = open_group(store, "corruption_hr")
    (row,) = window_metrics(
        corruption["can_conditioned"].values,
        np.nan_to_num(corruption["truth_ppg"].values),
        corruption["truth_hr"].values,
        30.0,
        window_s=30.0,
    )
    assert abs(row["est_rate"] - row["true_rate"]) <= 3.0


DEMO_FACES = Path(__file__).resolve().parents[1] / "src" / "distraction" / "synth" / "faces"


@pytest.fixture(scope="module")
def photographed_clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A clean clip of a photographed person (a demo face: a validation identity, on which
    no network trained) in a drawn scene, tracked as the workflow tracks it."""
    from distraction.datasets import get_loader
    from distraction.prepare import prepare_recording
    from distraction.synth.photo import write_photo_clip

    root = tmp_path_factory.mktemp("photographed")
    (root / "s900").mkdir()
    write_photo_clip(
        DEMO_FACES / "face_035.jpg", root / "s900" / "clean.avi", root / "s900" / "clean.csv",
        condition="clean", duration_s=20.0, width=320, height=240, seed=5, subject_index=900,
        scene="varied",
    )  # fmt: skip
    loader = get_loader("generic", "held_out", root)
    (recording,) = loader.list_recordings()
    store = root / "store.zarr"
    prepare_recording(loader, recording, store, crop="track")
    infer_can(store, _network("hr_can"), task_settings("hr"), batch_size=256)
    return root, store


def _attention_on_skin_and_background(root: Path, store: Path) -> tuple[float, float]:
    """Mean gate-1 attention on the crop's skin and on the rest, from the renderer's skin
    map (more than half of a pixel's weight) cut as the first frame's crop."""
    prepared = open_group(store, "prepared")
    skin = cv2.imread(str(root / "s900" / "clean.skin.png"), cv2.IMREAD_GRAYSCALE) > 127
    x0, y0, side = (round(float(v)) for v in prepared["crop_box"].values[0])
    cover = cv2.resize(
        skin[y0 : y0 + side, x0 : x0 + side].astype(np.float32),
        (34, 34),
        interpolation=cv2.INTER_AREA,
    )
    mask = open_group(store, "can_hr")["attention_mask"].values.mean(axis=0)
    return float(mask[cover > 0.99].mean()), float(mask[cover < 0.01].mean())


def test_attention_concentrates_on_skin(photographed_clean: tuple[Path, Path]) -> None:
    on_skin, background = _attention_on_skin_and_background(*photographed_clean)
    assert on_skin > 2.0 * background


@pytest.fixture(scope="module")
def held_out_flicker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = prepared_clip(
        tmp_path_factory.mktemp("held_out_flicker"),
        "s301",
        "flicker",
        dataset="held_out",
        subject_index=HELD_OUT_SUBJECT + 1,
        duration_s=31.0,
        width=160,
        height=120,
        seed=11,
    )
    settings = task_settings("hr")
    infer_can(store, _network("hr_can"), settings, batch_size=256)
    estimate_corruption(store, settings)
    denoise(store, _network("hr_lstm"), settings, batch_size=256)
    return store


def test_denoising_recovers_the_heart_rate_under_in_band_flicker(held_out_flicker: Path) -> None:
    # A coloured light flicker inside the HR band, 1-2 % deep (several times the pulse):
    # the inverse-attention traces describe it and the denoising stage removes it.
    corruption = open_group(held_out_flicker, "corruption_hr")
    truth = np.nan_to_num(corruption["truth_ppg"].values)
    signals = method_signals(
        held_out_flicker, task_settings("hr", methods=("green", "cancelled", "denoised"))
    )

    def error(method: str) -> float:
        (row,) = window_metrics(
            signals[method], truth, corruption["truth_hr"].values, 30.0, window_s=30.0
        )
        return abs(row["est_rate"] - row["true_rate"])

    assert error("green") > 10.0  # the skin's colour follows the flicker, not the pulse
    assert error("cancelled") <= 3.0
    assert error("denoised") <= 3.0


def test_the_shipped_litert_copies_give_the_same_waveforms(
    held_out_flicker: Path, tmp_path: Path
) -> None:
    store = tmp_path / "litert.zarr"
    shutil.copytree(held_out_flicker, store)
    settings = task_settings("hr")
    infer_can(store, _network("hr_can", litert=True), settings, batch_size=256)
    estimate_corruption(store, settings)
    denoise(store, _network("hr_lstm", litert=True), settings, batch_size=256)
    assert open_group(store, "denoised_hr").attrs["engine"] == "litert"
    for name in ("cancelled", "denoised"):
        np.testing.assert_allclose(
            open_group(store, "denoised_hr")[name].values,
            open_group(held_out_flicker, "denoised_hr")[name].values,
            rtol=0,
            atol=1e-4,
            err_msg=name,
        )
