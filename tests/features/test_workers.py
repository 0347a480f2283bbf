"""What extraction's workers do besides computing: cutting a file into its full segments,
and how many workers ``n_jobs`` means."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from genrevae.config import FeaturesConfig
from genrevae.errors import AudioError
from genrevae.features.workers import (
    WORKERS_PER_CORE,
    available_cores,
    load_segments,
    resolve_jobs,
)

SR = 22050
CFG = FeaturesConfig(sample_rate=SR, segment_seconds=1.0, n_fft=2048, hop_length=512,
                     n_mels=128, n_mfcc=20, n_jobs=1)


def test_load_segments_cuts_full_segments(clips):
    """A 2-s file in 1-s segments gives 2 rows, row i the file's samples from i s; a 1.5-s
    file gives 1 (the tail is dropped)."""
    y, _ = sf.read(clips / "long.wav", dtype="float32")
    segments = load_segments(clips / "long.wav", CFG)
    assert segments.shape == (2, SR) and segments.dtype == np.float32
    np.testing.assert_array_equal(segments, y[: 2 * SR].reshape(2, SR))
    y, _ = sf.read(clips / "short_ok.wav", dtype="float32")
    np.testing.assert_array_equal(load_segments(clips / "short_ok.wav", CFG), y[None, :SR])


def test_load_segments_refuses_clip_shorter_than_a_segment(clips):
    """A 0.5-s clip with 1-s segments raises AudioError naming the file and durations."""
    with pytest.raises(AudioError, match=r"tiny\.wav: 0\.50 s is shorter than one 1-s segment"):
        load_segments(clips / "tiny.wav", CFG)


@pytest.mark.parametrize("n_jobs", [1, 3, 7, 1024])
def test_resolve_jobs_positive_is_kept_up_to_two_per_core(n_jobs):
    """A positive n_jobs is used as is, up to WORKERS_PER_CORE workers per usable core: a
    large value does not start a process per track."""
    cap = WORKERS_PER_CORE * available_cores()
    assert resolve_jobs(n_jobs) == min(n_jobs, cap)
    assert resolve_jobs(1024) == cap


def test_resolve_jobs_zero_means_available_cores():
    """n_jobs=0 means one worker per usable core (at least one)."""
    assert resolve_jobs(0) >= 1
