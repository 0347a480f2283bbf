"""The Dask engine (``features.engine: dask``), the peer of
:mod:`genrevae.features.engines.local`: the same :class:`~genrevae.features.jobs.TrackJob`
objects, a few to a task, run on a Dask cluster, and their rows land in the same resumable
store as the local engine's, bit for bit the same (the same decoding, the same batches,
one BLAS thread per task).

``features.scheduler`` null starts a :class:`distributed.LocalCluster` of
``features.n_jobs`` single-threaded worker processes on loopback, closed at the end; an
address (``tcp://host:8786``) or a scheduler file uses a running cluster (dask-jobqueue,
dask-kubernetes, ``dask scheduler``).

A task whose worker sees the store's folder (it finds there the token this client wrote
for the run) writes its tracks' rows into the memory-mapped arrays itself and returns only
their outcomes; one that does not see it returns the arrays, and this process writes them.
Either way a track is journaled here, after its rows are on disk, so a killed run resumes
with the tracks it had not finished. Every wait is bounded: an unreachable scheduler, a
cluster without workers, a task whose workers keep dying or a run that stops making
progress ends with one :class:`~genrevae.errors.ConfigError` or
:class:`~genrevae.errors.DataError` line, never a hang.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker

from genrevae.config import FeaturesConfig
from genrevae.errors import AudioError, ConfigError, DataError
from genrevae.features.jobs import Record, TrackJob, feature_batches
from genrevae.features.store import FeatureStore, TrackOutcome, store_track, sync_arrays, write_rows
from genrevae.features.workers import load_segments, tune_allocator

log = logging.getLogger(__name__)

# Seconds to reach a scheduler, and to wait for its first worker (a batch system may take
# a while to start the workers' jobs).
CONNECT_TIMEOUT_S = 30.0
WORKER_WAIT_S = 300.0
# A run in which no task finishes for this long, or that has no worker for WORKER_WAIT_S,
# is stopped (the finished tracks are kept).
STALL_S = 1800.0
# How often the client looks for finished tasks, and at most how many tracks a task holds
# (tasks are smaller when the corpus is small against the cluster, to spread it evenly).
POLL_S = 0.05
TASK_TRACKS = 8
# Tasks in flight per worker thread: enough to keep every worker busy while the client
# lands results, few enough that returned arrays do not pile up.
IN_FLIGHT_PER_THREAD = 3
TOKEN = "client.token"


@dataclass(frozen=True)
class TrackResult:
    """A task's account of one track: its outcome, its rows when the worker could not
    write them (``mel`` (n, n_mels, frames), ``feats`` (n, n_features), float32), and
    whether the worker found no file at its path."""

    index: int
    outcome: TrackOutcome
    mel: np.ndarray | None = None
    feats: np.ndarray | None = None
    missing: bool = False


class OneThreadPerTask(WorkerPlugin):
    """Set up each worker as :func:`~genrevae.features.workers.single_threaded_worker`
    sets up a pool process: one BLAS/OpenMP thread (the workers are the parallelism, and
    the values then do not depend on the thread count) and the allocator tuned."""

    idempotent = True
    name = "genrevae-one-thread-per-task"

    def setup(self, worker: object) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        tune_allocator()


def sees_store(folder: Path, token: str) -> bool:
    """Whether this process sees the client's store: ``folder`` holds the run's token."""
    try:
        return (folder / TOKEN).read_text(encoding="utf-8") == token
    except OSError:
        return False


def client_path(cwd: str, path: str) -> str:
    """``path`` as the client sees it, absolute (its ``os.path.abspath`` there): a worker's
    working directory is not the client's."""
    return os.path.normpath(os.path.join(cwd, path))


