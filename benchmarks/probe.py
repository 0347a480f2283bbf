"""Linear-probe benchmark: the probe on an input wider than its train rows (the flattened
log-mel that conv_vae's raw baseline is), three ways in one run on the same rows:

- every column: scikit-learn's scaler + lbfgs logistic regression on the full width (the
  probe before its span fit);
- span, lbfgs: the same regression on the coordinates of the standardised train rows in
  their span (genrevae.evaluation.probe.ProbeInput), still solved by scikit-learn's lbfgs;
- span, preconditioned: the probe as it is (genrevae.evaluation.probe.linear_probe), the
  span coordinates solved by fit_orthogonal.

Each chooses C by the same grouped 5-fold cross-validation on the train split, then fits on
the whole train split and predicts the test split. It prints the CPU seconds of each and
their ratios to the first, the C each chose, the test accuracies, and how far each one's
test probabilities are from the optimum of its regression (the same problem solved to a
gradient tolerance of 1e-9), and ends with one JSON line:

  {"rows": ..., "columns": ..., "reference_s": ..., "span_lbfgs_s": ..., "span_s": ...,
   "speedup": ..., "speedup_over_span_lbfgs": ..., "same_c": ..., "max_proba_diff": ...,
   "reference_from_optimum": ..., "span_lbfgs_from_optimum": ..., "span_from_optimum": ...,
   "reference_acc": ..., "span_acc": ...}

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
from collections.abc import Callable
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

from genrevae.evaluation.probe import (  # noqa: E402
    C_GRID,
    MAX_ITER,
    ProbeInput,
    fit_orthogonal,
    linear_probe,
)

log = logging.getLogger("probe")

# A fitter: (fit rows, their labels, C, seed) -> a model with predict and predict_proba on
# rows of the same columns.
Fitter = Callable[[np.ndarray, np.ndarray, float, int], object]


def every_column(x: np.ndarray, y: np.ndarray, c: float, seed: int):
    """The probe before: a scaler and scikit-learn's logistic regression on every column."""
    return make_pipeline(StandardScaler(),
                         LogisticRegression(max_iter=MAX_ITER, C=c, random_state=seed)).fit(x, y)


def span_lbfgs(x: np.ndarray, y: np.ndarray, c: float, seed: int):
    """The span coordinates, solved by scikit-learn's lbfgs (the probe before fit_orthogonal)."""
    return _InSpan(ProbeInput(x), lambda coords: LogisticRegression(
        max_iter=MAX_ITER, C=c, random_state=seed).fit(coords, y))


class _InSpan:
    """A regression fit on a ProbeInput's coordinates, predicting rows of the input's columns."""

    def __init__(self, fold: ProbeInput, fit: Callable[[np.ndarray], LogisticRegression]) -> None:
        self.fold, self.logreg = fold, fit(fold.coords)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logreg.predict(self.fold.transform(x))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.logreg.predict_proba(self.fold.transform(x))


def cv_probe(fitter: Fitter, z: np.ndarray, labels: np.ndarray, split: np.ndarray,
             groups: np.ndarray, seed: int) -> tuple[float, np.ndarray]:
    """C by grouped 5-fold cross-validation on the train split, as linear_probe chooses it;
    returns (C, test probabilities of the fit on the whole train split)."""
    train, test = split == "train", split == "test"
    zt, yt, gt = z[train], labels[train], groups[train]
    folds = list(GroupKFold(n_splits=min(5, len(np.unique(gt)))).split(zt, yt, gt))
    scores = []
    for c in C_GRID:
        accs = [accuracy_score(yt[score], fitter(zt[fit], yt[fit], c, seed).predict(zt[score]))
                for fit, score in folds if len(set(yt[fit])) >= 2]
        scores.append(np.mean(accs) if accs else -1.0)
    c = float(C_GRID[int(np.argmax(scores))])
    return c, fitter(zt, yt, c, seed).predict_proba(z[test])


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

    test, train = split == "test", split == "train"
    runs = {}
    for name, fitter in (("every column (before)", every_column),
                         ("span, lbfgs", span_lbfgs)):
        t0 = time.process_time()
        runs[name] = (*cv_probe(fitter, z, labels, split, groups, args.seed),
                      time.process_time() - t0)
    t0 = time.process_time()
    ours = linear_probe(z, labels, split, groups, seed=args.seed)
    runs["span, preconditioned"] = (float(ours.model.steps[1][1].C),
                                    ours.model.predict_proba(z[test]), time.process_time() - t0)
    classes = ours.model.classes_
    # Each one's optimum: its regression (its C) solved to the end, in the span (the basis
    # of the train rows is built once: it does not depend on C).
    span = ProbeInput(z[train])
    optima: dict[float, np.ndarray] = {}
    for c, _, _ in runs.values():
        if c not in optima:
            optima[c] = _InSpan(span, lambda coords, c=c: fit_orthogonal(
                coords, labels[train], c, gtol=1e-9, max_iter=100 * MAX_ITER)).predict_proba(z[test])
    ref_s = runs["every column (before)"][2]
    print(f"\n{'':24s}{'CPU s':>9s}{'ratio':>8s}{'C':>7s}{'test acc':>10s}{'from optimum':>14s}")
    summary = {}
    for name, (c, proba, seconds) in runs.items():
        acc = accuracy_score(labels[test], classes[proba.argmax(axis=1)])
        off = float(np.abs(proba - optima[c]).max())
        summary[name] = (c, acc, off, seconds)
        print(f"{name:24s}{seconds:9.1f}{ref_s / seconds:7.1f}x{c:7g}{acc:10.3f}{off:14.2e}")
    ref, mid, pre = (summary[k] for k in runs)
    diff = float(np.abs(runs["span, preconditioned"][1] - runs["every column (before)"][1]).max())
    print(f"largest test probability difference from the probe before: {diff:.2e}")
    print(json.dumps({"rows": n_train, "columns": int(z.shape[1]),
                      "reference_s": round(ref[3], 1), "span_lbfgs_s": round(mid[3], 1),
                      "span_s": round(pre[3], 1), "speedup": round(ref[3] / pre[3], 1),
                      "speedup_over_span_lbfgs": round(mid[3] / pre[3], 1),
                      "same_c": ref[0] == pre[0], "max_proba_diff": float(f"{diff:.3g}"),
                      "reference_from_optimum": float(f"{ref[2]:.3g}"),
                      "span_lbfgs_from_optimum": float(f"{mid[2]:.3g}"),
                      "span_from_optimum": float(f"{pre[2]:.3g}"),
                      "reference_acc": round(float(ref[1]), 4),
                      "span_acc": round(float(pre[1]), 4)}))

if __name__ == "__main__":
    main()
