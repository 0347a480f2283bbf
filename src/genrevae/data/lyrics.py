"""Tables of facts per track (lyrics, metadata): read them as users have them and join them
to tracks.

A table is CSV or TSV (by extension), UTF-8 with or without a byte-order mark, with quoted
multi-line fields allowed. It needs an id column (``track_id``, ``filename``, ``file``,
``path``, ``id``, ``song`` or ``track``). A lyrics table also needs a lyrics column
(``lyrics``, ``lyric`` or ``text``); a ``language`` column and an ``artist`` column are used
when present. A metadata table (``data.metadata``) needs no lyrics and keeps every column.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import pandas as pd

from genrevae.data.audio import AUDIO_EXTENSIONS
from genrevae.errors import DataError

log = logging.getLogger(__name__)

ID_COLUMNS = ("track_id", "filename", "file", "path", "id", "song", "track")
LYRICS_COLUMNS = ("lyrics", "lyric", "text")


def normalise_key(value: str) -> str:
    """``'Bangla\\\\song_1.MP3 '`` -> ``'bangla/song_1'``: forward slashes, no audio
    extension, lower case, trimmed."""
    key = str(value).strip().replace("\\", "/").lower()
    path = PurePosixPath(key)
    if path.suffix in AUDIO_EXTENSIONS:
        key = str(path.with_suffix(""))
    return key


def _read_keyed_table(path: str | Path, what: str) -> tuple[pd.DataFrame, dict[str, str], str]:
    """The raw table (all strings), its columns by normalised name, and its id column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} table not found")
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        raw = pd.read_csv(path, sep=sep, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read the {what} table ({exc})") from exc
    columns = {c.strip().lower(): c for c in raw.columns}
    id_col = next((columns[c] for c in ID_COLUMNS if c in columns), None)
    if id_col is None:
        raise DataError(f"{path}: needs an id column (one of {', '.join(ID_COLUMNS)}); "
                        f"found {list(raw.columns)}")
    return raw, columns, id_col


def _unique_keys(out: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    out = out[out["key"] != ""]
    dup = out["key"].duplicated(keep="first")
    if dup.any():
        log.warning("%s: %d duplicate ids; keeping the first of each", path, int(dup.sum()))
    return out[~dup].reset_index(drop=True)


def _labels(column: pd.Series) -> pd.Series:
    """Artist and language values compare case- and space-insensitively; empty is unknown."""
    return column.str.strip().str.lower().replace("", None)


def read_lyrics_table(path: str | Path) -> pd.DataFrame:
    """Columns ``key``, ``lyrics`` and, when the table has them, ``language``, ``artist``.

    Raises :class:`DataError` when the file is missing or lacks an id or lyrics column.
    """
    raw, columns, id_col = _read_keyed_table(path, "lyrics")
    text_col = next((columns[c] for c in LYRICS_COLUMNS if c in columns), None)
    if text_col is None:
        raise DataError(
            f"{path}: needs an id column (one of {', '.join(ID_COLUMNS)}) and a lyrics column "
            f"(one of {', '.join(LYRICS_COLUMNS)}); found {list(raw.columns)}"
        )
    out = pd.DataFrame({"key": raw[id_col].map(normalise_key), "lyrics": raw[text_col].str.strip()})
    for extra in ("language", "artist"):
        if extra in columns:
            out[extra] = _labels(raw[columns[extra]])
    return _unique_keys(out[out["lyrics"] != ""], path)


def read_metadata_table(path: str | Path) -> pd.DataFrame:
    """Column ``key`` and every other column of the table, under its name lower-cased:
    ``artist`` and ``language`` normalised like the lyrics table's, the rest as written
    (empty cells are None). Needs only an id column."""
    raw, columns, id_col = _read_keyed_table(path, "metadata")
    out = pd.DataFrame({"key": raw[id_col].map(normalise_key)})
    for name, column in columns.items():
        if column == id_col or name == "key":
            continue
        values = raw[column].str.strip()
        out[name] = _labels(values) if name in ("artist", "language") else values.replace("", None)
    return _unique_keys(out, path)


def join_lyrics(table: pd.DataFrame, track_keys: Iterable[Iterable[str]]) -> pd.DataFrame:
    """For each track (given as candidate keys, most specific first, e.g. its path relative
    to the source root and its file stem), the matching row of ``table`` or an empty row.

    A key matches a table row's full key, or its last path part when that is unique in
    the table. Returns a frame aligned with ``track_keys`` with the table's columns (None
    where nothing matched).
    """
    by_key = {k: i for i, k in enumerate(table["key"])}
    stems = table["key"].map(lambda k: k.rsplit("/", 1)[-1])
    unique_stems = stems[~stems.duplicated(keep=False)]
    by_stem = {s: i for i, s in unique_stems.items()}
    rows = []
    for keys in track_keys:
        match = None
        for key in (normalise_key(k) for k in keys):
            match = by_key.get(key)
            if match is None:
                match = by_stem.get(key.rsplit("/", 1)[-1])
            if match is not None:
                break
        rows.append(match)
    matched = [r for r in rows if r is not None]
    unused = len(table) - len(set(matched))
    if unused:
        log.info("%d table rows match no track", unused)
    out = pd.DataFrame([table.iloc[r].to_dict() if r is not None else {} for r in rows],
                       columns=table.columns)
    return out.astype(object).where(out.notna(), None)
