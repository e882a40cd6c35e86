"""What the contact sensor's own waveform scores under the same evaluation: the ceiling.

    python analysis/evaluation_ceiling.py results/train_synth --dataset synth_validation

For every store of the dataset and each task with a ``corruption_<task>`` group, evaluates
the conditioned ground-truth waveform (``truth_ppg`` / ``truth_resp``, as the estimates are
scored against it) exactly as ``evaluate`` scores the methods (same windows, band, SNR
definition and true rate), beside the CAN and the denoised signal. Prints per task and
condition the mean over windows of the absolute rate error and the SNR, and what the
denoising targets ask for there (MAE <= 0.7 x CAN's, SNR >= CAN's + 3 dB).

A target that asks for less error or more SNR than the true waveform itself scores cannot
be met by any estimate of that waveform: the CAN is already at the ceiling.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import print_table

METHODS = ("can", "denoised")


def evaluate_store(store: Path, task: str) -> dict[str, list[tuple[float, float]]]:
    """(absolute rate error, SNR) per window for the truth waveform, CAN and denoised."""
    from distraction.evaluate import EVALUATION_SHORTFALL_S, method_signals
    from distraction.metrics import window_metrics
    from distraction.settings import task_settings
    from distraction.store import open_group

    settings = task_settings(task, methods=METHODS)
    corruption = open_group(store, f"corruption_{task}")
    truth = np.nan_to_num(corruption[f"truth_{settings.waveform}"].values)
    signals = {"truth": truth, **method_signals(store, settings)}
    result = {}
    for name, signal in signals.items():
        rows = window_metrics(
            signal,
            truth,
            corruption[f"truth_{task}"].values,
            float(corruption.attrs["fs_out"]),
            window_s=settings.window_s,
            band=settings.band,
            band_total=settings.snr_band,
            tolerance_hz=settings.tolerance_hz,
            shortfall_s=EVALUATION_SHORTFALL_S,
        )
        result[name] = [(abs(r["est_rate"] - r["true_rate"]), r["snr_db"]) for r in rows]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results folder")
    parser.add_argument("--dataset", default="synth_validation")
    parser.add_argument("--tasks", nargs="+", default=["hr", "br"])
    args = parser.parse_args()
    stores = sorted((args.results / args.dataset / "stores").glob("*/*.zarr"))
    if not stores:
        raise SystemExit(f"{args.results / args.dataset / 'stores'}: no stores")
    for task in args.tasks:
        pooled: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for store in stores:
            if not (store / f"corruption_{task}").is_dir():
                continue
            condition = store.name.removesuffix(".zarr")
            for name, rows in evaluate_store(store, task).items():
                pooled.setdefault(condition, {}).setdefault(name, []).extend(rows)
        table = []
        for condition, by_method in sorted(pooled.items()):
            row: dict[str, object] = {"condition": condition}
            for name in ("truth", *METHODS):
                values = np.asarray(by_method[name])
                row[f"{name}_mae"] = float(values[:, 0].mean())
                row[f"{name}_snr_db"] = float(values[:, 1].mean())
            row["target_mae"] = 0.7 * row["can_mae"]  # type: ignore[operator]
            row["target_snr_db"] = row["can_snr_db"] + 3  # type: ignore[operator]
            row["windows"] = len(by_method["truth"])
            table.append(row)
        print(f"# {task}: {args.dataset}, {len(stores)} stores; mean over windows")
        print_table(table, list(table[0]))


if __name__ == "__main__":
    main()
