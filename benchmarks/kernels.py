"""Micro-benchmark of the choices inside the feature extractor that benchmarks/extract.py
does not time on their own. On 30-s generated tracks cut into 3-s segments, it measures

  (a) HPSS's two median filters per 3-s segment: scipy.ndimage.median_filter (what
      librosa.decompose.hpss calls) against genrevae.features.kernels.hpss.median_filter;
  (b) the working memory of one batch of genrevae.features.jobs.MAX_BATCH segments
      (the peak of numpy's allocations, traced), per segment;
  (c) the allocator tuning of genrevae.features.workers.tune_allocator: the kernel
      (system) CPU time per 30-s track of batch_features, each in a fresh single-threaded
      process, without and with it, and its share of the process's CPU time.

It ends with one JSON line:

  {"scipy_median_ms": ..., "ours_median_ms": ..., "batch_mb_per_segment": ...,
   "sys_ms_per_track": {"default": ..., "tuned": ...}, "sys_share_default": ...}

    python benchmarks/kernels.py [--tracks 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import scipy.ndimage as ndi  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from genrevae.data.audio import cut_segments  # noqa: E402
from genrevae.data.synthetic import generate_track  # noqa: E402
from genrevae.features.audio import batch_features  # noqa: E402
from genrevae.features.jobs import MAX_BATCH  # noqa: E402
from genrevae.features.kernels.banks import setup  # noqa: E402
from genrevae.features.kernels.hpss import HPSS_KERNEL, median_filter  # noqa: E402
from genrevae.features.kernels.spectral import stft  # noqa: E402
from genrevae.features.workers import tune_allocator, warm_up  # noqa: E402

SR = 22050
SEGMENT_S = 3.0
KW = dict(sr=SR, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20)
GENRES = ("blues", "classical", "disco", "hiphop", "jazz", "metal", "reggae", "rock")


def tracks(count: int) -> list[np.ndarray]:
    """``count`` generated 30-s tracks, each cut into its 3-s segments (10, n)."""
    return [cut_segments(generate_track(GENRES[i % len(GENRES)], i, languages=("english",),
                                        duration=30.0, sr=SR, instrumental_fraction=0.2,
                                        seed=7).audio, sr=SR, seconds=SEGMENT_S)
            for i in range(count)]


def median_ms(segments: np.ndarray, repeat: int) -> tuple[float, float]:
    """CPU ms per segment of the harmonic and percussive median filters: scipy, ours."""
    mag = np.abs(stft(segments, setup(SR, 2048, 512, 128)))  # (B, T, F)
    k = HPSS_KERNEL
    t0 = time.process_time()
    for _ in range(repeat):
        for m in mag:
            ndi.median_filter(m.T, size=(1, k), mode="reflect")
            ndi.median_filter(m.T, size=(k, 1), mode="reflect")
    scipy_ms = (time.process_time() - t0) * 1e3 / (repeat * len(mag))
    nb, nt, nf = mag.shape
    harm, perc = np.empty_like(mag), np.empty_like(mag)
    t0 = time.process_time()
    for _ in range(repeat):
        median_filter(mag, k, harm)
        median_filter(mag.reshape(nb * nt, nf).T[None], k, perc.reshape(nb * nt, nf).T[None])
    ours_ms = (time.process_time() - t0) * 1e3 / (repeat * len(mag))
    return scipy_ms, ours_ms


def batch_mb_per_segment(segments: np.ndarray) -> float:
    """Peak traced allocation of one batch_features call on MAX_BATCH segments, per segment."""
    batch = np.concatenate([segments] * (MAX_BATCH // len(segments) + 1))[:MAX_BATCH]
    batch_features(batch, **KW)  # caches (banks, windows) built outside the trace
    tracemalloc.start()
    batch_features(batch, **KW)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20 / MAX_BATCH


def _system_time(args: tuple[bool, int, int]) -> tuple[float, float]:
    """In a fresh process: system and total CPU seconds per track of batch_features."""
    tuned, count, repeat = args
    if tuned:
        tune_allocator()
    work = tracks(count)
    with threadpool_limits(1):
        warm_up()
        batch_features(work[0], **KW)
        before = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(repeat):
            for segments in work:
                batch_features(segments, **KW)
        after = resource.getrusage(resource.RUSAGE_SELF)
    n = repeat * count
    sys_s = after.ru_stime - before.ru_stime
    return sys_s / n, (sys_s + after.ru_utime - before.ru_utime) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=4, help="30-s tracks per measure")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    warm_up()
    segments = tracks(1)[0]
    with threadpool_limits(1):
        scipy_ms, ours_ms = median_ms(segments, args.repeat)
        mb = batch_mb_per_segment(segments)
    print(f"HPSS median filters per 3-s segment: scipy {scipy_ms:.1f} ms, ours {ours_ms:.1f} ms "
          f"(x{scipy_ms / ours_ms:.0f})")
    print(f"working memory of a {MAX_BATCH}-segment batch: {mb:.1f} MB per segment")

    ctx = multiprocessing.get_context("spawn")  # a fresh heap, untouched by the tuning
    sys_ms, share = {}, 0.0
    for tuned in (False, True):
        with ctx.Pool(1) as pool:
            sys_s, total_s = pool.apply(_system_time, ((tuned, args.tracks, args.repeat),))
        name = "tuned" if tuned else "default"
        sys_ms[name] = sys_s * 1e3
        if not tuned:
            share = sys_s / total_s
        print(f"allocator {name}: {sys_s * 1e3:.1f} ms system CPU per 30-s track "
              f"({sys_s / total_s:.0%} of its {total_s * 1e3:.0f} ms)")
    print(json.dumps({"scipy_median_ms": round(scipy_ms, 2), "ours_median_ms": round(ours_ms, 2),
                      "batch_mb_per_segment": round(mb, 2),
                      "sys_ms_per_track": {k: round(v, 2) for k, v in sys_ms.items()},
                      "sys_share_default": round(share, 3)}))


if __name__ == "__main__":
    main()