def extract_tracks(jobs: list[TrackJob], cwd: str, token: str, sync: bool) -> list[TrackResult]:
    """Task: decode and extract each of ``jobs`` (one store's) as the local engine does,
    their paths and folder taken from the client's working directory ``cwd``; write the
    rows into the store when this worker sees it (fsync'ed when ``sync``, for a worker on
    another machine), else return them."""
    store = Path(client_path(cwd, jobs[0].folder))
    shared = sees_store(store, token)
    wrote = False
    results = []
    for job in jobs:
        where = client_path(cwd, job.path)
        try:
            segments = load_segments(where, job.cfg)
        except AudioError as exc:  # the reason names the path as given, as the local engine's
            results.append(TrackResult(job.index,
                                       TrackOutcome(0, str(exc).replace(where, job.path)),
                                       missing=exc.reason == "missing"))
            continue
        if shared:
            try:
                outcome = store_track(store, job.path, segments, job.start, job.capacity,
                                      feature_batches(segments[: job.capacity], job.cfg))
                results.append(TrackResult(job.index, outcome))
                wrote = True
                continue
            except OSError:  # visible but not writable here: send the rows instead
                shared = False
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        outcome = store_track(store, job.path, segments, job.start, job.capacity,
                              feature_batches(segments[: job.capacity], job.cfg),
                              write=lambda _f, _row, mel, feats, out=parts: out.append((mel, feats)))
        if not parts:
            results.append(TrackResult(job.index, outcome))
            continue
        results.append(TrackResult(job.index, outcome, np.concatenate([m for m, _ in parts]),
                                   np.concatenate([f for _, f in parts]).astype(np.float32)))
    if wrote and sync:
        sync_arrays(store)
    return results


@contextlib.contextmanager
def connect(cfg: FeaturesConfig, jobs: int) -> Iterator[tuple[object, bool]]:
    """A ``distributed.Client`` of ``cfg.scheduler``'s cluster, or of a LocalCluster of
    ``jobs`` workers started here; yields ``(client, local)``. Both are closed on exit."""
    from distributed import Client, LocalCluster

    cluster = None
    where = cfg.scheduler
    # The scheduler and nannies of a LocalCluster log every start and stop: keep warnings.
    levels = _quiet(logging.WARNING)
    try:
        if where is None:
            try:
                cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", scheduler_port=0, dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.ERROR)
            except Exception as exc:
                raise DataError(f"features.engine=dask: cannot start a Dask LocalCluster of "
                                f"{jobs} workers: {exc}") from exc
            client = Client(cluster, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        elif where.endswith(".json"):
            if not Path(where).is_file():
                raise ConfigError(f"features.scheduler: no scheduler file at {where} (start the "
                                  "cluster first, e.g. `dask scheduler --scheduler-file ...`)")
            client = Client(scheduler_file=where, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        else:
            client = Client(where, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        _restore(levels)
        raise ConfigError(f"features.scheduler: cannot reach the Dask scheduler at "
                          f"{where or 'the LocalCluster'} within {CONNECT_TIMEOUT_S:g} s "
                          f"({exc})") from exc
    failed = False
    try:
        yield client, cluster is not None
    except BaseException:
        failed = True
        raise
    finally:
        if failed:  # said in one line: not again in the tracebacks of closing a broken cluster
            _quiet(logging.CRITICAL + 1)
        with contextlib.suppress(Exception):
            client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)
        _restore(levels)


def _quiet(level: int) -> dict[str, int]:
    """Raise distributed's loggers (it sets levels on some children) to at least ``level``;
    return their levels before, for :func:`_restore`."""
    names = ["distributed", *(n for n in logging.Logger.manager.loggerDict
                              if n.startswith("distributed."))]
    before = {n: logging.getLogger(n).level for n in names}
    for name in names:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < level:
            logger.setLevel(level)
    return before


def _restore(levels: dict[str, int]) -> None:
    for name in logging.Logger.manager.loggerDict:
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))


def _write_token(folder: Path) -> str:
    token = secrets.token_hex(16)
    tmp = folder / f".{TOKEN}.tmp"
    tmp.write_text(token, encoding="utf-8")
    os.replace(tmp, folder / TOKEN)
    return token


def _ready(client, where: str) -> int:
    """Set the workers up; the number of worker threads once there is at least one."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError as exc:
        raise DataError(f"features.scheduler: no Dask worker joined {where} within "
                        f"{WORKER_WAIT_S:g} s") from exc
    try:
        client.register_plugin(OneThreadPerTask())
    except Exception as exc:
        raise DataError(f"the Dask workers at {where} cannot set up genrevae ({exc!r}): run them "
                        "in this project's environment (pip install -c constraints.txt -e .)"
                        ) from exc
    return max(1, sum(client.nthreads().values()))


def _failure(exc: BaseException, chunk: list[TrackJob], where: str) -> DataError:
    """One line for a task that failed for a reason of the cluster's, naming its tracks."""
    more = f" (and {len(chunk) - 1} more tracks)" if len(chunk) > 1 else ""
    tracks = f"{chunk[0].path}{more}"
    if isinstance(exc, KilledWorker):
        tries = exc.allowed_failures + 1
        return DataError(f"features.engine=dask: a Dask worker died running {tracks}, "
                         f"{tries} time{'s' if tries > 1 else ''} in all (killed, or out of "
                         "memory: see the workers' logs); the finished tracks are kept, rerun "
                         "to resume")
    if isinstance(exc, ImportError):
        return DataError(f"the Dask workers at {where} cannot import genrevae ({exc}): run them "
                         "in this project's environment (pip install -c constraints.txt -e .)")
    return DataError(f"features.engine=dask: lost the Dask cluster at {where} while extracting "
                     f"{tracks} ({type(exc).__name__}: {exc}); the finished tracks are kept, "
                     "rerun to resume")


