"""Splits of identities into training, validation and test sets, stratified."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["stratified_split"]


def stratified_split(
    items: Sequence[str],
    strata: Sequence[str],
    fractions: Mapping[str, float],
    seed: int,
) -> dict[str, list[str]]:
    """Split ``items`` into named parts, each stratum shared out in the given fractions.

    Within each stratum (items with the same label, e.g. skin tone and sex), the items are
    shuffled by ``seed`` and dealt out by largest remainder, so that each part receives
    its fraction of the stratum, rounded; the parts are filled in the order of
    ``fractions``, so a stratum too small to reach every part gives its items to the first
    parts. Across strata, the rounding is balanced: a part that was rounded down in one
    stratum is the first to be rounded up in the next.

    Parameters
    ----------
    items : sequence of str
        Identities (unique).
    strata : sequence of str
        The stratum of each item.
    fractions : mapping of str to float
        Part name to fraction (normalised to sum to 1).
    seed : int
        Shuffling seed.

    Returns
    -------
    dict of str to list of str
        Part name to its items, sorted.

    Raises
    ------
    ValueError
        Items repeated, lengths disagreeing, or fractions not positive.
    """
    if len(items) != len(strata):
        raise ValueError(f"{len(items)} items but {len(strata)} strata")
    if len(set(items)) != len(items):
        raise ValueError("items must be unique")
    names = list(fractions)
    weights = np.array([float(fractions[name]) for name in names])
    if not names or np.any(weights <= 0):
        raise ValueError(f"fractions must be positive, got {dict(fractions)}")
    weights = weights / weights.sum()
    rng = np.random.default_rng(seed)
    parts: dict[str, list[str]] = {name: [] for name in names}
    debt = np.zeros(len(names))  # what each part is owed from earlier roundings
    for stratum in sorted(set(strata)):
        members = sorted(item for item, s in zip(items, strata, strict=True) if s == stratum)
        members = [members[i] for i in rng.permutation(len(members))]
        share = weights * len(members) + debt
        counts = np.floor(share).astype(int)
        # Largest remainder, ties to the earlier part.
        order = sorted(range(len(names)), key=lambda k: (-(share[k] - counts[k]), k))
        for k in order[: len(members) - int(counts.sum())]:
            counts[k] += 1
        while counts.sum() > len(members):  # debt can ask for more than there is
            k = int(np.argmax(counts - share))
            counts[k] -= 1
        debt = share - counts
        start = 0
        for name, count in zip(names, counts, strict=True):
            parts[name].extend(members[start : start + count])
            start += count
    return {name: sorted(part) for name, part in parts.items()}
