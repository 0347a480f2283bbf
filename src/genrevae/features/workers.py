"""The processes extraction runs on: the process pool of single-threaded workers
(BLAS/OpenMP limited to one thread, the allocator tuned, dying with their parent),
``warm_up`` of the compiled kernels, ``resolve_jobs``, and the decoding of a track into
segments (``load_segments``), which every engine shares."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from genrevae.config import FeaturesConfig
from genrevae.data.audio import check_samples, cut_segments, load_audio, seconds_below
from genrevae.errors import AudioError
from genrevae.features.audio import batch_features

log = logging.getLogger(__name__)

# Workers are single-threaded and CPU-bound; a second one per core covers the time a worker
# waits on the disk, and more only add memory (each holds a decoded track and its arrays).
WORKERS_PER_CORE = 2


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_jobs(n_jobs: int) -> int:
    """The worker processes to start for ``features.n_jobs``: ``0`` means one per available
    core, and any value is capped at ``WORKERS_PER_CORE`` per core (the caller caps it
    further at the number of tracks to extract)."""
    cores = available_cores()
    if n_jobs <= 0:
        return cores
    cap = WORKERS_PER_CORE * cores
    if n_jobs > cap:
        log.info("features.n_jobs=%d: starting %d workers (%d per core on %d cores)", n_jobs,
                 cap, WORKERS_PER_CORE, cores)
    return min(n_jobs, cap)


def tune_allocator() -> None:
    """Keep freed memory in this process's heap instead of returning it to the system.

    glibc serves every array over 128 kB (most of a batch's temporaries) with a fresh
    mmap and unmaps it when freed, so each batch pays page faults to re-zero its
    temporaries, a large share of the whole extraction's time (benchmarks/README.md).
    Raising the mmap and trim thresholds makes the arrays reuse the heap; memory then
    stays at the peak of one batch (it does not grow with the corpus). A no-op where libc
    is not glibc.
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
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the stage's handler, forked with it
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
    check_samples(np.stack([y[0], y[0]], axis=1), "warm-up")
    batch_features(y, sr=22050, n_fft=512, hop_length=128, n_mels=32, n_mfcc=4)


def load_segments(path: str | Path, cfg: FeaturesConfig) -> np.ndarray:
    """Decode ``path`` (its first ``cfg.max_seconds``) and cut it into its full segments
    (:func:`genrevae.data.audio.cut_segments`).

    Returns
    -------
    np.ndarray [shape=(n_seg, round(segment_seconds * sample_rate)), dtype=float32]
        Segment ``i`` starts at ``i * segment_seconds`` s; the trailing part is dropped.

    Raises
    ------
    AudioError
        The file is unusable or shorter than one segment.
    """
    y = load_audio(path, sr=cfg.sample_rate, max_seconds=cfg.max_seconds)
    segments = cut_segments(y, sr=cfg.sample_rate, seconds=cfg.segment_seconds)
    if not len(segments):
        raise AudioError(
            f"{path}: {seconds_below(len(y) / cfg.sample_rate, cfg.segment_seconds)} s is "
            f"shorter than one {cfg.segment_seconds:g}-s segment",
            "too_short",
        )
    return segments

