"""Resumable, memory-mapped, multi-process extraction of a whole corpus.

:class:`CorpusExtraction` cuts every track into its full segments
(:func:`genrevae.features.workers.load_segments`) and computes their features with
:func:`genrevae.features.audio.batch_features`, across ``features.n_jobs``
single-threaded processes (:mod:`genrevae.features.workers`), with
``features.device=cuda`` several tracks per torch call on the GPU, or with
``features.engine=dask`` as tasks on a Dask cluster (:mod:`genrevae.features.dask_engine`),
into the resumable store of :mod:`genrevae.features.store`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genrevae.config import FeaturesConfig
from genrevae.devices import resolve_device
from genrevae.errors import AudioError, DataError
from genrevae.features.audio import batch_features
from genrevae.features.store import FeatureStore, TrackOutcome, store_track
from genrevae.features.workers import (
    load_segments,
    process_pool,
    read_ahead,
    resolve_jobs,
    tune_allocator,
)

log = logging.getLogger(__name__)

# Segments computed together: bounds the working memory of one worker, which grows with
# the batch (benchmarks/README.md).
MAX_BATCH = 16
# Segments per torch call on a GPU (several tracks are batched together).
DEVICE_BATCH = 256


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


def extract_track(job: tuple[int, str, FeaturesConfig, int, int, str]) -> tuple[int, TrackOutcome]:
    """Worker: decode one track, compute its first ``capacity`` segments and write them
    at rows ``start ...`` of the arrays in ``folder``; ``job`` is
    ``(index, path, cfg, start, capacity, folder)``."""
    index, path, cfg, start, capacity, folder = job
    try:
        segments = load_segments(path, cfg)
    except AudioError as exc:
        return index, TrackOutcome(0, str(exc))
    return index, store_track(Path(folder), path, segments, start, capacity,
                              feature_batches(segments[:capacity], cfg))


class CorpusExtraction(FeatureStore):
    """Resumable extraction of many tracks into two memory-mapped ``.npy`` arrays.

    ``CorpusExtraction(paths, cfg, root).run()`` computes what is missing (everything
    the first time, only the tracks not yet journaled after a kill), across
    ``cfg.n_jobs`` processes, on ``cfg.device`` or on a Dask cluster; :meth:`promote` then
    puts the arrays at their final paths atomically and :meth:`cleanup` removes the work folder (see
    :class:`~genrevae.features.store.FeatureStore`). Whatever process computes features
    gets :func:`~genrevae.features.workers.tune_allocator` (this one, when ``n_jobs`` is
    1 or a GPU is used).

    Rows follow the input order, track after track, ``outcomes[i].n_segments`` rows for
    track ``i``: ``mel`` (n_seg, n_mels, frames) float32, ``handcrafted`` (n_seg,
    n_features) float32. Peak memory does not depend on the number of tracks.
    """

    def run(self, *, progress: bool = True) -> list[TrackOutcome]:
        """Extract every track not yet done; return one outcome per track, input order."""
        from threadpoolctl import threadpool_limits

        done = self.open()
        pending = [i for i in range(len(self.paths)) if i not in done]
        jobs = min(resolve_jobs(self.cfg.n_jobs), max(1, len(pending)))
        device = resolve_device(self.cfg.device, key="features.device")
        bar = tqdm(total=len(self.paths), initial=len(done), desc="extract audio",
                   unit="track", disable=not progress)
        journal = self.journal()

        def record(index: int, outcome: TrackOutcome) -> None:
            done[index] = outcome
            journal.add(index, outcome)
            bar.update()

        work = [(i, self.paths[i], self.cfg, int(self.starts[i]), int(self.capacity[i]),
                 str(self.folder)) for i in pending]
        if self.cfg.engine == "local" and (device != "cpu" or jobs == 1):
            tune_allocator()  # this process does the work
        try:
            if self.cfg.engine == "dask":
                from genrevae.features.dask_engine import run_on_dask

                run_on_dask(self, work, jobs, record)
            elif device != "cpu":
                log.info("extracting %d tracks on %s", len(work), device)
                self._run_on_device(work, device, jobs, record)
            elif jobs == 1:
                with threadpool_limits(1):
                    for job in work:
                        record(*extract_track(job))
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
                record(index, store_track(Path(folder), path, segs, start, capacity, one))
                row += len(k)
            group.clear()

        for job, result in read_ahead(work, jobs):
            if isinstance(result, str):
                record(job[0], TrackOutcome(0, result))
                continue
            if job[4] == 0:
                record(job[0], store_track(Path(job[5]), job[1], result, job[3], 0, iter(())))
                continue
            group.append((job, result))
            if sum(min(len(s), j[4]) for j, s in group) >= DEVICE_BATCH:
                flush()
        flush()
