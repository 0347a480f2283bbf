"""The resumable on-disk store an extraction fills: two preallocated, memory-mapped ``.npy``
arrays (log-mel and handcrafted rows), a plan (the rows each track owns) and a journal of
finished tracks, in a locked work folder.

The work folder lives outside the stage's output folder (DVC deletes outputs before a
stage runs): ``<root>/<key>/`` where the key hashes the feature parameters and the audio
files (path, size, mtime). Each track owns the rows its header predicts; workers write
them through short-lived mappings, and a track is journaled as done only after the arrays
are fsync'ed, so a killed run resumes with exactly the missing tracks. At the end the
arrays are promoted to the outputs by hard link (or copy) and rename.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

from genrevae.config import FeaturesConfig
from genrevae.data.audio import segment_length
from genrevae.errors import DataError, OutputError
from genrevae.features.audio import handcrafted_columns, n_frames
from genrevae.io import honour_umask, npy_data_offset, os_error_line

log = logging.getLogger(__name__)

# Bump when extracted values change (genrevae.features.audio's maths, or how tracks are
# cut): partial extractions of another version are discarded.
FEATURES_VERSION = 2
_MEL, _HAND, _PLAN, _JOURNAL, _LOCK = "mel.npy", "handcrafted.npy", "plan.json", "done.jsonl", "lock"
# Finished tracks are journaled (after an fsync of the arrays) at most this often; a kill
# loses at most this much work.
JOURNAL_EVERY_S = 1.0
# How long to wait for the work folder's lock before deciding another extraction holds it
# (the workers of a just-killed run release it a few milliseconds after their parent dies).
LOCK_WAIT_S = 10.0
# Feature keys that say where values are computed, not what they are.
_WHERE = ("n_jobs", "device", "engine", "scheduler")
# The names this store gives the folders of its root: a work folder (the key) or one being
# created; nothing else there is removed.
_OURS = re.compile(r"[0-9a-f]{20}|\.[0-9a-f]{20}\..+\.tmp")


def reserve(path: Path) -> None:
    """Allocate every byte of ``path`` on disk now. Pages written through a memory map of a
    sparse file are allocated at the first write, and a full disk then kills the writer
    with SIGBUS; reserved up front, a full disk is an ``OSError`` here instead."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no such call there
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        os.close(fd)


def partial_root(audio_features: str | Path) -> Path:
    """Where the resumable state of ``audio_features`` lives: a hidden sibling folder
    (``data/features/audio`` -> ``data/features/.audio.partial``)."""
    out = Path(audio_features)
    return out.parent / f".{out.name}.partial"


def extraction_key(paths: Sequence[str | Path], cfg: FeaturesConfig) -> str:
    """Hash of everything the extracted values depend on: the feature parameters (not
    ``n_jobs``, ``device``, ``engine`` or ``scheduler``, which say where they are computed),
    librosa's version and :data:`FEATURES_VERSION`, and every audio file's path, size and
    modification time."""
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _WHERE}
    digest = hashlib.sha256(json.dumps(
        {"version": FEATURES_VERSION, "librosa": librosa.__version__, "features": params},
        sort_keys=True).encode())
    for path in paths:
        try:
            st = os.stat(path)
            stamp: list[int] | None = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamp = None
        digest.update(json.dumps([str(path), stamp]).encode())
    return digest.hexdigest()[:20]


@dataclass(frozen=True)
class TrackOutcome:
    """What extraction made of one track: ``n_segments`` rows written, or a ``reason``."""

    n_segments: int
    reason: str | None = None


def write_rows(folder: Path, start: int, mel: np.ndarray, feats: np.ndarray) -> None:
    """Write rows ``start ...`` of both arrays through a mapping closed right after, so
    the written pages leave this process's resident memory."""
    mel_map = np.load(folder / _MEL, mmap_mode="r+")
    mel_map[start : start + len(mel)] = mel
    del mel_map
    hand_map = np.load(folder / _HAND, mmap_mode="r+")
    hand_map[start : start + len(feats)] = feats.astype(np.float32)
    del hand_map


