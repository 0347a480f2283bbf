"""Train/val/test splits: drawn at random, or read from lists of tracks.

A random split is done on *groups* (tracks; songs of numbered clips; artists where known),
never on rows, so the segments of one song can never straddle train and test; it is
stratified by genre and seeded. A listed split is the one a publication used: the project
ships ``gtzan_fault_filtered`` (see ``named_splits/gtzan_fault_filtered/SOURCE.md``), and a
user can point ``data.split`` at any folder holding ``train.txt``, ``val.txt`` and
``test.txt``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genrevae.data.lyrics import normalise_key
from genrevae.data.split_lists import LIST_FILES, list_folder
from genrevae.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# Clustering into genres and scoring on held-out tracks needs two genres in every split.
MIN_GENRES_PER_SPLIT = 2


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


# --- listed splits -------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitLists:
    """The entries of each list (normalised keys, file order) and where each came from;
    ``name`` is the ``data.split`` value they were read for."""

    name: str
    folder: Path
    entries: dict[str, list[str]]
    origin: dict[str, str]  # entry -> "train.txt:12"


def read_split_lists(split: str) -> SplitLists:
    """Read the three lists of ``split``: one track id or relative path per line; blank
    lines and lines starting with ``#`` are skipped. A track listed twice is an error."""
    folder = list_folder(split)
    entries: dict[str, list[str]] = {}
    origin: dict[str, str] = {}
    for name, files in LIST_FILES.items():
        path = next(folder / f for f in files if (folder / f).is_file())
        entries[name] = []
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = exc.object[:exc.start].count(b"\n") + 1
            raise DataError(f"{path}: line {bad} is not UTF-8 text (byte 0x"
                            f"{exc.object[exc.start]:02x}); a split list holds one track id "
                            "or relative path per line") from exc
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key = normalise_key(line)
            where = f"{path.name}:{number}"
            if key in origin:
                raise DataError(f"{path}: line {number} lists {line!r}, already listed at "
                                f"{origin[key]}")
            origin[key] = where
            entries[name].append(key)
    return SplitLists(split, folder, entries, origin)


def _last_part(key: str) -> str:
    return key.rsplit("/", 1)[-1]


class KeyIndex:
    """Finds which of a set of items (tracks, or files left out) a list entry names: an
    entry matches an item's full key (its path relative to the data root, or its id), or
    else its file name."""

    def __init__(self, item_keys: Iterable[Iterable[str]]):
        self.full: dict[str, set[int]] = {}
        self.stem: dict[str, set[int]] = {}
        for i, keys in enumerate(item_keys):
            for key in (normalise_key(k) for k in keys):
                self.full.setdefault(key, set()).add(i)
                self.stem.setdefault(_last_part(key), set()).add(i)

    def find(self, entry: str) -> set[int]:
        """The items ``entry`` names: none, one, or (an ambiguous entry) several."""
        return self.full.get(entry) or self.stem.get(_last_part(entry), set())


def listed_first(lists: SplitLists | None, keys: Sequence[Sequence[str]]) -> np.ndarray:
    """An order of the items (given as candidate keys) that puts the ones ``lists`` name
    first, otherwise unchanged (None, a random split: the order as it is): of two identical
    copies of a track, the one kept is then the one a published list names (for GTZAN's
    fault-filtered split, 14 of its tracks are the second copy of an excerpt)."""
    if lists is None:
        return np.arange(len(keys))
    items = KeyIndex(keys)
    listed = np.zeros(len(keys), dtype=bool)
    for entry in lists.origin:
        listed[list(items.find(entry))] = True
    return np.argsort(~listed, kind="stable")


@dataclass
class ListedSplit:
    """A listed split applied to tracks: each track's split (None: in no list), and the
    listed entries that name a file left out earlier (with that file's index)."""

    splits: list[str | None]
    listed_but_left_out: dict[str, int]


def apply_split_lists(
    lists: SplitLists, track_keys: Sequence[Sequence[str]],
    left_out_keys: Sequence[Sequence[str]] = (),
) -> ListedSplit:
    """Each track's split from ``lists``. Tracks are given as candidate keys (relative
    path without extension, file stem, id). An entry naming a file that was left out (in
    ``left_out_keys``: undecodable, duplicate...) is reported, not an error; an entry naming
    nothing at all is a :class:`DataError` naming it, so a typo or a partial copy of the
    dataset cannot silently shrink the test set."""
    tracks = KeyIndex(track_keys)
    left_out = KeyIndex(left_out_keys)
    splits: list[str | None] = [None] * len(track_keys)
    listed_but_left_out: dict[str, int] = {}
    unknown: list[str] = []
    for name, entries in lists.entries.items():
        for entry in entries:
            hits = tracks.find(entry)
            if len(hits) > 1:
                raise DataError(f"{lists.folder}: {lists.origin[entry]} ({entry}) names "
                                f"{len(hits)} tracks; give its path relative to the data root")
            if hits:
                (hit,) = hits
                if splits[hit] is not None:
                    raise DataError(f"{lists.folder}: {lists.origin[entry]} ({entry}) names a "
                                    f"track already listed in {splits[hit]}")
                splits[hit] = name
            elif gone := left_out.find(entry):
                listed_but_left_out[entry] = min(gone)
            else:
                unknown.append(entry)
    if unknown:
        shown = ", ".join(f"{e} ({lists.origin[e]})" for e in unknown[:5])
        raise DataError(
            f"data.split: {len(unknown)} listed track(s) not found in the data, e.g. {shown}; "
            f"the lists in {lists.folder} name tracks of the whole dataset, so point "
            "data.root at a complete copy, or give a split folder of your own")
    return ListedSplit(splits, listed_but_left_out)


