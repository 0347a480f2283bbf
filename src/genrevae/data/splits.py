"""Grouped, stratified, seeded train/val/test splits.

Splitting is done on *groups* (tracks; artists where known), never on rows, so the
segments of one song can never straddle train and test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "val", "test")


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` items into counts proportional to ``fractions`` (largest remainder),
    giving every split at least one item when ``n`` allows it."""
    raw = np.asarray(fractions, dtype=float) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    if n >= len(fractions):
        for i in range(len(counts)):
            if counts[i] == 0:
                donor = int(np.argmax(counts))
                counts[donor] -= 1
                counts[i] += 1
    return counts.tolist()


def assign_splits(
    groups: Sequence[str],
    strata: Sequence[str],
    *,
    fractions: tuple[float, float, float],
    seed: int,
) -> np.ndarray:
    """Assign each row to ``train``/``val``/``test`` so that every group lands in one split.

    Parameters
    ----------
    groups : sequence of str, shape (n,)
        Group key per row (track id, or artist); rows of a group share a split.
    strata : sequence of str, shape (n,)
        Stratum per row (genre); a group takes the stratum of its first row.
    fractions : (train, val, test)
        Target shares, summing to 1.
    seed : int
        Fixes the assignment.

    Returns
    -------
    np.ndarray of str, shape (n,)
    """
    groups = np.asarray(groups, dtype=object)
    strata = np.asarray(strata, dtype=object)
    if groups.shape != strata.shape:
        raise ValueError("groups and strata must have the same length")
    rng = np.random.default_rng(seed)
    first_stratum: dict[str, str] = {}
    for g, s in zip(groups, strata, strict=True):
        first_stratum.setdefault(g, s)
    by_stratum: dict[str, list[str]] = {}
    for g, s in first_stratum.items():
        by_stratum.setdefault(s, []).append(g)
    group_split: dict[str, str] = {}
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum])
        order = rng.permutation(len(members))
        counts = _allocate(len(members), fractions)
        bounds = np.cumsum([0, *counts])
        for split, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:], strict=True):
            for i in order[lo:hi]:
                group_split[members[i]] = split
    return np.array([group_split[g] for g in groups], dtype=object)


def strata_per_split(splits: Sequence[str], strata: Sequence[str]) -> dict[str, int]:
    """How many distinct strata (genres) each of train, val and test holds."""
    seen: dict[str, set[str]] = {split: set() for split in SPLITS}
    for split, stratum in zip(splits, strata, strict=True):
        seen[split].add(stratum)
    return {split: len(members) for split, members in seen.items()}
