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
    if len(columns) < len(raw.columns):
        seen = pd.Series([c.strip().lower() for c in raw.columns])
        twice = [c for c in raw.columns if seen.eq(c.strip().lower()).sum() > 1]
        raise DataError(f"{path}: columns {twice} have the same name (names compare without "
                        "case or spaces); rename one")
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


RESERVED_PREFIX = "meta_"
FACTS = ("artist", "language")  # the columns a table may set on a track


def read_metadata_table(path: str | Path, reserved: Iterable[str] = ()) -> pd.DataFrame:
    """Column ``key`` and every other column of the table, under its name lower-cased:
    ``artist`` and ``language`` normalised like the lyrics table's, the rest as written
    (empty cells are None). Needs only an id column.

    A table cannot set a column the program makes itself: one named like one of
    ``reserved``, like the join column ``key``, or starting with ``_`` (the program's
    internal columns) is kept as ``meta_<name>``, with a warning; two columns that would
    then share a name (``genre`` beside ``meta_genre``) are refused with a :class:`DataError`.
    """
    raw, columns, id_col = _read_keyed_table(path, "metadata")
    reserved = {*reserved, "key"}
    out = pd.DataFrame({"key": raw[id_col].map(normalise_key)})
    renamed, source = [], {}
    for name, column in columns.items():
        if column == id_col:
            continue
        kept = name
        if name not in FACTS and (name in reserved or name.startswith("_")):
            kept = f"{RESERVED_PREFIX}{name}"
            renamed.append(f"{column!r} -> {kept!r}")
        if kept in source:
            raise DataError(f"{path}: columns {source[kept]!r} and {column!r} would both be kept "
                            f"as {kept!r} (a column named like one the program makes is kept "
                            f"as {RESERVED_PREFIX}<name>); rename one")
        source[kept] = column
        values = raw[column].str.strip()
        out[kept] = _labels(values) if name in FACTS else values.replace("", None)
    if renamed:
        log.warning("%s: columns named like ones the program makes are kept under other names: "
                    "%s", path, ", ".join(renamed))
    return _unique_keys(out, path)


def join_lyrics(table: pd.DataFrame, track_keys: Iterable[Iterable[str]]) -> pd.DataFrame:
    """For each track (given as candidate keys, most specific first, e.g. its path relative
    to the source root and its file stem), the matching row of ``table`` or an empty row.

    A key matches a table row's full key; failing that, a row matches when the folders it
    names agree with the track's, part by part from the file name up (``rock/t1`` matches
    ``rock/t1`` and ``data/rock/t1``, never ``blues/t1``; ``t1`` names no folder and matches
    any ``t1``), and only when one row so matches. Returns a frame aligned with
    ``track_keys`` with the table's columns (None where nothing matched).
    """
    by_key = {k: i for i, k in enumerate(table["key"])}
    by_name: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
    for i, k in enumerate(table["key"]):
        parts = tuple(k.split("/"))
        by_name.setdefault(parts[-1], []).append((i, parts))
    rows = []
    for keys in track_keys:
        keys = [normalise_key(k) for k in keys]
        match = next((by_key[k] for k in keys if k in by_key), None)
        if match is None and keys:
            match = _agreeing_row(tuple(keys[0].split("/")), by_name)
        rows.append(match)
    matched = [r for r in rows if r is not None]
    unused = len(table) - len(set(matched))
    if unused:
        log.info("%d table rows match no track", unused)
    out = pd.DataFrame([table.iloc[r].to_dict() if r is not None else {} for r in rows],
                       columns=table.columns)
    return out.astype(object).where(out.notna(), None)


def _agreeing_row(track: tuple[str, ...],
                  by_name: dict[str, list[tuple[int, tuple[str, ...]]]]) -> int | None:
    """The one table row whose path parts agree with ``track``'s wherever both have one
    (compared from the end); None when no row or several do."""
    agree = [i for i, parts in by_name.get(track[-1], ())
             if all(a == b for a, b in zip(reversed(parts), reversed(track), strict=False))]
    return agree[0] if len(agree) == 1 else None
