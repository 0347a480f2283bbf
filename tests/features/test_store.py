"""The resumable store's pieces on their own: the journal, and where the work folder
lives. Resuming, locking and stale folders are tested through a whole extraction in
test_extraction.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from genrevae.features.store import FeatureStore, Journal, TrackOutcome, partial_root, reserve


def test_a_torn_journal_line_is_ignored(tmp_path):
    """A journal whose last line was cut by a kill reads as the lines before it."""
    (tmp_path / "done.jsonl").write_text('{"i": 0, "n": 2, "reason": null}\n{"i": 1, "n"',
                                         encoding="utf-8")
    assert Journal.read(tmp_path) == {0: TrackOutcome(2)}
    Journal(tmp_path).fh.close()
    assert (tmp_path / "done.jsonl").read_text(encoding="utf-8").endswith("null}\n")


def test_partial_root_is_a_hidden_sibling():
    """data/features/audio keeps its resumable state in data/features/.audio.partial,
    outside the folder DVC deletes before the stage runs."""
    assert partial_root("data/features/audio") == Path("data/features/.audio.partial")


def test_reserve_allocates_a_sparse_file(tmp_path):
    """A memory map's file made by NumPy is sparse (a full disk would kill its writer with
    SIGBUS at the first write); reserved, every block is on disk."""
    path = tmp_path / "a.npy"
    del_me = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(256, 1024))
    del del_me
    size = path.stat().st_size
    assert path.stat().st_blocks * 512 < size  # sparse
    reserve(path)
    assert path.stat().st_blocks * 512 >= size
    assert np.load(path).sum() == 0  # the content is unchanged


def test_only_the_stores_own_stale_folders_are_removed(tmp_path, tiny_cfg):
    """The work folders of other extractions are removed from the root; a folder there
    that the store did not name is left alone."""
    root = tmp_path / ".audio.partial"
    stale, temp, foreign = root / ("0" * 20), root / f".{'1' * 20}.abc.tmp", root / "mine"
    for folder in (stale, temp, foreign):
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("x")
    store = FeatureStore([], tiny_cfg.features, root)
    store._remove_stale()
    assert sorted(p.name for p in root.iterdir()) == ["mine"]
    assert (foreign / "keep.txt").read_text() == "x"
    assert os.listdir(foreign) == ["keep.txt"]
