"""Memory of `genrevae predict` and of prepare's file check against song length.

Writes songs of the given lengths (44.1 kHz stereo 16-bit WAV, tones and noise, written a
block at a time), then, each in a fresh process so peaks do not mix:

  (a) `genrevae predict SONG --model DIR`: the streaming decoder and the batched features;
  (b) the reference, the whole-song recipe predict used before: decode all of it, resample
      all of it, features of every segment in one batch (skipped above --reference-max
      minutes, where it needs several GB);
  (c) `prepare`'s check of one file (genrevae.data.audio.probe_audio: duration, peak,
      loudness, digest), which decodes a block at a time;
  (d) `extract_audio`'s decoding of one track (genrevae.features.workers.load_segments,
      with the checkpoint's features section), which reads the first features.max_seconds
      of it at once, and the same with features.max_seconds at its bound (3600 s), as the
      reference of what reading a song whole costs;

and prints, per length, peak resident memory (MB), wall seconds and the ratio of each
peak to that of the shortest song under (a) (flat means memory does not grow with the
song). It ends with one JSON line:

  {"minutes": [...], "predict_peak_mb": [...], "reference_peak_mb": [...],
   "probe_peak_mb": [...], "extract_peak_mb": [...], "extract_whole_peak_mb": [...],
   "max_seconds": ..., "growth": ..., "probe_growth": ..., "extract_growth": ...,
   "extract_whole_growth": ...}

growth is the longest song's peak over the shortest's, for (a); probe_growth for (c);
extract_growth for (d), which stops growing once a song passes max_seconds.

    python benchmarks/predict_memory.py --model models --minutes 1,10,60
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from genrevae.config.features import MAX_TRACK_SECONDS

log = logging.getLogger("benchmarks.predict_memory")

SR = 44100
REFERENCE = """
import sys
import numpy as np
from genrevae.data.audio import cut_segments, load_audio
from genrevae.features.audio import batch_features
from genrevae.serving.predict import Predictor

p = Predictor(sys.argv[1])
f = p.meta["features"]
y = load_audio(sys.argv[2], sr=f["sample_rate"])
segments = cut_segments(y, sr=f["sample_rate"], seconds=f["segment_seconds"])
batch_features(segments, sr=f["sample_rate"], n_fft=f["n_fft"], hop_length=f["hop_length"],
               n_mels=f["n_mels"], n_mfcc=f["n_mfcc"])
"""
PROBE = """
import sys
from genrevae.data.audio import probe_audio

probe_audio(sys.argv[1], min_seconds=3.0)
"""
FEATURES = """
import json
import sys
from genrevae.serving.predict import Predictor

print(json.dumps(Predictor(sys.argv[1]).meta["features"]))
"""
EXTRACT = """
import json
import sys
from genrevae.config import FeaturesConfig
from genrevae.features.workers import load_segments

load_segments(sys.argv[2], FeaturesConfig(**json.loads(sys.argv[1])))
"""


def write_song(path: Path, minutes: float, seed: int = 0) -> None:
    """Tones that change every few seconds plus noise, one minute at a time."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", samplerate=SR, channels=2, subtype="PCM_16") as out:
        for _ in range(int(np.ceil(minutes))):
            t = np.arange(60 * SR) / SR
            freqs = rng.uniform(80, 2000, size=(20, 3))
            y = sum(np.sin(2 * np.pi * np.repeat(freqs[:, k], 3 * SR) * t) for k in range(3))
            y = 0.2 * y / 3 + 0.02 * rng.standard_normal(len(t))
            out.write(np.stack([y, 0.9 * y], axis=1).astype(np.float32))


def peak_of(cmd: list[str]) -> tuple[float, float]:
    """Peak RSS (MB) and wall seconds of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models"),
                        help="folder with model.pt and probe.json (default: models)")
    parser.add_argument("--minutes", default="1,10,60", help="song lengths (default: 1,10,60)")
    parser.add_argument("--reference-max", type=float, default=10.0,
                        help="longest song for the whole-song reference (default: 10 minutes)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    lengths = [float(m) for m in args.minutes.split(",")]
    genrevae = str(Path(sys.executable).with_name("genrevae"))
    # The extraction runs get the features section as JSON, read in a child of its own:
    # the model (and torch) loaded in the runs, or in this process before it forks them,
    # would count in the peaks they measure.
    features = json.loads(subprocess.run(
        [sys.executable, "-c", FEATURES, str(args.model)], capture_output=True, text=True,
        check=True).stdout)
    capped = json.dumps(features)
    whole = json.dumps({**features, "max_seconds": MAX_TRACK_SECONDS})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in lengths:
            song = Path(tmp) / f"song_{minutes:g}min.wav"
            write_song(song, minutes)
            ours = peak_of([genrevae, "predict", str(song), "--model", str(args.model)])
            ref = (peak_of([sys.executable, "-c", REFERENCE, str(args.model), str(song)])
                   if minutes <= args.reference_max else (None, None))
            probe = peak_of([sys.executable, "-c", PROBE, str(song)])
            extract = peak_of([sys.executable, "-c", EXTRACT, capped, str(song)])
            read_whole = peak_of([sys.executable, "-c", EXTRACT, whole, str(song)])
            rows.append((minutes, *ours, *ref, *probe, *extract, *read_whole))
            song.unlink()
    base = rows[0][1]
    max_seconds = features.get("max_seconds")
    log.info("%8s %12s %8s %8s %14s %8s %10s %8s %12s %8s %10s", "minutes", "predict MB",
             "wall s", "ratio", "reference MB", "wall s", "probe MB", "wall s", "extract MB",
             "wall s", "whole MB")
    for minutes, mb, wall, ref_mb, ref_wall, probe_mb, probe_wall, ex_mb, ex_wall, wh_mb, _ in rows:
        log.info("%8g %12.0f %8.1f %8.2f %14s %8s %10.0f %8.1f %12.0f %8.1f %10.0f", minutes, mb,
                 wall, mb / base, "-" if ref_mb is None else f"{ref_mb:.0f}",
                 "-" if ref_wall is None else f"{ref_wall:.1f}", probe_mb, probe_wall, ex_mb,
                 ex_wall, wh_mb)
    log.info("extract: the first features.max_seconds (%s s) of each song; whole: the first "
             "%g s", max_seconds, MAX_TRACK_SECONDS)
    print(json.dumps({"minutes": lengths, "predict_peak_mb": [round(r[1]) for r in rows],
                      "reference_peak_mb": [None if r[3] is None else round(r[3]) for r in rows],
                      "probe_peak_mb": [round(r[5]) for r in rows],
                      "extract_peak_mb": [round(r[7]) for r in rows],
                      "extract_whole_peak_mb": [round(r[9]) for r in rows],
                      "max_seconds": max_seconds, "growth": round(rows[-1][1] / base, 3),
                      "probe_growth": round(rows[-1][5] / rows[0][5], 3),
                      "extract_growth": round(rows[-1][7] / rows[0][7], 3),
                      "extract_whole_growth": round(rows[-1][9] / rows[0][9], 3)}))


if __name__ == "__main__":
    main()
