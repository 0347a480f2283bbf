"""Atomic artifact writes and the table formats every stage shares.

Every writer goes through :func:`atomic_path`: the data lands in a temporary file
beside the target and is renamed over it only when complete, so a killed stage never
leaves a half-written artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Columns of data/prepared/manifest.csv: one row per track.
MANIFEST_COLUMNS = ("track_id", "path", "genre", "language", "source", "lyrics", "split")
# Key columns of the segment table: one row per segment.
SEGMENT_KEYS = ("track_id", "segment_index")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it in for ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)


def load_npy(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def save_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def load_csv(path: str | Path) -> pd.DataFrame:
    # Only empty fields are missing values: a genre or word such as "NA" stays a string.
    return pd.read_csv(path, keep_default_na=False, na_values=[""], encoding="utf-8",
                       dtype={"track_id": str, "group": str})


def save_json(path: str | Path, payload: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(payload), indent=2, sort_keys=False) + "\n")


def load_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    """Plain JSON types; NaN and infinities become null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def load_manifest(path: str | Path) -> pd.DataFrame:
    frame = load_csv(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: manifest lacks columns {missing}")
    frame["lyrics"] = frame["lyrics"].astype(object).where(frame["lyrics"].notna(), None)
    frame["track_id"] = frame["track_id"].astype(str)
    return frame


def key_positions(
    reference: pd.DataFrame, rows: pd.DataFrame, keys: tuple[str, ...] = SEGMENT_KEYS
) -> np.ndarray:
    """Position in ``reference`` of every row of ``rows``, matched on ``keys``.

    Artifacts are joined this way, never by row order. Raises ``KeyError`` if a row of
    ``rows`` has no match.
    """
    index = pd.MultiIndex.from_frame(reference[list(keys)].astype(str))
    pos = index.get_indexer(pd.MultiIndex.from_frame(rows[list(keys)].astype(str)))
    if (pos < 0).any():
        missing = rows.loc[pos < 0, list(keys)].head(3).to_dict("records")
        raise KeyError(f"rows without a match on {keys}: {missing}")
    return pos
