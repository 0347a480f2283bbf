"""Atomic artifact writes and the table formats every stage shares.

Every writer goes through :func:`atomic_path`: the data lands in a temporary file
beside the target and is renamed over it only when complete, so a killed stage never
leaves a half-written artifact.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genrevae.errors import ArtifactError, OutputError
from genrevae.spreadsheet import (
    escape_column,
    holds_cr,
    spreadsheet_text,
    unescape_column,
    unescape_name,
)

# Columns of data/prepared/manifest.csv: one row per track.
MANIFEST_COLUMNS = ("track_id", "path", "genre", "language", "source", "lyrics", "split")
# Key columns of the segment table: one row per segment.
SEGMENT_KEYS = ("track_id", "segment_index")
# Columns read back as text from any table, whatever their values look like: a genre folder
# `001`, a track `1` or a label `0` must not come back as a number (nor `001` as `1`).
TEXT_COLUMNS = frozenset({"track_id", "group", "path", "genre", "language", "source", "lyrics",
                          "split", "reason", "detail", "artist", "filename"})
# The manifest's numeric columns; every other manifest column (a metadata table's too) is text.
MANIFEST_NUMBERS = ("duration_s", "sample_rate", "channels", "rms_db")
RERUN = "rerun the stage that writes it (`dvc repro`)"
# Written into every output folder a stage creates: a folder holding it is one this
# project may replace; a folder without it (and not empty) holds someone else's files.
OWNED = ".genrevae-output"


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[Path]:
    """Turn a missing, unreadable, truncated or malformed artifact into one
    :class:`ArtifactError` line naming ``path``, instead of a parser's traceback."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: not found; {RERUN}")
    try:
        yield path
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read it ({_first_line(exc)}); {RERUN}") from exc
    except (ValueError, EOFError, pd.errors.ParserError) as exc:  # JSON, npy, CSV, UTF-8
        raise ArtifactError(f"{path}: damaged or incomplete ({_first_line(exc)}); "
                            f"{RERUN}") from exc


def damaged(path: str | Path, why: str) -> ArtifactError:
    """The error for an artifact that parses but does not hold what its writer writes."""
    return ArtifactError(f"{path}: damaged or incomplete ({why}); {RERUN}")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0][:200]


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (changing it
    for a moment would race with other threads creating files)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | Path, *, folder: bool = False) -> None:
    """Give ``path`` the mode a plain ``open`` or ``mkdir`` would: temporary files and
    folders are created 0600 / 0700, which would keep teammates out of the artifacts."""
    os.chmod(path, (0o777 if folder else 0o666) & ~current_umask())