def artists_across_splits(groups: Sequence[str], splits: Sequence[str]) -> dict[str, list[str]]:
    """Artist groups (``artist:<name>``) found in more than one split, with those splits."""
    seen: dict[str, set[str]] = {}
    for group, split in zip(groups, splits, strict=True):
        if str(group).startswith("artist:"):
            seen.setdefault(group, set()).add(split)
    return {g[len("artist:"):]: sorted(s, key=SPLITS.index) for g, s in seen.items()
            if len(s) > 1}


# --- a manifest's split --------------------------------------------------------------------


def _path_keys(path: str) -> tuple[str, str]:
    """Keys of a file left out, as a list would name it: ``<genre>/<name>`` and ``<name>``."""
    parts = normalise_key(path).split("/")
    return "/".join(parts[-2:]), parts[-1]


def split_tracks(
    tracks: pd.DataFrame, keys: Sequence[Sequence[str]], *, lists: SplitLists | None,
    fractions: tuple[float, float, float], seed: int, main: Sequence[bool] | None = None,
    left_out: Sequence[dict] = (),
) -> tuple[pd.DataFrame, list[dict]]:
    """``tracks`` (with ``group``, ``genre``, ``source``) with a ``split`` column, and the
    rows to add to the rejections.

    ``lists`` is None for a random split, else the lists of a listed one (see
    :func:`read_split_lists`); they apply to the tracks of the main source (``main``, all
    when None; ``keys`` aligned with ``tracks``), the tracks of extra sources are split at
    random. Main tracks in no list are
    dropped and returned as rejections (reason ``not_in_split``); ``left_out`` (earlier
    rejection rows) lets a listed entry that names a file left out be told from one that
    names nothing.
    """
    tracks = tracks.reset_index(drop=True).copy()
    tracks["split"] = None
    if lists is None:
        listed = np.zeros(len(tracks), dtype=bool)
    else:
        listed = np.ones(len(tracks), dtype=bool) if main is None else np.asarray(main, dtype=bool)
    rejected: list[dict] = []
    if listed.any():
        gone = list(left_out)
        applied = apply_split_lists(lists, [keys[i] for i in np.flatnonzero(listed)],
                                    [_path_keys(r["path"]) for r in gone])
        tracks.loc[listed, "split"] = applied.splits
        if applied.listed_but_left_out:
            shown = ", ".join(f"{e} ({gone[i]['reason']})" for e, i in
                              list(applied.listed_but_left_out.items())[:5])
            log.warning("data.split=%s: %d listed tracks were left out earlier: %s",
                        lists.name, len(applied.listed_but_left_out), shown)
        unlisted = listed & tracks["split"].isna().to_numpy()
        for row in tracks[unlisted].itertuples():
            rejected.append({"path": row.path, "source": row.source, "reason": "not_in_split",
                             "detail": f"in none of the train, val and test lists of "
                                       f"data.split={lists.name}"})
        tracks = tracks[~unlisted].reset_index(drop=True)
        listed = listed[~unlisted]
        log.info("data.split=%s: %s listed tracks; %d in no list left out", lists.name,
                 ", ".join(f"{n} {k}" for k, n in
                           tracks.loc[listed, "split"].value_counts().reindex(SPLITS).items()),
                 len(rejected))
    rest = ~listed
    if rest.any():
        tracks.loc[rest, "split"] = assign_splits(tracks.loc[rest, "group"],
                                                  tracks.loc[rest, "genre"],
                                                  fractions=fractions, seed=seed)
    across = artists_across_splits(tracks["group"], tracks["split"])
    if across:
        shown = ", ".join(f"{a} ({'/'.join(s)})" for a, s in list(across.items())[:5])
        log.warning("%d artists have tracks in more than one split: %s", len(across), shown)
    check_split_coverage(tracks)
    return tracks, rejected


def check_split_coverage(manifest: pd.DataFrame) -> None:
    """Refuse, here rather than in a crash of a later stage, a corpus whose splits cannot
    each hold two genres (training validates on val, evaluation scores on test)."""
    per_split = strata_per_split(manifest["split"], manifest["genre"])
    short = [f"{split} {n}" for split, n in per_split.items() if n < MIN_GENRES_PER_SPLIT]
    if not short:
        return
    groups = manifest.groupby("genre")["group"].nunique().sort_values(ascending=False)
    enough = int((groups >= len(SPLITS)).sum())
    listed = ", ".join(f"{genre} {n}" for genre, n in groups.head(12).items())
    raise DataError(
        f"data: too few tracks to split and cluster: genres per split {', '.join(short)}, but "
        f"train, val and test each need at least {MIN_GENRES_PER_SPLIT}; a genre reaches all "
        f"three splits only with at least {len(SPLITS)} tracks (split groups: songs or "
        f"artists where known), so at least {MIN_GENRES_PER_SPLIT} genres need that many; "
        f"{enough} do (tracks per genre: {listed}{', ...' if len(groups) > 12 else ''})"
    )
