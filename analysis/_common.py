"""Shared helper of the analysis scripts: a plain Markdown table."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain Markdown table (pasteable into docs/results.md)."""
    import pandas as pd

    print(pd.DataFrame(rows, columns=columns).to_markdown(index=False, floatfmt=".3g"))


def window_errors(signal, truth_waveform, truth_rates, fs, settings) -> list[float]:
    """Absolute rate errors of ``signal`` per evaluation window, as the evaluate job scores
    them (:func:`distraction.evaluate.window_scores`)."""
    import numpy as np

    from distraction.evaluate import window_scores

    rows = window_scores(signal, np.nan_to_num(truth_waveform), truth_rates, fs, settings)
    return [abs(r["est_rate"] - r["true_rate"]) for r in rows]


def rate_errors(signal, corruption, settings) -> list[float]:
    """:func:`window_errors` against the truth stored in a ``corruption_<task>`` group."""
    return window_errors(
        signal,
        corruption[f"truth_{settings.waveform}"].values,
        corruption[f"truth_{settings.rate}"].values,
        float(corruption.attrs["fs_out"]),
        settings,
    )