def sync_arrays(folder: Path) -> None:
    """fsync both arrays of ``folder`` (every process's writes to them, on a local disk)."""
    for name in (_MEL, _HAND):
        fd = os.open(folder / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def store_track(
    folder: Path, path: str, segments: np.ndarray, start: int, capacity: int,
    batches: Iterator[tuple[int, np.ndarray, np.ndarray]], *, write: Callable = write_rows,
) -> TrackOutcome:
    """Write one track's feature ``batches`` (``(first_row, log_mel, features)``) at rows
    ``start ...``, at most the ``capacity`` rows its header predicted, with
    ``write(folder, row, mel, feats)``."""
    if capacity == 0:
        return TrackOutcome(0, f"{path}: the header gives no full segment but decoding gave "
                               f"{len(segments)}; cannot place its rows")
    if len(segments) > capacity:
        log.warning("%s: decoded %d segments, the header predicted %d; keeping the first %d",
                    path, len(segments), capacity, capacity)
    for first, mel, feats in batches:
        write(folder, start + first, mel, feats)
    return TrackOutcome(min(len(segments), capacity))


class Journal:
    """Append-only record of finished tracks (JSON lines), written only after the arrays
    it vouches for are on disk; a torn last line (a kill mid-write) is dropped."""

    def __init__(self, folder: Path, *, every_s: float = 1.0) -> None:
        self.folder = folder
        self.path = folder / _JOURNAL
        self.every_s = every_s
        self.pending: list[str] = []
        self.last = time.monotonic()
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with self.path.open("r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
        self.fh = self.path.open("a", encoding="utf-8")

    @staticmethod
    def read(folder: Path) -> dict[int, TrackOutcome]:
        done: dict[int, TrackOutcome] = {}
        path = folder / _JOURNAL
        if not path.exists():
            return done
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                done[int(rec["i"])] = TrackOutcome(int(rec["n"]), rec.get("reason"))
            except (ValueError, KeyError, TypeError):
                continue
        return done

    def add(self, index: int, outcome: TrackOutcome) -> None:
        self.pending.append(json.dumps({"i": index, "n": outcome.n_segments,
                                        "reason": outcome.reason}))
        if time.monotonic() - self.last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.pending:
            return
        sync_arrays(self.folder)
        self.fh.write("".join(line + "\n" for line in self.pending))
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.fh.close()


class FeatureStore:
    """The work folder of one extraction of ``paths`` with ``cfg``, under ``root``.

    :meth:`open` locks it (creating it, or starting afresh when the plan does not match)
    and says which tracks are done; :meth:`journal` records more; :meth:`promote` puts the
    arrays at their final paths atomically and :meth:`cleanup` removes the folder.

    Rows follow the input order, track after track: track ``i`` owns ``capacity[i]``
    rows from ``starts[i]``, ``mel`` (n_mels, frames) float32 and ``handcrafted``
    (n_features,) float32 each.
    """

    def __init__(self, paths: Sequence[str | Path], cfg: FeaturesConfig, root: str | Path) -> None:
        self.paths = [str(p) for p in paths]
        self.cfg = cfg
        self.root = Path(root)
        self.key = extraction_key(self.paths, cfg)
        self.folder = self.root / self.key
        seg_len = segment_length(sr=cfg.sample_rate, seconds=cfg.segment_seconds)
        self.row_shape = ((cfg.n_mels, n_frames(seg_len, cfg.hop_length)),
                          (len(handcrafted_columns(cfg.n_mfcc)),))
        self._lock_fd: int | None = None
        self.capacity = np.zeros(0, dtype=np.int64)
        self.starts = np.zeros(0, dtype=np.int64)

    # -- state on disk ---------------------------------------------------------------
    def _plan_matches(self) -> bool:
        try:
            plan = json.loads((self.folder / _PLAN).read_text(encoding="utf-8"))
            if plan["key"] != self.key or len(plan["capacity"]) != len(self.paths):
                return False
            rows = max(1, int(np.sum(plan["capacity"])))
            for name, shape in zip((_MEL, _HAND), self.row_shape, strict=True):
                if npy_data_offset(self.folder / name)[1] != (rows, *shape):
                    return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self.capacity = np.asarray(plan["capacity"], dtype=np.int64)
        return True

    def _create(self) -> None:
        from genrevae.data.audio import expected_segments

        cfg = self.cfg
        capacity = np.array([expected_segments(p, sr=cfg.sample_rate, seconds=cfg.segment_seconds,
                                               max_seconds=cfg.max_seconds)
                             for p in self.paths], dtype=np.int64)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.key}.", suffix=".tmp", dir=self.root))
        try:
            honour_umask(tmp, folder=True)
            rows = max(1, int(capacity.sum()))  # numpy cannot map an empty file
            for name, shape in zip((_MEL, _HAND), self.row_shape, strict=True):
                arr = np.lib.format.open_memmap(tmp / name, mode="w+", dtype=np.float32,
                                                shape=(rows, *shape))
                del arr
                reserve(tmp / name)
            (tmp / _PLAN).write_text(json.dumps({"key": self.key,
                                                 "capacity": capacity.tolist()}),
                                     encoding="utf-8")
            if self.folder.exists():
                shutil.rmtree(self.folder)
            os.replace(tmp, self.folder)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            need = sum(4 * int(np.prod((max(1, int(capacity.sum())), *shape)))
                       for shape in self.row_shape)
            where = OSError(exc.errno, f"{exc.strerror} (the extraction's arrays need "
                                       f"{need / 2**20:.1f} MiB there)", str(self.root))
            raise OutputError(os_error_line(where)) from exc
        self.capacity = capacity
        log.info("allocated %d segment rows for %d tracks in %s", int(capacity.sum()),
                 len(self.paths), self.folder)

    def _lock(self, folder: Path, *, wait: bool) -> int | None:
        """An exclusive lock on ``folder`` (None if another process holds it)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            return -1
        fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            os.close(fd)
            return None
        return fd

    def _remove_stale(self) -> None:
        for child in self.root.iterdir():
            if child == self.folder or not child.is_dir() or not _OURS.fullmatch(child.name):
                continue
            fd = self._lock(child, wait=False) if not child.name.endswith(".tmp") else -1
            if fd is None:
                continue  # in use by another extraction
            log.info("removing stale partial extraction %s", child)
            shutil.rmtree(child, ignore_errors=True)
            if fd >= 0:
                os.close(fd)

    def open(self) -> dict[int, TrackOutcome]:
        """Lock (creating it if needed) this key's work folder; return the tracks already
        done. Raises :class:`DataError` if another extraction holds the folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        root_fd = self._lock(self.root, wait=True)  # one opener at a time
        try:
            self._remove_stale()
            fd = self._lock(self.folder, wait=False) if self.folder.is_dir() else -2
            deadline = time.monotonic() + LOCK_WAIT_S
            while fd is None and time.monotonic() < deadline:
                time.sleep(0.05)
                fd = self._lock(self.folder, wait=False)
            if fd is None:
                raise DataError(f"{self.folder}: another extraction is writing here")
            if fd == -2 or not self._plan_matches():
                if fd >= 0:
                    os.close(fd)
                self._create()
                fd = self._lock(self.folder, wait=False)
            else:  # a folder of an older version may be sparse
                for name in (_MEL, _HAND):
                    reserve(self.folder / name)
            self._lock_fd = fd
        finally:
            if root_fd is not None and root_fd >= 0:
                os.close(root_fd)
        self.starts = np.concatenate([[0], np.cumsum(self.capacity)[:-1]]).astype(np.int64)
        done = {i: o for i, o in Journal.read(self.folder).items() if 0 <= i < len(self.paths)}
        if done:
            log.info("resuming %s: %d of %d tracks already extracted", self.folder,
                     len(done), len(self.paths))
        return done

    def journal(self) -> Journal:
        """The journal to record finished tracks in (after :meth:`open`)."""
        return Journal(self.folder, every_s=JOURNAL_EVERY_S)

    # -- the end ---------------------------------------------------------------------
    def promote(self, outcomes: Sequence[TrackOutcome], mel_path: str | Path,
                handcrafted_path: str | Path) -> None:
        """Put the arrays at ``mel_path`` and ``handcrafted_path`` atomically, keeping
        only written rows (a copy, streamed, when some track wrote fewer rows than it
        owns; a hard link otherwise)."""
        from genrevae.io import copy_npy_rows, promote_file, save_npy

        counts = np.array([o.n_segments for o in outcomes], dtype=np.int64)
        targets = ((_MEL, mel_path), (_HAND, handcrafted_path))
        if counts.sum() == 0:
            for (_, dst), shape in zip(targets, self.row_shape, strict=True):
                save_npy(dst, np.zeros((0, *shape), dtype=np.float32))
            return
        if np.array_equal(counts, self.capacity):
            for name, dst in targets:
                promote_file(self.folder / name, dst)
            return
        rows: list[tuple[int, int]] = []
        for start, n in zip(self.starts.tolist(), counts.tolist(), strict=True):
            if n == 0:
                continue
            if rows and rows[-1][1] == start:
                rows[-1] = (rows[-1][0], start + n)
            else:
                rows.append((start, start + n))
        for name, dst in targets:
            compact = self.folder / f"compact.{name}"
            copy_npy_rows(self.folder / name, compact, rows)
            promote_file(compact, dst)

    def cleanup(self) -> None:
        """Remove the work folder (after :meth:`promote`), and the root if nothing else
        is in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._lock_fd is not None and self._lock_fd >= 0:
            os.close(self._lock_fd)
        self._lock_fd = None
        with contextlib.suppress(OSError):
            if [p.name for p in self.root.iterdir()] == [_LOCK]:
                (self.root / _LOCK).unlink()
            self.root.rmdir()  # only if empty
