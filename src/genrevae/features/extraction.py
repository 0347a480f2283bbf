"""Resumable, memory-mapped, multi-process extraction of a whole corpus.

:class:`CorpusExtraction` cuts every track into its full segments (:func:`load_segments`)
and computes their features with :func:`genrevae.features.audio.batch_features`, across
``features.n_jobs`` single-threaded processes or, with ``features.device=cuda``, several
tracks per torch call on the GPU.

The corpus is extracted into two preallocated ``.npy`` files (log-mel and handcrafted
rows) in a work folder outside the stage's output folder (DVC deletes outputs before a
stage runs): ``<root>/<key>/`` where the key hashes the feature parameters and the audio
files (path, size, mtime). Each track owns the rows its header predicts; workers write
them through short-lived mappings, and the parent journals a track as done only after the
arrays are fsync'ed, so a killed run resumes with exactly the missing tracks. At the end
the arrays are promoted to the outputs by hard link (or copy) and rename.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
from tqdm import tqdm

from genrevae.config import FeaturesConfig
from genrevae.data.audio import load_audio, segment_bounds
from genrevae.errors import AudioError, DataError
from genrevae.features.audio import batch_features, handcrafted_columns, n_frames, resolve_device
from genrevae.io import npy_data_offset

log = logging.getLogger(__name__)

# Segments computed together: bounds the working memory of one worker (~6 MB a segment).
MAX_BATCH = 16


def load_segments(path: str | Path, cfg: FeaturesConfig) -> np.ndarray:
    """Decode ``path`` and cut it into its full segments.

    Returns
    -------
    np.ndarray [shape=(n_seg, round(segment_seconds * sample_rate)), dtype=float32]
        Segment ``i`` starts at ``i * segment_seconds`` s; the trailing part is dropped.

    Raises
    ------
    AudioError
        The file is unusable or shorter than one segment.
    """
    y = load_audio(path, sr=cfg.sample_rate)
    bounds = segment_bounds(len(y), sr=cfg.sample_rate, seconds=cfg.segment_seconds)
    if not bounds:
        raise AudioError(
            f"{path}: {len(y) / cfg.sample_rate:.2f} s is shorter than one "
            f"{cfg.segment_seconds:g}-s segment",
            "too_short",
        )
    length = bounds[0][1] - bounds[0][0]
    return y[: len(bounds) * length].reshape(len(bounds), length)


def feature_batches(
    segments: np.ndarray, cfg: FeaturesConfig, *, device: str = "cpu", batch: int = MAX_BATCH
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """:func:`batch_features` of ``segments`` (n_seg, n), ``batch`` rows at a time:
    yields ``(first_row, log_mel, features)``."""
    for first in range(0, len(segments), batch):
        mel, feats = batch_features(
            segments[first : first + batch], sr=cfg.sample_rate, n_fft=cfg.n_fft,
            hop_length=cfg.hop_length, n_mels=cfg.n_mels, n_mfcc=cfg.n_mfcc, device=device)
        yield first, mel, feats


def resolve_jobs(n_jobs: int) -> int:
    """``0`` means one worker per available core."""
    if n_jobs > 0:
        return n_jobs
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def tune_allocator() -> None:
    """Keep freed memory in this process's heap instead of returning it to the system.

    glibc serves every array over 128 kB (most of a batch's temporaries) with a fresh
    mmap and unmaps it when freed, so each batch pays page faults to re-zero ~50 MB:
    10-15 ms of kernel time per 30-s track, a third of the whole. Raising the mmap and
    trim thresholds makes the arrays reuse the heap; memory then stays at the peak of
    one batch (it does not grow with the corpus). A no-op where libc is not glibc.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: its maximum on 64-bit glibc
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, 64 << 20)  # M_TOP_PAD
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def single_threaded_worker(parent: int | None = None) -> None:
    """Process-pool initializer: one BLAS/OpenMP thread per worker (the pool is the
    parallelism, and results then do not depend on the thread count), the allocator
    tuned for large temporaries; Ctrl-C is the parent's to handle, and on Linux the
    worker dies with ``parent`` (a killed extraction leaves no worker behind)."""
    import signal

    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - not Linux
            pass
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)
    threadpool_limits(1)
    tune_allocator()


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` single-threaded workers (forked where the platform allows, so
    they start at once with the compiled kernels)."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    warm_up()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=single_threaded_worker,
                               initargs=(os.getpid(),))


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every kernel on a tiny input, so
    forked workers inherit them ready."""
    y = np.sin(np.arange(2, 11026, dtype=np.float32) * np.float32(0.05))[None]
    batch_features(y, sr=22050, n_fft=512, hop_length=128, n_mels=32, n_mfcc=4)


# ------------------------------------------------- corpus extraction into memmaps

# Bump when extracted values change (genrevae.features.audio's maths, or how tracks are
# cut): partial extractions of another version are discarded.
FEATURES_VERSION = 2
_MEL, _HAND, _PLAN, _JOURNAL, _LOCK = "mel.npy", "handcrafted.npy", "plan.json", "done.jsonl", "lock"
# Segments per torch call on a GPU (several tracks are batched together).
DEVICE_BATCH = 256
# Finished tracks are journaled (after an fsync of the arrays) at most this often; a kill
# loses at most this much work.
JOURNAL_EVERY_S = 1.0
# How long to wait for the work folder's lock before deciding another extraction holds it
# (the workers of a just-killed run release it a few milliseconds after their parent dies).
LOCK_WAIT_S = 10.0


def partial_root(audio_features: str | Path) -> Path:
    """Where the resumable state of ``audio_features`` lives: a hidden sibling folder
    (``data/features/audio`` -> ``data/features/.audio.partial``)."""
    out = Path(audio_features)
    return out.parent / f".{out.name}.partial"


def extraction_key(paths: Sequence[str | Path], cfg: FeaturesConfig) -> str:
    """Hash of everything the extracted values depend on: the feature parameters (not
    ``n_jobs`` or ``device``), librosa's version and :data:`FEATURES_VERSION`, and every
    audio file's path, size and modification time."""
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("n_jobs", "device")}
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


def _write_rows(folder: Path, start: int, mel: np.ndarray, feats: np.ndarray) -> None:
    """Write rows ``start ...`` of both arrays through a mapping closed right after, so
    the written pages leave this process's resident memory."""
    mel_map = np.load(folder / _MEL, mmap_mode="r+")
    mel_map[start : start + len(mel)] = mel
    del mel_map
    hand_map = np.load(folder / _HAND, mmap_mode="r+")
    hand_map[start : start + len(feats)] = feats.astype(np.float32)
    del hand_map


def _extract_into(job: tuple[int, str, FeaturesConfig, int, int, str]) -> tuple[int, TrackOutcome]:
    """Worker: decode one track, compute its first ``capacity`` segments and write them
    at rows ``start ...`` of the arrays in ``folder``."""
    index, path, cfg, start, capacity, folder = job
    try:
        segments = load_segments(path, cfg)
    except AudioError as exc:
        return index, TrackOutcome(0, str(exc))
    return index, _store_track(Path(folder), path, segments, start, capacity,
                               feature_batches(segments[:capacity], cfg))


def _store_track(
    folder: Path, path: str, segments: np.ndarray, start: int, capacity: int,
    batches: Iterator[tuple[int, np.ndarray, np.ndarray]],
) -> TrackOutcome:
    if capacity == 0:
        return TrackOutcome(0, f"{path}: the header gives no full segment but decoding gave "
                               f"{len(segments)}; cannot place its rows")
    if len(segments) > capacity:
        log.warning("%s: decoded %d segments, the header predicted %d; keeping the first %d",
                    path, len(segments), capacity, capacity)
    for first, mel, feats in batches:
        _write_rows(folder, start + first, mel, feats)
    return TrackOutcome(min(len(segments), capacity))


class _Journal:
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
        for name in (_MEL, _HAND):
            fd = os.open(self.folder / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.fh.write("".join(line + "\n" for line in self.pending))
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.fh.close()


class CorpusExtraction:
    """Resumable extraction of many tracks into two memory-mapped ``.npy`` arrays.

    ``CorpusExtraction(paths, cfg, root).run()`` computes what is missing (everything
    the first time, only the tracks not yet journaled after a kill), across
    ``cfg.n_jobs`` processes or on ``cfg.device``; :meth:`promote` then puts the arrays
    at their final paths atomically and :meth:`cleanup` removes the work folder. Whatever
    process computes features gets :func:`tune_allocator` (this one, when ``n_jobs`` is 1
    or a GPU is used).

    Rows follow the input order, track after track, ``outcomes[i].n_segments`` rows for
    track ``i``: ``mel`` (n_seg, n_mels, frames) float32, ``handcrafted`` (n_seg,
    n_features) float32. Peak memory does not depend on the number of tracks.
    """

    def __init__(self, paths: Sequence[str | Path], cfg: FeaturesConfig, root: str | Path) -> None:
        self.paths = [str(p) for p in paths]
        self.cfg = cfg
        self.root = Path(root)
        self.key = extraction_key(self.paths, cfg)
        self.folder = self.root / self.key
        seg_len = round(cfg.segment_seconds * cfg.sample_rate)
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
        capacity = np.array([expected_segments(p, sr=cfg.sample_rate, seconds=cfg.segment_seconds)
                             for p in self.paths], dtype=np.int64)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.key}.", suffix=".tmp", dir=self.root))
        rows = max(1, int(capacity.sum()))  # numpy cannot map an empty file
        for name, shape in zip((_MEL, _HAND), self.row_shape, strict=True):
            arr = np.lib.format.open_memmap(tmp / name, mode="w+", dtype=np.float32,
                                            shape=(rows, *shape))
            del arr
        (tmp / _PLAN).write_text(json.dumps({"key": self.key, "capacity": capacity.tolist()}),
                                 encoding="utf-8")
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(tmp, self.folder)
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
            if child == self.folder or not child.is_dir():
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
            self._lock_fd = fd
        finally:
            if root_fd is not None and root_fd >= 0:
                os.close(root_fd)
        self.starts = np.concatenate([[0], np.cumsum(self.capacity)[:-1]]).astype(np.int64)
        done = {i: o for i, o in _Journal.read(self.folder).items() if 0 <= i < len(self.paths)}
        if done:
            log.info("resuming %s: %d of %d tracks already extracted", self.folder,
                     len(done), len(self.paths))
        return done

    # -- the work --------------------------------------------------------------------
    def run(self, *, progress: bool = True) -> list[TrackOutcome]:
        """Extract every track not yet done; return one outcome per track, input order."""
        from threadpoolctl import threadpool_limits

        done = self.open()
        pending = [i for i in range(len(self.paths)) if i not in done]
        jobs = min(resolve_jobs(self.cfg.n_jobs), max(1, len(pending)))
        device = resolve_device(self.cfg.device)
        bar = tqdm(total=len(self.paths), initial=len(done), desc="extract audio",
                   unit="track", disable=not progress)
        journal = _Journal(self.folder, every_s=JOURNAL_EVERY_S)

        def record(index: int, outcome: TrackOutcome) -> None:
            done[index] = outcome
            journal.add(index, outcome)
            bar.update()

        work = [(i, self.paths[i], self.cfg, int(self.starts[i]), int(self.capacity[i]),
                 str(self.folder)) for i in pending]
        if device != "cpu" or jobs == 1:
            tune_allocator()  # this process does the work
        try:
            if device != "cpu":
                log.info("extracting %d tracks on %s", len(work), device)
                self._run_on_device(work, device, jobs, record)
            elif jobs == 1:
                with threadpool_limits(1):
                    for job in work:
                        record(*_extract_into(job))
            else:
                log.info("extracting %d tracks with %d processes", len(work), jobs)
                self._run_pool(work, jobs, record)
        finally:
            journal.close()
            bar.close()
        return [done[i] for i in range(len(self.paths))]

    @staticmethod
    def _run_pool(work: list, jobs: int, record: Callable[[int, TrackOutcome], None]) -> None:
        pool = process_pool(jobs)
        futures = [pool.submit(_extract_into, job) for job in work]
        recorded: set[int] = set()
        try:
            for fut in as_completed(futures):
                index, outcome = fut.result()
                record(index, outcome)
                recorded.add(index)
        except BaseException:
            # Interrupted or a worker failed: keep what finished, then let it propagate.
            pool.shutdown(wait=True, cancel_futures=True)
            for fut in futures:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    index, outcome = fut.result()
                    if index not in recorded:
                        record(index, outcome)
            raise
        pool.shutdown(wait=True)

    def _run_on_device(self, work: list, device: str, jobs: int,
                       record: Callable[[int, TrackOutcome], None]) -> None:
        """Decode on ``jobs`` threads (a bounded read-ahead) and compute several tracks'
        segments per torch call on ``device``."""
        group: list[tuple[tuple, np.ndarray]] = []

        def flush() -> None:
            if not group:
                return
            kept = [segs[:job[4]] for job, segs in group]
            mel, feats = [], []
            for _, m, f in feature_batches(np.concatenate(kept), self.cfg, device=device,
                                           batch=DEVICE_BATCH):
                mel.append(m)
                feats.append(f)
            mel_all, feats_all = np.concatenate(mel), np.concatenate(feats)
            row = 0
            for (job, segs), k in zip(group, kept, strict=True):
                index, path, _, start, capacity, folder = job
                one = iter([(0, mel_all[row : row + len(k)], feats_all[row : row + len(k)])])
                record(index, _store_track(Path(folder), path, segs, start, capacity, one))
                row += len(k)
            group.clear()

        for job, result in _read_ahead(work, jobs):
            if isinstance(result, str):
                record(job[0], TrackOutcome(0, result))
                continue
            if job[4] == 0:
                record(job[0], _store_track(Path(job[5]), job[1], result, job[3], 0, iter(())))
                continue
            group.append((job, result))
            if sum(min(len(s), j[4]) for j, s in group) >= DEVICE_BATCH:
                flush()
        flush()

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


def _decode(job: tuple) -> np.ndarray | str:
    try:
        return load_segments(job[1], job[2])
    except AudioError as exc:
        return str(exc)


def _read_ahead(work: list, threads: int) -> Iterator[tuple[tuple, np.ndarray | str]]:
    """Decoded segments of each job in order, at most ``2 * threads`` decoded ahead."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        queue: deque = deque()
        jobs = iter(work)
        for job in jobs:
            queue.append((job, pool.submit(_decode, job)))
            if len(queue) >= 2 * threads:
                job0, fut = queue.popleft()
                yield job0, fut.result()
        while queue:
            job0, fut = queue.popleft()
            yield job0, fut.result()
