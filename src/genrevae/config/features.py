"""The ``features``, ``lyrics`` and ``fuse`` sections: the audio front end, the lyrics
embedding and how the two are joined; each dataclass validates its own keys."""

from __future__ import annotations

import re
from dataclasses import dataclass

from genrevae.config.build import (
    SAMPLE_RATE_RANGE,
    at_most,
    fail,
    in_range,
    non_negative,
    one_of,
    positive,
)
from genrevae.devices import DEVICES

ENGINES = ("local", "dask")
# A Dask scheduler's address (tls:// for a secured cluster), or a scheduler file's path.
SCHEDULER_ADDRESS = re.compile(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")
LYRICS_BACKENDS = ("tfidf", "sentence")
LYRICS_ANALYZERS = ("word", "char")
# fuse.audio_transform: see genrevae.inputs.fuse.fit_audio_scaling
AUDIO_TRANSFORMS = ("none", "yeo_johnson")
# Bounds on sizes (see SAMPLE_RATE_RANGE in build.py for why).
MAX_SEGMENT_SECONDS = 600.0
MAX_N_FFT = 65536
# features.max_seconds: extraction decodes what it reads of a track at once, so a worker's
# memory grows with it (benchmarks/README.md, "Long tracks").
MAX_TRACK_SECONDS = 3600.0
# features.n_jobs: an upper bound that catches a typo (10000) before it is asked for; the
# workers actually started are fewer still (genrevae.features.workers.resolve_jobs).
MAX_N_JOBS = 1024


@dataclass(frozen=True)
class FeaturesConfig:
    sample_rate: int
    segment_seconds: float
    n_fft: int
    hop_length: int
    n_mels: int
    n_mfcc: int
    # Worker processes for extraction; 0 means one per CPU core. At most MAX_N_JOBS, and
    # never more than the tracks left to extract or twice the cores.
    n_jobs: int
    # Where the spectral work runs: cpu (numpy + numba), cuda (torch, batched on the GPU)
    # or auto (cuda when torch sees one). Values agree within 1e-4 relative.
    device: str = "cpu"
    # Who runs the tracks: local (features.n_jobs processes on this machine) or dask
    # (tasks on a Dask cluster). The values are identical either way.
    engine: str = "local"
    # For engine=dask: None starts a LocalCluster of features.n_jobs single-threaded
    # worker processes on loopback; "tcp://host:port" (or tls://) or the path of a
    # scheduler file (*.json) uses a running cluster's scheduler.
    scheduler: str | None = None
    # Seconds read of each track, from its start: a longer recording gives its first
    # max_seconds. Keeps a worker's memory bounded whatever a file holds, and one long
    # recording from outweighing the clips around it in training.
    max_seconds: float = 600.0

    def check(self) -> None:
        for name in ("sample_rate", "segment_seconds", "n_fft", "hop_length", "n_mels",
                     "n_mfcc"):
            positive(f"features.{name}", getattr(self, name))
        in_range("features.sample_rate", self.sample_rate, *SAMPLE_RATE_RANGE)
        at_most("features.segment_seconds", self.segment_seconds, MAX_SEGMENT_SECONDS)
        at_most("features.n_fft", self.n_fft, MAX_N_FFT)
        at_most("features.max_seconds", self.max_seconds, MAX_TRACK_SECONDS)
        if self.max_seconds < self.segment_seconds:
            fail("features.max_seconds", f"must hold one segment: at least "
                                         f"features.segment_seconds ({self.segment_seconds:g}), "
                                         f"got {self.max_seconds:g}")
        non_negative("features.n_jobs", self.n_jobs)
        at_most("features.n_jobs", self.n_jobs, MAX_N_JOBS)
        one_of("features.device", self.device, DEVICES)
        one_of("features.engine", self.engine, ENGINES)
        if self.engine == "dask" and self.device != "cpu":
            fail("features.device", f"the dask engine runs on CPU workers; got {self.device!r} "
                                    "with features.engine=dask (set features.device=cpu)")
        if self.scheduler is not None:
            check_scheduler(self.scheduler, self.engine)
        if self.hop_length > self.n_fft:
            fail("features.hop_length", f"must not exceed features.n_fft ({self.n_fft})")
        if self.segment_seconds * self.sample_rate < self.n_fft:
            fail("features.segment_seconds", "a segment must hold at least one FFT frame")
        # A mel band narrower than one FFT bin is empty: its row of the log-mel is constant.
        bins = self.n_fft // 2 + 1
        if self.n_mels > bins:
            fail("features.n_mels", f"must not exceed the {bins} frequency bins of "
                                    f"features.n_fft ({self.n_fft})")
        if self.n_mfcc > self.n_mels:
            fail("features.n_mfcc", f"must not exceed features.n_mels ({self.n_mels})")


def check_scheduler(scheduler: str, engine: str) -> None:
    """``features.scheduler`` is only read by the dask engine, and must be a
    ``tcp://host:port`` / ``tls://host:port`` address or a scheduler file (``*.json``)."""
    key = "features.scheduler"
    if engine != "dask":
        fail(key, f"only meaningful with features.engine=dask (engine is {engine!r}); "
                  "set features.engine=dask or leave features.scheduler null")
    match = SCHEDULER_ADDRESS.fullmatch(scheduler)
    if match:
        if not 1 <= int(match[3]) <= 65535:
            fail(key, f"port {match[3]} is outside 1..65535 in {scheduler!r}")
        return
    if "://" in scheduler or not scheduler.endswith(".json"):
        fail(key, f"expected a scheduler address tcp://host:port (or tls://host:port) or a "
                  f"scheduler file path ending in .json, got {scheduler!r}")


@dataclass(frozen=True)
class LyricsConfig:
    backend: str
    analyzer: str
    ngram_min: int
    ngram_max: int
    max_features: int
    min_df: int
    dim: int
    model: str | None

    def check(self) -> None:
        one_of("lyrics.backend", self.backend, LYRICS_BACKENDS)
        one_of("lyrics.analyzer", self.analyzer, LYRICS_ANALYZERS)
        positive("lyrics.ngram_min", self.ngram_min)
        if self.ngram_max < self.ngram_min:
            fail("lyrics.ngram_max", f"must be >= lyrics.ngram_min ({self.ngram_min})")
        non_negative("lyrics.max_features", self.max_features)
        positive("lyrics.min_df", self.min_df)
        positive("lyrics.dim", self.dim)
        if self.backend == "sentence" and not self.model:
            fail("lyrics.model", "the sentence backend needs a model package name")


@dataclass(frozen=True)
class FuseConfig:
    audio_weight: float
    lyrics_weight: float
    audio_transform: str

    def check(self) -> None:
        one_of("fuse.audio_transform", self.audio_transform, AUDIO_TRANSFORMS)
        non_negative("fuse.audio_weight", self.audio_weight)
        non_negative("fuse.lyrics_weight", self.lyrics_weight)
        if self.audio_weight == 0 and self.lyrics_weight == 0:
            fail("fuse", "audio_weight and lyrics_weight cannot both be 0")
