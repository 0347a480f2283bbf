"""What a split leaks through artists: tracks whose artist has tracks in another split.

A random split groups tracks by artist where a table names them, so none straddles; a
listed split (a paper's, or a folder of one's own) may not: the standard fault-filtered
GTZAN split puts 14 of its 290 test tracks beside train tracks of the same artist (Burning
Spear 7, Boney M. 2, Anthrax 2, ...), so a model can score by recognising the artist's
sound rather than the genre. ``prepare`` writes the report of such tracks
(``paths.split_report``) and, with ``data.split_drop_straddling``, drops from the test split
the tracks whose artist is in train (reason ``artist_in_train`` in ``rejected.csv``).
Validation tracks sharing an artist are reported but kept: they choose the epoch, not the
score.
"""

from __future__ import annotations

import logging

import pandas as pd

from genrevae.data.splits import SPLITS, check_split_coverage

log = logging.getLogger(__name__)

REPORT_COLUMNS = ("track_id", "path", "source", "genre", "artist", "split", "artist_splits",
                  "artist_in_train", "dropped")
REASON = "artist_in_train"


def split_report(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per track whose artist has tracks in more than one split (train first, then
    val and test; by artist): ``artist_splits`` lists the artist's splits (``train/test``),
    ``artist_in_train`` is true for a val or test track whose artist has train tracks,
    ``dropped`` false (see :func:`drop_straddling`). Empty when no table names artists."""
    if "artist" not in manifest:
        return pd.DataFrame(columns=list(REPORT_COLUMNS))
    known = manifest[manifest["artist"].notna()
                     & (manifest["artist"].astype(str).str.strip() != "")]
    splits_of = known.groupby("artist")["split"].agg(
        lambda s: tuple(sorted(set(s), key=SPLITS.index)))
    across = splits_of[splits_of.map(len) > 1]
    rows = known[known["artist"].isin(across.index)].copy()
    rows["artist_splits"] = rows["artist"].map(lambda a: "/".join(across[a]))
    rows["artist_in_train"] = ((rows["split"] != "train")
                               & rows["artist"].map(lambda a: "train" in across[a]))
    rows["dropped"] = False
    rows["_order"] = rows["split"].map(SPLITS.index)
    rows = rows.sort_values(["_order", "artist", "track_id"], kind="stable")
    return rows[list(REPORT_COLUMNS)].reset_index(drop=True)


def drop_straddling(manifest: pd.DataFrame, report: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                           list[dict]]:
    """The manifest without the test tracks whose artist is in train (marked ``dropped`` in
    ``report``, in place), and their rejection rows. Refuses, as a split does, a test split
    left with fewer than two genres."""
    drop = (report["split"] == "test") & report["artist_in_train"].astype(bool)
    report.loc[drop, "dropped"] = True
    gone = set(report.loc[drop, "track_id"])
    train_counts = manifest[manifest["split"] == "train"].groupby("artist").size()
    rejected = [{"path": r.path, "source": r.source, "reason": REASON,
                 "detail": f"artist {r.artist!r} has {int(train_counts.get(r.artist, 0))} "
                           "train tracks (data.split_drop_straddling)"}
                for r in report[drop].itertuples()]
    kept = manifest[~manifest["track_id"].isin(gone)].reset_index(drop=True)
    check_split_coverage(kept)
    return kept, rejected


def summary(report: pd.DataFrame) -> str:
    """One line: how many val and test tracks share an artist with other splits."""
    def count(split: str, with_train: bool) -> int:
        rows = report[report["split"] == split]
        return int(rows["artist_in_train"].astype(bool).sum() if with_train else len(rows))

    line = (f"{count('test', True)} test tracks share an artist with train tracks "
            f"({count('test', False)} counting val), {count('val', True)} val tracks with "
            f"train; {report['artist'].nunique()} artists in more than one split")
    dropped = int(report["dropped"].astype(bool).sum())
    if dropped:
        line += f"; {dropped} test tracks dropped ({REASON} in rejected.csv)"
    return line
