"""Resumable, memory-mapped, multi-process extraction of a whole corpus.

:class:`CorpusExtraction` turns every track into a :class:`~genrevae.features.jobs.TrackJob`
(decode it into its full segments, compute their features with
:func:`genrevae.features.audio.batch_features`, write their rows) and hands the jobs not yet
done to the engine ``features.engine`` names: ``local``
(:mod:`genrevae.features.engines.local`: ``features.n_jobs`` single-threaded processes, or
with ``features.device=cuda`` several tracks per torch call on the GPU) or ``dask``
(:mod:`genrevae.features.engines.dask`: tasks on a Dask cluster). Either fills the
resumable store of :mod:`genrevae.features.store`, which the extraction holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from genrevae.config import FeaturesConfig
from genrevae.devices import resolve_device
from genrevae.features.engines.dask import run_on_dask
from genrevae.features.engines.local import run_local
from genrevae.features.jobs import TrackJob
from genrevae.features.store import FeatureStore, TrackOutcome
from genrevae.features.workers import resolve_jobs


class CorpusExtraction:
    """Resumable extraction of many tracks into two memory-mapped ``.npy`` arrays.

    ``CorpusExtraction(paths, cfg, root).run()`` computes what is missing (everything
    the first time, only the tracks not yet journaled after a kill), across
    ``cfg.n_jobs`` processes, on ``cfg.device`` or on a Dask cluster; :meth:`promote` then
    puts the arrays at their final paths atomically and :meth:`cleanup` removes the work
    folder. The work folder is :attr:`store`, a
    :class:`~genrevae.features.store.FeatureStore` under ``root``.

    Rows follow the input order, track after track, ``outcomes[i].n_segments`` rows for
    track ``i``: ``mel`` (n_seg, n_mels, frames) float32, ``handcrafted`` (n_seg,
    n_features) float32. Peak memory does not depend on the number of tracks.
    """

    def __init__(self, paths: Sequence[str | Path], cfg: FeaturesConfig, root: str | Path) -> None:
        self.cfg = cfg
        self.store = FeatureStore(paths, cfg, root)

    def jobs(self, pending: Sequence[int]) -> list[TrackJob]:
        """The job of each track in ``pending`` (indices into the paths), after the
        store is open."""
        store = self.store
        return [TrackJob(index=i, path=store.paths[i], cfg=self.cfg, start=int(store.starts[i]),
                         capacity=int(store.capacity[i]), folder=str(store.folder))
                for i in pending]

    def run(self, *, progress: bool = True) -> list[TrackOutcome]:
        """Extract every track not yet done; return one outcome per track, input order."""
        store = self.store
        done = store.open()
        pending = [i for i in range(len(store.paths)) if i not in done]
        workers = min(resolve_jobs(self.cfg.n_jobs), max(1, len(pending)))
        device = resolve_device(self.cfg.device, key="features.device")
        bar = tqdm(total=len(store.paths), initial=len(done), desc="extract audio",
                   unit="track", disable=not progress)
        journal = store.journal()

        def record(index: int, outcome: TrackOutcome) -> None:
            done[index] = outcome
            journal.add(index, outcome)
            bar.update()

        work = self.jobs(pending)
        try:
            if self.cfg.engine == "dask":
                run_on_dask(work, store, workers=workers, record=record)
            else:
                run_local(work, workers=workers, device=device, record=record)
        finally:
            journal.close()
            bar.close()
        return [done[i] for i in range(len(store.paths))]

    def promote(self, outcomes: Sequence[TrackOutcome], mel_path: str | Path,
                handcrafted_path: str | Path) -> None:
        """:meth:`FeatureStore.promote <genrevae.features.store.FeatureStore.promote>`:
        the arrays at their final paths, atomically, with only the written rows."""
        self.store.promote(outcomes, mel_path, handcrafted_path)

    def cleanup(self) -> None:
        """:meth:`FeatureStore.cleanup <genrevae.features.store.FeatureStore.cleanup>`:
        the work folder removed (after :meth:`promote`)."""
        self.store.cleanup()