def os_error_line(exc: OSError, path: str | Path | None = None) -> str:
    """One line for a file-system fault while a stage runs: the path, what went wrong and
    what to do (a rerun resumes: every writer is atomic, extraction is journaled)."""
    where = exc.filename or path or "a file"
    what = exc.strerror or _first_line(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space there and rerun (`dvc repro`): the stage resumes"
    elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
        advice = ("it was removed (or its folder was) while the stage ran; rerun (`dvc repro`): "
                  "the stage resumes or starts again")
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "make it writable (or point its path param elsewhere) and rerun (`dvc repro`)"
    else:
        advice = "fix that and rerun (`dvc repro`): the stage resumes"
    return f"{where}: {what}; {advice}"


def _target_error(exc: OSError, path: Path) -> OutputError:
    """:func:`os_error_line` naming ``path`` where ``exc`` names nothing, or the temporary
    file or folder beside it (a name the user never gave)."""
    name = exc.filename if isinstance(exc.filename, str) else ""
    first = os.path.relpath(name, path.parent).split(os.sep)[0] if name else ""
    if not name or first.startswith(f".{path.name}."):
        exc = OSError(exc.errno, exc.strerror or _first_line(exc), str(path))
    return OutputError(os_error_line(exc))


def foreign_entries(folder: str | Path) -> list[str]:
    """The names in ``folder`` when it holds files this project did not write: empty when
    the folder is absent, empty, or holds the :data:`OWNED` marker a stage writes."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.iterdir())
    return [] if OWNED in names else names


def refuse_foreign(path: str | Path, what: str = "") -> None:
    """:class:`OutputError` unless ``path`` is absent or a folder this project may replace
    (``what`` names the param that points there)."""
    path = Path(path)
    where = f"{what}: " if what else ""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{where}{path} is a file, but this output is a folder; point "
                          f"{what or 'the path'} at a new or empty folder")
    foreign = foreign_entries(path)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(f"{where}{path} holds {len(foreign)} entries this project did not "
                          f"write ({shown}); a stage replaces its output folder, so it leaves "
                          f"this one alone: point {what or 'the path'} at a new or empty folder")


def mark_owned(folder: str | Path) -> None:
    """Mark ``folder`` (created if needed) as an output folder of this project."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / OWNED
    if not marker.exists():
        marker.write_text("written by genrevae: a stage may replace this folder\n",
                          encoding="utf-8")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The file gets the mode the umask gives a new file. A file system fault (full disk,
    read-only folder) becomes one :class:`OutputError` naming ``path``; a folder at
    ``path`` is refused, never replaced."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder, but this output is a file; point its path "
                          "param at a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _target_error(exc, path) from exc
    tmp_path = Path(tmp)
    try:
        honour_umask(tmp_path)
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        raise _target_error(exc, path) from exc
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it in for ``path`` on success.

    The new folder holds the :data:`OWNED` marker and gets the umask's mode; an existing
    ``path`` is replaced only if this project wrote it (:func:`refuse_foreign`)."""
    path = Path(path)
    refuse_foreign(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _target_error(exc, path) from exc
    try:
        honour_umask(tmp, folder=True)
        mark_owned(tmp)
        yield tmp
        refuse_foreign(path)  # again: it may have been filled while this one was written
        if path.is_symlink():
            path.unlink()  # the link only, not what it points at
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old)  # onto the empty folder: then the new one takes its name
        try:
            os.replace(tmp, path)
        except OSError:
            if old is not None:
                os.replace(old, path)
            raise
        if old is not None:
            shutil.rmtree(old)
    except OSError as exc:
        raise _target_error(exc, path) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def promote_file(src: str | Path, dst: str | Path) -> None:
    """Put the finished file ``src`` at ``dst`` atomically, leaving ``src`` in place.

    ``src`` is hard-linked (or, across file systems, copied) to a temporary name beside
    ``dst`` and renamed onto it, so ``dst`` is either its old content or all of ``src``.
    """
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        honour_umask(tmp)


def npy_data_offset(path: str | Path) -> tuple[int, tuple[int, ...], np.dtype]:
    """Byte offset of the data in a C-ordered ``.npy`` file, its shape and dtype."""
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        read = (np.lib.format.read_array_header_1_0 if major == 1
                else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read(fh)
        if fortran:
            raise ValueError(f"{path}: Fortran-ordered arrays are not supported")
        return fh.tell(), tuple(shape), dtype


def copy_npy_rows(src: str | Path, dst: str | Path, rows: list[tuple[int, int]],
                  *, chunk_bytes: int = 32 << 20) -> None:
    """Write to ``dst`` a new ``.npy`` of the rows ``[start, stop)`` of ``src``, range
    after range, reading and writing ``chunk_bytes`` at a time (memory stays flat: no
    mapping of the source is kept)."""
    offset, shape, dtype = npy_data_offset(src)
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    total = sum(stop - start for start, stop in rows)
    out = np.lib.format.open_memmap(dst, mode="w+", dtype=dtype, shape=(total, *shape[1:]))
    del out
    out_offset, _, _ = npy_data_offset(dst)
    step = max(1, chunk_bytes // max(row_bytes, 1))
    with open(src, "rb") as fin, open(dst, "r+b") as fout:
        fout.seek(out_offset)
        for start, stop in rows:
            for first in range(start, stop, step):
                count = min(step, stop - first)
                fin.seek(offset + first * row_bytes)
                data = fin.read(count * row_bytes)
                if len(data) != count * row_bytes:
                    raise ValueError(f"{src}: truncated at row {first}")
                fout.write(data)
        fout.flush()
        os.fsync(fout.fileno())


def take_rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``array[index]`` (integer indices, any order) as a new in-memory array.

    For a memory map of a whole ``.npy`` file (:func:`load_npy` with ``mmap=True``) the
    rows are read with plain file reads, one per run of consecutive rows: the pages then
    sit in the OS's file cache instead of the process's resident memory, which indexing
    the map would grow by every row ever touched (a training epoch touches them all)."""
    index = np.asarray(index, dtype=np.int64)
    if not (isinstance(array, np.memmap) and array.filename and array.flags.c_contiguous
            and array.ndim >= 1 and len(index)):
        return np.array(array[index])
    header_offset, header_shape, header_dtype = npy_data_offset(array.filename)
    if (header_offset, header_shape, header_dtype) != (array.offset, array.shape, array.dtype):
        return np.array(array[index])  # a view into the map, not the whole file
    if index.min() < -len(array) or index.max() >= len(array):
        raise IndexError(f"row index out of range for {len(array)} rows")
    index = np.where(index < 0, index + len(array), index)
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    out = np.empty((len(index), *array.shape[1:]), dtype=array.dtype)
    flat = out.reshape(len(index), -1).view(np.uint8).reshape(len(index), row_bytes)
    # Breaks between runs of consecutive (or repeated) rows.
    starts = np.flatnonzero(np.diff(ordered, prepend=ordered[0] - 2) > 1)
    with open(array.filename, "rb") as fh:
        for a, b in zip(starts, [*starts[1:], len(ordered)], strict=True):
            first, last = int(ordered[a]), int(ordered[b - 1])
            fh.seek(array.offset + first * row_bytes)
            block = fh.read((last - first + 1) * row_bytes)
            if len(block) != (last - first + 1) * row_bytes:
                raise ArtifactError(f"{array.filename}: truncated at row {first}")
            rows = np.frombuffer(block, dtype=np.uint8).reshape(-1, row_bytes)
            flat[order[a:b]] = rows[ordered[a:b] - first]
    return out


def save_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)


