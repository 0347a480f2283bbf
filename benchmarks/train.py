"""Speed and memory of the `train` stage against corpus size, for conv_vae and vae.

Generates a corpus the size of the embedded one (96 tracks of 10 log-mel segments,
128 x 130, 8 genres, with fused feature vectors for the vae) and 4x and 16x that, writes
it as the pipeline's artifacts (segments.csv, a memory-mapped mel.npy, the fused arrays),
then runs the real train stage (genrevae.pipeline.train, in a fresh process per run so
peaks do not mix) for:

  conv_vae            the default network (conf/model/conv_vae.yaml);
  conv_vae reference  the network before it, (32, 64, 128) on the unpooled log-mel
                      (model.channels=[32,64,128] model.pool=1), at 1x only;
  vae                 the default feature-vector model on the audio input.

Time per segment per epoch is the difference between a run of 1 + E epochs and a run of
1 epoch at 1x, over E x the train segments, so loading, band statistics, the final
encoding and the checkpoint cancel out (an epoch includes its validation pass). Peak
resident memory (VmHWM of the stage's process) is taken from 1-epoch runs at every
scale. It prints a table and ends with one JSON line per model:

  {"model": ..., "ms_per_segment_epoch": ..., "reference_ms_per_segment_epoch": ...,
   "peak_rss_mb": [1x, 4x, 16x], "scales": [...], "segments": [...]}

(reference_ms_per_segment_epoch is the reference network's for conv_vae, null for vae).
With --candidate OVERRIDE (repeatable, e.g. 'model.channels=[24,48,96]') a third conv_vae
network, the default with those overrides, is timed at 1x in the same run; its figure is
the conv_vae line's "candidate_ms_per_segment_epoch".

    python benchmarks/train.py                    # scales 1,4,16; E = 2
    python benchmarks/train.py --scales 1,4 --epochs 3 --workdir /tmp/train-bench
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

log = logging.getLogger("benchmarks.train")

TRACKS, SEGMENTS_PER_TRACK, GENRES = 96, 10, 8  # the embedded corpus's size
N_MELS, FRAMES, N_FEATURES = 128, 130, 57
REFERENCE = ["model.channels=[32,64,128]", "model.pool=1"]


def write_corpus(directory: Path, scale: int, seed: int = 0) -> int:
    """segments.csv, mel.npy and fused/ of ``scale`` x the embedded corpus in
    ``directory``; returns the number of segments. Each genre has its own spectral
    envelope and rhythm, each track its own offset, each segment noise."""
    from genrevae.inputs.fuse import fuse_features, save_fused

    rng = np.random.default_rng(seed)
    n_tracks = TRACKS * scale
    genre = np.arange(n_tracks) % GENRES
    split = np.where(np.arange(n_tracks) % 20 < 14, "train",
                     np.where(np.arange(n_tracks) % 20 < 17, "val", "test"))
    track_index = np.repeat(np.arange(n_tracks), SEGMENTS_PER_TRACK)
    n = len(track_index)
    segments = pd.DataFrame({
        "track_id": [f"t{t:06d}" for t in track_index],
        "segment_index": np.tile(np.arange(SEGMENTS_PER_TRACK), n_tracks),
        "genre": [f"g{g}" for g in genre[track_index]],
        "language": "unknown", "source": "generated", "split": split[track_index],
    })
    audio_dir = directory / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    segments.to_csv(audio_dir / "segments.csv", index=False)
    envelopes = -60.0 + 20.0 * rng.normal(size=(GENRES, N_MELS, 1))
    rhythm = np.sin(np.arange(FRAMES)[None, :] * (1 + np.arange(GENRES))[:, None] / 5.0)
    mel = np.lib.format.open_memmap(audio_dir / "mel.npy", mode="w+", dtype=np.float32,
                                    shape=(n, N_MELS, FRAMES))
    step = 512
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        g = genre[track_index[rows]]
        offset = rng.normal(size=(len(rows), 1, 1)) * 3.0
        mel[rows] = (envelopes[g] + 6.0 * rhythm[g][:, None, :] + offset
                     + 4.0 * rng.normal(size=(len(rows), N_MELS, FRAMES))).astype(np.float32)
    mel.flush()
    del mel
    centres = rng.normal(size=(GENRES, N_FEATURES)) * 2.0
    audio = (centres[genre[track_index]] + rng.normal(size=(n, N_FEATURES))).astype(np.float32)
    lyrics = np.full((n_tracks, 8), np.nan)
    fused = fuse_features(audio, lyrics, track_index, split[track_index] == "train",
                          audio_weight=1.0, lyrics_weight=0.5)
    save_fused(directory / "fused", fused)
    return n


def child(params: Path) -> None:
    """Run the train stage with ``params`` in its folder; print seconds and peak RSS."""
    from genrevae.pipeline.runner import run_inline

    for name in ("genrevae", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    start = time.perf_counter()
    with contextlib.chdir(params.parent):
        run_inline("train", params.name)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (Linux's
    ru_maxrss does not: a child reports its parent's peak at the fork if that was higher)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_train(workdir: Path, corpus: Path, model: str, epochs: int, extra: list[str]) -> dict:
    """One train stage in a fresh process; returns {"seconds", "peak_rss_mb"}."""
    from genrevae.config.compose import compose_params

    run_dir = workdir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides = [f"model={model}", f"train.epochs={epochs}", "train.patience=100000",
                 "train.device=cpu", f"paths.audio_features={corpus / 'audio'}",
                 f"paths.fused={corpus / 'fused'}", *extra]
    if model == "vae":
        overrides.append("model.input=audio")
    compose_params(overrides, conf_dir=ROOT / "conf", output=run_dir / "params.yaml")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
    done = subprocess.run([sys.executable, __file__, "--child", str(run_dir / "params.yaml")],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"train failed ({model} {' '.join(extra)}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,4,16",
                        help="corpus sizes as multiples of the embedded corpus (default 1,4,16)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="E: extra epochs of the timed run over the 1-epoch run (default 2)")
    parser.add_argument("--models", default="conv_vae,vae",
                        help="comma-separated: conv_vae, vae (default both)")
    parser.add_argument("--candidate", action="append", default=[], metavar="OVERRIDE",
                        help="time a conv_vae network with this override as well "
                             "(repeatable, e.g. 'model.channels=[24,48,96]')")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch folder (default: a temporary one)")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        scales = [int(s) for s in args.scales.split(",") if s.strip()]
    except ValueError:
        sys.exit(f"error: --scales {args.scales!r}: not a comma-separated list of integers")
    if not scales or min(scales) < 1:
        sys.exit("error: --scales: give positive integers")
    if args.epochs < 1:
        sys.exit("error: --epochs: must be at least 1")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in ("conv_vae", "vae"):
            sys.exit(f"error: --models: {m!r} is not one of conv_vae, vae")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="genrevae-train-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log.info("torch threads: %s, workdir %s", os.environ.get("OMP_NUM_THREADS", "default"),
             workdir)

    sizes: dict[int, int] = {}
    for scale in scales:
        sizes[scale] = write_corpus(workdir / f"corpus{scale}", scale)
        log.info("corpus %dx: %d segments (%.0f MB of log-mel)", scale, sizes[scale],
                 sizes[scale] * N_MELS * FRAMES * 4 / 1e6)
    base = scales[0]
    n_train = int((pd.read_csv(workdir / f"corpus{base}" / "audio" / "segments.csv")["split"]
                   == "train").sum())

    def per_segment_epoch(model: str, extra: list[str]) -> tuple[float, dict]:
        corpus = workdir / f"corpus{base}"
        one = run_train(workdir, corpus, model, 1, extra)
        more = run_train(workdir, corpus, model, 1 + args.epochs, extra)
        return (more["seconds"] - one["seconds"]) * 1000 / (args.epochs * n_train), one

    lines = []
    print(f"\n{'model':<22} {'ms/segment/epoch':>17} " +
          " ".join(f"{f'RSS {s}x (MB)':>13}" for s in scales))
    for model in models:
        ms, first = per_segment_epoch(model, [])
        peaks = [first["peak_rss_mb"]] + [
            run_train(workdir, workdir / f"corpus{s}", model, 1, [])["peak_rss_mb"]
            for s in scales[1:]]
        reference = None
        if model == "conv_vae":
            reference, ref_first = per_segment_epoch(model, REFERENCE)
            print(f"{'conv_vae reference':<22} {reference:>17.2f} {ref_first['peak_rss_mb']:>13.0f}")
        candidate = None
        if model == "conv_vae" and args.candidate:
            candidate, cand_first = per_segment_epoch(model, args.candidate)
            print(f"{'conv_vae candidate':<22} {candidate:>17.2f} "
                  f"{cand_first['peak_rss_mb']:>13.0f}  ({' '.join(args.candidate)})")
        print(f"{model:<22} {ms:>17.2f} " + " ".join(f"{p:>13.0f}" for p in peaks))
        line = {"model": model, "ms_per_segment_epoch": round(ms, 3),
                "reference_ms_per_segment_epoch": None if reference is None
                else round(reference, 3),
                "peak_rss_mb": [round(p, 1) for p in peaks], "scales": scales,
                "segments": [sizes[s] for s in scales]}
        if candidate is not None:
            line["candidate"] = args.candidate
            line["candidate_ms_per_segment_epoch"] = round(candidate, 3)
        lines.append(line)
    if any(line["reference_ms_per_segment_epoch"] for line in lines):
        conv = next(line for line in lines if line["model"] == "conv_vae")
        print(f"conv_vae: {conv['reference_ms_per_segment_epoch'] / conv['ms_per_segment_epoch']:.1f}x"
              " faster than the reference network in this run")
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
