"""Experiment: the BR denoiser on signals conditioned at a lower rate (longer windows).

    python benchmarks/br_denoiser_rate.py results/train_synth --fs-out 5

The shipped BR denoiser sees 60 samples at 30 Hz: 2 s, less than one breath. This script
re-conditions the BR CAN signal and corruption traces of a finished run of
``workflow/configs/train_synth.yaml`` at ``--fs-out`` (60 samples at 5 Hz: 12 s, several
breaths), trains a BR denoiser on the shipped one's training and validation recordings (its
sidecar's lists, same epochs, patience and seed), and scores it on the held-out ``synth_test``
clips beside the CAN and the contact sensor's own waveform (the evaluation's floor:
``evaluation_ceiling.py``). Prints MAE (breaths/min) / SNR (dB) per condition, mean over
60-s windows. In memory only: nothing is written.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import REPO, print_table

WINDOW, STRIDE = 60, 30


def features(store: Path, fs_out: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[R, G, B, CAN] conditioned at ``fs_out``, the respiration and BR truth at that rate."""
    from distraction.preprocess import resample_series
    from distraction.stages import conditioned_features, task_settings
    from distraction.store import open_group

    prepared = open_group(store, "prepared")
    fps, times = float(prepared.attrs["fps"]), prepared["time"].values
    can_c, traces_c = conditioned_features(
        open_group(store, "can_br")["can_signal"].values,
        open_group(store, "corruption_br")["corruption_traces"].values,
        fps,
        task_settings("br"),
        fs_out=fs_out,
    )
    time_out = times[0] + np.arange(len(can_c)) / fs_out
    truth = resample_series(times, np.nan_to_num(prepared["resp"].values), time_out)
    rate = resample_series(times, prepared["br"].values, time_out)
    return np.column_stack([traces_c, can_c]), truth, rate


def windows(results: Path, ids: list[str], fs_out: float, stride: int):
    from distraction.signals import condition_signal
    from distraction.stages import task_settings
    from distraction.training import make_lstm_windows

    settings = task_settings("br")
    xs, ys = [], []
    for rid in ids:
        dataset, subject, condition = rid.split("/")
        feats, truth, _ = features(
            results / dataset / "stores" / subject / f"{condition}.zarr", fs_out
        )
        target = condition_signal(
            truth, fs_out, band=settings.band, lam=settings.detrend_lambda, fs_out=fs_out,
            integrate=False,
        )  # fmt: skip
        x, y = make_lstm_windows(feats, target, window=WINDOW, stride=stride)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results folder of a train_synth run")
    parser.add_argument("--fs-out", type=float, default=5.0)
    parser.add_argument("--train-stride", type=int, default=5, help="window stride in training")
    args = parser.parse_args()

    from distraction.metrics import window_metrics
    from distraction.stages import EVALUATION_SHORTFALL_S, task_settings
    from distraction.training import train_lstm
    from distraction.windows import overlap_add, sliding_windows, window_starts

    sidecar = json.loads((REPO / "src" / "distraction" / "weights" / "br_lstm.json").read_text())
    started = time.perf_counter()
    train = windows(args.results, sidecar["training_recordings"], args.fs_out, args.train_stride)
    val = windows(args.results, sidecar["validation_recordings"], args.fs_out, args.train_stride)
    settings = sidecar["settings"]
    model, history = train_lstm(
        *train, task="br", val=val, epochs=settings["epochs"], batch_size=settings["batch_size"],
        patience=settings["patience"], seed=sidecar["seed"], progress=False,
    )  # fmt: skip
    print(
        f"# BR denoiser at {args.fs_out:g} Hz ({WINDOW / args.fs_out:g}-s windows): "
        f"{len(train[0])} training windows, {len(history)} epochs, "
        f"best val loss {history['val_loss'].min():.4f}, {time.perf_counter() - started:.0f} s"
    )
    br = task_settings("br")
    scores: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for store in sorted((args.results / "synth_test" / "stores").glob("*/*.zarr")):
        feats, truth, rate = features(store, args.fs_out)
        m = len(feats)
        x = sliding_windows(feats, length=WINDOW, stride=STRIDE).astype(np.float32)
        predicted = np.asarray(model(x, training=False))[..., 0]
        starts = window_starts(m, length=WINDOW, stride=STRIDE)
        denoised = overlap_add(predicted, m, stride=STRIDE, starts=starts, mode="taper")
        for name, signal in (("sensor", truth), ("can", feats[:, 3]), ("denoised", denoised)):
            for row in window_metrics(
                signal, truth, rate, args.fs_out, window_s=br.window_s, band=br.band,
                band_total=br.snr_band, tolerance_hz=br.tolerance_hz,
                shortfall_s=EVALUATION_SHORTFALL_S,
            ):  # fmt: skip
                error = abs(row["est_rate"] - row["true_rate"])
                scores.setdefault((store.name[:-5], name), []).append((error, row["snr_db"]))
    table = []
    for condition in sorted({c for c, _ in scores}):
        row: dict[str, object] = {"condition": condition}
        for name in ("sensor", "can", "denoised"):
            values = np.asarray(scores[(condition, name)])
            row[name] = f"{values[:, 0].mean():.3f} / {values[:, 1].mean():.2f}"
        table.append(row)
    print_table(table, ["condition", "sensor", "can", "denoised"])


if __name__ == "__main__":
    main()