def load_npy(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    """An array written by :func:`save_npy`; :class:`ArtifactError` if missing, truncated
    (NumPy checks the data against the header's shape) or not a plain ``.npy``."""
    with reading(path):
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def save_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """``frame`` as UTF-8 CSV, atomically; texts a spreadsheet would run as formulas are
    escaped (:func:`spreadsheet_text`), and :func:`load_csv` undoes it."""
    safe = frame.apply(escape_column) if len(frame.columns) else frame
    safe = safe.rename(columns=spreadsheet_text)  # a metadata table's column names too
    # The csv module quotes a field holding "\n" but not one holding a lone "\r" (lyrics
    # from a Windows table), which readers then take for a line end: such a table has
    # every text quoted.
    quoting = csv.QUOTE_NONNUMERIC if holds_cr(safe) else csv.QUOTE_MINIMAL
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False, quoting=quoting)


def load_csv(path: str | Path, *, text: Any = None) -> pd.DataFrame:
    """A table written by :func:`save_csv`; :class:`ArtifactError` if missing, cut short
    or not UTF-8 CSV. (A file cut exactly at a line end cannot be told from a short one.)

    The columns ``text(name)`` says are text (by default those in :data:`TEXT_COLUMNS`)
    are read as strings, never as numbers; the formula escape of :func:`save_csv` is
    undone in every column of text."""
    is_text = text or TEXT_COLUMNS.__contains__
    with reading(path), open(path, "rb") as fh:
        if not _ends_with_newline(fh):  # pandas ends every table, even an empty one, so
            raise damaged(path, "it does not end with a complete line")
        header = pd.read_csv(fh, nrows=0, encoding="utf-8").columns
        fh.seek(0)
        # Only empty fields are missing values: a genre or word such as "NA" stays a string.
        frame = pd.read_csv(fh, keep_default_na=False, na_values=[""], encoding="utf-8",
                            dtype={c: str for c in header if is_text(unescape_name(c))})
    frame = frame.rename(columns=unescape_name)
    return frame.apply(unescape_column) if len(frame.columns) else frame


def _ends_with_newline(fh: Any) -> bool:
    """Whether the binary file ``fh`` is non-empty and ends with ``\\n``; rewinds it."""
    size = fh.seek(0, os.SEEK_END)
    last = b""
    if size:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
    fh.seek(0)
    return last == b"\n"


def to_json(payload: Any, *, indent: int | None = 2, ascii_only: bool = True) -> str:
    """``payload`` as strict JSON text: NaN and infinities become null (JSON has no NaN),
    NumPy scalars and arrays become numbers and lists.

    ``allow_nan=False`` makes a non-finite value that slipped past :func:`_jsonable` raise
    instead of being written as the bare ``NaN`` token no JSON parser accepts; a type
    JSON cannot hold raises ``TypeError`` as usual.
    """
    return json.dumps(_jsonable(payload), indent=indent, ensure_ascii=ascii_only,
                      allow_nan=False)


def save_json(path: str | Path, payload: Any) -> None:
    text = to_json(payload) + "\n"  # before the temporary file, so a bad payload leaves none
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def load_json(path: str | Path) -> Any:
    """A file written by :func:`save_json`; :class:`ArtifactError` if missing or malformed."""
    with reading(path):
        return json.loads(Path(path).read_text(encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    """Plain JSON types; NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def has_lyrics(text: object) -> bool:
    """Whether a track's lyrics cell holds any text: None, NaN, an empty or blank string
    do not (the one rule every stage and report uses)."""
    return isinstance(text, str) and text.strip() != ""


def load_manifest(path: str | Path) -> pd.DataFrame:
    """The manifest: every column text but the numeric ones (:data:`MANIFEST_NUMBERS`)."""
    frame = load_csv(path, text=lambda column: column not in MANIFEST_NUMBERS)
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise damaged(path, f"the manifest lacks columns {missing}")
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
