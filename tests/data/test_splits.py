"""Grouped, stratified, seeded splits: groups never straddle splits, strata reach every split,
shares follow the fractions, and the seed alone fixes the result."""

from __future__ import annotations

import numpy as np
import pytest

from genrevae.data.splits import SPLITS, _allocate, assign_splits

FRACTIONS = [(0.7, 0.15, 0.15), (0.6, 0.2, 0.2), (0.8, 0.1, 0.1), (1 / 3, 1 / 3, 1 / 3)]


def _rows(n_strata: int, groups_per_stratum: int, rows_per_group: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Segment-like rows: every group (track) has several rows, in shuffled order."""
    groups, strata = [], []
    for s in range(n_strata):
        for g in range(groups_per_stratum):
            groups += [f"genre{s}.{g:05d}"] * rows_per_group
            strata += [f"genre{s}"] * rows_per_group
    order = rng.permutation(len(groups))
    return np.asarray(groups, dtype=object)[order], np.asarray(strata, dtype=object)[order]


def _group_splits(groups: np.ndarray, splits: np.ndarray) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for g, s in zip(groups, splits, strict=True):
        out.setdefault(g, set()).add(s)
    return out


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("fractions", FRACTIONS)
@pytest.mark.parametrize(("n_strata", "groups_per_stratum", "rows_per_group"),
                         [(1, 3, 10), (4, 5, 10), (8, 12, 10), (3, 40, 3), (2, 2, 5)])
def test_no_group_in_two_splits(rng, n_strata, groups_per_stratum, rows_per_group,
                                fractions, seed):
    """Every row of a group (all segments of a track) lands in the same split."""
    groups, strata = _rows(n_strata, groups_per_stratum, rows_per_group, rng)
    splits = assign_splits(groups, strata, fractions=fractions, seed=seed)
    assert splits.shape == groups.shape
    assert set(splits) <= set(SPLITS)
    per_group = _group_splits(groups, splits)
    assert len(per_group) == n_strata * groups_per_stratum
    assert all(len(s) == 1 for s in per_group.values())


@pytest.mark.parametrize("fractions", FRACTIONS)
@pytest.mark.parametrize("groups_per_stratum", [3, 4, 5, 7, 10, 23])
def test_every_stratum_reaches_every_split(rng, groups_per_stratum, fractions):
    """A stratum with >= 3 groups has at least one group in train, val and test."""
    groups, strata = _rows(5, groups_per_stratum, 4, rng)
    splits = assign_splits(groups, strata, fractions=fractions, seed=3)
    for stratum in np.unique(strata):
        assert set(splits[strata == stratum]) == set(SPLITS), stratum


@pytest.mark.parametrize("fractions", FRACTIONS)
@pytest.mark.parametrize("groups_per_stratum", [10, 20, 50])
def test_group_shares_follow_fractions(rng, groups_per_stratum, fractions):
    """Per stratum the group counts are the largest-remainder allocation, so each split's
    share of groups is within one group of its fraction, overall too."""
    n_strata = 4
    groups, strata = _rows(n_strata, groups_per_stratum, 6, rng)
    splits = assign_splits(groups, strata, fractions=fractions, seed=1)
    group_split = {g: next(iter(s)) for g, s in _group_splits(groups, splits).items()}
    for stratum in np.unique(strata):
        members = [g for g in group_split if g.startswith(f"{stratum}.")]
        counts = [sum(group_split[g] == name for g in members) for name in SPLITS]
        assert counts == _allocate(len(members), fractions)
        assert np.all(np.abs(np.asarray(counts) - np.asarray(fractions) * len(members)) < 1)
    total = n_strata * groups_per_stratum
    shares = [sum(v == name for v in group_split.values()) / total for name in SPLITS]
    np.testing.assert_allclose(shares, fractions, atol=1.0 / groups_per_stratum)


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31])
def test_same_seed_same_result(rng, seed):
    """The same inputs and seed give the same assignment."""
    groups, strata = _rows(4, 10, 5, rng)
    first = assign_splits(groups, strata, fractions=(0.7, 0.15, 0.15), seed=seed)
    second = assign_splits(list(groups), list(strata), fractions=(0.7, 0.15, 0.15), seed=seed)
    assert np.array_equal(first, second)


@pytest.mark.parametrize(("seed_a", "seed_b"), [(0, 1), (42, 43), (7, 1000)])
def test_different_seed_different_result(rng, seed_a, seed_b):
    """Another seed gives another assignment (with 60 groups a collision is negligible)."""
    groups, strata = _rows(3, 20, 4, rng)
    a = assign_splits(groups, strata, fractions=(0.7, 0.15, 0.15), seed=seed_a)
    b = assign_splits(groups, strata, fractions=(0.7, 0.15, 0.15), seed=seed_b)
    assert not np.array_equal(a, b)


def test_assignment_does_not_depend_on_row_order(rng):
    """Shuffling the rows shuffles the result the same way: a group's split depends on the
    set of groups, not on where its rows appear."""
    groups, strata = _rows(3, 9, 4, rng)
    base = assign_splits(groups, strata, fractions=(0.7, 0.15, 0.15), seed=5)
    order = rng.permutation(len(groups))
    shuffled = assign_splits(groups[order], strata[order], fractions=(0.7, 0.15, 0.15), seed=5)
    assert np.array_equal(shuffled, base[order])


def test_group_takes_stratum_of_its_first_row():
    """A group whose rows disagree on the stratum is placed by its first row's stratum."""
    groups = ["a", "a", "b", "c", "d"]
    strata = ["x", "y", "y", "y", "y"]
    splits = assign_splits(groups, strata, fractions=(0.7, 0.15, 0.15), seed=0)
    # Stratum x holds only group a (-> train); y holds b, c, d (one per split).
    assert splits[0] == splits[1] == "train"
    assert sorted(splits[2:]) == ["test", "train", "val"]


@pytest.mark.parametrize(("groups", "strata"), [
    (["a", "b", "c"], ["x", "y"]),
    (["a"], ["x", "x"]),
    ([], ["x"]),
])
def test_mismatched_lengths_raise(groups, strata):
    """groups and strata of different lengths are refused."""
    with pytest.raises(ValueError, match="same length"):
        assign_splits(groups, strata, fractions=(0.7, 0.15, 0.15), seed=0)


@pytest.mark.parametrize("fractions", [*FRACTIONS, (0.98, 0.01, 0.01), (0.05, 0.05, 0.9)])
@pytest.mark.parametrize("n", [*range(41), 97, 1000])
def test_allocate_sums_to_n_and_fills_every_split(n, fractions):
    """_allocate returns non-negative counts summing to n, each split >= 1 when n >= 3."""
    counts = _allocate(n, fractions)
    assert len(counts) == 3
    assert all(isinstance(c, int) for c in counts)
    assert sum(counts) == n
    assert min(counts) >= 0
    if n >= 3:
        assert min(counts) >= 1


@pytest.mark.parametrize(("n", "fractions", "expected"), [
    (10, (0.7, 0.15, 0.15), [7, 2, 1]),
    (20, (0.7, 0.15, 0.15), [14, 3, 3]),
    (3, (0.98, 0.01, 0.01), [1, 1, 1]),
    (4, (0.98, 0.01, 0.01), [2, 1, 1]),
    (2, (0.7, 0.15, 0.15), [2, 0, 0]),
    (1, (0.7, 0.15, 0.15), [1, 0, 0]),
    (0, (0.7, 0.15, 0.15), [0, 0, 0]),
])
def test_allocate_known_values(n, fractions, expected):
    """Largest remainder, then one item moved from the largest split to each empty one."""
    assert _allocate(n, fractions) == expected
