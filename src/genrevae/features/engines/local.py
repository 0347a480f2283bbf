"""The local engine (``features.engine: local``), the peer of
:mod:`genrevae.features.engines.dask`: each :class:`~genrevae.features.jobs.TrackJob` runs
in this process (``features.n_jobs`` 1), on a pool of single-threaded processes
(:func:`~genrevae.features.workers.process_pool`), or, with ``features.device=cuda``, is
decoded on a thread and computed with other tracks in one torch call on the GPU.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from genrevae.errors import AudioError, DataError
from genrevae.features.jobs import Record, TrackJob, extract_track, feature_batches
from genrevae.features.store import TrackOutcome, store_track
from genrevae.features.workers import load_segments, process_pool, tune_allocator

log = logging.getLogger(__name__)

# Segments per torch call on a GPU (several tracks are batched together).
DEVICE_BATCH = 256


def run_local(work: list[TrackJob], *, workers: int, device: str, record: Record) -> None:
    """Run every job of ``work`` on ``workers`` processes (threads that decode, on a GPU
    ``device``), calling ``record`` for each track once its rows are written. Whatever
    process computes features gets :func:`~genrevae.features.workers.tune_allocator`."""
    from threadpoolctl import threadpool_limits

    if device != "cpu" or workers == 1:
        tune_allocator()  # this process does the work
    if device != "cpu":
        log.info("extracting %d tracks on %s", len(work), device)
        run_on_device(work, device=device, threads=workers, record=record)
    elif workers == 1:
        with threadpool_limits(1):
            for job in work:
                record(*extract_track(job))
    else:
        log.info("extracting %d tracks with %d processes", len(work), workers)
        run_pool(work, workers=workers, record=record)


def run_pool(work: list[TrackJob], *, workers: int, record: Record) -> None:
    """:func:`~genrevae.features.jobs.extract_track` of each job on a pool of ``workers``
    processes, recording tracks as they finish (those finished are kept on a failure)."""
    pool = process_pool(workers)
    futures = [pool.submit(extract_track, job) for job in work]
    recorded: set[int] = set()
    try:
        for fut in as_completed(futures):
            index, outcome = fut.result()
            record(index, outcome)
            recorded.add(index)
    except BaseException as exc:
        # Interrupted or a worker failed: keep what finished, then let it propagate.
        pool.shutdown(wait=True, cancel_futures=True)
        for fut in futures:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                index, outcome = fut.result()
                if index not in recorded:
                    record(index, outcome)
        if isinstance(exc, BrokenProcessPool):
            raise DataError("a feature worker process was killed (out of memory? see the "
                            "system log); the finished tracks are kept: rerun (`dvc repro`) "
                            "to resume, with fewer features.n_jobs if memory is short"
                            ) from exc
        raise
    pool.shutdown(wait=True)


def run_on_device(work: list[TrackJob], *, device: str, threads: int, record: Record) -> None:
    """Decode on ``threads`` threads (a bounded read-ahead) and compute several tracks'
    segments per torch call on ``device``."""
    group: list[tuple[TrackJob, np.ndarray]] = []

    def flush() -> None:
        if not group:
            return
        kept = [segs[: job.capacity] for job, segs in group]
        mel, feats = [], []
        for _, m, f in feature_batches(np.concatenate(kept), group[0][0].cfg, device=device,
                                       batch=DEVICE_BATCH):
            mel.append(m)
            feats.append(f)
        mel_all, feats_all = np.concatenate(mel), np.concatenate(feats)
        row = 0
        for (job, segs), k in zip(group, kept, strict=True):
            one = iter([(0, mel_all[row : row + len(k)], feats_all[row : row + len(k)])])
            record(job.index, store_track(Path(job.folder), job.path, segs, job.start,
                                          job.capacity, one))
            row += len(k)
        group.clear()

    for job, result in read_ahead(work, threads):
        if isinstance(result, str):
            record(job.index, TrackOutcome(0, result))
            continue
        if job.capacity == 0:
            record(job.index, store_track(Path(job.folder), job.path, result, job.start, 0,
                                          iter(())))
            continue
        group.append((job, result))
        if sum(min(len(s), j.capacity) for j, s in group) >= DEVICE_BATCH:
            flush()
    flush()


def _decode(job: TrackJob) -> np.ndarray | str:
    try:
        return load_segments(job.path, job.cfg)
    except AudioError as exc:
        return str(exc)


def read_ahead(work: list[TrackJob], threads: int
               ) -> Iterator[tuple[TrackJob, np.ndarray | str]]:
    """The decoded segments of each job in order, or the reason the track is unusable, at
    most ``2 * threads`` decoded ahead."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        queue: deque = deque()
        for job in work:
            queue.append((job, pool.submit(_decode, job)))
            if len(queue) >= 2 * threads:
                first, fut = queue.popleft()
                yield first, fut.result()
        while queue:
            first, fut = queue.popleft()
            yield first, fut.result()
