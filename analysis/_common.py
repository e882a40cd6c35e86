"""Shared helper of the analysis scripts: a plain Markdown table."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain Markdown table (pasteable into docs/results.md)."""
    import pandas as pd

    print(pd.DataFrame(rows, columns=columns).to_markdown(index=False, floatfmt=".3g"))