def run_on_dask(work: list[TrackJob], store: FeatureStore, *, workers: int,
                record: Record) -> None:
    """Run the jobs of ``work``, which fill ``store``, on the Dask cluster of ``store.cfg``
    (a LocalCluster of ``workers`` processes when it names none), calling ``record`` for
    each track once its rows are written."""
    if not work:
        return
    from concurrent.futures import CancelledError

    from distributed import as_completed

    folder = store.folder.resolve()
    token = _write_token(folder)
    # Workers reach the store by its resolved path, symlinks followed here.
    work = [dataclasses.replace(job, folder=str(folder)) for job in work]
    by_index = {job.index: job for job in work}
    cwd = os.getcwd()
    where = store.cfg.scheduler or "the LocalCluster"
    with connect(store.cfg, workers) as (client, local):
        threads = _ready(client, where)
        per_task = min(TASK_TRACKS, max(1, len(work) // (8 * threads)))
        chunks = iter([work[i : i + per_task] for i in range(0, len(work), per_task)])
        log.info("extracting %d tracks on the Dask cluster at %s (%d worker threads, %d "
                 "tracks a task)", len(work), where, threads, per_task)
        running: dict = {}
        ready = as_completed(loop=client.loop)

        def top_up() -> None:
            while len(running) < IN_FLIGHT_PER_THREAD * threads:
                chunk = next(chunks, None)
                if chunk is None:
                    return
                fut = client.submit(extract_tracks, chunk, cwd, token, not local,
                                    key=f"extract-tracks-{token[:8]}-{chunk[0].index}")
                running[fut] = chunk
                ready.add(fut)

        def land(results: list[TrackResult]) -> None:
            for r in results:
                job = by_index[r.index]
                if r.missing and os.path.exists(job.path):
                    raise DataError(f"{job.path}: a Dask worker finds no file at "
                                    f"{client_path(cwd, job.path)}, which exists here; the "
                                    "workers must see the audio at the same path (a shared "
                                    "filesystem)")
                if r.mel is not None:
                    write_rows(folder, job.start, r.mel, r.feats)
                record(r.index, r.outcome)

        def result(fut) -> list[TrackResult]:
            try:
                return fut.result(timeout=CONNECT_TIMEOUT_S)
            except (KilledWorker, OSError, TimeoutError, CancelledError, ImportError) as exc:
                raise _failure(exc, running[fut], where) from exc

        top_up()
        progress = time.monotonic()
        checked = progress
        no_worker_since: float | None = None
        try:
            while running:
                done = ready.next_batch(block=False)
                now = time.monotonic()
                if not done:
                    if now - checked >= 1.0:
                        checked = now
                        try:
                            alive = bool(client.nthreads())
                        except (OSError, TimeoutError) as exc:
                            raise _failure(exc, next(iter(running.values())), where) from exc
                        no_worker_since = None if alive else (no_worker_since or now)
                        if no_worker_since is not None and now - no_worker_since > WORKER_WAIT_S:
                            raise DataError(f"features.scheduler: every Dask worker at {where} has "
                                            f"been gone for {WORKER_WAIT_S:g} s; the finished "
                                            "tracks are kept, rerun to resume")
                        if now - progress > STALL_S:
                            raise DataError(f"features.engine=dask: no task finished in "
                                            f"{STALL_S:g} s on {where}; the finished tracks are "
                                            "kept, rerun to resume")
                    time.sleep(POLL_S)
                    continue
                progress = now
                for fut in done:
                    results = result(fut)
                    del running[fut]
                    land(results)
                top_up()
        except BaseException:
            # Interrupted, or a task failed: keep every track that did finish.
            for fut in list(running):
                if fut.status == "finished":
                    with contextlib.suppress(Exception):
                        land(fut.result(timeout=CONNECT_TIMEOUT_S))
            with contextlib.suppress(Exception):
                client.cancel(list(running))
            raise
