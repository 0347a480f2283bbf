"""The resumable store's pieces on their own: the journal, and where the work folder
lives. Resuming, locking and stale folders are tested through a whole extraction in
test_extraction.py."""

from __future__ import annotations

from pathlib import Path

from genrevae.features.store import Journal, TrackOutcome, partial_root


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
