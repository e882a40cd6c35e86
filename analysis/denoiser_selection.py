"""How the denoising stage's selection would score with a preference for its input.

    python analysis/denoiser_selection.py results/train_faces --dataset faces_validation
    python analysis/denoiser_selection.py results/train_faces --dataset faces_validation --rival can

For every HR store of a finished run, re-selects window by window between the stored
cancellation (the LSTM's input) and a rival: the LSTM's output (default) or the CAN's own
conditioned signal (``--rival can``), taking the rival only where its quality
(:func:`distraction.chain.window_quality`) beats the cancellation's by a margin of 0, 3 or
6 dB, or never (``inf``); prints the HR MAE per condition and margin. ``denoise.output.hr``
was chosen from these tables on the validation identities.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _common import rate_errors

from distraction.chain import window_quality
from distraction.settings import task_settings
from distraction.signals import scale_to_unit
from distraction.store import open_group
from distraction.windows import overlap_add, window_starts

MARGINS_DB = (0.0, 3.0, 6.0, np.inf)


def select(candidates: np.ndarray, traces: np.ndarray, margin: float, settings) -> np.ndarray:
    m = candidates.shape[0]
    length = round(settings.select_window_s * settings.fs_out)
    stride = length // 2
    starts = window_starts(m, length=length, stride=stride)
    out = np.empty((len(starts), length))
    for i, a in enumerate(starts):
        segment, window_traces = candidates[a : a + length], traces[a : a + length]
        quality = [window_quality(segment[:, k], window_traces, settings) for k in range(2)]
        kept = segment[:, 1 if quality[1] > quality[0] + margin else 0]
        out[i] = (kept - kept.mean()) / (kept.std() or 1.0)
    joined = overlap_add(out, m, stride=stride, starts=starts, mode="taper")
    return scale_to_unit(joined, "maxabs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results root of a finished run")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--rival", choices=["lstm", "can"], default="lstm")
    args = parser.parse_args()
    settings = task_settings("hr")
    rows = []
    for store in sorted((args.results / args.dataset / "stores").glob("*/*.zarr")):
        corruption = open_group(store, "corruption_hr")
        denoised = open_group(store, "denoised_hr")
        rival = corruption["can_conditioned"] if args.rival == "can" else denoised["lstm"]
        candidates = np.column_stack([denoised["cancelled"].values, rival.values])
        for margin in MARGINS_DB:
            signal = select(candidates, corruption["traces_conditioned"].values, margin, settings)
            errors = rate_errors(signal, corruption, settings)
            rows.append({"condition": store.stem, "margin_db": margin, "mae": np.mean(errors)})
    table = pd.DataFrame(rows).pivot_table(index="condition", columns="margin_db", values="mae")
    print(table.to_markdown(floatfmt=".2f"))


if __name__ == "__main__":
    main()
