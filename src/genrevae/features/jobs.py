"""One track's share of a corpus extraction: :class:`TrackJob` says which track, with which
parameters, into which rows of which store; :func:`extract_track` is the worker that does
it, and :func:`feature_batches` the batched computation every engine shares (so the local
processes, the GPU path and the Dask tasks compute the same batches, bit for bit).

A job is a frozen dataclass of plain values: it pickles, by value, into a pool process or
onto a Dask worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrevae.config import FeaturesConfig
from genrevae.errors import AudioError
from genrevae.features.audio import batch_features
from genrevae.features.store import TrackOutcome, store_track
from genrevae.features.workers import load_segments

# Segments computed together: bounds the working memory of one worker, which grows with
# the batch (benchmarks/README.md).
MAX_BATCH = 16

# What an engine calls for each track once its rows are written: (job.index, outcome).
Record = Callable[[int, TrackOutcome], None]


@dataclass(frozen=True)
class TrackJob:
    """Extract track ``index`` of the corpus, the audio file at ``path`` (as the caller
    gave it: reasons name it so), with ``cfg``; write its first ``capacity`` segments
    (the count its header predicts) at rows ``start ...`` of the arrays in the store's
    work folder ``folder``."""

    index: int
    path: str
    cfg: FeaturesConfig
    start: int
    capacity: int
    folder: str


def feature_batches(
    segments: np.ndarray, cfg: FeaturesConfig, *, device: str = "cpu", batch: int = MAX_BATCH
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """:func:`~genrevae.features.audio.batch_features` of ``segments`` (n_seg, n),
    ``batch`` rows at a time: yields ``(first_row, log_mel, features)``."""
    for first in range(0, len(segments), batch):
        mel, feats = batch_features(
            segments[first : first + batch], sr=cfg.sample_rate, n_fft=cfg.n_fft,
            hop_length=cfg.hop_length, n_mels=cfg.n_mels, n_mfcc=cfg.n_mfcc, device=device)
        yield first, mel, feats


def extract_track(job: TrackJob) -> tuple[int, TrackOutcome]:
    """Worker: decode ``job.path``, compute its first ``job.capacity`` segments and write
    them at rows ``job.start ...`` of the arrays in ``job.folder``; returns
    ``(job.index, outcome)``, the outcome giving a reason when the track is unusable."""
    try:
        segments = load_segments(job.path, job.cfg)
    except AudioError as exc:
        return job.index, TrackOutcome(0, str(exc))
    return job.index, store_track(Path(job.folder), job.path, segments, job.start, job.capacity,
                                  feature_batches(segments[: job.capacity], job.cfg))
