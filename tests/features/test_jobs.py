"""A track's job on its own: it pickles (as it travels into a pool process or onto a Dask
worker), and the worker given one writes exactly the rows it names, or gives the reason
the track is unusable. Whole extractions are in tests/slow/features/."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from genrevae.config import FeaturesConfig
from genrevae.features.jobs import TrackJob, extract_track, feature_batches
from genrevae.features.store import FeatureStore, TrackOutcome
from genrevae.features.workers import load_segments

SR = 22050
CFG = FeaturesConfig(sample_rate=SR, segment_seconds=1.0, n_fft=2048, hop_length=512,
                     n_mels=32, n_mfcc=20, n_jobs=1)


@pytest.fixture
def store(clips, tmp_path):
    """An open store for the 2-s clip, an undecodable file and the 1.5-s clip (rows 0-1,
    none, row 2)."""
    paths = [str(clips / n) for n in ("long.wav", "bad.wav", "short_ok.wav")]
    store = FeatureStore(paths, CFG, tmp_path / ".audio.partial")
    store.open()
    yield store
    store.cleanup()


def _job(store: FeatureStore, i: int) -> TrackJob:
    return TrackJob(index=i, path=store.paths[i], cfg=CFG, start=int(store.starts[i]),
                    capacity=int(store.capacity[i]), folder=str(store.folder))


def test_a_job_round_trips_through_pickle(store):
    """Equal after pickling (what a process pool and Dask do to it), and immutable."""
    job = _job(store, 2)
    again = pickle.loads(pickle.dumps(job))
    assert again == job and again.cfg == CFG
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.start = 0  # type: ignore[misc]


def test_the_worker_writes_the_rows_its_job_names(store):
    """The third track's job owns row 2: that row holds its features, bit for bit those
    computed in memory, and the rows of the other tracks are left as they were."""
    index, outcome = extract_track(_job(store, 2))
    assert (index, outcome) == (2, TrackOutcome(1))
    segments = load_segments(store.paths[2], CFG)
    [(_, mel, feats)] = list(feature_batches(segments, CFG))
    on_disk_mel = np.load(store.folder / "mel.npy")
    on_disk_hand = np.load(store.folder / "handcrafted.npy")
    assert on_disk_mel.shape[0] == 3
    np.testing.assert_array_equal(on_disk_mel[2], mel[0])
    np.testing.assert_array_equal(on_disk_hand[2], feats[0].astype(np.float32))
    assert not on_disk_mel[:2].any() and not on_disk_hand[:2].any()


def test_the_worker_gives_the_reason_for_an_unusable_track(store):
    """An undecodable file: no rows, and a reason naming its path as the job gives it."""
    index, outcome = extract_track(_job(store, 1))
    assert index == 1 and outcome.n_segments == 0
    assert outcome.reason.startswith(store.paths[1]) and "cannot decode" in outcome.reason
