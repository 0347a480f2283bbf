"""Feature-extraction benchmark: the naive librosa recipe against genrevae's extractor.

On the same clips, in one process run, it times

  (a) the naive recipe: one librosa call per feature on every 3-s segment, each computing
      its own STFT, librosa.effects.hpss for the harmonic/percussive columns, the beat
      tracker's tempo, and one more call for the log-mel (what the pipeline stores);
  (b) genrevae.features.extraction.CorpusExtraction (one STFT per segment, memory-mapped
      output) with 1 process and with all cores, and with ``--engine dask`` on a Dask
      LocalCluster of as many single-threaded worker processes (cluster start-up included),

and prints CPU and wall milliseconds per 30-s clip (10 segments) per core, the speed-up,
peak memory and the largest differences between the two feature sets, then per clip the
decode share: the CPU time of decoding, mixing down and resampling (load_audio) against
the whole clip's (decoding plus every segment's features), on one core. With ``--corpus N``
it then extracts N generated 30-s tracks and prints the wall time and the peak resident
memory of the whole process tree, per quarter of the run (flat means it does not grow with
the corpus). It ends with one JSON line:

  {"naive_ms": ..., "ours_ms_per_core": ..., "speedup": ..., "max_rel_diff": ..., "peak_rss_mb": ...,
   "decode_share": ..., "clip_ms": {"mp3": ..., "wav": ...}, "mp3_over_wav": ...,
   "dask_ms_per_core": ..., "dask_warm_ms_per_core": ..., "identical_to_local": ...}

naive_ms is CPU time per clip of (a); ours_ms_per_core is wall time x cores per clip of
(b) on all cores (pool start-up included); dask_ms_per_core the same for the Dask engine
(cluster start-up included), dask_warm_ms_per_core on a cluster already running, and
identical_to_local whether the arrays of both equal the local engine's bit for bit (these
only with --engine dask); decode_share is the median over clips of the decode share;
clip_ms the median whole-clip CPU time on one core per file format, and mp3_over_wav their
ratio when both are given (a figure of the code, where the absolute times are the machine's);
max_rel_diff leaves out the harmonic and percussive means, which are ~0, and any value
below 0.01 in magnitude (an MFCC mean can be ~0 by chance): their absolute difference is
printed instead.

    python benchmarks/extract.py ../shared/data/gtzan_sample/*/*.wav --generated 20 --corpus 2000
    python benchmarks/extract.py ../shared/data/previews_en_de/*/*.mp3 --generated 0 --engine dask
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import soundfile as sf  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from genrevae.config import FeaturesConfig  # noqa: E402
from genrevae.data.audio import cut_segments, load_audio  # noqa: E402
from genrevae.data.synthetic import generate_track  # noqa: E402
from genrevae.features.audio import handcrafted_columns  # noqa: E402
from genrevae.features.extraction import CorpusExtraction  # noqa: E402
from genrevae.features.jobs import feature_batches  # noqa: E402
from genrevae.features.kernels.reference import naive_features  # noqa: E402
from genrevae.features.workers import resolve_jobs, warm_up  # noqa: E402

SR = 22050
SEGMENT_S = 3.0
CLIP_SEGMENTS = 10  # a 30-s clip
NEAR_ZERO = ("harmony_mean", "perceptr_mean")
# Values below this (an MFCC mean that happens to be ~0) are compared absolutely.
SMALL = 1e-2
GENRES = ("blues", "classical", "disco", "hiphop", "jazz", "metal", "reggae", "rock")


class TreeMemory(threading.Thread):
    """Samples the resident memory (RSS, and PSS where available) of this process and all
    its children, summed, every ``every`` seconds."""

    def __init__(self, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, float, float]] = []  # (t, rss MB, pss MB)
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            import psutil
        except ImportError:  # fall back to getrusage at the end
            return
        me = psutil.Process()
        t0 = time.monotonic()
        pss = 0.0
        tick = 0
        while not self._stop_event.is_set():
            rss = 0.0
            procs = [me, *me.children(recursive=True)]
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    rss += proc.memory_info().rss
            if tick % 4 == 0:  # PSS walks the page tables: sample it less often
                pss = 0.0
                for proc in procs:
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        info = proc.memory_full_info()
                        pss += getattr(info, "pss", info.rss)
            tick += 1
            self.samples.append((time.monotonic() - t0, rss / 2**20, pss / 2**20))
            self._stop_event.wait(self.every)

    def __enter__(self) -> TreeMemory:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_event.set()
        self.join()

    def peak(self) -> tuple[float, float]:
        if not self.samples:
            usage = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
            return usage, usage
        return max(s[1] for s in self.samples), max(s[2] for s in self.samples)

    def quarters(self) -> list[float]:
        """Peak RSS (MB) in each quarter of the sampled time."""
        if not self.samples:
            return []
        end = self.samples[-1][0] or 1.0
        return [max((s[1] for s in self.samples if q * end / 4 <= s[0] <= (q + 1) * end / 4),
                    default=0.0) for q in range(4)]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_generated(folder: Path, count: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        genre = GENRES[i % len(GENRES)]
        path = folder / f"{genre}.{i:05d}.wav"
        if not path.exists():
            track = generate_track(genre, i, languages=("english",), duration=30.0, sr=SR,
                                   instrumental_fraction=0.2, seed=seed)
            sf.write(path, track.audio, SR, subtype="PCM_16")
        paths.append(path)
    return paths


def extract(paths: list[Path], jobs: int, workdir: Path, engine: str = "local",
            scheduler: str | None = None) -> dict:
    """One CorpusExtraction run (with promotion to final files); times and arrays."""
    cfg = FeaturesConfig(sample_rate=SR, segment_seconds=SEGMENT_S, n_fft=2048, hop_length=512,
                         n_mels=128, n_mfcc=20, n_jobs=jobs, engine=engine, scheduler=scheduler)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    cpu0, child0, wall0 = time.process_time(), children_cpu(), time.perf_counter()
    with TreeMemory() as mem:
        job = CorpusExtraction([str(p) for p in paths], cfg, workdir / ".audio.partial")
        outcomes = job.run(progress=len(paths) > 100)
        job.promote(outcomes, workdir / "mel.npy", workdir / "handcrafted.npy")
        job.cleanup()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0 + children_cpu() - child0
    return {"wall": wall, "cpu": cpu, "outcomes": outcomes, "mem": mem,
            "mel": np.load(workdir / "mel.npy", mmap_mode="r"),
            "hand": np.load(workdir / "handcrafted.npy", mmap_mode="r")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", type=Path, help="audio files (e.g. GTZAN WAVs)")
    parser.add_argument("--generated", type=int, default=20,
                        help="generated 30-s clips added to the comparison (default 20)")
    parser.add_argument("--naive-clips", type=int, default=None,
                        help="run the naive recipe on the first N clips only (default all)")
    parser.add_argument("--corpus", type=int, default=0,
                        help="then extract a corpus of N generated 30-s tracks (default 0: skip)")
    parser.add_argument("--corpus-distinct", type=int, default=40,
                        help="distinct generated tracks behind the corpus; the N files are hard "
                             "links to them, each decoded and extracted separately (default 40)")
    parser.add_argument("--jobs", type=int, default=0, help="processes for 'all cores' (0: all)")
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="dask: also run the Dask engine on a LocalCluster of --jobs workers")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch folder (default: a temporary one, removed at the end)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    jobs = resolve_jobs(args.jobs)
    scratch = args.workdir or Path(tempfile.mkdtemp(prefix="genrevae-extract-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        run(args, jobs, scratch)
    finally:
        if args.workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace, jobs: int, scratch: Path) -> None:
    clips = [p for p in args.clips if p.is_file()]
    clips += make_generated(scratch / "generated", args.generated, args.seed)
    if not clips:
        sys.exit("no clips: give audio files and/or --generated N")
    print(f"{len(clips)} clips ({len(clips) - args.generated} given, {args.generated} generated); "
          f"{jobs} cores for 'all cores'", flush=True)
    threadpool_limits(1)  # one core each: BLAS threads would blur 'per core'
    warm_up()

    # (b) ours first (1 process, then all cores), so (a) can be checked against its rows.
    one = extract(clips, 1, scratch / "ours1")
    many = extract(clips, jobs, scratch / f"ours{jobs}")
    n_segments = [o.n_segments for o in one["outcomes"]]
    total_segments = sum(n_segments)
    clip_equiv = total_segments / CLIP_SEGMENTS
    identical = (np.array_equal(one["mel"], many["mel"])
                 and np.array_equal(one["hand"], many["hand"]))
    dask = warm = None
    if args.engine == "dask":
        dask = extract(clips, jobs, scratch / "dask", engine="dask")
        warm = extract_on_running_cluster(clips, jobs, scratch / "dask_warm")
    dask_identical = dask is not None and all(
        run["outcomes"] == one["outcomes"] and np.array_equal(one["mel"], run["mel"])
        and np.array_equal(one["hand"], run["hand"]) for run in (dask, warm))

    # (a) the naive recipe on the same segments.
    n_naive = len(clips) if args.naive_clips is None else min(args.naive_clips, len(clips))
    starts = np.concatenate([[0], np.cumsum(n_segments)])
    cols = handcrafted_columns()
    near = np.array([c in NEAR_ZERO for c in cols])
    max_rel, max_rel_col, max_abs_near, max_mel_db = 0.0, "", 0.0, 0.0
    naive_cpu, naive_segments = 0.0, 0
    with TreeMemory() as naive_mem:
        for i in range(n_naive):
            y = load_audio(clips[i], sr=SR)
            seg_len = round(SEGMENT_S * SR)
            for j in range(n_segments[i]):
                seg = y[j * seg_len : (j + 1) * seg_len]
                t0 = time.process_time()
                mel_ref, ref = naive_features(seg, SR)
                naive_cpu += time.process_time() - t0
                naive_segments += 1
                ours = np.asarray(one["hand"][starts[i] + j], dtype=np.float64)
                diff = np.abs(ours - ref)
                small = near | (np.abs(ref) < SMALL)
                rel = np.where(small, 0.0, diff / np.maximum(np.abs(ref), SMALL))
                k = int(np.argmax(rel))
                if rel[k] > max_rel:
                    max_rel, max_rel_col = float(rel[k]), cols[k]
                max_abs_near = max(max_abs_near, float(diff[small].max(initial=0.0)))
                max_mel_db = max(max_mel_db, float(np.abs(one["mel"][starts[i] + j] - mel_ref).max()))
            print(f"  naive {i + 1}/{n_naive}", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    naive_ms = naive_cpu / naive_segments * CLIP_SEGMENTS * 1e3
    ours1_cpu = one["cpu"] / clip_equiv * 1e3
    ours1_wall = one["wall"] / clip_equiv * 1e3
    many_wall = many["wall"] / clip_equiv * 1e3
    many_per_core = many_wall * jobs
    many_cpu = many["cpu"] / clip_equiv * 1e3
    print()
    print(f"{'':34s}{'CPU ms/clip':>12s}{'wall ms/clip':>14s}{'ms/clip/core':>14s}"
          f"{'speed-up':>10s}{'peak RSS MB':>13s}")
    rows = [
        ("naive librosa recipe (1 core)", naive_ms, naive_ms, naive_ms, naive_mem.peak()[0]),
        ("genrevae, 1 process", ours1_cpu, ours1_wall, ours1_wall, one["mem"].peak()[0]),
        (f"genrevae, {jobs} processes", many_cpu, many_wall, many_per_core, many["mem"].peak()[0]),
    ]
    if dask is not None:
        dask_wall = dask["wall"] / clip_equiv * 1e3
        warm_wall = warm["wall"] / clip_equiv * 1e3
        rows += [(f"genrevae, Dask LocalCluster x{jobs}", dask["cpu"] / clip_equiv * 1e3,
                  dask_wall, dask_wall * jobs, dask["mem"].peak()[0]),
                 ("  the same cluster, running, warm", warm["cpu"] / clip_equiv * 1e3,
                  warm_wall, warm_wall * jobs, warm["mem"].peak()[0])]
    for name, cpu, wall, per_core, rss in rows:
        print(f"{name:34s}{cpu:12.1f}{wall:14.1f}{per_core:14.1f}{naive_ms / per_core:9.1f}x"
              f"{rss:13.0f}")
    print(f"\nclips: {len(clips)} ({total_segments} segments; naive on {naive_segments})")
    print(f"max relative difference, ours vs naive: {max_rel:.2e} ({max_rel_col}); "
          f"harmonic/percussive means and values below {SMALL:g}, max absolute: "
          f"{max_abs_near:.1e}; log-mel, max absolute: {max_mel_db:.1e} dB")
    print(f"1 process and {jobs} processes give identical arrays: {identical}")
    if dask is not None:
        print(f"the Dask engine ({jobs} workers; started by the run, and running) gives the "
              f"local engine's arrays: {dask_identical}")
    decode_share, clip_ms = decode_shares(clips)

    peak_rss = many["mem"].peak()[0]
    if args.corpus:
        distinct = make_generated(scratch / "corpus_src", min(args.corpus_distinct, args.corpus),
                                  args.seed + 1)
        corpus_dir = scratch / "corpus"
        corpus_dir.mkdir(exist_ok=True)
        corpus = []
        for i in range(args.corpus):
            path = corpus_dir / f"track{i:05d}.wav"
            if not path.exists():
                os.link(distinct[i % len(distinct)], path)
            corpus.append(path)
        print(f"\ncorpus: {args.corpus} generated 30-s tracks ({len(distinct)} distinct, hard-linked), "
              f"{jobs} processes", flush=True)
        big = extract(corpus, jobs, scratch / "corpus_out")
        n_seg = sum(o.n_segments for o in big["outcomes"])
        rss, pss = big["mem"].peak()
        quarters = ", ".join(f"{q:.0f}" for q in big["mem"].quarters())
        print(f"  wall {big['wall']:.1f} s ({args.corpus / big['wall']:.1f} tracks/s), CPU "
              f"{big['cpu'] / (n_seg / CLIP_SEGMENTS) * 1e3:.1f} ms/clip, "
              f"{big['wall'] * jobs / (n_seg / CLIP_SEGMENTS) * 1e3:.1f} ms/clip/core")
        print(f"  peak memory of the process tree: RSS {rss:.0f} MB, PSS {pss:.0f} MB; "
              f"peak RSS per quarter of the run: {quarters} MB")
        print(f"  output: mel {tuple(big['mel'].shape)} {big['mel'].dtype} "
              f"({big['mel'].nbytes / 2**30:.2f} GiB on disk), handcrafted {tuple(big['hand'].shape)}")
        peak_rss = rss

    summary = {"naive_ms": round(naive_ms, 1), "ours_ms_per_core": round(many_per_core, 1),
               "speedup": round(naive_ms / many_per_core, 1),
               "max_rel_diff": float(f"{max_rel:.3g}"), "peak_rss_mb": round(peak_rss),
               "decode_share": round(decode_share, 3), "clip_ms": clip_ms}
    if "mp3" in clip_ms and "wav" in clip_ms:
        summary["mp3_over_wav"] = round(clip_ms["mp3"] / clip_ms["wav"], 2)
    if dask is not None:
        summary.update(dask_ms_per_core=round(dask["wall"] / clip_equiv * 1e3 * jobs, 1),
                       dask_warm_ms_per_core=round(warm["wall"] / clip_equiv * 1e3 * jobs, 1),
                       identical_to_local=bool(dask_identical))
    print(json.dumps(summary))


def extract_on_running_cluster(clips: list[Path], jobs: int, workdir: Path) -> dict:
    """The Dask engine on a LocalCluster started beforehand and warmed by one extraction
    of the same clips (features.scheduler=its address), as on a user's running cluster:
    no start-up in the time; the CPU time counts the workers'."""
    import logging

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster, set_as_default=False) as client:
        address = cluster.scheduler_address
        extract(clips, jobs, workdir / "warm-up", engine="dask", scheduler=address)
        before = sum(client.run(time.process_time).values())
        out = extract(clips, jobs, workdir / "timed", engine="dask", scheduler=address)
        out["cpu"] += sum(client.run(time.process_time).values()) - before
        return out


