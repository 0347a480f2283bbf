"""Linear-probe benchmark: the probe on an input wider than its train rows (the flattened
log-mel that conv_vae's raw baseline is), fit in the span of the train rows
(genrevae.evaluation.probe) against scikit-learn's pipeline on every column (the code
before), in one run on the same rows.

Both choose C by the same grouped 5-fold cross-validation on the train split, then fit on
the whole train split and predict the test split. It prints the CPU seconds of each, their
ratio, the C each chose, the test accuracies and the largest difference between their
test probabilities (both stop at scikit-learn's default tolerance), and how far each is
from the optimum they both approach (the same regression solved to a tolerance of 1e-10),
and ends with one JSON line:

  {"rows": ..., "columns": ..., "reference_s": ..., "span_s": ..., "speedup": ...,
   "same_c": ..., "max_proba_diff": ..., "reference_from_optimum": ...,
   "span_from_optimum": ..., "reference_acc": ..., "span_acc": ...}

It reads a pipeline run's log-mel and segments (after `make run` with model=conv_vae, or
benchmarks/quality.py's --workdir):

    python benchmarks/probe.py --features data/features/audio --train-segments 600
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genrevae.evaluation.probe import C_GRID, MAX_ITER, ProbeInput, linear_probe  # noqa: E402

log = logging.getLogger("probe")


def reference_probe(z: np.ndarray, labels: np.ndarray, split: np.ndarray, groups: np.ndarray,
                    seed: int) -> tuple[float, np.ndarray, object]:
    """The probe before: every C and fold a scaler + logistic regression on every column.
    Returns (C, test probabilities, fitted pipeline)."""
    train, test = split == "train", split == "test"
    zt, yt, gt = z[train], labels[train], groups[train]
    folds = list(GroupKFold(n_splits=min(5, len(np.unique(gt)))).split(zt, yt, gt))
    scores = []
    for c in C_GRID:
        accs = []
        for fit_rows, score_rows in folds:
            if len(set(yt[fit_rows])) < 2:
                continue
            model = make_pipeline(StandardScaler(),
                                  LogisticRegression(max_iter=MAX_ITER, C=c, random_state=seed))
            model.fit(zt[fit_rows], yt[fit_rows])
            accs.append(accuracy_score(yt[score_rows], model.predict(zt[score_rows])))
        scores.append(np.mean(accs) if accs else -1.0)
    c = float(C_GRID[int(np.argmax(scores))])
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=MAX_ITER, C=c, random_state=seed))
    model.fit(zt, yt)
    return c, model.predict_proba(z[test]), model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=ROOT / "data" / "features" / "audio",
                        help="a folder with mel.npy and segments.csv (extract_audio's output)")
    parser.add_argument("--train-segments", type=int, default=600,
                        help="train segments to keep, whole tracks drawn at random (default 600)")
    parser.add_argument("--target", default="genre", help="the label column (default: genre)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mel_path, seg_path = args.features / "mel.npy", args.features / "segments.csv"
    for path in (mel_path, seg_path):
        if not path.is_file():
            sys.exit(f"error: --features: {path} not found (run the pipeline first)")
    if args.train_segments < 10:
        sys.exit("error: --train-segments: give at least 10")
    segments = pd.read_csv(seg_path)
    if args.target not in segments:
        sys.exit(f"error: --target: segments.csv has no column {args.target!r}")
    rng = np.random.default_rng(args.seed)
    train_tracks = segments.loc[segments["split"] == "train", "track_id"].unique()
    per_track = len(segments[segments["split"] == "train"]) / max(1, len(train_tracks))
    keep = rng.permutation(train_tracks)[: max(3, round(args.train_segments / per_track))]
    rows = np.flatnonzero(segments["track_id"].isin(keep).to_numpy()
                          | (segments["split"] == "test").to_numpy())
    mel = np.load(mel_path, mmap_mode="r")
    z = np.asarray(mel[rows], dtype=np.float32).reshape(len(rows), -1)
    labels = segments[args.target].to_numpy(dtype=object)[rows]
    split = segments["split"].to_numpy()[rows]
    groups = segments["track_id"].to_numpy()[rows]
    n_train = int((split == "train").sum())
    log.info("%d train and %d test segments of %d columns", n_train,
             int((split == "test").sum()), z.shape[1])

    t0 = time.process_time()
    ref_c, ref_proba, ref_model = reference_probe(z, labels, split, groups, args.seed)
    ref_s = time.process_time() - t0
    t0 = time.process_time()
    ours = linear_probe(z, labels, split, groups, seed=args.seed)
    span_s = time.process_time() - t0
    test = split == "test"
    span_proba = ours.model.predict_proba(z[test])
    span_c = float(ours.model.steps[1][1].C)
    ref_acc = accuracy_score(labels[test], ref_model.classes_[ref_proba.argmax(axis=1)])
    span_acc = ours.metrics["segment_accuracy"]
    diff = float(np.abs(span_proba - ref_proba).max())
    # The optimum both approach: the same regression solved to the end, in the span.
    fold = ProbeInput(z[split == "train"].astype(np.float64))
    exact = LogisticRegression(max_iter=100 * MAX_ITER, tol=1e-10, C=span_c, random_state=args.seed)
    exact.fit(fold.coords, labels[split == "train"])
    optimum = exact.predict_proba(fold.transform(z[test].astype(np.float64)))
    ref_off = float(np.abs(ref_proba - optimum).max())
    span_off = float(np.abs(span_proba - optimum).max())
    print(f"\n{'':28s}{'CPU s':>10s}{'C':>8s}{'test acc':>10s}")
    print(f"{'every column (before)':28s}{ref_s:10.1f}{ref_c:8g}{ref_acc:10.3f}")
    print(f"{'span of the train rows':28s}{span_s:10.1f}{span_c:8g}{span_acc:10.3f}")
    print(f"speed-up {ref_s / span_s:.1f}x; largest test probability difference {diff:.2e}")
    print(f"largest distance from the optimum (solved to tol 1e-10): before {ref_off:.2e}, "
          f"span {span_off:.2e}")
    print(json.dumps({"rows": n_train, "columns": int(z.shape[1]), "reference_s": round(ref_s, 1),
                      "span_s": round(span_s, 1), "speedup": round(ref_s / span_s, 1),
                      "same_c": ref_c == span_c, "max_proba_diff": float(f"{diff:.3g}"),
                      "reference_from_optimum": float(f"{ref_off:.3g}"),
                      "span_from_optimum": float(f"{span_off:.3g}"),
                      "reference_acc": round(float(ref_acc), 4),
                      "span_acc": round(float(span_acc), 4)}))


if __name__ == "__main__":
    main()
