"""A linear probe on a representation: logistic regression fit on the train split and
scored on the test split, per segment and per track (mean-probability vote)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class ProbeResult:
    metrics: dict[str, float]
    classes: list[str]
    confusion: np.ndarray  # (n_classes, n_classes) track-level counts: rows true, cols predicted
    model: object  # the fitted sklearn pipeline (scaler + logistic regression)


C_GRID = (0.01, 0.1, 1.0, 10.0)


def _choose_c(z: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """The inverse regularisation strength with the best accuracy in 5-fold cross-validation
    on the train split, folds grouped by track (so a track's segments never straddle folds).
    Every representation gets its own best probe; the test split is never looked at."""
    n_groups = len(np.unique(groups))
    if n_groups < 3:
        return 1.0
    folds = list(GroupKFold(n_splits=min(5, n_groups)).split(z, labels, groups))
    scores = []
    for c in C_GRID:
        model = make_pipeline(StandardScaler(),
                              LogisticRegression(max_iter=2000, C=c, random_state=seed))
        accs = []
        for fit_rows, score_rows in folds:
            if len(set(labels[fit_rows])) < 2:
                continue
            model.fit(z[fit_rows], labels[fit_rows])
            accs.append(accuracy_score(labels[score_rows], model.predict(z[score_rows])))
        scores.append(np.mean(accs) if accs else -1.0)
    return float(C_GRID[int(np.argmax(scores))])


def linear_probe(
    z: np.ndarray, labels: np.ndarray, split: np.ndarray, track_ids: np.ndarray, *, seed: int
) -> ProbeResult:
    """Fit on ``split == 'train'`` rows (regularisation chosen by grouped cross-validation
    there), score on ``split == 'test'`` rows.

    Track level: the mean of a track's segment probabilities picks its label, so a song is
    judged once however many segments it has.
    """
    labels = np.asarray(labels, dtype=object)
    train, test = split == "train", split == "test"
    classes = sorted(set(labels[train]))
    if len(classes) < 2 or not test.any():
        nan = float("nan")
        return ProbeResult({"segment_accuracy": nan, "segment_macro_f1": nan,
                            "track_accuracy": nan, "track_macro_f1": nan}, classes,
                           np.zeros((len(classes), len(classes)), dtype=int), None)
    probe = make_pipeline(StandardScaler(), LogisticRegression(
        max_iter=2000, C=_choose_c(z[train], labels[train], np.asarray(track_ids)[train], seed),
        random_state=seed))
    probe.fit(z[train], labels[train])
    proba = probe.predict_proba(z[test])
    seg_pred = probe.classes_[proba.argmax(axis=1)]
    frame = pd.DataFrame(proba, columns=probe.classes_)
    frame["track"] = np.asarray(track_ids)[test]
    per_track = frame.groupby("track", sort=True).mean()
    track_pred = per_track.columns[per_track.to_numpy().argmax(axis=1)].to_numpy()
    truth_by_track = pd.Series(labels[test], index=frame["track"]).groupby(level=0).first()
    track_true = truth_by_track.loc[per_track.index].to_numpy()
    metrics = {
        "segment_accuracy": float(accuracy_score(labels[test], seg_pred)),
        "segment_macro_f1": float(f1_score(labels[test], seg_pred, average="macro",
                                           labels=classes, zero_division=0)),
        "track_accuracy": float(accuracy_score(track_true, track_pred)),
        "track_macro_f1": float(f1_score(track_true, track_pred, average="macro", labels=classes,
                                         zero_division=0)),
    }
    confusion = confusion_matrix(track_true, track_pred, labels=classes)
    return ProbeResult(metrics, classes, confusion, probe)