def decode_shares(clips: list[Path]) -> tuple[float, dict[str, float]]:
    """Print, per clip, the CPU time of load_audio (decode, mix-down, resample) and of the
    whole clip (that, then cutting and every segment's features, as a worker computes
    them), on this one core; return the median decode share and the median whole-clip
    time (ms) per file format."""
    cfg = FeaturesConfig(sample_rate=SR, segment_seconds=SEGMENT_S, n_fft=2048, hop_length=512,
                         n_mels=128, n_mfcc=20, n_jobs=1)
    print(f"\nper clip, one core (CPU ms):\n{'clip':40s}{'s':>6s}{'decode':>9s}{'features':>10s}"
          f"{'total':>9s}{'decode share':>14s}")
    shares = []
    totals: dict[str, list[float]] = {}
    for clip in clips:
        t0 = time.process_time()
        y = load_audio(clip, sr=SR)
        t1 = time.process_time()
        for _ in feature_batches(cut_segments(y, sr=SR, seconds=SEGMENT_S), cfg):
            pass
        decode, features = t1 - t0, time.process_time() - t1
        shares.append(decode / (decode + features))
        totals.setdefault(clip.suffix.lower().lstrip("."), []).append((decode + features) * 1e3)
        print(f"{clip.name[:39]:40s}{len(y) / SR:6.1f}{decode * 1e3:9.1f}{features * 1e3:10.1f}"
              f"{(decode + features) * 1e3:9.1f}{shares[-1]:14.0%}")
    print(f"decode share: median {np.median(shares):.0%}, range {min(shares):.0%}..{max(shares):.0%}")
    per_format = {fmt: round(float(np.median(ms)), 1) for fmt, ms in sorted(totals.items())}
    print("whole clip, median CPU ms per format: "
          + ", ".join(f"{fmt} {ms:.1f} ({len(totals[fmt])} clips)" for fmt, ms in per_format.items()))
    if "mp3" in per_format and "wav" in per_format:
        print(f"an MP3 clip costs {per_format['mp3'] / per_format['wav']:.2f}x a WAV clip here")
    return float(np.median(shares)), per_format


if __name__ == "__main__":
    main()
