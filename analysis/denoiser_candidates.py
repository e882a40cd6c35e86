"""What each stage of the HR denoising chain gives, clip by clip, on a finished run.

    python analysis/denoiser_candidates.py results/faces_val_shipped --dataset faces_validation

For every HR store of the dataset, scores (30-s windows every 5 s, the evaluation's own
``metrics.window_metrics``) the conditioned CAN signal, the linear cancellation on the
three whole-mask traces (the shipped chain), the cancellation on traces of the inverse mask
per half of the frame (left, right, top, bottom; code values and linear light), the stored
LSTM output, and the final selection of the denoising stage
(:func:`distraction.chain.select_by_quality`). Prints the HR MAE per condition and
candidate, and per recording where the LSTM loses to the cancellation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _common import rate_errors

from distraction.cancellation import cancel_corruption
from distraction.chain import select_by_quality
from distraction.masks import linear_light, partitioned_corruption_traces
from distraction.settings import task_settings
from distraction.signals import condition_signal
from distraction.store import open_group


def candidates(store: Path, settings) -> dict[str, np.ndarray]:
    prepared = open_group(store, "prepared")
    corruption = open_group(store, "corruption_hr")
    denoised = open_group(store, "denoised_hr")
    fps = float(corruption.attrs["fps"])
    can = corruption["can_conditioned"].values
    traces = corruption["traces_conditioned"].values
    m = len(can)
    frames = prepared["frames"].values
    inverse = corruption["inverse_mask"].values

    def conditioned(raw: np.ndarray) -> np.ndarray:
        out = condition_signal(
            raw,
            fps,
            band=settings.band,
            lam=settings.detrend_lambda,
            fs_out=settings.fs_out,
            integrate=False,
        )
        return out[:m]

    halves = conditioned(partitioned_corruption_traces(frames, inverse))
    halves_linear = conditioned(partitioned_corruption_traces(linear_light(frames), inverse))
    cancelled = cancel_corruption(can, traces).signal
    lstm = denoised["lstm" if "lstm" in denoised else "denoised"].values
    return {
        "can": can,
        "cancelled": cancelled,
        "cancelled_halves": cancel_corruption(can, halves).signal,
        "cancelled_halves_linear": cancel_corruption(can, halves_linear).signal,
        "lstm": lstm,
        "selected": select_by_quality(np.column_stack([cancelled, lstm]), settings, traces),
        "selected_halves": select_by_quality(
            np.column_stack([cancel_corruption(can, halves).signal, lstm]), settings, halves
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results root of a finished run")
    parser.add_argument("--dataset", required=True)
    args = parser.parse_args()
    settings = task_settings("hr")
    rows = []
    for store in sorted((args.results / args.dataset / "stores").glob("*/*.zarr")):
        if not (store / "denoised_hr" / "zarr.json").exists():
            continue
        corruption = open_group(store, "corruption_hr")
        for name, signal in candidates(store, settings).items():
            errors = rate_errors(signal, corruption, settings)
            rows.append(
                {
                    "subject": store.parent.name,
                    "condition": store.stem,
                    "candidate": name,
                    "mae": float(np.mean(errors)),
                }
            )
    table = pd.DataFrame(rows)
    by_condition = table.pivot_table(index="condition", columns="candidate", values="mae")
    print(by_condition.to_markdown(floatfmt=".2f"))
    wide = table.pivot_table(index=["condition", "subject"], columns="candidate", values="mae")
    worse = wide[wide["lstm"] > wide["cancelled"] + 1.0]
    print(f"\nRecordings where the LSTM is > 1 bpm worse than the cancellation: {len(worse)}")
    print(worse.to_markdown(floatfmt=".2f"))


if __name__ == "__main__":
    main()
