"""Shared helper of the analysis scripts: a plain Markdown table."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain Markdown table (pasteable into docs/results.md)."""
    import pandas as pd

    print(pd.DataFrame(rows, columns=columns).to_markdown(index=False, floatfmt=".3g"))


def rate_errors(signal, corruption, settings) -> list[float]:
    """Absolute HR errors of ``signal`` per evaluation window (as the evaluate job scores
    them) against the truth stored in a ``corruption_<task>`` group."""
    import numpy as np

    from distraction import metrics
    from distraction.evaluate import EVALUATION_SHORTFALL_S

    rows = metrics.window_metrics(
        signal,
        np.nan_to_num(corruption[f"truth_{settings.waveform}"].values),
        corruption[f"truth_{settings.rate}"].values,
        float(corruption.attrs["fs_out"]),
        window_s=settings.window_s,
        band=settings.band,
        band_total=settings.snr_band,
        tolerance_hz=settings.tolerance_hz,
        shortfall_s=EVALUATION_SHORTFALL_S,
        stride_s=settings.stride_s,
    )
    return [abs(r["est_rate"] - r["true_rate"]) for r in rows]
